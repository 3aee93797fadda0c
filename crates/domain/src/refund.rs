//! Refunds: the box office gives a paid seat's money back, and the seat goes on sale again.

use time::OffsetDateTime;

use crate::ids::{PaymentId, ReservationId, SeatId, UserId};
use crate::money::{Balance, Won};
use crate::payment::Payment;
use crate::reservation::{Reservation, ReservationStatus};

/// Why a payment cannot be refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundRejection {
    /// Refunded already: a refund happens once.
    #[error("the payment has been refunded already")]
    AlreadyRefunded,
    /// The money back would lift the balance above its ceiling.
    #[error("the refund would lift the balance above its ceiling")]
    BalanceLimit,
}

/// A refund the domain has approved. The store commits it in one atomic step, guarded so that
/// of two racing refunds of one payment exactly one lands: the reservation must still be paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPlan {
    /// The payment refunded.
    pub payment_id: PaymentId,
    /// Its reservation, `Paid` until now, `Refunded` after.
    pub reservation_id: ReservationId,
    /// Who gets the money back.
    pub user_id: UserId,
    /// The seat that goes on sale again.
    pub seat_id: SeatId,
    /// What was paid, and is given back.
    pub amount: Won,
    /// The decision instant.
    pub refunded_at: OffsetDateTime,
}

impl RefundPlan {
    /// A paid reservation's payment may be refunded once, and only while the money fits under
    /// the balance ceiling (`balance` as read; the store re-checks it).
    pub fn authorize(
        payment: &Payment,
        reservation: &Reservation,
        balance: Balance,
        now: OffsetDateTime,
    ) -> Result<RefundPlan, RefundRejection> {
        if reservation.status == ReservationStatus::Refunded {
            return Err(RefundRejection::AlreadyRefunded);
        }
        if balance.refund(payment.amount).is_err() {
            return Err(RefundRejection::BalanceLimit);
        }
        Ok(RefundPlan {
            payment_id: payment.id,
            reservation_id: payment.reservation_id,
            user_id: payment.user_id,
            seat_id: reservation.seat_id,
            amount: payment.amount,
            refunded_at: now,
        })
    }
}

/// A refund as committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The payment refunded.
    pub payment_id: PaymentId,
    /// Its reservation.
    pub reservation_id: ReservationId,
    /// Who got the money back.
    pub user_id: UserId,
    /// How much.
    pub amount: Won,
    /// Their balance after it.
    pub balance_after: Balance,
    /// When.
    pub refunded_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservation::tests::held_reservation;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn paid() -> (Payment, Reservation) {
        let reservation = Reservation { status: ReservationStatus::Paid, ..held_reservation(5, NOW) };
        let payment = Payment {
            id: PaymentId::new(21).expect("valid id"),
            reservation_id: reservation.id,
            user_id: reservation.user_id,
            amount: reservation.price,
            paid_at: NOW,
        };
        (payment, reservation)
    }

    #[test]
    fn a_paid_reservation_is_refunded_in_full_to_its_payer() {
        let (payment, reservation) = paid();
        let plan = RefundPlan::authorize(&payment, &reservation, Balance::ZERO, NOW).expect("refundable");
        assert_eq!(
            (plan.user_id, plan.amount, plan.seat_id),
            (payment.user_id, payment.amount, reservation.seat_id)
        );
        assert_eq!(plan.refunded_at, NOW);
    }

    #[test]
    fn a_refunded_payment_is_not_refunded_again() {
        let (payment, reservation) = paid();
        let refunded = Reservation { status: ReservationStatus::Refunded, ..reservation };
        let result = RefundPlan::authorize(&payment, &refunded, Balance::ZERO, NOW);
        assert_eq!(result, Err(RefundRejection::AlreadyRefunded));
    }

    #[test]
    fn a_refund_that_would_pass_the_balance_ceiling_is_refused() {
        let (payment, reservation) = paid();
        let full = Balance::new(crate::money::MAX_BALANCE).expect("the ceiling is a balance");
        let result = RefundPlan::authorize(&payment, &reservation, full, NOW);
        assert_eq!(result, Err(RefundRejection::BalanceLimit));
    }
}
