//! The catalogue: concerts, their performances (schedules) and the 50 seats of each performance.

use time::{Date, OffsetDateTime};

use crate::ids::{ConcertId, ReservationId, ScheduleId, SeatId};
use crate::money::Won;

/// How many seats each performance has (the contract: seats 1–50).
pub const SEATS_PER_SCHEDULE: u8 = 50;
/// Seats per lettered row, which gives the names `A1`…`A10`, `B1`…, `E10`.
const SEATS_PER_ROW: u8 = 10;

/// A seat number that exists: 1..=50.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeatNumber(u8);

/// A seat number outside 1..=50.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a seat number must be between 1 and {SEATS_PER_SCHEDULE}, got {0}")]
pub struct InvalidSeatNumber(pub i64);

impl SeatNumber {
    /// Accepts 1..=50.
    pub fn new(number: i64) -> Result<Self, InvalidSeatNumber> {
        u8::try_from(number)
            .ok()
            .filter(|n| (1..=SEATS_PER_SCHEDULE).contains(n))
            .map(Self)
            .ok_or(InvalidSeatNumber(number))
    }

    /// Every seat number of a performance, in order.
    pub fn all() -> impl Iterator<Item = SeatNumber> {
        (1..=SEATS_PER_SCHEDULE).map(SeatNumber)
    }

    /// The number as stored.
    pub fn get(self) -> u8 {
        self.0
    }

    /// The printed name: rows of ten lettered from `A`, so seat 1 is `A1` and seat 50 is `E10`.
    pub fn name(self) -> String {
        let index = self.0 - 1;
        let row = char::from(b'A' + index / SEATS_PER_ROW);
        format!("{row}{}", index % SEATS_PER_ROW + 1)
    }
}

/// A price band of the hall (`VIP`, `R`, `S`…); free text chosen by whoever loads the catalogue.
pub type Zone = String;

/// A concert: the show fans look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concert {
    /// Its id.
    pub id: ConcertId,
    /// Title as shown to fans.
    pub title: String,
    /// Performing artist.
    pub artist: String,
    /// Where it takes place.
    pub venue: String,
}

/// One performance of a concert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Its id.
    pub id: ScheduleId,
    /// The concert performed.
    pub concert_id: ConcertId,
    /// When the performance starts.
    pub starts_at: OffsetDateTime,
    /// When its seats go on sale: before it, none can be held.
    pub on_sale_at: OffsetDateTime,
}

impl Schedule {
    /// The calendar date (UTC) fans pick it by.
    pub fn date(&self) -> Date {
        self.starts_at.date()
    }

    /// A performance can be booked until it starts.
    pub fn is_upcoming(&self, now: OffsetDateTime) -> bool {
        self.starts_at > now
    }
}

/// A live hold on a seat: which reservation has it and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatHold {
    /// The reservation holding the seat.
    pub reservation_id: ReservationId,
    /// The instant the hold lapses (exclusive).
    pub until: OffsetDateTime,
}

/// One seat of one performance, with its sale state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// Its id.
    pub id: SeatId,
    /// The performance it belongs to.
    pub schedule_id: ScheduleId,
    /// The concert of that performance (denormalised so a hold needs one read).
    pub concert_id: ConcertId,
    /// When that performance starts (denormalised for the same reason).
    pub starts_at: OffsetDateTime,
    /// When that performance goes on sale (denormalised for the same reason).
    pub on_sale_at: OffsetDateTime,
    /// Its number, 1..=50.
    pub number: SeatNumber,
    /// Its price band.
    pub zone: Zone,
    /// What it costs.
    pub price: Won,
    /// Sold seats stay sold.
    pub sold: bool,
    /// The latest hold; it may have lapsed already, which only the clock decides.
    pub hold: Option<SeatHold>,
}

impl Seat {
    /// The printed name, e.g. `A1`.
    pub fn name(&self) -> String {
        self.number.name()
    }

    /// The contract: a seat is free when it is neither sold nor under an unexpired hold, and (ours) its
    /// performance has not started yet. Expiry is decided here, at read time, by the clock; a
    /// sweeper only tidies up.
    pub fn is_free_at(&self, now: OffsetDateTime) -> bool {
        !self.sold && now < self.starts_at && self.hold.is_none_or(|hold| hold.until <= now)
    }

    /// Whether its performance is on sale at `now` (from `on_sale_at` on).
    pub fn is_on_sale_at(&self, now: OffsetDateTime) -> bool {
        self.on_sale_at <= now
    }
}

/// A concert to load, with its performances and seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConcert {
    /// What names it across loads of the catalogue, so loading it again changes nothing.
    pub key: String,
    /// Title as shown to fans.
    pub title: String,
    /// Performing artist.
    pub artist: String,
    /// Where it takes place.
    pub venue: String,
    /// Its performances.
    pub schedules: Vec<NewSchedule>,
}

/// A performance to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    /// When it starts.
    pub starts_at: OffsetDateTime,
    /// When it goes on sale; before `starts_at`.
    pub on_sale_at: OffsetDateTime,
    /// Its seats, normally all 50.
    pub seats: Vec<NewSeat>,
}

/// A seat to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSeat {
    /// Its number.
    pub number: SeatNumber,
    /// Its price band.
    pub zone: Zone,
    /// What it costs.
    pub price: Won,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::macros::datetime;

    pub(crate) fn seat_at(starts_at: OffsetDateTime) -> Seat {
        Seat {
            id: SeatId::new(7).expect("valid id"),
            schedule_id: ScheduleId::new(3).expect("valid id"),
            concert_id: ConcertId::new(1).expect("valid id"),
            starts_at,
            on_sale_at: starts_at - time::Duration::days(60),
            number: SeatNumber::new(7).expect("valid number"),
            zone: "R".into(),
            price: Won::new(30_000).expect("valid price"),
            sold: false,
            hold: None,
        }
    }

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
    const SHOW: OffsetDateTime = datetime!(2030-02-01 19:00 UTC);

    #[test]
    fn seat_numbers_run_from_one_to_fifty() {
        assert!(SeatNumber::new(0).is_err());
        assert!(SeatNumber::new(51).is_err());
        assert!(SeatNumber::new(-1).is_err());
        assert_eq!(SeatNumber::all().count(), 50);
        assert_eq!(SeatNumber::new(50).map(SeatNumber::get), Ok(50));
    }

    #[test]
    fn seat_names_are_rows_of_ten_from_a1_to_e10() {
        let name = |n| SeatNumber::new(n).map(SeatNumber::name);
        assert_eq!(name(1), Ok("A1".to_owned()));
        assert_eq!(name(10), Ok("A10".to_owned()));
        assert_eq!(name(11), Ok("B1".to_owned()));
        assert_eq!(name(50), Ok("E10".to_owned()));
    }

    #[test]
    fn seat_is_free_when_neither_sold_nor_held() {
        assert!(seat_at(SHOW).is_free_at(NOW));
    }

    #[test]
    fn seat_is_not_free_once_sold() {
        let seat = Seat { sold: true, ..seat_at(SHOW) };
        assert!(!seat.is_free_at(NOW));
    }

    #[test]
    fn seat_is_not_free_while_a_hold_is_live_and_free_the_instant_it_lapses() {
        let until = NOW + time::Duration::minutes(5);
        let hold = SeatHold { reservation_id: ReservationId::new(1).expect("valid id"), until };
        let seat = Seat { hold: Some(hold), ..seat_at(SHOW) };
        assert!(!seat.is_free_at(NOW));
        assert!(!seat.is_free_at(until - time::Duration::SECOND));
        assert!(seat.is_free_at(until));
    }

    #[test]
    fn seat_is_on_sale_from_its_performances_on_sale_instant() {
        let seat = Seat { on_sale_at: NOW, ..seat_at(SHOW) };
        assert!(!seat.is_on_sale_at(NOW - time::Duration::SECOND));
        assert!(seat.is_on_sale_at(NOW));
    }

    #[test]
    fn seat_of_a_started_performance_is_not_free() {
        assert!(!seat_at(NOW).is_free_at(NOW));
    }

    #[test]
    fn schedule_is_upcoming_until_it_starts() {
        let schedule = Schedule {
            id: ScheduleId::new(1).expect("valid id"),
            concert_id: ConcertId::new(1).expect("valid id"),
            starts_at: SHOW,
            on_sale_at: NOW,
        };
        assert!(schedule.is_upcoming(NOW));
        assert!(!schedule.is_upcoming(SHOW));
        assert_eq!(schedule.date(), SHOW.date());
    }
}
