//! `POST /api/{concertId}/reserve-seat`: hold a seat for a few minutes. The hot path of a sale.

use domain::ports::{CatalogueRepository, Clock, ReservationRepository};
use domain::{ConcertId, HoldPolicy, HoldRejection, Reservation, SeatId, StoreError, UserId};

use crate::access::{Forbidden, ensure_self};

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveSeat {
    /// The token's user.
    pub actor: UserId,
    /// `userId` of the body; must be the actor.
    pub user_id: i64,
    /// The concert of the path.
    pub concert_id: i64,
    /// `seatId` of the body.
    pub seat_id: i64,
}

/// Why no hold was taken.
#[derive(Debug, thiserror::Error)]
pub enum ReserveSeatError {
    /// `userId` is not the token's user.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// No such seat in this concert.
    #[error("seat not found in this concert")]
    SeatNotFound,
    /// Sold, or held by anyone (the caller included), or the show has started.
    #[error("the seat is not available")]
    SeatUnavailable,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One read to decide, one compare-and-set to commit: a loser of a race costs about a read, and
/// of any number of concurrent holds on one seat exactly one wins.
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
        HoldRejection::SeatUnavailable => ReserveSeatError::SeatUnavailable,
    })?;
    reservations.try_hold(&hold).await?.ok_or(ReserveSeatError::SeatUnavailable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, reservation, seat, user};
    use domain::ports::{MockCatalogueRepository, MockReservationRepository};
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn command(seat_id: i64) -> ReserveSeat {
        ReserveSeat { actor: user(5), user_id: 5, concert_id: 1, seat_id }
    }

    fn catalogue_with(seat: domain::Seat) -> MockCatalogueRepository {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_seat().with(eq(seat.id)).return_once(move |_| Ok(Some(seat)));
        catalogue
    }

    #[test]
    fn reserve_holds_a_free_seat_for_the_policy_length() {
        let catalogue = catalogue_with(seat(7));
        let mut reservations = MockReservationRepository::new();
        reservations
            .expect_try_hold()
            .withf(|hold| hold.user_id == user(5) && hold.held_at == NOW && hold.until == NOW + HoldPolicy::default().hold_for)
            .return_once(|_| Ok(Some(reservation(5))));
        let held = block_on(execute(&catalogue, &reservations, &clock(), &HoldPolicy::default(), command(107)));
        assert_eq!(held.expect("hold succeeds"), reservation(5));
    }

    #[test]
    fn reserve_fails_with_seat_unavailable_when_another_hold_wins_the_race() {
        let catalogue = catalogue_with(seat(7));
        let mut reservations = MockReservationRepository::new();
        reservations.expect_try_hold().return_once(|_| Ok(None));
        let result = block_on(execute(&catalogue, &reservations, &clock(), &HoldPolicy::default(), command(107)));
        assert!(matches!(result, Err(ReserveSeatError::SeatUnavailable)), "{result:?}");
    }
}
