//! The box office's edits of what is on sale: a seat's price, a seat taken off the map, a
//! performance cancelled. A fan never loses what they hold or bought to an edit: a seat under
//! a live hold or sold cannot be edited, and a cancelled performance gives every buyer their
//! money back.

use time::OffsetDateTime;

use crate::catalogue::Seat;
use crate::ids::ScheduleId;
use crate::money::{MAX_BALANCE, Won};

/// A change to one seat of a performance's map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatEdit {
    /// Sell it at this price from now on.
    Reprice(Won),
    /// Take it off the map: nobody can see or hold it any more.
    Withdraw,
}

/// A ticket price outside 1..=[`MAX_BALANCE`] won.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a price must be between 1 and {MAX_BALANCE} won, got {0}")]
pub struct InvalidPrice(pub i64);

/// A price a seat may be sold at: at least 1 won (a payment is never of nothing) and no more
/// than a balance can hold (a dearer seat could never be paid).
pub fn ticket_price(amount: i64) -> Result<Won, InvalidPrice> {
    Won::new(amount).ok().filter(|won| (1..=MAX_BALANCE).contains(&won.get())).ok_or(InvalidPrice(amount))
}

/// How a seat stands at an instant, whether or not its performance has started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatState {
    /// Neither sold nor under a live hold (a lapsed hold is none).
    Free,
    /// Under a live hold.
    Held,
    /// Sold.
    Sold,
}

impl Seat {
    /// How this seat stands at `now`.
    pub fn state_at(&self, now: OffsetDateTime) -> SeatState {
        if self.sold {
            SeatState::Sold
        } else if self.hold.is_some_and(|hold| hold.until > now) {
            SeatState::Held
        } else {
            SeatState::Free
        }
    }

    /// Whether the box office may edit this seat at `now`: free then. The performance having
    /// started does not matter.
    pub fn is_editable_at(&self, now: OffsetDateTime) -> bool {
        self.state_at(now) == SeatState::Free
    }
}

/// What cancelling a performance did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancellation {
    /// The performance.
    pub schedule_id: ScheduleId,
    /// When it was cancelled: the first cancellation's instant, however often it is asked.
    pub cancelled_at: OffsetDateTime,
    /// Payments refunded by this request.
    pub refunds: u64,
    /// Won refunded by this request.
    pub refunded: i64,
    /// Seats still sold because giving their money back would lift the buyer's balance above
    /// its ceiling; cancelling again refunds them once it fits.
    pub unrefunded: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeatNumber;
    use crate::catalogue::SeatHold;
    use crate::ids::{ConcertId, ReservationId, SeatId};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn seat() -> Seat {
        Seat {
            id: SeatId::new(1).expect("id"),
            schedule_id: ScheduleId::new(1).expect("id"),
            concert_id: ConcertId::new(1).expect("id"),
            starts_at: NOW - time::Duration::HOUR,
            on_sale_at: NOW - time::Duration::DAY,
            number: SeatNumber::new(1).expect("number"),
            zone: "R".to_owned(),
            price: Won::new(100).expect("won"),
            sold: false,
            hold: None,
        }
    }

    fn held_until(until: OffsetDateTime) -> Seat {
        Seat { hold: Some(SeatHold { reservation_id: ReservationId::new(9).expect("id"), until }), ..seat() }
    }

    #[test]
    fn a_seat_is_sold_held_while_its_hold_is_live_and_free_otherwise() {
        assert_eq!(
            Seat { sold: true, ..held_until(NOW + time::Duration::SECOND) }.state_at(NOW),
            SeatState::Sold
        );
        assert_eq!(held_until(NOW + time::Duration::SECOND).state_at(NOW), SeatState::Held);
        assert_eq!(held_until(NOW).state_at(NOW), SeatState::Free, "a hold lapses at its instant");
        assert_eq!(seat().state_at(NOW), SeatState::Free);
    }

    #[test]
    fn a_free_seat_is_editable_even_after_its_performance_started() {
        assert!(seat().is_editable_at(NOW));
    }

    #[test]
    fn a_sold_seat_or_one_under_a_live_hold_is_not_editable() {
        assert!(!Seat { sold: true, ..seat() }.is_editable_at(NOW));
        assert!(!held_until(NOW + time::Duration::SECOND).is_editable_at(NOW));
    }

    #[test]
    fn a_seat_whose_hold_lapsed_is_editable() {
        assert!(held_until(NOW).is_editable_at(NOW));
    }

    #[test]
    fn a_ticket_price_is_at_least_one_won_and_at_most_a_full_balance() {
        assert_eq!(ticket_price(1).map(Won::get), Ok(1));
        assert_eq!(ticket_price(MAX_BALANCE).map(Won::get), Ok(MAX_BALANCE));
        for bad in [0, -1, MAX_BALANCE + 1, i64::MIN] {
            assert_eq!(ticket_price(bad), Err(InvalidPrice(bad)));
        }
    }
}
