//! `DELETE /api/reservations/{id}`: a fan gives a hold back, and the seat is on sale again at
//! once.

use domain::ports::{Clock, ReservationRepository};
use domain::{Release, ReleaseRejection, Reservation, ReservationId, StoreError, UserId};

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseHold {
    /// The token's user.
    pub actor: UserId,
    /// The reservation of the path.
    pub reservation_id: i64,
}

/// The hold as given back, and whether this request gave it back (a repeated `DELETE` finds it
/// given back already), so that each give-back is counted once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The reservation, `RELEASED`.
    pub reservation: Reservation,
    /// This request ended the hold.
    pub just_now: bool,
}

/// Why the hold was not given back.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReleaseHoldError {
    /// No such reservation, or someone else's.
    #[error("reservation not found")]
    NotFound,
    /// Paid: the seat is the fan's; only the box office refunds.
    #[error("the reservation is paid; a paid seat can only be refunded by the box office")]
    Paid,
    /// The hold lapsed already.
    #[error("the hold has expired; the seat is back on sale")]
    Expired,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ReleaseRejection> for ReleaseHoldError {
    fn from(rejection: ReleaseRejection) -> Self {
        match rejection {
            ReleaseRejection::NotFound => Self::NotFound,
            ReleaseRejection::Paid => Self::Paid,
            ReleaseRejection::Expired => Self::Expired,
        }
    }
}

/// One read to decide, one compare-and-set to commit. A release that finds its hold given back
/// already answers as the first one did, so a retried `DELETE` succeeds. A refused
/// compare-and-set (a payment, a lapse or another release landed first) is told apart by
/// reading the reservation again and deciding once more.
pub async fn execute(
    reservations: &dyn ReservationRepository,
    clock: &dyn Clock,
    command: ReleaseHold,
) -> Result<Released, ReleaseHoldError> {
    let id = ReservationId::new(command.reservation_id).map_err(|_| ReleaseHoldError::NotFound)?;
    let now = clock.now();
    let reservation = reservations.reservation(id).await?.ok_or(ReleaseHoldError::NotFound)?;
    match reservation.release_by(command.actor, now)? {
        Release::AlreadyReleased => return Ok(Released { reservation, just_now: false }),
        Release::End => {}
    }
    if let Some(reservation) = reservations.release(id, command.actor, now).await? {
        return Ok(Released { reservation, just_now: true });
    }
    let now_stored = reservations.reservation(id).await?.ok_or(ReleaseHoldError::NotFound)?;
    match now_stored.release_by(command.actor, now)? {
        Release::AlreadyReleased => Ok(Released { reservation: now_stored, just_now: false }),
        Release::End => Err(StoreError::Internal(format!(
            "the store refused to release reservation {id}, which is a live hold of its holder"
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, reservation, store_down, user};
    use domain::ReservationStatus;
    use domain::ports::MockReservationRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn command(actor: i64, reservation_id: i64) -> ReleaseHold {
        ReleaseHold { actor: user(actor), reservation_id }
    }

    fn released() -> Reservation {
        Reservation { status: ReservationStatus::Released, ..reservation(5) }
    }

    fn storing(stored: Reservation) -> MockReservationRepository {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_reservation().return_once(move |_| Ok(Some(stored)));
        reservations
    }

    fn release(
        reservations: &MockReservationRepository,
        command: ReleaseHold,
    ) -> Result<Released, ReleaseHoldError> {
        block_on(execute(reservations, &clock(), command))
    }

    #[test]
    fn release_ends_the_callers_live_hold_at_the_decision_instant() {
        let mut reservations = storing(reservation(5));
        let id = reservation(5).id;
        reservations
            .expect_release()
            .with(eq(id), eq(user(5)), eq(NOW))
            .times(1)
            .return_once(|_, _, _| Ok(Some(released())));
        let given_back = Released { reservation: released(), just_now: true };
        assert_eq!(release(&reservations, command(5, 11)).expect("released"), given_back);
    }

    #[test]
    fn release_of_a_released_hold_answers_as_the_first_time_without_writing_or_counting() {
        let reservations = storing(released());
        let again = Released { reservation: released(), just_now: false };
        assert_eq!(release(&reservations, command(5, 11)).expect("same answer"), again);
    }

    #[test]
    fn release_fails_with_not_found_for_someone_elses_hold_without_writing() {
        let result = release(&storing(reservation(6)), command(5, 11));
        assert!(matches!(result, Err(ReleaseHoldError::NotFound)), "{result:?}");
    }

    #[test]
    fn release_fails_with_not_found_for_an_unknown_or_invalid_id() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_reservation().return_once(|_| Ok(None));
        assert!(matches!(release(&reservations, command(5, 11)), Err(ReleaseHoldError::NotFound)));
        for invalid in [0, -3] {
            let result = release(&MockReservationRepository::new(), command(5, invalid));
            assert!(matches!(result, Err(ReleaseHoldError::NotFound)), "{invalid}: {result:?}");
        }
    }

    #[test]
    fn release_fails_with_paid_for_a_paid_reservation() {
        let paid = Reservation { status: ReservationStatus::Paid, ..reservation(5) };
        assert!(matches!(release(&storing(paid), command(5, 11)), Err(ReleaseHoldError::Paid)));
    }

    #[test]
    fn release_fails_with_expired_for_a_lapsed_hold() {
        let lapsed = Reservation { expires_at: NOW, ..reservation(5) };
        assert!(matches!(release(&storing(lapsed), command(5, 11)), Err(ReleaseHoldError::Expired)));
    }

    #[test]
    fn release_that_loses_to_a_payment_fails_with_paid() {
        let mut reservations = MockReservationRepository::new();
        let mut reads =
            vec![Reservation { status: ReservationStatus::Paid, ..reservation(5) }, reservation(5)];
        reservations.expect_reservation().times(2).returning(move |_| Ok(reads.pop()));
        reservations.expect_release().return_once(|_, _, _| Ok(None));
        assert!(matches!(release(&reservations, command(5, 11)), Err(ReleaseHoldError::Paid)));
    }

    #[test]
    fn release_that_loses_to_a_concurrent_release_of_the_same_hold_succeeds_without_counting() {
        let mut reservations = MockReservationRepository::new();
        let mut reads = vec![released(), reservation(5)];
        reservations.expect_reservation().times(2).returning(move |_| Ok(reads.pop()));
        reservations.expect_release().return_once(|_, _, _| Ok(None));
        let lost = Released { reservation: released(), just_now: false };
        assert_eq!(release(&reservations, command(5, 11)).expect("same answer"), lost);
    }

    #[test]
    fn release_refused_by_the_store_for_a_live_hold_is_a_store_failure() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_reservation().times(2).returning(|_| Ok(Some(reservation(5))));
        reservations.expect_release().return_once(|_, _, _| Ok(None));
        let result = release(&reservations, command(5, 11));
        assert!(matches!(result, Err(ReleaseHoldError::Store(StoreError::Internal(_)))), "{result:?}");
    }

    #[test]
    fn release_fails_with_store_when_the_store_is_down() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_reservation().return_once(|_| Err(store_down()));
        let result = release(&reservations, command(5, 11));
        assert!(matches!(result, Err(ReleaseHoldError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
