//! Holds: a seat set aside for one fan for a few minutes, which a payment turns into a sale.

use time::{Duration, OffsetDateTime};

use crate::catalogue::Seat;
use crate::ids::{ConcertId, ReservationId, SeatId, UserId};
use crate::money::Won;
use crate::payment::Payment;

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// The seat is set aside for the holder until `expires_at`.
    Held,
    /// Paid: the seat is the holder's.
    Paid,
    /// The hold lapsed unpaid and the seat went back on sale.
    Expired,
    /// The holder gave the hold back before it lapsed, and the seat went back on sale.
    Released,
    /// Paid, then refunded by the box office: the money went back and the seat back on sale.
    Refunded,
}

/// A fan's hold on a seat, and later their purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Its id.
    pub id: ReservationId,
    /// The holder.
    pub user_id: UserId,
    /// The seat held.
    pub seat_id: SeatId,
    /// The concert of that seat.
    pub concert_id: ConcertId,
    /// The seat's printed name, e.g. `A1`.
    pub seat_name: String,
    /// The seat's price when it was held: the amount payment must match.
    pub price: Won,
    /// The stored status; see [`Reservation::status_at`] for the one that counts.
    pub status: ReservationStatus,
    /// When the hold was taken.
    pub reserved_at: OffsetDateTime,
    /// When an unpaid hold lapses (exclusive).
    pub expires_at: OffsetDateTime,
}

impl Reservation {
    /// The status the clock says it has: a stored `Held` past its expiry is `Expired`, whether
    /// or not a sweeper has rewritten it yet.
    pub fn status_at(&self, now: OffsetDateTime) -> ReservationStatus {
        match self.status {
            ReservationStatus::Held if self.expires_at <= now => ReservationStatus::Expired,
            status => status,
        }
    }
}

/// Why a fan cannot give a reservation back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseRejection {
    /// Someone else's: to the caller it does not exist.
    #[error("no such reservation")]
    NotFound,
    /// Paid: the seat is the fan's, and only the box office can refund it.
    #[error("the reservation is paid; a paid seat can only be refunded by the box office")]
    Paid,
    /// The hold lapsed already: the seat is back on sale.
    #[error("the hold has expired; the seat is back on sale")]
    Expired,
}

/// What giving a reservation back comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// A live hold: end it now and put the seat back on sale.
    End,
    /// Given back already: nothing left to do, and the answer is the same as the first time
    /// (a retried release must not fail because the first one worked).
    AlreadyReleased,
}

impl Reservation {
    /// Decides whether `user` may give this reservation back at `now`.
    pub fn release_by(&self, user: UserId, now: OffsetDateTime) -> Result<Release, ReleaseRejection> {
        if self.user_id != user {
            return Err(ReleaseRejection::NotFound);
        }
        match self.status_at(now) {
            ReservationStatus::Held => Ok(Release::End),
            ReservationStatus::Released => Ok(Release::AlreadyReleased),
            ReservationStatus::Paid => Err(ReleaseRejection::Paid),
            ReservationStatus::Expired | ReservationStatus::Refunded => Err(ReleaseRejection::Expired),
        }
    }
}

/// One of a fan's reservations as they see it in their bookings: a hold, or a purchase with
/// its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// The reservation.
    pub reservation: Reservation,
    /// Its payment, once paid.
    pub payment: Option<Payment>,
}

/// How long a hold lasts (`SEAT_HOLD_SECONDS`, default 300) and how many a fan may have at
/// once (`MAX_HOLDS_PER_USER`, default 4; 0 = no limit), so one fan cannot block a whole show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    /// The hold length.
    pub hold_for: Duration,
    /// The most live holds one user may have at once, service-wide; 0 = no limit.
    pub max_per_user: u32,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        Self { hold_for: Duration::minutes(5), max_per_user: 4 }
    }
}

/// Why a seat cannot be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HoldRejection {
    /// The seat belongs to another concert; to the caller it does not exist.
    #[error("the seat does not belong to this concert")]
    SeatNotInConcert,
    /// Its performance is not on sale yet.
    #[error("sales for this performance have not opened yet")]
    SalesNotOpen {
        /// When they open.
        opens_at: OffsetDateTime,
    },
    /// Sold, under a live hold (anyone's, the caller's included), or its show has started.
    #[error("the seat is not available")]
    SeatUnavailable,
}

/// A hold the domain has approved; the store commits it only if the seat is still free at
/// `held_at` when the write lands (compare-and-set), so two approvals cannot both win.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold {
    /// The seat to hold.
    pub seat_id: SeatId,
    /// Its concert.
    pub concert_id: ConcertId,
    /// Its printed name.
    pub seat_name: String,
    /// Who holds it.
    pub user_id: UserId,
    /// The decision instant; the store's free-seat test uses this same instant.
    pub held_at: OffsetDateTime,
    /// When the hold lapses.
    pub until: OffsetDateTime,
    /// The most live holds the holder may have; the store refuses the hold when they already
    /// have this many at `held_at` ([`HoldPolicy::allows_another`]). 0 = no limit.
    pub max_live_holds: u32,
}

impl HoldPolicy {
    /// Decides whether `user` may hold `seat` of `concert` at `now`.
    pub fn hold(
        &self,
        seat: &Seat,
        concert: ConcertId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<NewHold, HoldRejection> {
        if seat.concert_id != concert {
            return Err(HoldRejection::SeatNotInConcert);
        }
        if !seat.is_on_sale_at(now) {
            return Err(HoldRejection::SalesNotOpen { opens_at: seat.on_sale_at });
        }
        if !seat.is_free_at(now) {
            return Err(HoldRejection::SeatUnavailable);
        }
        Ok(NewHold {
            seat_id: seat.id,
            concert_id: seat.concert_id,
            seat_name: seat.name(),
            user_id: user,
            held_at: now,
            // Saturating: the binary bounds `SEAT_HOLD_SECONDS`, and no hold can panic anyway.
            until: now.saturating_add(self.hold_for),
            max_live_holds: self.max_per_user,
        })
    }

    /// Whether a user who has `live` live holds may take one more.
    pub fn allows_another(&self, live: u64) -> bool {
        below_limit(self.max_per_user, live)
    }
}

impl NewHold {
    /// Whether the holder, who has `live` live holds when this one would land, may take it:
    /// the rule of [`HoldPolicy::allows_another`], with the limit the hold was approved under.
    pub fn within_limit(&self, live: u64) -> bool {
        below_limit(self.max_live_holds, live)
    }
}

/// `live` is below `max` (0 = no limit).
fn below_limit(max: u32, live: u64) -> bool {
    max == 0 || live < u64::from(max)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalogue::SeatHold;
    use crate::catalogue::tests::seat_at;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
    const SHOW: OffsetDateTime = datetime!(2030-02-01 19:00 UTC);

    fn id<T>(make: fn(i64) -> Result<T, crate::InvalidId>, n: i64) -> T {
        make(n).expect("valid id")
    }

    pub(crate) fn held_reservation(user: i64, expires_at: OffsetDateTime) -> Reservation {
        Reservation {
            id: id(ReservationId::new, 11),
            user_id: id(UserId::new, user),
            seat_id: id(SeatId::new, 7),
            concert_id: id(ConcertId::new, 1),
            seat_name: "A7".into(),
            price: Won::new(30_000).expect("valid price"),
            status: ReservationStatus::Held,
            reserved_at: expires_at - Duration::minutes(5),
            expires_at,
        }
    }

    #[test]
    fn hold_of_a_free_seat_lasts_the_policy_length() {
        let policy = HoldPolicy { hold_for: Duration::seconds(90), ..HoldPolicy::default() };
        let hold = policy.hold(&seat_at(SHOW), id(ConcertId::new, 1), id(UserId::new, 5), NOW);
        let hold = hold.expect("free seat is holdable");
        assert_eq!(hold.until, NOW + Duration::seconds(90));
        assert_eq!(hold.seat_name, "A7");
        assert_eq!(hold.held_at, NOW);
    }

    #[test]
    fn a_hold_longer_than_the_calendar_ends_at_its_end_instead_of_panicking() {
        let policy = HoldPolicy { hold_for: Duration::MAX, ..HoldPolicy::default() };
        let hold = policy.hold(&seat_at(SHOW), id(ConcertId::new, 1), id(UserId::new, 5), NOW);
        let last = time::OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX);
        assert_eq!(hold.map(|hold| hold.until), Ok(last));
    }

    #[test]
    fn hold_fails_with_not_in_concert_for_a_seat_of_another_concert() {
        let result =
            HoldPolicy::default().hold(&seat_at(SHOW), id(ConcertId::new, 2), id(UserId::new, 5), NOW);
        assert_eq!(result, Err(HoldRejection::SeatNotInConcert));
    }

    #[test]
    fn hold_fails_with_sales_not_open_before_the_performance_goes_on_sale_and_succeeds_from_then() {
        let seat = Seat { on_sale_at: NOW + Duration::SECOND, ..seat_at(SHOW) };
        let hold = |at| HoldPolicy::default().hold(&seat, id(ConcertId::new, 1), id(UserId::new, 5), at);
        assert_eq!(hold(NOW), Err(HoldRejection::SalesNotOpen { opens_at: NOW + Duration::SECOND }));
        assert!(hold(NOW + Duration::SECOND).is_ok());
    }

    #[test]
    fn hold_fails_with_seat_unavailable_when_hold_is_live() {
        let hold = SeatHold { reservation_id: id(ReservationId::new, 1), until: NOW + Duration::SECOND };
        let seat = Seat { hold: Some(hold), ..seat_at(SHOW) };
        let result = HoldPolicy::default().hold(&seat, id(ConcertId::new, 1), id(UserId::new, 5), NOW);
        assert_eq!(result, Err(HoldRejection::SeatUnavailable));
    }

    #[test]
    fn hold_succeeds_when_the_previous_hold_has_lapsed() {
        let hold = SeatHold { reservation_id: id(ReservationId::new, 1), until: NOW };
        let seat = Seat { hold: Some(hold), ..seat_at(SHOW) };
        assert!(HoldPolicy::default().hold(&seat, id(ConcertId::new, 1), id(UserId::new, 5), NOW).is_ok());
    }

    #[test]
    fn hold_fails_with_seat_unavailable_when_sold() {
        let seat = Seat { sold: true, ..seat_at(SHOW) };
        let result = HoldPolicy::default().hold(&seat, id(ConcertId::new, 1), id(UserId::new, 5), NOW);
        assert_eq!(result, Err(HoldRejection::SeatUnavailable));
    }

    #[test]
    fn reservation_counts_as_expired_once_its_hold_lapses_even_before_a_sweep() {
        let reservation = held_reservation(5, NOW);
        assert_eq!(reservation.status_at(NOW - Duration::SECOND), ReservationStatus::Held);
        assert_eq!(reservation.status_at(NOW), ReservationStatus::Expired);
    }

    #[test]
    fn paid_reservation_stays_paid_after_its_hold_time() {
        let reservation = Reservation { status: ReservationStatus::Paid, ..held_reservation(5, NOW) };
        assert_eq!(reservation.status_at(NOW + Duration::DAY), ReservationStatus::Paid);
    }

    #[test]
    fn a_live_hold_is_released_by_its_holder() {
        let reservation = held_reservation(5, NOW + Duration::SECOND);
        assert_eq!(reservation.release_by(id(UserId::new, 5), NOW), Ok(Release::End));
    }

    #[test]
    fn a_reservation_of_someone_else_cannot_be_released_and_does_not_exist_for_the_caller() {
        let reservation = held_reservation(5, NOW + Duration::SECOND);
        assert_eq!(reservation.release_by(id(UserId::new, 6), NOW), Err(ReleaseRejection::NotFound));
    }

    #[test]
    fn a_paid_reservation_cannot_be_released_by_the_fan() {
        let reservation = Reservation { status: ReservationStatus::Paid, ..held_reservation(5, NOW) };
        assert_eq!(reservation.release_by(id(UserId::new, 5), NOW), Err(ReleaseRejection::Paid));
    }

    #[test]
    fn a_lapsed_hold_cannot_be_released_even_before_a_sweep() {
        let reservation = held_reservation(5, NOW);
        assert_eq!(reservation.release_by(id(UserId::new, 5), NOW), Err(ReleaseRejection::Expired));
    }

    #[test]
    fn releasing_a_released_reservation_again_answers_as_the_first_time() {
        let reservation = Reservation { status: ReservationStatus::Released, ..held_reservation(5, NOW) };
        assert_eq!(reservation.release_by(id(UserId::new, 5), NOW), Ok(Release::AlreadyReleased));
        assert_eq!(reservation.status_at(NOW + Duration::DAY), ReservationStatus::Released);
    }

    #[test]
    fn a_user_may_hold_up_to_the_limit_and_zero_means_no_limit() {
        let four = HoldPolicy { max_per_user: 4, ..HoldPolicy::default() };
        assert!(four.allows_another(0) && four.allows_another(3));
        assert!(!four.allows_another(4) && !four.allows_another(50));
        let unlimited = HoldPolicy { max_per_user: 0, ..HoldPolicy::default() };
        assert!(unlimited.allows_another(u64::MAX));
        assert_eq!(HoldPolicy::default().max_per_user, 4);
    }
}
