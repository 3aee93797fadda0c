//! `POST /api/{concertId}/reserve-seat`: hold a seat for a few minutes. The hot path of a sale.

use domain::ports::{CatalogueRepository, Clock, ReservationRepository};
use domain::{ConcertId, HoldPolicy, HoldRejection, Receipt, Reservation, SeatId, StoreError, UserId};

use crate::access::{Forbidden, ensure_self};

/// The request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReserveSeat {
    /// The token's user.
    pub actor: UserId,
    /// `userId` of the body; must be the actor.
    pub user_id: i64,
    /// The concert of the path.
    pub concert_id: i64,
    /// `seatId` of the body.
    pub seat_id: i64,
    /// With an idempotency key: where the hold records its answer, with its effect.
    pub receipt: Option<Receipt<Result<Reservation, ReserveSeatError>>>,
}

/// Why no hold was taken.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReserveSeatError {
    /// `userId` is not the token's user.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// No such seat in this concert.
    #[error("seat not found in this concert")]
    SeatNotFound,
    /// The seat's performance is not on sale yet.
    #[error("sales for this performance open at {opens_at}")]
    SalesNotOpen {
        /// When they open.
        opens_at: time::OffsetDateTime,
    },
    /// Sold, or held by anyone (the caller included), or the show has started.
    #[error("the seat is not available")]
    SeatUnavailable,
    /// The caller already holds as many seats as one fan may.
    #[error("you already hold as many seats as one fan may; pay for or wait out a hold first")]
    HoldLimitReached,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One read to decide, one compare-and-set to commit: a loser of a race costs about a read, and
/// of any number of concurrent holds on one seat exactly one wins. The store also enforces the
/// per-user limit in that same step; a refused hold is told apart afterwards: the seat taken
/// since it was read (by anyone), else the caller's live holds are counted (a refusal wrote
/// nothing, so its answer is recorded after it too).
pub async fn execute(
    catalogue: &dyn CatalogueRepository,
    reservations: &dyn ReservationRepository,
    clock: &dyn Clock,
    policy: &HoldPolicy,
    command: ReserveSeat,
) -> Result<Reservation, ReserveSeatError> {
    let user = ensure_self(command.actor, command.user_id)?;
    let concert = ConcertId::new(command.concert_id).map_err(|_| ReserveSeatError::SeatNotFound)?;
    let seat_id = SeatId::new(command.seat_id).map_err(|_| ReserveSeatError::SeatNotFound)?;
    let seat = catalogue.seat(seat_id).await?.ok_or(ReserveSeatError::SeatNotFound)?;
    let hold = policy.hold(&seat, concert, user, clock.now()).map_err(|rejection| match rejection {
        HoldRejection::SeatNotInConcert => ReserveSeatError::SeatNotFound,
        HoldRejection::SalesNotOpen { opens_at } => ReserveSeatError::SalesNotOpen { opens_at },
        HoldRejection::SeatUnavailable => ReserveSeatError::SeatUnavailable,
    })?;
    let receipt =
        command.receipt.map(|receipt| receipt.before(|held: &Option<Reservation>| held.clone().map(Ok)));
    if let Some(reservation) = reservations.try_hold(&hold, receipt).await? {
        return Ok(reservation);
    }
    // A seat gone since (taken off the map by the box office) is not found, as it would be now.
    let seen_again = catalogue.seat(seat_id).await?.ok_or(ReserveSeatError::SeatNotFound)?;
    let taken_since = !seen_again.is_free_at(hold.held_at);
    if taken_since || policy.allows_another(reservations.live_holds(user, hold.held_at).await?) {
        Err(ReserveSeatError::SeatUnavailable)
    } else {
        Err(ReserveSeatError::HoldLimitReached)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, held_until, reservation, seat, seat_id, sold, store_down, user};
    use domain::ports::{MockCatalogueRepository, MockReservationRepository};
    use futures::executor::block_on;
    use mockall::predicate::eq;
    use time::Duration;

    fn command(seat_id: i64) -> ReserveSeat {
        ReserveSeat { actor: user(5), user_id: 5, concert_id: 1, seat_id, receipt: None }
    }

    fn catalogue_with(seat: domain::Seat) -> MockCatalogueRepository {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_seat().with(eq(seat.id)).return_once(move |_| Ok(Some(seat)));
        catalogue
    }

    /// A catalogue that shows `seat` when the hold is decided, and `after` when it is read again
    /// to tell a refusal apart.
    fn catalogue_showing(seat: domain::Seat, after: domain::Seat) -> MockCatalogueRepository {
        let mut catalogue = MockCatalogueRepository::new();
        let mut answers = vec![after, seat];
        catalogue.expect_seat().times(2).returning(move |_| Ok(answers.pop()));
        catalogue
    }

    /// Runs the use case at [`NOW`] with the default hold policy.
    fn reserve(
        catalogue: &MockCatalogueRepository,
        reservations: &MockReservationRepository,
        command: ReserveSeat,
    ) -> Result<Reservation, ReserveSeatError> {
        block_on(execute(catalogue, reservations, &clock(), &HoldPolicy::default(), command))
    }

    #[test]
    fn reserve_holds_a_free_seat_for_the_policy_length() {
        let catalogue = catalogue_with(seat(7));
        let mut reservations = MockReservationRepository::new();
        reservations
            .expect_try_hold()
            .withf(|hold, receipt| {
                receipt.is_none()
                    && hold.user_id == user(5)
                    && hold.held_at == NOW
                    && hold.until == NOW + HoldPolicy::default().hold_for
            })
            .return_once(|_, _| Ok(Some(reservation(5))));
        let held =
            block_on(execute(&catalogue, &reservations, &clock(), &HoldPolicy::default(), command(107)));
        assert_eq!(held.expect("hold succeeds"), reservation(5));
    }

    #[test]
    fn reserve_fails_with_sales_not_open_before_the_performance_goes_on_sale_without_writing() {
        let early = domain::Seat { on_sale_at: NOW + Duration::MINUTE, ..seat(7) };
        let result = reserve(&catalogue_with(early), &MockReservationRepository::new(), command(107));
        let opens_at = NOW + Duration::MINUTE;
        assert!(
            matches!(result, Err(ReserveSeatError::SalesNotOpen { opens_at: at }) if at == opens_at),
            "{result:?}"
        );
    }

    #[test]
    fn reserve_fails_with_seat_not_found_when_the_seat_was_taken_off_the_map_meanwhile() {
        let mut catalogue = MockCatalogueRepository::new();
        let mut answers = vec![None, Some(seat(7))];
        catalogue.expect_seat().times(2).returning(move |_| Ok(answers.pop().flatten()));
        let mut reservations = MockReservationRepository::new();
        reservations.expect_try_hold().times(1).return_once(|_, _| Ok(None));
        reservations.expect_live_holds().never();
        let refused = reserve(&catalogue, &reservations, command(107));
        assert!(matches!(refused, Err(ReserveSeatError::SeatNotFound)), "{refused:?}");
    }

    #[test]
    fn reserve_fails_with_seat_unavailable_when_another_hold_wins_the_race_without_counting_holds() {
        let catalogue = catalogue_showing(seat(7), held_until(seat(7), NOW + Duration::MINUTE));
        let mut reservations = MockReservationRepository::new();
        reservations.expect_try_hold().return_once(|_, _| Ok(None));
        let result =
            block_on(execute(&catalogue, &reservations, &clock(), &HoldPolicy::default(), command(107)));
        assert!(matches!(result, Err(ReserveSeatError::SeatUnavailable)), "{result:?}");
    }

    #[test]
    fn reserve_fails_with_forbidden_for_another_users_id_before_reading_anything() {
        let command = ReserveSeat { user_id: 6, ..command(107) };
        // Fresh mocks: any port call would panic.
        let result = reserve(&MockCatalogueRepository::new(), &MockReservationRepository::new(), command);
        assert!(matches!(result, Err(ReserveSeatError::Forbidden(_))), "{result:?}");
    }

    #[test]
    fn reserve_checks_forbidden_before_the_seat_id() {
        let command = ReserveSeat { user_id: 6, ..command(0) };
        let result = reserve(&MockCatalogueRepository::new(), &MockReservationRepository::new(), command);
        assert!(matches!(result, Err(ReserveSeatError::Forbidden(_))), "{result:?}");
    }

    #[test]
    fn reserve_fails_with_seat_not_found_for_an_unknown_seat() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_seat().with(eq(seat_id(999))).times(1).return_once(|_| Ok(None));
        let result = reserve(&catalogue, &MockReservationRepository::new(), command(999));
        assert!(matches!(result, Err(ReserveSeatError::SeatNotFound)), "{result:?}");
    }

    #[test]
    fn reserve_fails_with_seat_not_found_for_invalid_ids_without_reading_the_store() {
        for (concert_id, seat_id) in [(1, 0), (1, -3), (0, 107), (-1, 107)] {
            let command = ReserveSeat { concert_id, ..command(seat_id) };
            let result = reserve(&MockCatalogueRepository::new(), &MockReservationRepository::new(), command);
            assert!(
                matches!(result, Err(ReserveSeatError::SeatNotFound)),
                "{concert_id}/{seat_id}: {result:?}"
            );
        }
    }

    #[test]
    fn reserve_fails_with_seat_not_found_for_a_seat_of_another_concert_without_trying_to_hold() {
        let catalogue = catalogue_with(seat(7));
        let command = ReserveSeat { concert_id: 2, ..command(107) };
        // No try_hold expectation: the domain must reject before the compare-and-set.
        let result = reserve(&catalogue, &MockReservationRepository::new(), command);
        assert!(matches!(result, Err(ReserveSeatError::SeatNotFound)), "{result:?}");
    }

    #[test]
    fn reserve_fails_with_seat_unavailable_under_anyones_live_hold_without_trying_to_hold() {
        let catalogue = catalogue_with(held_until(seat(7), NOW + Duration::SECOND));
        let result = reserve(&catalogue, &MockReservationRepository::new(), command(107));
        assert!(matches!(result, Err(ReserveSeatError::SeatUnavailable)), "{result:?}");
    }

    #[test]
    fn reserve_fails_with_seat_unavailable_for_a_sold_seat_without_trying_to_hold() {
        let catalogue = catalogue_with(sold(seat(7)));
        let result = reserve(&catalogue, &MockReservationRepository::new(), command(107));
        assert!(matches!(result, Err(ReserveSeatError::SeatUnavailable)), "{result:?}");
    }

    #[test]
    fn reserve_fails_with_seat_unavailable_once_the_show_has_started() {
        let started = domain::Seat { starts_at: NOW, ..seat(7) };
        let result = reserve(&catalogue_with(started), &MockReservationRepository::new(), command(107));
        assert!(matches!(result, Err(ReserveSeatError::SeatUnavailable)), "{result:?}");
    }

    #[test]
    fn reserve_holds_a_seat_whose_previous_hold_has_lapsed() {
        let catalogue = catalogue_with(held_until(seat(7), NOW));
        let mut reservations = MockReservationRepository::new();
        reservations
            .expect_try_hold()
            .withf(|hold, receipt| {
                receipt.is_none() && hold.seat_id == seat_id(107) && hold.seat_name == "A7"
            })
            .times(1)
            .return_once(|_, _| Ok(Some(reservation(5))));
        let held = reserve(&catalogue, &reservations, command(107));
        assert_eq!(held.expect("a lapsed hold frees the seat"), reservation(5));
    }

    #[test]
    fn reserve_fails_with_store_when_the_seat_cannot_be_read() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_seat().return_once(|_| Err(store_down()));
        let result = reserve(&catalogue, &MockReservationRepository::new(), command(107));
        assert!(matches!(result, Err(ReserveSeatError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn reserve_fails_with_store_when_the_hold_cannot_be_written() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_try_hold().return_once(|_, _| Err(store_down()));
        let result = reserve(&catalogue_with(seat(7)), &reservations, command(107));
        assert!(matches!(result, Err(ReserveSeatError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn reserve_fails_with_hold_limit_reached_when_the_store_refuses_a_fan_at_the_limit() {
        let catalogue = catalogue_showing(seat(7), seat(7));
        let mut reservations = MockReservationRepository::new();
        reservations
            .expect_try_hold()
            .withf(|hold, _| hold.max_live_holds == HoldPolicy::default().max_per_user)
            .return_once(|_, _| Ok(None));
        reservations.expect_live_holds().with(eq(user(5)), eq(NOW)).return_once(|_, _| Ok(4));
        let result = reserve(&catalogue, &reservations, command(107));
        assert!(matches!(result, Err(ReserveSeatError::HoldLimitReached)), "{result:?}");
    }

    #[test]
    fn a_fan_without_a_limit_is_never_told_they_reached_it() {
        let catalogue = catalogue_showing(seat(7), seat(7));
        let mut reservations = MockReservationRepository::new();
        reservations.expect_try_hold().withf(|hold, _| hold.max_live_holds == 0).return_once(|_, _| Ok(None));
        reservations.expect_live_holds().return_once(|_, _| Ok(1_000));
        let unlimited = HoldPolicy { max_per_user: 0, ..HoldPolicy::default() };
        let result = block_on(execute(&catalogue, &reservations, &clock(), &unlimited, command(107)));
        assert!(matches!(result, Err(ReserveSeatError::SeatUnavailable)), "{result:?}");
    }

    #[test]
    fn a_keyed_hold_hands_the_compare_and_set_a_receipt_that_answers_only_a_hold_taken() {
        let catalogue = catalogue_with(seat(7));
        let mut reservations = MockReservationRepository::new();
        reservations.expect_try_hold().times(1).return_once(|_, receipt| {
            let receipt = receipt.expect("the hold records the answer with its effect");
            let held = domain::StoredResponse { status: 200, body: format!("{:?}", reservation(5)) };
            assert_eq!(receipt.answer(&Some(reservation(5))), Some(held));
            assert_eq!(receipt.answer(&None), None, "a refused hold is told apart, and answered, afterwards");
            Ok(Some(reservation(5)))
        });
        let command = ReserveSeat { receipt: Some(crate::fixtures::receipt()), ..command(107) };
        assert_eq!(reserve(&catalogue, &reservations, command).expect("hold succeeds"), reservation(5));
    }
}
