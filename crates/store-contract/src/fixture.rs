//! What the checks share: a small catalogue, instants, users, holds, plans and snapshots, all
//! made through the ports, so no check depends on ids or instants a particular store hands out.

use std::fmt::Debug;
use std::future::Future;

use domain::{
    Balance, ChargeAmount, ConcertId, HoldPolicy, IdempotencyKey, IdempotencyRecord, LedgerEntry, NewConcert,
    NewHold, NewSchedule, NewSeat, Payment, QueuePolicy, QueueToken, Reservation, ReservationId, Schedule,
    Seat, SeatId, SeatNumber, SettlementPlan, TokenValue, UserId, Won,
};
use time::{Duration, OffsetDateTime};

use crate::Repositories;

/// Seats 1–10: the VIP zone.
pub(crate) const VIP_PRICE: i64 = 50_000;
/// Seats 11–40: the R zone.
pub(crate) const R_PRICE: i64 = 30_000;
/// Seats 41–50: the S zone.
pub(crate) const S_PRICE: i64 = 20_000;

/// The title of the concert with two performances.
pub(crate) const FIRST_TITLE: &str = "Contract Nights";
/// The title of the concert with one performance.
pub(crate) const SECOND_TITLE: &str = "Drift-Free Live";

/// The instant a check starts from: the real clock, cut to whole seconds so that every store
/// (PostgreSQL keeps microseconds) gives back exactly the instants it was given.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).expect("zero nanoseconds is a valid time")
}

/// `n` seconds.
pub(crate) fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

/// A user id the checks choose (users are named by the caller, then issued a token).
pub(crate) fn uid(n: i64) -> UserId {
    UserId::new(n).expect("user ids in the suite are positive")
}

/// A valid amount.
pub(crate) fn won(n: i64) -> Won {
    Won::new(n).expect("amounts in the suite are not negative")
}

/// A valid balance.
pub(crate) fn balance(n: i64) -> Balance {
    Balance::new(n).expect("balances in the suite are in range")
}

/// A valid charge.
pub(crate) fn charge(n: i64) -> ChargeAmount {
    ChargeAmount::new(n).expect("charges in the suite are in range")
}

/// A fresh token value, as the `TokenMint` port would make.
pub(crate) fn fresh_value() -> TokenValue {
    TokenValue::from_uuid(uuid::Uuid::new_v4())
}

/// How many times [`eventually`] reads before it gives up.
const EVENTUALLY_READS: u32 = 30;
/// How long [`eventually`] waits between reads: 30 reads span about 3 s.
const EVENTUALLY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Reads with `read` until `accept` takes the value, and returns that value; panics with `what`
/// and the last value read if none is accepted within about 3 s (30 reads, 100 ms apart).
///
/// For the reads a store may serve a little late: positions and the admission rate (the
/// PostgreSQL store serves them from a snapshot refreshed every few hundred ms) and a poll's
/// `last_seen_at` (polls may be buffered for up to a second, and are always flushed before an
/// admit). The results of writes, and `token` after an `admit`, are asserted at once.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut read: F, accept: impl Fn(&T) -> bool) -> T
where
    T: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let mut last = read().await;
    for _ in 1..EVENTUALLY_READS {
        if accept(&last) {
            return last;
        }
        tokio::time::sleep(EVENTUALLY_PAUSE).await;
        last = read().await;
    }
    assert!(
        accept(&last),
        "{what}: still {last:?} after {EVENTUALLY_READS} reads {EVENTUALLY_PAUSE:?} apart"
    );
    last
}

/// No cap on active tokens or on admissions per tick; default TTL (600 s) and idle timeout (120 s).
pub(crate) fn uncapped() -> QueuePolicy {
    capped(0, 0)
}

/// The given caps with the default TTL (600 s) and idle timeout (120 s).
pub(crate) fn capped(max_active: u32, admit_per_tick: u32) -> QueuePolicy {
    QueuePolicy { max_active, admit_per_tick, ..QueuePolicy::default() }
}

/// Zone and price of seat `number` in the suite's hall.
pub(crate) fn zone_and_price(number: u8) -> (&'static str, i64) {
    match number {
        1..=10 => ("VIP", VIP_PRICE),
        11..=40 => ("R", R_PRICE),
        _ => ("S", S_PRICE),
    }
}

/// A performance on sale from a day before the suite's [`now`], with the suite's hall.
pub(crate) fn performance(starts_at: OffsetDateTime) -> NewSchedule {
    let seats = SeatNumber::all()
        .map(|number| {
            let (zone, price) = zone_and_price(number.get());
            NewSeat { number, zone: zone.into(), price: won(price) }
        })
        .collect();
    NewSchedule { starts_at, on_sale_at: now() - Duration::days(1), seats }
}

/// The suite's catalogue: the first concert plays in 30 and in 10 days (loaded in that order,
/// so "earliest first" has something to sort), the second in 20 days; 50 seats each.
pub(crate) fn catalogue(now: OffsetDateTime) -> Vec<NewConcert> {
    vec![
        NewConcert {
            key: "first".into(),
            title: FIRST_TITLE.into(),
            artist: "The Contractors".into(),
            venue: "Suite Hall".into(),
            schedules: vec![performance(now + Duration::days(30)), performance(now + Duration::days(10))],
        },
        NewConcert {
            key: "second".into(),
            title: SECOND_TITLE.into(),
            artist: "The Adapters".into(),
            venue: "Port Arena".into(),
            schedules: vec![performance(now + Duration::days(20))],
        },
    ]
}

/// The seeded catalogue as the store numbered it.
pub(crate) struct World {
    /// The instant the check started from.
    pub(crate) now: OffsetDateTime,
    /// The concert with two performances.
    pub(crate) first: ConcertId,
    /// The concert with one performance.
    pub(crate) second: ConcertId,
    /// The first concert's performance in 10 days.
    pub(crate) early: Schedule,
    /// The first concert's performance in 30 days.
    pub(crate) late: Schedule,
    /// The second concert's performance in 20 days.
    pub(crate) other: Schedule,
}

/// Seeds [`catalogue`] into the empty store and finds out what ids it gave.
pub(crate) async fn seeded(stores: &Repositories) -> World {
    let now = now();
    let loaded = stores.catalogue.seed_if_empty(&catalogue(now)).await.expect("seed_if_empty works");
    assert!(loaded, "seed_if_empty of an empty store must load the catalogue and return true");
    let concerts = stores.catalogue.concerts().await.expect("concerts works");
    let id_of = |title: &str| {
        concerts
            .iter()
            .find(|concert| concert.title == title)
            .map(|concert| concert.id)
            .unwrap_or_else(|| panic!("the seeded concert {title:?} is missing from concerts()"))
    };
    let (first, second) = (id_of(FIRST_TITLE), id_of(SECOND_TITLE));
    let schedules = stores.catalogue.schedules(first).await.expect("schedules works");
    let [early, late] = <[Schedule; 2]>::try_from(schedules)
        .unwrap_or_else(|got| panic!("the first concert must have 2 performances, got {got:?}"));
    let others = stores.catalogue.schedules(second).await.expect("schedules works");
    let [other] = <[Schedule; 1]>::try_from(others)
        .unwrap_or_else(|got| panic!("the second concert must have 1 performance, got {got:?}"));
    World { now, first, second, early, late, other }
}

/// Seat `number` of `schedule`, read through `seats_of_schedule`.
pub(crate) async fn seat_of(stores: &Repositories, schedule: &Schedule, number: u8) -> Seat {
    let seats = stores.catalogue.seats_of_schedule(schedule.id).await.expect("seats_of_schedule works");
    seats
        .into_iter()
        .find(|seat| seat.number.get() == number)
        .unwrap_or_else(|| panic!("seat {number} of schedule {} is missing", schedule.id))
}

/// One seat by id; it must exist.
pub(crate) async fn seat(stores: &Repositories, id: SeatId) -> Seat {
    let seat = stores.catalogue.seat(id).await.expect("seat works");
    seat.unwrap_or_else(|| panic!("seat {id} must exist"))
}

/// One reservation by id; it must exist.
pub(crate) async fn reservation(stores: &Repositories, id: ReservationId) -> Reservation {
    let reservation = stores.reservations.reservation(id).await.expect("reservation works");
    reservation.unwrap_or_else(|| panic!("reservation {id} must exist"))
}

/// One token by value; it must exist.
pub(crate) async fn token(stores: &Repositories, value: TokenValue) -> QueueToken {
    let token = stores.queue.token(value).await.expect("token works");
    token.unwrap_or_else(|| panic!("token {value} must exist"))
}

/// A user's balance; the user must exist.
pub(crate) async fn balance_of(stores: &Repositories, user: UserId) -> Balance {
    let balance = stores.wallet.balance(user).await.expect("balance works");
    balance.unwrap_or_else(|| panic!("user {user} must exist and have a balance"))
}

/// Issues user `n` a token at `at` (default policy), which creates the user.
pub(crate) async fn user(stores: &Repositories, n: i64, at: OffsetDateTime) -> QueueToken {
    stores.queue.issue(uid(n), fresh_value(), at, &QueuePolicy::default()).await.expect("issue works")
}

/// Creates user `n` and charges `amount` at `at`.
pub(crate) async fn funded(stores: &Repositories, n: i64, amount: i64, at: OffsetDateTime) -> QueueToken {
    let token = user(stores, n, at).await;
    let outcome = stores.wallet.credit(uid(n), charge(amount), at, None).await.expect("credit works");
    assert_eq!(
        outcome,
        domain::CreditOutcome::Credited(balance(amount)),
        "crediting a new user must give a balance of exactly the charge"
    );
    token
}

/// The hold the domain approves for user `holder` on `seat` at `at` (five minutes long).
pub(crate) fn approved(seat: &Seat, holder: i64, at: OffsetDateTime) -> NewHold {
    HoldPolicy::default()
        .hold(seat, seat.concert_id, uid(holder), at)
        .unwrap_or_else(|why| panic!("the suite holds seat {} only while it is free: {why}", seat.id))
}

/// Takes the approved hold; the store must grant it.
pub(crate) async fn hold(stores: &Repositories, seat: &Seat, holder: i64, at: OffsetDateTime) -> Reservation {
    let hold = approved(seat, holder, at);
    let reservation = stores.reservations.try_hold(&hold, None).await.expect("try_hold works");
    reservation.unwrap_or_else(|| panic!("try_hold of free seat {} at {at} must succeed", seat.id))
}

/// Admits every waiting token at `at` (no caps), so that the users issued so far may pay.
/// Admission runs at most once per tick (1 s), so a check admits at most once per second of
/// its instants.
pub(crate) async fn admit_everyone(stores: &Repositories, at: OffsetDateTime) {
    stores.queue.admit(at, &uncapped()).await.expect("admit works");
}

/// The plan for the holder to pay `reservation` in full at `paid_at` with the token `token`,
/// whatever the domain would say about it now (the checks build stale plans on purpose).
pub(crate) fn plan(reservation: &Reservation, token: &QueueToken, paid_at: OffsetDateTime) -> SettlementPlan {
    SettlementPlan {
        reservation_id: reservation.id,
        user_id: reservation.user_id,
        token: token.value,
        seat_id: reservation.seat_id,
        amount: reservation.price,
        paid_at,
    }
}

/// Everything a settlement may touch, for the users (and their idempotency keys), seats,
/// reservations (and their payments) and tokens named.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    balances: Vec<(UserId, Option<Balance>)>,
    ledgers: Vec<(UserId, Vec<LedgerEntry>)>,
    keys: Vec<Option<IdempotencyRecord>>,
    seats: Vec<Option<Seat>>,
    reservations: Vec<Option<Reservation>>,
    payments: Vec<Option<Payment>>,
    tokens: Vec<Option<QueueToken>>,
}

/// What a settlement may touch, as stored now.
pub(crate) async fn snapshot(
    stores: &Repositories,
    users: &[UserId],
    keys: &[(UserId, IdempotencyKey)],
    seats: &[SeatId],
    reservations: &[ReservationId],
    tokens: &[TokenValue],
) -> Snapshot {
    let mut shot = Snapshot {
        balances: Vec::new(),
        ledgers: Vec::new(),
        keys: Vec::new(),
        seats: Vec::new(),
        reservations: Vec::new(),
        payments: Vec::new(),
        tokens: Vec::new(),
    };
    for &user in users {
        shot.balances.push((user, stores.wallet.balance(user).await.expect("balance works")));
        shot.ledgers.push((user, stores.wallet.ledger(user).await.expect("ledger works")));
    }
    for (user, key) in keys {
        shot.keys.push(stores.idempotency.find(*user, key).await.expect("find works"));
    }
    for &id in seats {
        shot.seats.push(stores.catalogue.seat(id).await.expect("seat works"));
    }
    for &id in reservations {
        shot.reservations.push(stores.reservations.reservation(id).await.expect("reservation works"));
        shot.payments.push(stores.payments.payment_for(id).await.expect("payment_for works"));
    }
    for &value in tokens {
        shot.tokens.push(stores.queue.token(value).await.expect("token works"));
    }
    shot
}

/// An id no store has handed out: far above every id seen.
pub(crate) fn unknown_id(seen: impl IntoIterator<Item = i64>) -> i64 {
    seen.into_iter().max().unwrap_or(0) + 1_000_000
}
