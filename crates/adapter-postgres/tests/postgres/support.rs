//! Fixtures: a small catalogue, fixed instants, id shorthands.

use adapter_postgres::PgStore;
use domain::ports::{CatalogueRepository, QueueRepository, WalletRepository};
use domain::{ChargeAmount, HoldPolicy, NewHold, QueuePolicy, QueueToken, SeatId, TokenValue, UserId};
use time::{Duration, OffsetDateTime};

/// The small catalogue at fixed instants, shared with the in-memory store's tests.
pub use store_contract::small_catalogue::{NOW, PRICE, SHOW, small_catalogue as demo_catalogue};

pub fn user(n: i64) -> UserId {
    UserId::new(n).expect("valid id")
}

pub fn seat_id(n: i64) -> SeatId {
    SeatId::new(n).expect("valid id")
}

pub fn token_value(n: u128) -> TokenValue {
    TokenValue::from_uuid(uuid::Uuid::from_u128(n))
}

pub fn seconds(n: i64) -> Duration {
    Duration::seconds(n)
}

/// Loads [`demo_catalogue`] into an empty store.
pub async fn seed(store: &PgStore) {
    assert_eq!(store.seed_if_empty(&demo_catalogue()).await, Ok(true));
}

/// Issues user `n` a token (value `n`) at `now`, creating the user.
pub async fn issue_at(store: &PgStore, n: i64, now: OffsetDateTime) -> QueueToken {
    let value = token_value(u128::try_from(n).expect("positive user"));
    store.issue(user(n), value, now, &QueuePolicy::default()).await.expect("issue")
}

/// Creates user `n` with a token issued at [`NOW`] and charges `amount` (skipped when 0).
pub async fn funded_user(store: &PgStore, n: i64, amount: i64) -> QueueToken {
    let token = issue_at(store, n, NOW).await;
    if amount > 0 {
        let amount = ChargeAmount::new(amount).expect("valid charge");
        store.credit(user(n), amount, NOW, None).await.expect("credit");
    }
    token
}

/// The hold the domain approves for `holder` on seat `seat` at `at` (five minutes long).
pub async fn approved_hold(store: &PgStore, seat: i64, holder: i64, at: OffsetDateTime) -> NewHold {
    let seat = store.seat(seat_id(seat)).await.expect("read seat").expect("seat exists");
    HoldPolicy::default().hold(&seat, seat.concert_id, user(holder), at).expect("seat is free")
}
