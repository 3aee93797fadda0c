//! What each store's own tests share beside the contract: a small catalogue at fixed instants
//! (the contract's checks use [`crate::fixture`]'s, relative to the real clock), id shorthands,
//! and users, tokens and holds made through the ports. One source, so the in-memory and the
//! PostgreSQL store's tests read the same concerts, seats and prices.

use domain::ports::{CatalogueRepository, QueueRepository, WalletRepository};
use domain::{
    ChargeAmount, HoldPolicy, NewConcert, NewHold, NewSchedule, NewSeat, QueuePolicy, QueueToken, SeatId,
    SeatNumber, TokenValue, UserId, Won,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// The instant the stores' own tests start from; the catalogue went on sale a day before.
pub const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
/// When the first performance starts.
pub const SHOW: OffsetDateTime = datetime!(2030-06-01 19:00 UTC);
/// What seats 11–50 cost.
pub const PRICE: i64 = 30_000;
/// What seats 1–10, the VIP zone, cost.
pub const VIP_PRICE: i64 = 50_000;

fn performance(starts_at: OffsetDateTime) -> NewSchedule {
    let seats = SeatNumber::all()
        .map(|number| {
            let vip = number.get() <= 10;
            let price = Won::new(if vip { VIP_PRICE } else { PRICE }).expect("valid price");
            NewSeat { number, zone: if vip { "VIP" } else { "R" }.into(), price }
        })
        .collect();
    NewSchedule { starts_at, on_sale_at: NOW - Duration::days(1), seats }
}

/// Concert 1 has schedule 1 at [`SHOW`] and schedule 2 a day earlier (seats 1–100); concert 2
/// has schedule 3 a week later (seats 101–150).
pub fn small_catalogue() -> Vec<NewConcert> {
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

/// User `n`.
pub fn user(n: i64) -> UserId {
    UserId::new(n).expect("valid id")
}

/// Seat `n` (ids run across performances: 1–50 the first, 51–100 the second…).
pub fn seat_id(n: i64) -> SeatId {
    SeatId::new(n).expect("valid id")
}

/// A token value made from `n`.
pub fn token_value(n: u128) -> TokenValue {
    TokenValue::from_uuid(uuid::Uuid::from_u128(n))
}

/// `n` seconds.
pub fn seconds(n: i64) -> Duration {
    Duration::seconds(n)
}

/// Issues user `n` a token (value `n`) at `now`, creating the user.
pub async fn issue_at(store: &impl QueueRepository, n: i64, now: OffsetDateTime) -> QueueToken {
    let value = token_value(u128::try_from(n).expect("positive user"));
    store.issue(user(n), value, now, &QueuePolicy::default()).await.expect("issue")
}

/// Creates user `n` with a token issued at [`NOW`] and charges `amount` (skipped when 0).
pub async fn funded_user(
    store: &(impl QueueRepository + WalletRepository),
    n: i64,
    amount: i64,
) -> QueueToken {
    let token = issue_at(store, n, NOW).await;
    if amount > 0 {
        let amount = ChargeAmount::new(amount).expect("valid charge");
        store.credit(user(n), amount, NOW, None).await.expect("credit");
    }
    token
}

/// The hold the domain approves for `holder` on seat `seat` at `at` (five minutes long).
pub async fn approved_hold(
    store: &impl CatalogueRepository,
    seat: i64,
    holder: i64,
    at: OffsetDateTime,
) -> NewHold {
    let seat = store.seat(seat_id(seat)).await.expect("read seat").expect("seat exists");
    HoldPolicy::default().hold(&seat, seat.concert_id, user(holder), at).expect("seat is free")
}
