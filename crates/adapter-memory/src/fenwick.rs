//! A Fenwick (binary indexed) tree: counts at positions 1, 2, 3… with point updates and prefix
//! sums in O(log n). The queue keeps one over ticket numbers, holding 1 for every waiting
//! ticket, so "waiting tokens up to this ticket" costs a logarithm instead of a queue scan.

/// Counts at positions `1..=len`, growing at the end as positions are appended.
#[derive(Debug, Default)]
pub(crate) struct Fenwick {
    /// `nodes[i - 1]` holds the sum of the counts at positions `(i - lowbit(i), i]`.
    nodes: Vec<u64>,
}

/// The lowest set bit of `i`: how many positions node `i` covers.
fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

impl Fenwick {
    /// How many positions exist.
    pub(crate) fn len(&self) -> u64 {
        u64::try_from(self.nodes.len()).unwrap_or(u64::MAX)
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

    /// Takes one from `position`, which must hold at least one; positions outside `1..=len` are
    /// ignored.
    pub(crate) fn decrement(&mut self, position: u64) {
        let Ok(mut i) = usize::try_from(position) else { return };
        if i == 0 {
            return;
        }
        while let Some(node) = self.nodes.get_mut(i - 1) {
            *node = node.saturating_sub(1);
            i += lowbit(i);
        }
    }

    /// The sum of the counts at positions `1..=position`, clamped to the positions that exist.
    pub(crate) fn prefix(&self, position: u64) -> u64 {
        let mut i = usize::try_from(position).unwrap_or(usize::MAX).min(self.nodes.len());
        let mut sum = 0;
        while i > 0 {
            sum += self.nodes.get(i - 1).copied().unwrap_or(0);
            i -= lowbit(i);
        }
        sum
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
}
