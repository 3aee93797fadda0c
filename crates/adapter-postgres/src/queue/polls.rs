//! Polls (`record_poll`) kept in process and written in batches, so a poll costs no write.
//!
//! Only the latest poll per token is kept. A flush moves the pending polls worth writing to
//! "in flight", writes them in one statement, and then remembers what it wrote; if the write
//! fails (or the flushing future is dropped) the batch goes back to pending. Until a poll is
//! written, [`PollBuffer::latest`] lets `token()` show it, so the domain's idle rule sees every
//! poll the moment it happens.
//!
//! **Granularity.** A fan polls about once a second, but the stored `last_seen_at` only has to
//! be good enough for the idle rule, whose timeout is minutes. So a poll is written only when it
//! moves the stored instant forward by at least [`PollsToWrite::granularity`], or when the
//! stored instant is old enough that the admission could drop the token on its strength
//! ([`PollsToWrite::idle_before`], set by the admission's own flush just before it drops idle
//! tokens). With 20,000 fans polling, that turns ~20,000 row updates a second into ~20,000 per
//! granularity (15 s by default, at most an eighth of the idle timeout with
//! `QueueTuning::fitted`), and the admitting instance still never drops a fan it has
//! seen polling.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;
use uuid::Uuid;

/// Polls not yet written.
#[derive(Debug, Default)]
pub(crate) struct PollBuffer {
    pending: HashMap<Uuid, OffsetDateTime>,
    in_flight: HashMap<Uuid, OffsetDateTime>,
    /// The instant this instance last wrote per token, while it may still matter.
    written: HashMap<Uuid, OffsetDateTime>,
}

/// Which pending polls a flush writes: those due for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PollsToWrite {
    /// A poll at least this much later than the instant last written for its token.
    pub(crate) granularity: time::Duration,
    /// Any poll of a token whose written instant is at or before this (the admission's idle
    /// cutoff, with a margin): the stored value could get it dropped.
    pub(crate) idle_before: Option<OffsetDateTime>,
}

impl PollsToWrite {
    /// Everything pending (shutdown, tests).
    pub(crate) const ALL: PollsToWrite =
        PollsToWrite { granularity: time::Duration::ZERO, idle_before: None };

    fn includes(&self, seen: OffsetDateTime, written: Option<OffsetDateTime>) -> bool {
        written.is_none_or(|written| {
            seen >= written + self.granularity || self.idle_before.is_some_and(|cut| written <= cut)
        })
    }
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

impl PollBuffer {
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

    /// Moves the pending polls `to_write` includes in flight and returns them, sorted by token (so
    /// concurrent flushes of several instances lock rows in one order). Flushes must not
    /// overlap. With a cutoff, also forgets written instants at or before it that no poll
    /// followed (their tokens idle out, whatever this instance wrote).
    fn take(&mut self, to_write: PollsToWrite) -> Vec<(Uuid, OffsetDateTime)> {
        let written = &self.written;
        let chosen: Vec<Uuid> = self
            .pending
            .iter()
            .filter(|(token, seen)| to_write.includes(**seen, written.get(*token).copied()))
            .map(|(token, _)| *token)
            .collect();
        for token in chosen {
            if let Some(seen) = self.pending.remove(&token) {
                self.in_flight.insert(token, seen);
            }
        }
        if let Some(cut) = to_write.idle_before {
            let pending = &self.pending;
            self.written.retain(|token, written| *written > cut || pending.contains_key(token));
        }
        let mut batch: Vec<_> = self.in_flight.iter().map(|(token, seen)| (*token, *seen)).collect();
        batch.sort_unstable_by_key(|(token, _)| *token);
        batch
    }

    /// Ends the flush in flight: forgotten if `written`, pending again otherwise.
    fn settle(&mut self, written: bool) {
        if written {
            for (token, seen) in std::mem::take(&mut self.in_flight) {
                keep_latest(&mut self.written, token, seen);
            }
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
    buffer: &'a Mutex<PollBuffer>,
    batch: Vec<(Uuid, OffsetDateTime)>,
    done: bool,
}

impl<'a> InFlight<'a> {
    /// Takes the pending polls of `buffer` that `to_write` includes.
    pub(crate) fn take(buffer: &'a Mutex<PollBuffer>, to_write: PollsToWrite) -> Self {
        let batch = buffer.lock().unwrap_or_else(PoisonError::into_inner).take(to_write);
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
        let mut buffer = PollBuffer::default();
        buffer.record(token(1), T0 + time::Duration::seconds(5));
        buffer.record(token(1), T0);
        assert_eq!(buffer.latest(token(1)), Some(T0 + time::Duration::seconds(5)));
        assert_eq!(buffer.latest(token(2)), None);
        assert_eq!(buffer.len(), 1);
    }

    #[test]
    fn polls_in_flight_stay_visible_and_are_forgotten_once_written() {
        let buffer = Mutex::new(PollBuffer::default());
        for n in [3, 1, 2] {
            buffer.lock().expect("lock").record(token(n), T0);
        }
        let flight = InFlight::take(&buffer, PollsToWrite::ALL);
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
        let buffer = Mutex::new(PollBuffer::default());
        buffer.lock().expect("lock").record(token(1), T0);
        let flight = InFlight::take(&buffer, PollsToWrite::ALL);
        buffer.lock().expect("lock").record(token(1), T0 - time::Duration::seconds(1));
        drop(flight);
        let again = InFlight::take(&buffer, PollsToWrite::ALL);
        assert_eq!(again.batch(), [(token(1), T0)], "the later poll survives the merge");
    }

    #[test]
    fn a_poll_is_written_only_when_it_moves_the_stored_instant_by_the_granularity() {
        let buffer = Mutex::new(PollBuffer::default());
        let to_write = PollsToWrite { granularity: time::Duration::seconds(5), idle_before: None };
        buffer.lock().expect("lock").record(token(1), T0);
        InFlight::take(&buffer, to_write).written();
        buffer.lock().expect("lock").record(token(1), T0 + time::Duration::seconds(4));
        let skipped = InFlight::take(&buffer, to_write);
        assert!(skipped.batch().is_empty(), "4 s after the stored instant: not yet");
        skipped.written();
        assert_eq!(buffer.lock().expect("lock").latest(token(1)), Some(T0 + time::Duration::seconds(4)));
        buffer.lock().expect("lock").record(token(1), T0 + time::Duration::seconds(5));
        assert_eq!(InFlight::take(&buffer, to_write).batch(), [(token(1), T0 + time::Duration::seconds(5))]);
    }

    #[test]
    fn the_admissions_flush_writes_every_poll_whose_stored_instant_could_get_it_dropped() {
        let buffer = Mutex::new(PollBuffer::default());
        buffer.lock().expect("lock").record(token(1), T0);
        InFlight::take(&buffer, PollsToWrite::ALL).written();
        buffer.lock().expect("lock").record(token(1), T0 + time::Duration::seconds(1));
        let near_idle = PollsToWrite { granularity: time::Duration::seconds(5), idle_before: Some(T0) };
        assert_eq!(InFlight::take(&buffer, near_idle).batch(), [(token(1), T0 + time::Duration::seconds(1))]);
    }

    #[test]
    fn written_instants_that_no_poll_followed_are_forgotten_past_the_cutoff() {
        let mut buffer = PollBuffer::default();
        buffer.record(token(1), T0);
        buffer.record(token(2), T0);
        buffer.take(PollsToWrite::ALL);
        buffer.settle(true);
        buffer.record(token(2), T0 + time::Duration::seconds(1));
        let to_write = PollsToWrite { granularity: time::Duration::seconds(5), idle_before: Some(T0) };
        buffer.take(to_write);
        assert!(!buffer.written.contains_key(&token(1)), "idle since: forgotten");
        assert!(buffer.in_flight.contains_key(&token(2)), "polled again near the cutoff: written");
    }
}
