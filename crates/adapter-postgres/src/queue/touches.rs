//! Polls (`touch`) kept in process and written in batches, so a poll costs no write.
//!
//! A touch only records the latest poll per token. A flush moves everything pending to
//! "in flight", writes it in one statement, and then forgets it; if the write fails (or the
//! flushing future is dropped) the batch goes back to pending. Until a poll is written,
//! [`TouchBuffer::latest`] lets `token()` show it, so the domain's idle rule sees every poll
//! the moment it happens.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;
use uuid::Uuid;

/// Polls not yet written.
#[derive(Debug, Default)]
pub(crate) struct TouchBuffer {
    pending: HashMap<Uuid, OffsetDateTime>,
    in_flight: HashMap<Uuid, OffsetDateTime>,
}

/// Keeps the later of two polls.
fn keep_latest(map: &mut HashMap<Uuid, OffsetDateTime>, token: Uuid, seen: OffsetDateTime) {
    match map.entry(token) {
        Entry::Occupied(mut slot) => {
            if seen > *slot.get() {
                slot.insert(seen);
            }
        }
        Entry::Vacant(slot) => {
            slot.insert(seen);
        }
    }
}

impl TouchBuffer {
    /// Records a poll; a later poll of the same token replaces an earlier one, never the
    /// reverse.
    pub(crate) fn record(&mut self, token: Uuid, seen: OffsetDateTime) {
        keep_latest(&mut self.pending, token, seen);
    }

    /// The latest poll of `token` not yet known to be written.
    pub(crate) fn latest(&self, token: Uuid) -> Option<OffsetDateTime> {
        match (self.pending.get(&token), self.in_flight.get(&token)) {
            (Some(a), Some(b)) => Some(*a.max(b)),
            (one, other) => one.or(other).copied(),
        }
    }

    /// Polls waiting to be written (pending and in flight).
    pub(crate) fn len(&self) -> usize {
        self.pending.len() + self.in_flight.len()
    }

    /// Moves every pending poll in flight and returns them, sorted by token (so concurrent
    /// flushes of several instances lock rows in one order). Flushes must not overlap.
    fn take(&mut self) -> Vec<(Uuid, OffsetDateTime)> {
        self.in_flight.extend(self.pending.drain());
        let mut batch: Vec<_> = self.in_flight.iter().map(|(token, seen)| (*token, *seen)).collect();
        batch.sort_unstable_by_key(|(token, _)| *token);
        batch
    }

    /// Ends the flush in flight: forgotten if `written`, pending again otherwise.
    fn settle(&mut self, written: bool) {
        if written {
            self.in_flight.clear();
        } else {
            for (token, seen) in std::mem::take(&mut self.in_flight) {
                keep_latest(&mut self.pending, token, seen);
            }
        }
    }
}

/// A batch taken out of a buffer for writing. Unless [`InFlight::written`] is called, dropping
/// it puts the batch back (the write failed or its future was dropped).
pub(crate) struct InFlight<'a> {
    buffer: &'a Mutex<TouchBuffer>,
    batch: Vec<(Uuid, OffsetDateTime)>,
    done: bool,
}

impl<'a> InFlight<'a> {
    /// Takes every pending poll of `buffer`.
    pub(crate) fn take(buffer: &'a Mutex<TouchBuffer>) -> Self {
        let batch = buffer.lock().unwrap_or_else(PoisonError::into_inner).take();
        Self { buffer, batch, done: false }
    }

    /// The polls to write, sorted by token.
    pub(crate) fn batch(&self) -> &[(Uuid, OffsetDateTime)] {
        &self.batch
    }

    /// The batch is in the database: forget it.
    pub(crate) fn written(mut self) {
        self.finish(true);
    }

    fn finish(&mut self, written: bool) {
        if !self.done {
            self.done = true;
            self.buffer.lock().unwrap_or_else(PoisonError::into_inner).settle(written);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn token(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_poll_keeps_only_the_latest_instant() {
        let mut buffer = TouchBuffer::default();
        buffer.record(token(1), T0 + time::Duration::seconds(5));
        buffer.record(token(1), T0);
        assert_eq!(buffer.latest(token(1)), Some(T0 + time::Duration::seconds(5)));
        assert_eq!(buffer.latest(token(2)), None);
        assert_eq!(buffer.len(), 1);
    }

    #[test]
    fn polls_in_flight_stay_visible_and_are_forgotten_once_written() {
        let buffer = Mutex::new(TouchBuffer::default());
        for n in [3, 1, 2] {
            buffer.lock().expect("lock").record(token(n), T0);
        }
        let flight = InFlight::take(&buffer);
        let order: Vec<Uuid> = flight.batch().iter().map(|(token, _)| *token).collect();
        assert_eq!(order, [token(1), token(2), token(3)], "sorted by token");
        buffer.lock().expect("lock").record(token(1), T0 + time::Duration::seconds(1));
        assert_eq!(buffer.lock().expect("lock").latest(token(2)), Some(T0), "in flight, still seen");
        assert_eq!(buffer.lock().expect("lock").latest(token(1)), Some(T0 + time::Duration::seconds(1)));
        flight.written();
        let buffer = buffer.lock().expect("lock");
        assert_eq!((buffer.latest(token(2)), buffer.len()), (None, 1), "only the newer poll is left");
    }

    #[test]
    fn a_failed_or_abandoned_flush_puts_its_polls_back() {
        let buffer = Mutex::new(TouchBuffer::default());
        buffer.lock().expect("lock").record(token(1), T0);
        let flight = InFlight::take(&buffer);
        buffer.lock().expect("lock").record(token(1), T0 - time::Duration::seconds(1));
        drop(flight);
        let again = InFlight::take(&buffer);
        assert_eq!(again.batch(), [(token(1), T0)], "the later poll survives the merge");
    }
}
