//! The in-process copy of the queue's shared state, from which positions and the room (what
//! wait estimates read) are given without a query: the served watermark, the tickets above it
//! that no longer wait, the controls, the counts, and a short history of the room's counters.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use domain::{Occupancy, QueueControls, RoomReading};
use time::OffsetDateTime;

/// How far back the turnover (places freed per second) looks.
const RATE_WINDOW: Duration = Duration::from_secs(30);

/// Samples closer together than this are not kept (an inline refresh right after a
/// background one would otherwise give a rate over a few microseconds).
const SAMPLE_SPACING: Duration = Duration::from_millis(100);

/// What one refresh read from the database, all in one statement's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    /// `queue_state.admitted_through`.
    pub(crate) admitted_through: u64,
    /// `queue_state.admitted_total` and the active tokens.
    pub(crate) occupancy: Occupancy,
    /// The controls stored in `queue_state`.
    pub(crate) controls: QueueControls,
    /// `queue_state.last_admission_at`.
    pub(crate) last_admission_at: Option<OffsetDateTime>,
    /// The newest ticket issued (0 for none).
    pub(crate) newest: u64,
    /// Dropped tickets above the watermark written at or after the previous refresh's
    /// `drops_from_xid`.
    pub(crate) drops: Vec<u64>,
    /// The xmin of the statement's snapshot: every transaction below it had ended, so the next
    /// refresh need only read drops written from this transaction id on.
    pub(crate) drops_from_xid: i64,
}

/// Where a waiting token stands, as far as the snapshot knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Above the watermark and still waiting: its position (1 = next).
    Waiting(u64),
    /// Above the watermark but recorded as no longer waiting.
    LeftQueue,
    /// At or below the watermark: admitted since it was read, or still waiting because its
    /// issue committed after an admission passed its ticket (only the stored row can tell).
    UnderWatermark,
}

/// The snapshot. Every method is arithmetic or a binary search.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    admitted_through: u64,
    controls: QueueControls,
    last_admission_at: Option<OffsetDateTime>,
    active: u64,
    newest: u64,
    /// Sorted, deduplicated, every one above `admitted_through`.
    drops: Vec<u64>,
    drops_from_xid: i64,
    refreshed_at: Option<Instant>,
    samples: VecDeque<(Instant, Occupancy)>,
}

impl Snapshot {
    /// The transaction id the next refresh reads drops from (0 before the first: read them all).
    pub(crate) fn drops_from_xid(&self) -> i64 {
        self.drops_from_xid
    }

    /// The room as the latest refresh read it. Waiting fans are counted as positions are: the
    /// tickets past the watermark up to the newest, less the ones that no longer wait.
    pub(crate) fn room(&self) -> RoomReading {
        let past_watermark = self.newest.saturating_sub(self.admitted_through);
        RoomReading {
            controls: self.controls,
            last_admission_at: self.last_admission_at,
            waiting: past_watermark.saturating_sub(u64::try_from(self.drops.len()).unwrap_or(u64::MAX)),
            active: self.active,
            freed_per_second: self.freed_per_second(),
        }
    }

    /// Every ticket at or below it was admitted or has left the queue.
    pub(crate) fn admitted_through(&self) -> u64 {
        self.admitted_through
    }

    /// When the query of the latest refresh applied was sent; `None` if it was never loaded.
    pub(crate) fn refreshed_at(&self) -> Option<Instant> {
        self.refreshed_at
    }

    /// How old the snapshot is at `now`; `None` if it was never loaded.
    pub(crate) fn age(&self, now: Instant) -> Option<Duration> {
        self.refreshed_at.map(|at| now.saturating_duration_since(at))
    }

    /// Where `ticket` stands: position = tickets between the watermark and it, minus the
    /// dropped ones among them.
    pub(crate) fn place(&self, ticket: u64) -> Place {
        if ticket <= self.admitted_through {
            return Place::UnderWatermark;
        }
        match self.drops.binary_search(&ticket) {
            Ok(_) => Place::LeftQueue,
            Err(dropped_ahead) => {
                let ahead_or_me = ticket - self.admitted_through;
                let dropped_ahead = u64::try_from(dropped_ahead).unwrap_or(u64::MAX);
                Place::Waiting(ahead_or_me.saturating_sub(dropped_ahead).max(1))
            }
        }
    }

    /// Applies a refresh that started at `started` (the snapshot is as fresh as the moment its
    /// query was sent).
    pub(crate) fn apply(&mut self, observed: Observed, started: Instant) {
        self.advance(observed.admitted_through, observed.drops);
        self.controls = observed.controls;
        self.last_admission_at = observed.last_admission_at;
        self.active = observed.occupancy.active;
        self.newest = self.newest.max(observed.newest);
        self.drops_from_xid = self.drops_from_xid.max(observed.drops_from_xid);
        self.refreshed_at = Some(self.refreshed_at.map_or(started, |at| at.max(started)));
        self.sample(started, observed.occupancy);
    }

    /// Applies what a write of this instance committed: a raised watermark and tickets that no
    /// longer wait. Both only ever grow, so applying them before or after a refresh that
    /// already saw them changes nothing.
    pub(crate) fn advance(&mut self, admitted_through: u64, left_queue: impl IntoIterator<Item = u64>) {
        if admitted_through > self.admitted_through {
            self.admitted_through = admitted_through;
            let passed = self.drops.partition_point(|ticket| *ticket <= admitted_through);
            self.drops.drain(..passed);
        }
        let before = self.drops.len();
        let floor = self.admitted_through;
        self.drops.extend(left_queue.into_iter().filter(|ticket| *ticket > floor));
        if self.drops.len() > before {
            self.drops.sort_unstable();
            self.drops.dedup();
        }
    }

    /// Places freed per second between the oldest and the newest sample of the last
    /// [`RATE_WINDOW`]; `None` with fewer than two samples.
    fn freed_per_second(&self) -> Option<f64> {
        let (first_at, first) = self.samples.front()?;
        let (last_at, last) = self.samples.back()?;
        last.freed_per_second_since(first, last_at.checked_duration_since(*first_at)?.as_secs_f64())
    }

    fn sample(&mut self, at: Instant, counters: Occupancy) {
        if let Some(&(last_at, last)) = self.samples.back()
            && (at.saturating_duration_since(last_at) < SAMPLE_SPACING
                || counters.admitted_total < last.admitted_total)
        {
            return;
        }
        self.samples.push_back((at, counters));
        while self.samples.len() > 2
            && self
                .samples
                .front()
                .is_some_and(|(first, _)| at.saturating_duration_since(*first) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(admitted_through: u64, admitted_total: u64, drops: &[u64]) -> Observed {
        Observed {
            admitted_through,
            occupancy: Occupancy { admitted_total, active: 0 },
            controls: QueueControls::default(),
            last_admission_at: None,
            newest: admitted_through,
            drops: drops.to_vec(),
            drops_from_xid: 7,
        }
    }

    #[test]
    fn position_is_tickets_past_the_watermark_minus_the_drops_ahead() {
        let mut snapshot = Snapshot::default();
        snapshot.apply(observed(10, 10, &[12, 15, 13]), Instant::now());
        assert_eq!(snapshot.place(11), Place::Waiting(1));
        assert_eq!(snapshot.place(14), Place::Waiting(2), "11 and 14 wait; 12 and 13 left");
        assert_eq!(snapshot.place(16), Place::Waiting(3));
        assert_eq!(snapshot.place(15), Place::LeftQueue);
        assert_eq!(snapshot.place(10), Place::UnderWatermark);
        assert_eq!(snapshot.place(3), Place::UnderWatermark);
        assert_eq!(snapshot.drops_from_xid(), 7);
    }

    #[test]
    fn a_raised_watermark_forgets_the_drops_it_passed() {
        let mut snapshot = Snapshot::default();
        snapshot.advance(0, [2, 4, 6]);
        assert_eq!(snapshot.place(7), Place::Waiting(4));
        snapshot.advance(4, [4, 8]);
        assert_eq!(snapshot.drops, [6, 8], "4 is below the watermark now");
        assert_eq!(snapshot.place(7), Place::Waiting(2), "5 and 7 wait");
        snapshot.advance(3, []);
        assert_eq!(snapshot.place(7), Place::Waiting(2), "the watermark never goes back");
    }

    #[test]
    fn a_refresh_that_read_old_state_does_not_undo_a_local_write() {
        let mut snapshot = Snapshot::default();
        snapshot.advance(5, [9]);
        snapshot.apply(observed(3, 3, &[4]), Instant::now());
        assert_eq!(snapshot.place(10), Place::Waiting(4), "6, 7, 8 and 10");
    }

    #[test]
    fn the_turnover_needs_two_samples_apart_in_time() {
        let start = Instant::now();
        let mut snapshot = Snapshot::default();
        assert_eq!(snapshot.freed_per_second(), None);
        snapshot.apply(observed(0, 0, &[]), start);
        assert_eq!(snapshot.freed_per_second(), None, "one sample");
        snapshot.apply(observed(0, 5, &[]), start + Duration::from_millis(10));
        assert_eq!(snapshot.freed_per_second(), None, "too close to count");
        snapshot.apply(observed(0, 5, &[]), start + Duration::from_secs(1));
        assert_eq!(snapshot.freed_per_second(), Some(5.0));
        snapshot.apply(observed(0, 5, &[]), start + Duration::from_secs(5));
        assert_eq!(snapshot.freed_per_second(), Some(1.0));
    }

    #[test]
    fn the_turnover_forgets_samples_older_than_the_window() {
        let start = Instant::now();
        let mut snapshot = Snapshot::default();
        snapshot.apply(observed(0, 0, &[]), start);
        snapshot.apply(observed(0, 100, &[]), start + Duration::from_secs(1));
        for second in 2..=40 {
            snapshot.apply(observed(0, 100, &[]), start + Duration::from_secs(second));
        }
        assert_eq!(
            snapshot.freed_per_second(),
            Some(0.0),
            "nobody admitted, so nobody left, in the last 30 s"
        );
    }

    #[test]
    fn age_counts_from_when_the_refresh_started() {
        let start = Instant::now();
        let mut snapshot = Snapshot::default();
        assert_eq!(snapshot.age(start), None);
        snapshot.apply(observed(0, 0, &[]), start);
        assert_eq!(snapshot.age(start + Duration::from_secs(2)), Some(Duration::from_secs(2)));
    }

    #[test]
    fn the_room_counts_the_fans_past_the_watermark_who_still_wait() {
        let mut snapshot = Snapshot::default();
        let paused = QueueControls { paused: true, ..QueueControls::default() };
        let read = Observed {
            occupancy: Occupancy { admitted_total: 10, active: 4 },
            controls: paused,
            newest: 20,
            ..observed(10, 10, &[12, 15])
        };
        snapshot.apply(read, Instant::now());
        let room = snapshot.room();
        assert_eq!((room.waiting, room.active, room.controls), (8, 4, paused), "11 to 20 but 12 and 15");
        snapshot.advance(14, []);
        assert_eq!(snapshot.room().waiting, 5, "15 is gone, 16 to 20 wait");
    }
}
