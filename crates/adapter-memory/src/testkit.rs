//! Fixtures shared by the store's tests: a small catalogue, fixed instants, id shorthands.

use domain::ports::{CatalogueRepository, QueueRepository, WalletRepository};
use domain::{
    ChargeAmount, ConcertId, HoldPolicy, NewConcert, NewHold, NewSchedule, NewSeat, QueuePolicy, QueueToken,
    ReservationId, ScheduleId, SeatId, SeatNumber, TokenValue, UserId, Won,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::MemoryStore;

/// The instant tests start from.
pub(crate) const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
/// When the first performance starts.
pub(crate) const SHOW: OffsetDateTime = datetime!(2030-06-01 19:00 UTC);
/// What seats 11–50 cost; seats 1–10 are VIP at [`VIP_PRICE`].
pub(crate) const PRICE: i64 = 30_000;
/// What seats 1–10 cost.
pub(crate) const VIP_PRICE: i64 = 50_000;

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

fn performance(starts_at: OffsetDateTime) -> NewSchedule {
    let seats = SeatNumber::all()
        .map(|number| {
            let vip = number.get() <= 10;
            NewSeat {
                number,
                zone: if vip { "VIP" } else { "R" }.into(),
                price: won(if vip { VIP_PRICE } else { PRICE }),
            }
        })
        .collect();
    NewSchedule { starts_at, on_sale_at: NOW - Duration::days(1), seats }
}

/// Concert 1 has schedule 1 at [`SHOW`] and schedule 2 a day earlier (seats 1–100); concert 2
/// has schedule 3 a week later (seats 101–150).
pub(crate) fn demo_catalogue() -> Vec<NewConcert> {
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
