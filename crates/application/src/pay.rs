//! `POST /api/pay`: pay for a held seat. The money path.

use domain::ports::{Clock, PaymentRepository, ReservationRepository, WalletRepository};
use domain::{Payment, PaymentRejection, ReservationId, SettlementPlan, StoreError, UserId, Won};

/// How many times a settlement that lost a race is decided again from fresh reads. A lost race
/// almost always turns into a definite rejection on the next read (paid, expired, balance spent).
const ATTEMPTS: usize = 3;

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pay {
    /// The token's user: only the holder may pay.
    pub actor: UserId,
    /// `reservationId` of the body.
    pub reservation_id: i64,
    /// `paymentAmount` of the body, in won.
    pub amount: i64,
}

/// Why nothing was paid. Every failure leaves money, seat, reservation and token untouched.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// The amount is not a positive number of won.
    #[error("the payment amount must be a positive number of won")]
    InvalidAmount,
    /// No such reservation, or someone else's.
    #[error("reservation not found")]
    ReservationNotFound,
    /// Already paid.
    #[error("the reservation has already been paid")]
    NotPayable,
    /// The hold lapsed.
    #[error("the hold on this seat has expired")]
    Expired,
    /// The amount is not the seat's price.
    #[error("the payment amount does not match the seat price")]
    AmountMismatch,
    /// Not enough balance.
    #[error("the balance is too low for this payment")]
    InsufficientBalance,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PaymentRejection> for PayError {
    fn from(rejection: PaymentRejection) -> Self {
        match rejection {
            PaymentRejection::NotFound => PayError::ReservationNotFound,
            PaymentRejection::NotPayable => PayError::NotPayable,
            PaymentRejection::Expired => PayError::Expired,
            PaymentRejection::AmountMismatch => PayError::AmountMismatch,
            PaymentRejection::InsufficientBalance => PayError::InsufficientBalance,
        }
    }
}

/// Reads the reservation and balance, lets the domain authorise, and hands the plan to the
/// store's unit of work, which commits all of it or nothing. If state moved in between (a
/// concurrent payment, the hold lapsing), the decision is taken again from fresh reads.
pub async fn execute(
    reservations: &dyn ReservationRepository,
    wallet: &dyn WalletRepository,
    payments: &dyn PaymentRepository,
    clock: &dyn Clock,
    command: Pay,
) -> Result<Payment, PayError> {
    let amount = Won::new(command.amount).ok().filter(|won| won.get() > 0).ok_or(PayError::InvalidAmount)?;
    let id = ReservationId::new(command.reservation_id).map_err(|_| PayError::ReservationNotFound)?;
    for _ in 0..ATTEMPTS {
        let reservation = reservations.reservation(id).await?.ok_or(PayError::ReservationNotFound)?;
        let balance = wallet.balance(command.actor).await?.ok_or(PayError::ReservationNotFound)?;
        let plan = SettlementPlan::authorize(&reservation, command.actor, amount, balance, clock.now())?;
        if let Some(payment) = payments.settle(&plan).await? {
            return Ok(payment);
        }
    }
    Err(PayError::Store(StoreError::Internal(format!(
        "settlement of reservation {id} kept losing races after {ATTEMPTS} attempts"
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{
        NOW, balance, clock, payment, reservation, reservation_id, seat_id, store_down, user, won,
    };
    use domain::ports::{MockClock, MockPaymentRepository, MockReservationRepository, MockWalletRepository};
    use domain::{Reservation, ReservationStatus};
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn command(amount: i64) -> Pay {
        Pay { actor: user(5), reservation_id: 11, amount }
    }

    fn reservations_with(reservation: Reservation) -> MockReservationRepository {
        let mut reservations = MockReservationRepository::new();
        reservations
            .expect_reservation()
            .with(eq(reservation.id))
            .return_once(move |_| Ok(Some(reservation)));
        reservations
    }

    fn wallet_with(amount: i64) -> MockWalletRepository {
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().with(eq(user(5))).return_once(move |_| Ok(Some(balance(amount))));
        wallet
    }

    fn pay(
        reservations: &MockReservationRepository,
        wallet: &MockWalletRepository,
        payments: &MockPaymentRepository,
        command: Pay,
    ) -> Result<Payment, PayError> {
        block_on(execute(reservations, wallet, payments, &clock(), command))
    }

    /// Runs a payment that must be refused before settling: no settle expectation is set.
    fn refused(reservation: Reservation, funds: i64, amount: i64) -> Result<Payment, PayError> {
        pay(
            &reservations_with(reservation),
            &wallet_with(funds),
            &MockPaymentRepository::new(),
            command(amount),
        )
    }

    #[test]
    fn pay_settles_the_plan_the_domain_approved_and_returns_the_payment() {
        let expected = SettlementPlan {
            reservation_id: reservation_id(11),
            user_id: user(5),
            seat_id: seat_id(107),
            amount: won(30_000),
            paid_at: NOW,
        };
        let mut payments = MockPaymentRepository::new();
        payments.expect_settle().with(eq(expected)).times(1).return_once(|_| Ok(Some(payment())));
        let paid = pay(&reservations_with(reservation(5)), &wallet_with(30_000), &payments, command(30_000));
        assert_eq!(paid.expect("payment succeeds"), payment());
    }

    #[test]
    fn pay_fails_with_invalid_amount_for_zero_or_negative_amounts_without_calling_any_port() {
        for amount in [0, -1, i64::MIN] {
            let result = block_on(execute(
                &MockReservationRepository::new(),
                &MockWalletRepository::new(),
                &MockPaymentRepository::new(),
                &MockClock::new(),
                command(amount),
            ));
            assert!(matches!(result, Err(PayError::InvalidAmount)), "{amount}: {result:?}");
        }
    }

    #[test]
    fn pay_fails_with_reservation_not_found_for_an_invalid_id_without_calling_any_port() {
        let command = Pay { reservation_id: 0, ..command(30_000) };
        let result = pay(
            &MockReservationRepository::new(),
            &MockWalletRepository::new(),
            &MockPaymentRepository::new(),
            command,
        );
        assert!(matches!(result, Err(PayError::ReservationNotFound)), "{result:?}");
    }

    #[test]
    fn pay_fails_with_reservation_not_found_for_an_unknown_reservation() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_reservation().return_once(|_| Ok(None));
        let result =
            pay(&reservations, &MockWalletRepository::new(), &MockPaymentRepository::new(), command(30_000));
        assert!(matches!(result, Err(PayError::ReservationNotFound)), "{result:?}");
    }

    #[test]
    fn pay_fails_with_reservation_not_found_for_someone_elses_reservation() {
        let result = refused(reservation(6), 90_000, 30_000);
        assert!(matches!(result, Err(PayError::ReservationNotFound)), "{result:?}");
    }

    #[test]
    fn pay_hides_someone_elses_paid_reservation_as_not_found() {
        let theirs = Reservation { status: ReservationStatus::Paid, ..reservation(6) };
        let result = refused(theirs, 90_000, 1);
        assert!(matches!(result, Err(PayError::ReservationNotFound)), "{result:?}");
    }

    #[test]
    fn pay_fails_with_reservation_not_found_when_the_payer_has_no_wallet() {
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().return_once(|_| Ok(None));
        let result =
            pay(&reservations_with(reservation(5)), &wallet, &MockPaymentRepository::new(), command(30_000));
        assert!(matches!(result, Err(PayError::ReservationNotFound)), "{result:?}");
    }

    #[test]
    fn pay_fails_with_not_payable_for_a_paid_reservation() {
        let paid = Reservation { status: ReservationStatus::Paid, ..reservation(5) };
        let result = refused(paid, 90_000, 30_000);
        assert!(matches!(result, Err(PayError::NotPayable)), "{result:?}");
    }

    #[test]
    fn pay_fails_with_expired_once_the_hold_has_lapsed_even_before_a_sweep() {
        let lapsed = Reservation { expires_at: NOW, ..reservation(5) };
        let result = refused(lapsed, 90_000, 30_000);
        assert!(matches!(result, Err(PayError::Expired)), "{result:?}");
    }

    #[test]
    fn pay_fails_with_expired_for_a_swept_reservation() {
        let swept = Reservation { status: ReservationStatus::Expired, ..reservation(5) };
        let result = refused(swept, 90_000, 30_000);
        assert!(matches!(result, Err(PayError::Expired)), "{result:?}");
    }

    #[test]
    fn pay_fails_with_amount_mismatch_before_checking_balance() {
        let result = refused(reservation(5), 0, 29_999);
        assert!(matches!(result, Err(PayError::AmountMismatch)), "{result:?}");
    }

    #[test]
    fn pay_fails_with_insufficient_balance_when_money_is_short() {
        let result = refused(reservation(5), 29_999, 30_000);
        assert!(matches!(result, Err(PayError::InsufficientBalance)), "{result:?}");
    }

    #[test]
    fn pay_fails_with_not_payable_when_a_lost_settlement_turns_out_to_be_already_paid() {
        let mut answers =
            vec![reservation(5), Reservation { status: ReservationStatus::Paid, ..reservation(5) }]
                .into_iter();
        let mut reservations = MockReservationRepository::new();
        reservations.expect_reservation().times(2).returning(move |_| Ok(answers.next()));
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().times(2).returning(|_| Ok(Some(balance(90_000))));
        let mut payments = MockPaymentRepository::new();
        payments.expect_settle().times(1).returning(|_| Ok(None));
        let result = pay(&reservations, &wallet, &payments, command(30_000));
        assert!(matches!(result, Err(PayError::NotPayable)), "{result:?}");
    }

    #[test]
    fn pay_succeeds_when_a_retry_after_a_lost_settlement_wins() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_reservation().times(2).returning(|_| Ok(Some(reservation(5))));
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().times(2).returning(|_| Ok(Some(balance(90_000))));
        let mut answers = vec![None, Some(payment())].into_iter();
        let mut payments = MockPaymentRepository::new();
        payments.expect_settle().times(2).returning(move |_| Ok(answers.next().flatten()));
        let paid = pay(&reservations, &wallet, &payments, command(30_000));
        assert_eq!(paid.expect("second attempt succeeds"), payment());
    }

    #[test]
    fn pay_fails_with_store_internal_after_three_lost_settlements() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_reservation().times(3).returning(|_| Ok(Some(reservation(5))));
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().times(3).returning(|_| Ok(Some(balance(90_000))));
        let mut payments = MockPaymentRepository::new();
        payments.expect_settle().times(3).returning(|_| Ok(None));
        let result = pay(&reservations, &wallet, &payments, command(30_000));
        assert!(matches!(result, Err(PayError::Store(StoreError::Internal(_)))), "{result:?}");
    }

    #[test]
    fn pay_fails_with_store_when_the_reservation_cannot_be_read() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_reservation().return_once(|_| Err(store_down()));
        let result =
            pay(&reservations, &MockWalletRepository::new(), &MockPaymentRepository::new(), command(30_000));
        assert!(matches!(result, Err(PayError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn pay_fails_with_store_when_the_balance_cannot_be_read() {
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().return_once(|_| Err(store_down()));
        let result =
            pay(&reservations_with(reservation(5)), &wallet, &MockPaymentRepository::new(), command(30_000));
        assert!(matches!(result, Err(PayError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn pay_fails_with_store_when_the_settlement_cannot_be_committed() {
        let mut payments = MockPaymentRepository::new();
        payments.expect_settle().times(1).return_once(|_| Err(store_down()));
        let result =
            pay(&reservations_with(reservation(5)), &wallet_with(90_000), &payments, command(30_000));
        assert!(matches!(result, Err(PayError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
