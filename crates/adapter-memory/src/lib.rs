//! The embedded store: every repository port of [`domain::ports`] on one in-process value,
//! [`MemoryStore`], for running frontrow with no database (one process, nothing to set up).
//!
//! All state sits behind one mutex. Each port method takes the lock, does its work
//! synchronously and releases it before returning, so every method is one atomic step: the
//! same guarantees the PostgreSQL store gives with transactions and guarded writes. A seat is
//! never held twice, a payment lands whole or not at all, no balance update is lost, a user
//! has at most one live queue token, and an idempotency key is claimed by one request.
//!
//! Tables are vectors indexed by id (ids are handed out from 1 upwards, one counter per table),
//! and every query the hot paths make has its own index, so no read or admission tick scans a
//! whole table.

mod catalogue;
mod fenwick;
mod idempotency;
mod payments;
mod queue;
mod reservations;
#[cfg(test)]
mod testkit;
mod wallet;

use std::sync::Mutex;

use async_trait::async_trait;
use domain::InvalidId;
use domain::ports::{HealthCheck, StoreError, StoreResult};

use crate::catalogue::Catalogue;
use crate::idempotency::Idempotency;
use crate::payments::Payments;
use crate::queue::Queue;
use crate::reservations::Reservations;
use crate::wallet::Wallets;

/// The in-memory store. Cheap to create; share it behind an `Arc` and hand that to every port.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

/// Every table, guarded together by the store's one lock.
#[derive(Debug, Default)]
struct State {
    catalogue: Catalogue,
    reservations: Reservations,
    wallets: Wallets,
    payments: Payments,
    queue: Queue,
    idempotency: Idempotency,
}

impl MemoryStore {
    /// An empty store: no concerts, no users, an empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `work` as one atomic step on the whole state. A lock poisoned by a panicking writer
    /// may guard half-written state, so it is reported as a store failure instead of being used.
    fn with_state<T>(&self, work: impl FnOnce(&mut State) -> StoreResult<T>) -> StoreResult<T> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError::Internal("the in-memory store is unusable after a panic".into()))?;
        work(&mut state)
    }
}

#[async_trait]
impl HealthCheck for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.with_state(|_| Ok(()))
    }
}

/// Gives back a map's spare room once it is mostly empty (maps never shrink by themselves), so
/// a burst of fans long gone does not pin the map at its peak size.
fn shrink_if_sparse<K: std::hash::Hash + Eq, V>(map: &mut std::collections::HashMap<K, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len().saturating_mul(2));
    }
}

/// The vector slot of a stored id: ids start at 1, slots at 0.
fn slot(id: i64) -> Option<usize> {
    usize::try_from(id.checked_sub(1)?).ok()
}

/// The id the next row of a table holding `len` rows gets.
fn next_id<T>(len: usize, make: fn(i64) -> Result<T, InvalidId>) -> StoreResult<T> {
    i64::try_from(len)
        .ok()
        .and_then(|len| len.checked_add(1))
        .and_then(|next| make(next).ok())
        .ok_or_else(|| StoreError::Internal("a table of the in-memory store ran out of ids".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::SeatId;

    #[tokio::test]
    async fn ping_answers_ok_for_a_working_store() {
        assert_eq!(MemoryStore::new().ping().await, Ok(()));
    }

    #[test]
    fn a_poisoned_lock_is_reported_as_an_internal_error_not_a_panic() {
        let store = std::sync::Arc::new(MemoryStore::new());
        let poisoner = std::sync::Arc::clone(&store);
        let crashed = std::thread::spawn(move || {
            let _guard = poisoner.state.lock();
            panic!("a writer panics while holding the lock");
        })
        .join();
        assert!(crashed.is_err());
        assert!(matches!(store.with_state(|_| Ok(())), Err(StoreError::Internal(_))));
    }

    #[test]
    fn ids_start_at_one_and_follow_the_table_length() {
        assert_eq!(next_id(0, SeatId::new).map(SeatId::get), Ok(1));
        assert_eq!(next_id(41, SeatId::new).map(SeatId::get), Ok(42));
        assert_eq!(slot(1), Some(0));
        assert_eq!(slot(0), None);
        assert_eq!(slot(i64::MIN), None);
    }
}
