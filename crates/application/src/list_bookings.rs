//! `GET /api/reservations`: what a fan holds and what they bought.

use domain::ports::{Clock, ReservationRepository};
use domain::{Booking, Payment, Reservation, ReservationStatus, StoreError, UserId};

/// The most reservations one listing reads: a fan holds a few seats at a time, and a listing of
/// their purchases stays one bounded read however many they made.
pub const MOST_BOOKINGS: u32 = 100;

/// A fan's bookings, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bookings {
    /// Live holds, with their expiry.
    pub held: Vec<Reservation>,
    /// Purchases, each with its payment.
    pub bought: Vec<(Reservation, Payment)>,
}

/// Lists the actor's own bookings; the clock decides which stored holds are still live.
pub async fn execute(
    reservations: &dyn ReservationRepository,
    clock: &dyn Clock,
    actor: UserId,
) -> Result<Bookings, StoreError> {
    let now = clock.now();
    let mut bookings = Bookings::default();
    for Booking { reservation, payment } in reservations.bookings(actor, MOST_BOOKINGS).await? {
        match (reservation.status_at(now), payment) {
            (ReservationStatus::Held, _) => bookings.held.push(reservation),
            (ReservationStatus::Paid, Some(payment)) => bookings.bought.push((reservation, payment)),
            (ReservationStatus::Paid, None) => {
                return Err(StoreError::Internal(format!(
                    "paid reservation {} has no payment",
                    reservation.id
                )));
            }
            (ReservationStatus::Expired | ReservationStatus::Released | ReservationStatus::Refunded, _) => {}
        }
    }
    Ok(bookings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, payment, reservation, reservation_id, store_down, user};
    use domain::ports::MockReservationRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn storing(bookings: Vec<Booking>) -> MockReservationRepository {
        let mut reservations = MockReservationRepository::new();
        reservations
            .expect_bookings()
            .with(eq(user(5)), eq(MOST_BOOKINGS))
            .times(1)
            .return_once(move |_, _| Ok(bookings));
        reservations
    }

    fn paid() -> Booking {
        let reservation =
            Reservation { id: reservation_id(12), status: ReservationStatus::Paid, ..reservation(5) };
        Booking { reservation, payment: Some(payment()) }
    }

    #[test]
    fn bookings_list_live_holds_and_purchases_with_their_payments_in_store_order() {
        let held = Booking { reservation: reservation(5), payment: None };
        let listed = block_on(execute(&storing(vec![paid(), held]), &clock(), user(5))).expect("listed");
        assert_eq!(listed.held, vec![reservation(5)]);
        let bought = paid();
        assert_eq!(listed.bought, vec![(bought.reservation, payment())]);
    }

    #[test]
    fn bookings_leave_out_holds_that_lapsed_even_before_a_sweep() {
        let lapsed =
            Booking { reservation: Reservation { expires_at: NOW, ..reservation(5) }, payment: None };
        let listed = block_on(execute(&storing(vec![lapsed]), &clock(), user(5))).expect("listed");
        assert_eq!(listed, Bookings::default());
    }

    #[test]
    fn bookings_fail_as_a_store_failure_when_a_paid_reservation_has_no_payment() {
        let broken = Booking { payment: None, ..paid() };
        let result = block_on(execute(&storing(vec![broken]), &clock(), user(5)));
        assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
    }

    #[test]
    fn bookings_fail_with_store_when_the_store_is_down() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_bookings().return_once(|_, _| Err(store_down()));
        let result = block_on(execute(&reservations, &clock(), user(5)));
        assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    }
}
