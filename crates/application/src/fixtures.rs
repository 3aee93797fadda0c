//! Shared test data for the use-case tests: a fixed clock and ready-made entities.

use domain::ports::MockClock;
use domain::{
    Concert, ConcertId, QueueToken, Reservation, ReservationId, ReservationStatus, Schedule, ScheduleId, Seat,
    SeatId, SeatNumber, TokenStatus, TokenValue, UserId, Won,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// The instant every test runs at.
pub const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
/// When the sample performance starts.
pub const SHOW: OffsetDateTime = datetime!(2030-02-01 19:00 UTC);

/// A clock stopped at [`NOW`].
pub fn clock() -> MockClock {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    clock
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

pub fn won(n: i64) -> Won {
    Won::new(n).expect("valid amount")
}

pub fn concert(n: i64) -> Concert {
    Concert { id: concert_id(n), title: format!("Concert {n}"), artist: "Artist".into(), venue: "Hall".into() }
}

pub fn schedule(id: i64, concert: i64, starts_at: OffsetDateTime) -> Schedule {
    Schedule { id: schedule_id(id), concert_id: concert_id(concert), starts_at }
}

/// Seat `number` of schedule 3 of concert 1, free, 30,000 won.
pub fn seat(number: i64) -> Seat {
    Seat {
        id: SeatId::new(100 + number).expect("valid id"),
        schedule_id: schedule_id(3),
        concert_id: concert_id(1),
        starts_at: SHOW,
        number: SeatNumber::new(number).expect("valid seat number"),
        zone: "R".into(),
        price: won(30_000),
        sold: false,
        hold: None,
    }
}

/// Reservation 11 of seat 107 by `holder`, held until five minutes after [`NOW`].
pub fn reservation(holder: i64) -> Reservation {
    Reservation {
        id: ReservationId::new(11).expect("valid id"),
        user_id: user(holder),
        seat_id: SeatId::new(107).expect("valid id"),
        concert_id: concert_id(1),
        seat_name: "A7".into(),
        price: won(30_000),
        status: ReservationStatus::Held,
        reserved_at: NOW,
        expires_at: NOW + Duration::minutes(5),
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
