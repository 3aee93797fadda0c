//! Fixtures shared by the store's tests: a small catalogue, fixed instants, id shorthands.

use domain::ports::{CatalogueRepository, QueueRepository, WalletRepository};
use domain::{
    ChargeAmount, ConcertId, HoldPolicy, NewHold, QueuePolicy, QueueToken, ReservationId, ScheduleId, SeatId,
    TokenValue, UserId, Won,
};
use time::{Duration, OffsetDateTime};

use crate::MemoryStore;

/// The small catalogue at fixed instants, shared with the PostgreSQL store's tests.
pub(crate) use store_contract::small_catalogue::{NOW, PRICE, SHOW, small_catalogue as demo_catalogue};

pub(crate) fn user(n: i64) -> UserId {
    UserId::new(n).expect("valid id")
}

pub(crate) fn concert_id(n: i64) -> ConcertId {
    ConcertId::new(n).expect("valid id")
}

pub(crate) fn schedule_id(n: i64) -> ScheduleId {
    ScheduleId::new(n).expect("valid id")
}

pub(crate) fn seat_id(n: i64) -> SeatId {
    SeatId::new(n).expect("valid id")
}

pub(crate) fn reservation_id(n: i64) -> ReservationId {
    ReservationId::new(n).expect("valid id")
}

pub(crate) fn won(n: i64) -> Won {
    Won::new(n).expect("valid amount")
}

pub(crate) fn token_value(n: u128) -> TokenValue {
    TokenValue::from_uuid(uuid::Uuid::from_u128(n))
}

pub(crate) fn seconds(n: i64) -> Duration {
    Duration::seconds(n)
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

/// Issues user `n` a token (value `n`) at `now`, creating the user.
pub(crate) async fn issue_at(store: &MemoryStore, n: i64, now: OffsetDateTime) -> QueueToken {
    let value = token_value(u128::try_from(n).expect("positive user"));
    store.issue(user(n), value, now, &QueuePolicy::default()).await.expect("issue")
}

/// Creates user `n` with a token and charges `amount` (skipped when 0).
pub(crate) async fn funded_user(store: &MemoryStore, n: i64, amount: i64) -> QueueToken {
    let token = issue(store, n).await;
    if amount > 0 {
        let amount = ChargeAmount::new(amount).expect("valid charge");
        store.credit(user(n), amount, NOW, None).await.expect("credit");
    }
    token
}

/// The hold the domain approves for `holder` on seat `seat` at `at` (five minutes long).
pub(crate) async fn approved_hold(
    store: &MemoryStore,
    seat: i64,
    holder: i64,
    at: OffsetDateTime,
) -> NewHold {
    let seat = store.seat(seat_id(seat)).await.expect("read seat").expect("seat exists");
    HoldPolicy::default().hold(&seat, seat.concert_id, user(holder), at).expect("seat is free")
}
