//! Recently read queue tokens, so the token gate and polls usually cost no round trip.
//!
//! Every booking request and every poll starts with the token; under a sale that read is most
//! of the database's work (a loser of a same-seat race does nothing else). A copy read from
//! the database is trusted for a short time, and less when something this instance knows says
//! it changed:
//! - a **waiting** copy while the queue snapshot still places its ticket as waiting, so an
//!   admission or a drop (by any instance, within a snapshot refresh) makes the next read go to
//!   the database, for at most `QueueTuning::waiting_token_cache` (30 s; between half and all
//!   of it, fixed per token, so fans who joined together are not all read again together). Every change a
//!   waiting token can go through shows in the snapshot (payments need an active token); only
//!   other instances' polls, which move `last_seen_at` forward in the database, are missed,
//!   and this instance's own polls are applied to the copy ([`TokenCache::record_poll`]). The
//!   bound keeps a fan who polls only other instances from looking idle here (`QueueTuning::fitted`
//!   sets it to at most a quarter of the idle timeout);
//! - an **active** copy for `QueueTuning::token_cache` (60 s by default): its expiry is the
//!   clock's anyway, and every other end of an active token (a payment) is pushed (a
//!   payment on this instance replaces the copy with a tombstone at once, so the payer's next
//!   request here reads the expired row). Copies of newly admitted tokens are also loaded
//!   when the watermark moves (see the `runtime` module), so an admitted fan's first request
//!   usually finds one;
//! - an **expired** token never changes again, so it is kept until evicted.
//!
//! What no copy shows by itself, a payment (spending an active token) on any instance and the
//! deletion of ended tokens, is pushed (see the `listener` module): the copy is replaced by a
//! tombstone, or dropped, as soon as the notification arrives. While the store is not
//! listening, no copy is used and none is stored: every read goes to the database. A copy is
//! stored only if its read was sent after listening (re)started, so nothing read before a
//! break outlives it. Nothing is written on the strength of a copy alone: the settlement
//! re-checks the token in its own statement (one token pays once). `token_cache: 0` turns the
//! cache off.
//!
//! Ordering: a copy read before a payment committed must not outlive the payment's tombstone.
//! The payment inserts the tombstone after its commit; a read stores its copy only if no entry
//! is present (so it never overwrites a tombstone); a tombstone is replaced only by a read
//! that started after it was seen, i.e. after the commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{QueueToken, TokenStatus, TokenValue};
use moka::future::Cache;
use moka::ops::compute::Op;
use time::OffsetDateTime;
use uuid::Uuid;

use super::listener::Since;
use super::snapshot::Place;

/// Most tokens kept (a token is ~100 bytes; 200,000 ≈ 20 MB).
const CAPACITY: u64 = 200_000;

/// Between half and all of `ttl`, fixed per token: fans who joined in the same second would
/// otherwise all be read again in the same second, a burst of queries every `ttl`.
fn spread(ttl: Duration, token: TokenValue) -> Duration {
    let share = u32::from(token.as_uuid().as_bytes()[15]);
    ttl / 2 + ttl.saturating_mul(share) / 510
}

/// What is known of a token.
#[derive(Debug, Clone)]
enum Entry {
    /// A copy read from the database at `at`.
    Read { token: QueueToken, at: Instant },
    /// A tombstone: the token may have ended since any copy of it was read (a settlement here,
    /// or an end heard of), so read it again; a copy read before may not replace it.
    Tombstone,
}

/// What [`TokenCache::get`] found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A copy that may be used as is.
    Hit(QueueToken),
    /// Read the database, then [`TokenCache::remember`] what it said.
    Miss(StoreCopy),
}

/// Whether, and over what, the copy a read after a miss brought is stored; see the module's
/// ordering note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreCopy {
    /// Only if nothing (no copy, no tombstone) was stored meanwhile.
    IfNoEntry,
    /// Over whatever is stored: the miss found a tombstone, so the read started after the
    /// payment committed.
    Overwrite,
    /// Over any copy but a tombstone: a read that bypassed the cache (the gate's check before
    /// a refusal), which may have started before a payment committed.
    UnlessTombstone,
    /// Not at all: the cache is off.
    Never,
}

/// The cache of one store's clones.
pub(crate) struct TokenCache {
    ttl: Duration,
    waiting_ttl: Duration,
    entries: Cache<Uuid, Entry>,
    listening: Arc<Since>,
    /// When ended tokens were last deleted.
    forgotten: Since,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl TokenCache {
    /// Trusts active copies for `ttl` (zero turns the cache off) and waiting ones for
    /// `waiting_ttl` while the snapshot agrees, and only while `listening`.
    pub(crate) fn new(ttl: Duration, waiting_ttl: Duration, listening: Arc<Since>) -> Self {
        let entries = Cache::builder().max_capacity(CAPACITY).support_invalidation_closures().build();
        Self { ttl, waiting_ttl, entries, listening, forgotten: Since::new() }
    }

    /// Drops every copy: called when listening starts again, as changes made while it was not
    /// were not told.
    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
    }

    /// Drops every copy of an ended token: some were deleted, and a deleted token is no longer
    /// "expired" but unknown. A copy read before now and stored after is not used either.
    pub(crate) fn forget_ended(&self) {
        self.forgotten.set(Instant::now());
        let ended = self.entries.invalidate_entries_if(
            |_, entry| matches!(entry, Entry::Read { token, .. } if token.status == TokenStatus::Expired),
        );
        if let Err(error) = ended {
            tracing::warn!(%error, "cannot drop ended token copies; dropping every copy");
            self.clear();
        }
    }

    /// Whether copies may be used or stored now: the cache is on and the store is listening.
    pub(crate) fn trusted(&self) -> bool {
        !self.ttl.is_zero() && self.listening.get().is_some()
    }

    /// Whether a read sent at `at` was sent while listening, since it last (re)started: only
    /// such a copy can have heard of every change since.
    fn read_while_listening(&self, at: Instant) -> bool {
        self.listening.get().is_some_and(|since| at >= since)
    }

    /// A usable copy of `value`, if one is known; `place` says where the queue snapshot puts a
    /// waiting ticket right now (`None` when the snapshot is too old to say).
    pub(crate) async fn get(&self, value: TokenValue, place: impl FnOnce(u64) -> Option<Place>) -> Lookup {
        if !self.trusted() {
            return Lookup::Miss(StoreCopy::Never);
        }
        let key = value.as_uuid();
        match self.entries.get(&key).await {
            None => Lookup::Miss(StoreCopy::IfNoEntry),
            Some(Entry::Tombstone) => Lookup::Miss(StoreCopy::Overwrite),
            Some(Entry::Read { token, at }) => {
                // A copy stored after a clear it raced with is still older than the listening.
                if self.read_while_listening(at) && self.usable(&token, at, place) {
                    Lookup::Hit(token)
                } else {
                    self.entries.invalidate(&key).await;
                    Lookup::Miss(StoreCopy::IfNoEntry)
                }
            }
        }
    }

    fn usable(&self, token: &QueueToken, at: Instant, place: impl FnOnce(u64) -> Option<Place>) -> bool {
        match token.status {
            // Unless tokens were deleted after it was read (it may be one of them).
            TokenStatus::Expired => self.forgotten.get().is_none_or(|forgotten| at >= forgotten),
            TokenStatus::Active => at.elapsed() < self.ttl,
            TokenStatus::Waiting => {
                at.elapsed() < spread(self.waiting_ttl, token.value)
                    && matches!(place(token.ticket), Some(Place::Waiting(_)))
            }
        }
    }

    /// Stores a copy read from the database at `at` (taken before the read was sent), unless
    /// the read was sent before listening last started.
    pub(crate) async fn remember(&self, token: &QueueToken, at: Instant, store_copy: StoreCopy) {
        if !self.read_while_listening(at) {
            return;
        }
        let entry = Entry::Read { token: token.clone(), at };
        self.update(token.value, move |current| match (store_copy, current) {
            (StoreCopy::Never, _)
            | (StoreCopy::IfNoEntry, Some(_))
            | (StoreCopy::UnlessTombstone, Some(Entry::Tombstone)) => Op::Nop,
            (StoreCopy::Overwrite | StoreCopy::UnlessTombstone, _) | (StoreCopy::IfNoEntry, None) => {
                Op::Put(entry)
            }
        })
        .await;
    }

    /// Whether anything is stored for `value` (a copy or a tombstone).
    #[cfg(feature = "testing")]
    pub(crate) async fn contains(&self, value: TokenValue) -> bool {
        self.entries.get(&value.as_uuid()).await.is_some()
    }

    /// Marks a token whose copy a settlement may have made stale: spent by it, or by the
    /// payment that beat it (call after the statement, so any read after this one is fresh).
    pub(crate) async fn leave_tombstone(&self, value: TokenValue) {
        self.update(value, |_| Op::Put(Entry::Tombstone)).await;
    }

    /// Shows a poll in the cached copy of a waiting token, so the copy does not look idle once
    /// the poll buffer has been written to the database and forgotten.
    pub(crate) async fn record_poll(&self, value: TokenValue, seen: OffsetDateTime) {
        self.update(value, |current| match current {
            Some(Entry::Read { mut token, at })
                if token.status == TokenStatus::Waiting && token.last_seen_at < seen =>
            {
                token.last_seen_at = seen;
                Op::Put(Entry::Read { token, at })
            }
            _ => Op::Nop,
        })
        .await;
    }

    /// Every write goes through moka's per-key serialised compute, so the ordering rules above
    /// hold between concurrent writers of one token.
    async fn update(&self, value: TokenValue, decide: impl FnOnce(Option<Entry>) -> Op<Entry>) {
        if !self.trusted() {
            return;
        }
        let computed = self
            .entries
            .entry(value.as_uuid())
            .and_compute_with(|current| std::future::ready(decide(current.map(|entry| entry.into_value()))))
            .await;
        drop(computed);
    }
}

#[cfg(test)]
mod tests;
