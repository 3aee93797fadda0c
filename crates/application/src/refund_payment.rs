//! `POST /admin/payments/{paymentId}/refund`: the box office gives a paid seat's money back,
//! and the seat is on sale again at once.

use domain::ports::{Clock, PaymentRepository, ReservationRepository, WalletRepository};
use domain::{PaymentId, Refund, RefundPlan, RefundRejection, StoreError};

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundPayment {
    /// The payment of the path.
    pub payment_id: i64,
}

/// Why nothing was refunded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RefundPaymentError {
    /// No such payment.
    #[error("payment not found")]
    NotFound,
    /// Refunded already.
    #[error("the payment has been refunded already")]
    AlreadyRefunded,
    /// The payer's balance would pass its ceiling.
    #[error("the refund would lift the payer's balance above its ceiling")]
    BalanceLimit,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RefundRejection> for RefundPaymentError {
    fn from(rejection: RefundRejection) -> Self {
        match rejection {
            RefundRejection::AlreadyRefunded => Self::AlreadyRefunded,
            RefundRejection::BalanceLimit => Self::BalanceLimit,
        }
    }
}

/// Reads the payment, its reservation and the payer's balance, lets the domain decide, and
/// hands the plan to the store's atomic refund. A refused refund (another refund, or a charge
/// that filled the balance, landed first) is decided again on fresh reads, which name why.
pub async fn execute(
    payments: &dyn PaymentRepository,
    reservations: &dyn ReservationRepository,
    wallet: &dyn WalletRepository,
    clock: &dyn Clock,
    command: RefundPayment,
) -> Result<Refund, RefundPaymentError> {
    let id = PaymentId::new(command.payment_id).map_err(|_| RefundPaymentError::NotFound)?;
    let payment = payments.payment(id).await?.ok_or(RefundPaymentError::NotFound)?;
    let now = clock.now();
    let decide = async || -> Result<RefundPlan, RefundPaymentError> {
        let reservation = reservations.reservation(payment.reservation_id).await?.ok_or_else(|| {
            StoreError::Internal(format!("payment {id} has no reservation {}", payment.reservation_id))
        })?;
        let balance = wallet
            .balance(payment.user_id)
            .await?
            .ok_or_else(|| StoreError::Internal(format!("payment {id} has no payer {}", payment.user_id)))?;
        Ok(RefundPlan::authorize(&payment, &reservation, balance, now)?)
    };
    let plan = decide().await?;
    if let Some(refund) = payments.refund(&plan).await? {
        return Ok(refund);
    }
    decide().await?;
    Err(StoreError::Internal(format!("the store refused to refund payment {id}, which is refundable")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, balance, clock, payment, reservation, store_down};
    use domain::ports::{MockPaymentRepository, MockReservationRepository, MockWalletRepository};
    use domain::{Reservation, ReservationStatus, money::MAX_BALANCE};
    use futures::executor::block_on;

    fn paid() -> Reservation {
        Reservation { status: ReservationStatus::Paid, ..reservation(5) }
    }

    fn refunded() -> Refund {
        Refund {
            payment_id: payment().id,
            reservation_id: payment().reservation_id,
            user_id: payment().user_id,
            amount: payment().amount,
            balance_after: balance(30_000),
            refunded_at: NOW,
        }
    }

    fn payments_refunding(answer: Option<Refund>) -> MockPaymentRepository {
        let mut payments = MockPaymentRepository::new();
        payments.expect_payment().return_once(|_| Ok(Some(payment())));
        payments
            .expect_refund()
            .withf(|plan| {
                plan.amount == payment().amount && plan.refunded_at == NOW && plan.seat_id == paid().seat_id
            })
            .times(1)
            .return_once(move |_| Ok(answer));
        payments
    }

    fn reading(
        states: Vec<Reservation>,
        balances: Vec<i64>,
    ) -> (MockReservationRepository, MockWalletRepository) {
        let mut reservations = MockReservationRepository::new();
        let mut states = states.into_iter();
        reservations.expect_reservation().returning(move |_| Ok(states.next()));
        let mut wallet = MockWalletRepository::new();
        let mut balances = balances.into_iter();
        wallet.expect_balance().returning(move |_| Ok(balances.next().map(balance)));
        (reservations, wallet)
    }

    fn refund(
        payments: &MockPaymentRepository,
        (reservations, wallet): &(MockReservationRepository, MockWalletRepository),
        payment_id: i64,
    ) -> Result<Refund, RefundPaymentError> {
        block_on(execute(payments, reservations, wallet, &clock(), RefundPayment { payment_id }))
    }

    #[test]
    fn refund_gives_a_paid_seats_money_back_in_one_atomic_step() {
        let result = refund(&payments_refunding(Some(refunded())), &reading(vec![paid()], vec![0]), 21);
        assert_eq!(result.expect("refunded"), refunded());
    }

    #[test]
    fn refund_fails_with_not_found_for_an_unknown_or_invalid_payment() {
        let mut payments = MockPaymentRepository::new();
        payments.expect_payment().return_once(|_| Ok(None));
        let none = (MockReservationRepository::new(), MockWalletRepository::new());
        assert!(matches!(refund(&payments, &none, 21), Err(RefundPaymentError::NotFound)));
        assert!(matches!(refund(&MockPaymentRepository::new(), &none, 0), Err(RefundPaymentError::NotFound)));
    }

    #[test]
    fn refund_fails_with_already_refunded_without_writing() {
        let mut payments = MockPaymentRepository::new();
        payments.expect_payment().return_once(|_| Ok(Some(payment())));
        let done = Reservation { status: ReservationStatus::Refunded, ..paid() };
        let result = refund(&payments, &reading(vec![done], vec![0]), 21);
        assert!(matches!(result, Err(RefundPaymentError::AlreadyRefunded)), "{result:?}");
    }

    #[test]
    fn refund_fails_with_balance_limit_when_the_money_would_not_fit() {
        let mut payments = MockPaymentRepository::new();
        payments.expect_payment().return_once(|_| Ok(Some(payment())));
        let result = refund(&payments, &reading(vec![paid()], vec![MAX_BALANCE]), 21);
        assert!(matches!(result, Err(RefundPaymentError::BalanceLimit)), "{result:?}");
    }

    #[test]
    fn refund_that_loses_a_race_to_another_refund_fails_with_already_refunded() {
        let done = Reservation { status: ReservationStatus::Refunded, ..paid() };
        let result = refund(&payments_refunding(None), &reading(vec![paid(), done], vec![0, 30_000]), 21);
        assert!(matches!(result, Err(RefundPaymentError::AlreadyRefunded)), "{result:?}");
    }

    #[test]
    fn refund_refused_by_the_store_for_a_refundable_payment_is_a_store_failure() {
        let result = refund(&payments_refunding(None), &reading(vec![paid(), paid()], vec![0, 0]), 21);
        assert!(matches!(result, Err(RefundPaymentError::Store(StoreError::Internal(_)))), "{result:?}");
    }

    #[test]
    fn refund_fails_with_store_when_the_store_is_down() {
        let mut payments = MockPaymentRepository::new();
        payments.expect_payment().return_once(|_| Err(store_down()));
        let none = (MockReservationRepository::new(), MockWalletRepository::new());
        assert!(matches!(
            refund(&payments, &none, 21),
            Err(RefundPaymentError::Store(StoreError::Unavailable(_)))
        ));
    }
}
