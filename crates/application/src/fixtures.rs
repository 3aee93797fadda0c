//! Shared test data for the use-case tests: a fixed clock and ready-made entities.

use domain::ports::{MockClock, MockTokenSeal};
use domain::{
    Balance, ClaimId, Concert, ConcertId, IdempotencyKey, Payment, PaymentId, QueuePolicy, QueueToken,
    Receipt, Reservation, ReservationId, ReservationStatus, Schedule, ScheduleId, Seat, SeatHold, SeatId,
    SeatNumber, StoreError, StoredResponse, TokenClaims, TokenStatus, TokenValue, UserId, Won,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// The instant every test runs at.
pub const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
/// When the sample performance starts.
pub const SHOW: OffsetDateTime = datetime!(2030-02-01 19:00 UTC);
/// When the fixtures' performances went on sale: long before [`NOW`].
pub const ON_SALE: OffsetDateTime = datetime!(2029-12-01 12:00 UTC);

/// Ten admissions a tick of one second and no active cap: position 95 waits 10 s.
pub fn policy() -> QueuePolicy {
    QueuePolicy { max_active: 0, admit_per_tick: 10, ..QueuePolicy::default() }
}

/// A clock stopped at [`NOW`].
pub fn clock() -> MockClock {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    clock
}

/// What the fake [`seal`] makes of `claims`: their fields in the clear, marked as sealed.
pub fn sealed(claims: &TokenClaims) -> String {
    let issued = claims.issued_at.unix_timestamp();
    format!("sealed:{}:{}:{}:{issued}", claims.value, claims.user_id.get(), claims.ticket)
}

/// The text a fan holding `token` carries.
pub fn text_of(token: &QueueToken) -> String {
    sealed(&TokenClaims::from(token))
}

/// A seal that opens only what it sealed: any other text, a token's bare value included, is
/// refused as a forgery would be.
pub fn seal() -> MockTokenSeal {
    let mut seal = MockTokenSeal::new();
    seal.expect_seal().returning(sealed);
    seal.expect_open().returning(|text| {
        let fields: Vec<&str> = text.strip_prefix("sealed:")?.split(':').collect();
        let [value, user_id, ticket, issued] = fields.as_slice() else { return None };
        Some(TokenClaims {
            value: TokenValue::parse(value).ok()?,
            user_id: UserId::new(user_id.parse().ok()?).ok()?,
            ticket: ticket.parse().ok()?,
            issued_at: OffsetDateTime::from_unix_timestamp(issued.parse().ok()?).ok()?,
        })
    });
    seal
}

pub fn user(n: i64) -> UserId {
    UserId::new(n).expect("valid id")
}

pub fn concert_id(n: i64) -> ConcertId {
    ConcertId::new(n).expect("valid id")
}

pub fn schedule_id(n: i64) -> ScheduleId {
    ScheduleId::new(n).expect("valid id")
}

pub fn seat_id(n: i64) -> SeatId {
    SeatId::new(n).expect("valid id")
}

pub fn reservation_id(n: i64) -> ReservationId {
    ReservationId::new(n).expect("valid id")
}

pub fn won(n: i64) -> Won {
    Won::new(n).expect("valid amount")
}

pub fn balance(n: i64) -> Balance {
    Balance::new(n).expect("valid balance")
}

/// What a port answers while the store cannot be reached.
pub fn store_down() -> StoreError {
    StoreError::Unavailable("connection refused".into())
}

pub fn concert(n: i64) -> Concert {
    Concert {
        id: concert_id(n),
        title: format!("Concert {n}"),
        artist: "Artist".into(),
        venue: "Hall".into(),
    }
}

pub fn schedule(id: i64, concert: i64, starts_at: OffsetDateTime) -> Schedule {
    Schedule { id: schedule_id(id), concert_id: concert_id(concert), starts_at, on_sale_at: ON_SALE }
}

/// Seat `number` of schedule 3 of concert 1, free, 30,000 won.
pub fn seat(number: i64) -> Seat {
    Seat {
        id: seat_id(100 + number),
        schedule_id: schedule_id(3),
        concert_id: concert_id(1),
        starts_at: SHOW,
        on_sale_at: ON_SALE,
        number: SeatNumber::new(number).expect("valid seat number"),
        zone: "R".into(),
        price: won(30_000),
        sold: false,
        hold: None,
    }
}

/// Seat `number` of schedule `schedule` of concert 1, free, starting at `starts_at`; its id is
/// `schedule * 100 + number`.
pub fn seat_of(schedule: i64, number: i64, starts_at: OffsetDateTime) -> Seat {
    Seat {
        id: seat_id(schedule * 100 + number),
        schedule_id: schedule_id(schedule),
        starts_at,
        ..seat(number)
    }
}

/// `seat` under a hold of reservation 99 that lapses at `until`.
pub fn held_until(seat: Seat, until: OffsetDateTime) -> Seat {
    Seat { hold: Some(SeatHold { reservation_id: reservation_id(99), until }), ..seat }
}

/// `seat`, sold.
pub fn sold(seat: Seat) -> Seat {
    Seat { sold: true, ..seat }
}

/// Reservation 11 of seat 107 by `holder`, held until five minutes after [`NOW`].
pub fn reservation(holder: i64) -> Reservation {
    Reservation {
        id: reservation_id(11),
        user_id: user(holder),
        seat_id: seat_id(107),
        concert_id: concert_id(1),
        seat_name: "A7".into(),
        price: won(30_000),
        status: ReservationStatus::Held,
        reserved_at: NOW,
        expires_at: NOW + Duration::minutes(5),
    }
}

/// Payment 21 of [`reservation`] by user 5, 30,000 won at [`NOW`].
pub fn payment() -> Payment {
    Payment {
        id: PaymentId::new(21).expect("valid id"),
        reservation_id: reservation_id(11),
        user_id: user(5),
        amount: won(30_000),
        paid_at: NOW,
    }
}

/// A token of `holder` with ticket `ticket` in the given state, last polled at [`NOW`].
pub fn token(holder: i64, ticket: u64, status: TokenStatus) -> QueueToken {
    QueueToken {
        value: TokenValue::from_uuid(uuid_for(ticket)),
        user_id: user(holder),
        ticket,
        status,
        issued_at: NOW,
        last_seen_at: NOW,
        expires_at: (status == TokenStatus::Active).then_some(NOW + Duration::minutes(10)),
    }
}

fn uuid_for(ticket: u64) -> uuid::Uuid {
    uuid::Uuid::from_u128(u128::from(ticket) + 0xF00D)
}

/// A receipt for user 5's key `k` under claim 8 that answers a use case's success with 200 and
/// its debug text, and a refusal with 409 and its message, so a test can tell what a port was
/// asked to record.
pub fn receipt<T: std::fmt::Debug + 'static, E: std::fmt::Display + 'static>() -> Receipt<Result<T, E>> {
    let key = IdempotencyKey::parse("k").expect("valid key");
    Receipt::new(user(5), key, ClaimId::new(8), |result: &Result<T, E>| {
        Some(match result {
            Ok(done) => StoredResponse { status: 200, body: format!("{done:?}") },
            Err(refusal) => StoredResponse { status: 409, body: refusal.to_string() },
        })
    })
}
