//! Fixtures: a small catalogue, fixed instants, id shorthands.

use adapter_postgres::PgStore;
use domain::ports::{CatalogueRepository, QueueRepository, WalletRepository};
use domain::{
    ChargeAmount, HoldPolicy, NewConcert, NewHold, NewSchedule, NewSeat, QueuePolicy, QueueToken, SeatId,
    SeatNumber, TokenValue, UserId, Won,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// The instant tests start from.
pub const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
/// When the first performance starts.
pub const SHOW: OffsetDateTime = datetime!(2030-06-01 19:00 UTC);
/// What every seat costs.
pub const PRICE: i64 = 30_000;

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

fn performance(starts_at: OffsetDateTime) -> NewSchedule {
    let seats = SeatNumber::all()
        .map(|number| NewSeat { number, zone: "R".into(), price: Won::new(PRICE).expect("valid price") })
        .collect();
    NewSchedule { starts_at, on_sale_at: NOW - Duration::days(1), seats }
}

/// Concert 1 has schedule 1 at [`SHOW`] and schedule 2 a day earlier (seats 1–100); concert 2
/// has schedule 3 a week later (seats 101–150).
pub fn demo_catalogue() -> Vec<NewConcert> {
    vec![
        NewConcert {
            key: "spring-nights".into(),
            title: "Spring Nights".into(),
            artist: "The Early Birds".into(),
            venue: "Arts Center".into(),
            schedules: vec![performance(SHOW), performance(SHOW - Duration::days(1))],
        },
        NewConcert {
            key: "summer-live".into(),
            title: "Summer Live".into(),
            artist: "The Late Shows".into(),
            venue: "Olympic Hall".into(),
            schedules: vec![performance(SHOW + Duration::days(7))],
        },
    ]
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
