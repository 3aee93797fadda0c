//! A Fenwick (binary indexed) tree: counts at positions 1, 2, 3… with point updates and prefix
//! sums in O(log n). The queue keeps one over ticket numbers, holding 1 for every waiting
//! ticket, so "waiting tokens up to this ticket" costs a logarithm instead of a queue scan.
//!
//! Only a window of positions is stored: positions below `start` are known to hold 0 (tickets
//! long admitted or gone), so the tree is as large as the span of tickets still waiting, not
//! as the number of tickets ever issued.

/// Counts at positions `1..=len`, growing at the end as positions are appended; positions
/// before `start` hold 0 and take no memory.
#[derive(Debug)]
pub(crate) struct Fenwick {
    /// The first stored position.
    start: u64,
    /// `nodes[i - 1]` holds the sum of the counts at stored positions `(i - lowbit(i), i]`,
    /// where stored position `i` is position `start + i - 1`.
    nodes: Vec<u64>,
}

impl Default for Fenwick {
    fn default() -> Self {
        Self { start: 1, nodes: Vec::new() }
    }
}

/// The lowest set bit of `i`: how many positions node `i` covers.
fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

impl Fenwick {
    /// The last position (0 while none exists).
    pub(crate) fn len(&self) -> u64 {
        let stored = u64::try_from(self.nodes.len()).unwrap_or(u64::MAX);
        (self.start - 1).saturating_add(stored)
    }

    /// The stored index (1-based) of `position`, if it is stored.
    fn index_of(&self, position: u64) -> Option<usize> {
        let offset = position.checked_sub(self.start)?;
        usize::try_from(offset).ok()?.checked_add(1)
    }

    /// Appends position `len + 1` holding `count`, in O(log n): the new node sums its own count
    /// and the nodes of the positions it covers, which are all already built.
    pub(crate) fn push(&mut self, count: u64) {
        let position = self.nodes.len() + 1;
        let mut node = count;
        let mut step = 1;
        while step < lowbit(position) {
            node += self.nodes.get(position - step - 1).copied().unwrap_or(0);
            step <<= 1;
        }
        self.nodes.push(node);
    }

    /// Takes one from `position`, which must hold at least one; positions outside the stored
    /// window are ignored.
    pub(crate) fn decrement(&mut self, position: u64) {
        let Some(mut i) = self.index_of(position) else { return };
        while let Some(node) = self.nodes.get_mut(i - 1) {
            *node = node.saturating_sub(1);
            i += lowbit(i);
        }
    }

    /// The sum of the counts at positions `1..=position`, clamped to the positions that exist.
    pub(crate) fn prefix(&self, position: u64) -> u64 {
        let Some(i) = self.index_of(position) else { return 0 };
        let mut i = i.min(self.nodes.len());
        let mut sum = 0;
        while i > 0 {
            sum += self.nodes.get(i - 1).copied().unwrap_or(0);
            i -= lowbit(i);
        }
        sum
    }

    /// How many positions are stored: the window's width.
    pub(crate) fn window(&self) -> u64 {
        u64::try_from(self.nodes.len()).unwrap_or(u64::MAX)
    }

    /// How many stored positions lie before `position` (0 if it is not past `start`).
    pub(crate) fn stored_before(&self, position: u64) -> u64 {
        position.saturating_sub(self.start).min(self.window())
    }

    /// Drops the positions before `start`, which the caller knows all hold 0, and rebuilds the
    /// rest in O(n) with 1 at each of `ones` (the positions from `start` on that hold 1, and
    /// no others hold anything). Positions up to [`Fenwick::len`] stay; a `start` beyond it
    /// leaves an empty window that the next push continues.
    pub(crate) fn rebase(&mut self, start: u64, ones: impl IntoIterator<Item = u64>) {
        let end = self.len();
        let start = start.clamp(self.start, end.saturating_add(1));
        let size = usize::try_from(end + 1 - start).unwrap_or(0);
        let mut nodes = vec![0_u64; size];
        for position in ones {
            let index = position.checked_sub(start).and_then(|i| usize::try_from(i).ok());
            if let Some(node) = index.and_then(|i| nodes.get_mut(i)) {
                *node += 1;
            }
        }
        for i in 1..=size {
            let parent = i + lowbit(i);
            if parent <= size {
                nodes[parent - 1] += nodes[i - 1];
            }
        }
        self.start = start;
        self.nodes = nodes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of pseudo-random numbers, so the comparison below is repeatable.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        *seed >> 33
    }

    fn naive_prefix(counts: &[u64], position: u64) -> u64 {
        counts.iter().take(usize::try_from(position).expect("small position")).sum()
    }

    #[test]
    fn an_empty_tree_sums_to_zero_everywhere() {
        let tree = Fenwick::default();
        assert_eq!(tree.len(), 0);
        assert_eq!(tree.prefix(0), 0);
        assert_eq!(tree.prefix(10), 0);
    }

    #[test]
    fn prefix_sums_count_the_pushed_positions() {
        let mut tree = Fenwick::default();
        for count in [1, 0, 1, 1, 0, 1, 1, 1] {
            tree.push(count);
        }
        let expected = [0, 1, 1, 2, 3, 3, 4, 5, 6];
        for (position, want) in expected.iter().enumerate() {
            assert_eq!(tree.prefix(position as u64), *want, "prefix({position})");
        }
    }

    #[test]
    fn prefix_beyond_the_end_clamps_to_the_total() {
        let mut tree = Fenwick::default();
        tree.push(1);
        tree.push(1);
        assert_eq!(tree.prefix(3), 2);
        assert_eq!(tree.prefix(u64::MAX), 2);
    }

    #[test]
    fn updates_outside_the_tree_are_ignored() {
        let mut tree = Fenwick::default();
        tree.push(1);
        tree.decrement(0);
        tree.decrement(2);
        tree.decrement(7);
        assert_eq!(tree.prefix(5), 1);
    }

    #[test]
    fn prefix_sums_match_a_naive_count_through_pushes_and_decrements() {
        let mut seed = 7;
        let mut tree = Fenwick::default();
        let mut counts: Vec<u64> = Vec::new();
        for _ in 0..2_000 {
            match lcg(&mut seed) % 2 {
                0 => {
                    let count = lcg(&mut seed) % 3;
                    tree.push(count);
                    counts.push(count);
                }
                _ if counts.is_empty() => {}
                _ => {
                    let index = (lcg(&mut seed) % counts.len() as u64) as usize;
                    if counts[index] > 0 {
                        tree.decrement(index as u64 + 1);
                        counts[index] -= 1;
                    }
                }
            }
            let probe = lcg(&mut seed) % (counts.len() as u64 + 2);
            assert_eq!(tree.prefix(probe), naive_prefix(&counts, probe), "prefix({probe})");
        }
        assert_eq!(tree.len(), counts.len() as u64);
    }

    #[test]
    fn a_rebased_tree_keeps_every_prefix_and_drops_the_dead_positions() {
        let mut seed = 11;
        let mut tree = Fenwick::default();
        let mut counts: Vec<u64> = Vec::new();
        for round in 0..40 {
            for _ in 0..100 {
                let count = lcg(&mut seed) % 2;
                tree.push(count);
                counts.push(count);
            }
            // Positions die from the front, as tickets are admitted in order.
            let alive_from = counts.len() / 2 + round;
            for (index, count) in counts.iter_mut().enumerate().take(alive_from) {
                if *count > 0 {
                    tree.decrement(index as u64 + 1);
                    *count = 0;
                }
            }
            let start = alive_from as u64 + 1;
            let ones: Vec<u64> =
                (start..=counts.len() as u64).filter(|&p| counts[p as usize - 1] == 1).collect();
            tree.rebase(start, ones);
            assert_eq!(tree.len(), counts.len() as u64);
            assert!(tree.nodes.len() <= counts.len() - alive_from, "only the live span is stored");
            for probe in 0..=counts.len() as u64 + 1 {
                assert_eq!(
                    tree.prefix(probe),
                    naive_prefix(&counts, probe),
                    "prefix({probe}) in round {round}"
                );
            }
        }
    }

    #[test]
    fn a_rebase_past_the_end_leaves_an_empty_window_that_pushes_continue() {
        let mut tree = Fenwick::default();
        tree.push(1);
        tree.push(0);
        tree.decrement(1);
        tree.rebase(99, []);
        assert_eq!((tree.len(), tree.nodes.len()), (2, 0));
        tree.push(1);
        assert_eq!((tree.len(), tree.prefix(2), tree.prefix(3)), (3, 0, 1));
        assert_eq!(tree.stored_before(3), 0);
    }
}
