//! Fixtures shared by the store's tests: a small catalogue, fixed instants, id shorthands.

use domain::ports::CatalogueRepository;
use domain::{ConcertId, QueuePolicy, QueueToken, ReservationId, ScheduleId, Won};

use crate::MemoryStore;

/// The small catalogue at fixed instants and the shorthands shared with the PostgreSQL store's
/// tests.
pub(crate) use store_contract::testkit::{
    NOW, PRICE, SHOW, approved_hold, funded_user, issue_at, seat_id, seconds,
    small_catalogue as demo_catalogue, token_value, user,
};

pub(crate) fn concert_id(n: i64) -> ConcertId {
    ConcertId::new(n).expect("valid id")
}

pub(crate) fn schedule_id(n: i64) -> ScheduleId {
    ScheduleId::new(n).expect("valid id")
}

pub(crate) fn reservation_id(n: i64) -> ReservationId {
    ReservationId::new(n).expect("valid id")
}

pub(crate) fn won(n: i64) -> Won {
    Won::new(n).expect("valid amount")
}

/// A store holding [`demo_catalogue`].
pub(crate) async fn seeded() -> MemoryStore {
    let store = MemoryStore::new();
    assert_eq!(store.seed_if_empty(&demo_catalogue()).await, Ok(true));
    store
}

/// A policy with the given caps and the default TTL (600 s) and idle timeout (120 s).
pub(crate) fn policy(max_active: u32, admit_per_tick: u32) -> QueuePolicy {
    QueuePolicy { max_active, admit_per_tick, ..QueuePolicy::default() }
}

/// Issues user `n` a token (value `n`) at [`NOW`], creating the user.
pub(crate) async fn issue(store: &MemoryStore, n: i64) -> QueueToken {
    issue_at(store, n, NOW).await
}
