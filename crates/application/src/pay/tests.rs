//! The pay use case against mocked ports.

use super::*;
use crate::fixtures::{
    NOW, balance, clock, payment, receipt, reservation, reservation_id, seat_id, store_down, token, user, won,
};
use domain::ports::{
    MockClock, MockPaymentRepository, MockQueueRepository, MockReservationRepository, MockWalletRepository,
};
use domain::{QueueToken, Reservation, ReservationStatus, StoredResponse, TokenStatus};
use futures::executor::block_on;
use mockall::predicate::eq;

/// The token user 5 presents: active for ten more minutes.
fn presented() -> QueueToken {
    token(5, 7, TokenStatus::Active)
}

fn command(amount: i64) -> Pay {
    Pay { actor: user(5), token: presented().value, reservation_id: 11, amount, receipt: None }
}

/// A queue that answers `times` fresh reads of the presented token with `stored`.
fn queue_rereading(stored: Option<QueueToken>, times: usize) -> MockQueueRepository {
    let mut queue = MockQueueRepository::new();
    queue
        .expect_fresh_token()
        .with(eq(presented().value))
        .times(times)
        .returning(move |_| Ok(stored.clone()));
    queue
}

/// A queue that must not be asked: a settlement that wins costs no token read.
fn untouched_queue() -> MockQueueRepository {
    MockQueueRepository::new()
}

fn reservations_with(reservation: Reservation) -> MockReservationRepository {
    let mut reservations = MockReservationRepository::new();
    reservations.expect_reservation().with(eq(reservation.id)).return_once(move |_| Ok(Some(reservation)));
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
    pay_rereading(reservations, wallet, payments, &untouched_queue(), command)
}

fn pay_rereading(
    reservations: &MockReservationRepository,
    wallet: &MockWalletRepository,
    payments: &MockPaymentRepository,
    queue: &MockQueueRepository,
    command: Pay,
) -> Result<Payment, PayError> {
    block_on(execute(reservations, wallet, payments, queue, &clock(), command))
}

/// Reservations that answer exactly `reads` reads with user 5's live [`reservation`].
fn reservations_read(reads: usize) -> MockReservationRepository {
    let mut reservations = MockReservationRepository::new();
    reservations.expect_reservation().times(reads).returning(|_| Ok(Some(reservation(5))));
    reservations
}

/// A wallet that answers exactly `reads` balance reads with 90,000 won: enough to pay.
fn wallet_read(reads: usize) -> MockWalletRepository {
    let mut wallet = MockWalletRepository::new();
    wallet.expect_balance().times(reads).returning(|_| Ok(Some(balance(90_000))));
    wallet
}

/// A store whose settlements answer `outcomes` in order, one settlement each (`None`: lost).
fn settlements(outcomes: Vec<Option<Payment>>) -> MockPaymentRepository {
    let times = outcomes.len();
    let mut outcomes = outcomes.into_iter();
    let mut payments = MockPaymentRepository::new();
    payments.expect_settle().times(times).returning(move |_, _| Ok(outcomes.next().flatten()));
    payments
}

/// Runs a payment whose first settlement (tried without reading the balance) is refused by the
/// store, and which is then decided again with `wallet`'s answer.
fn refused_by_the_store_then_decided_with(wallet: MockWalletRepository) -> Result<Payment, PayError> {
    let reservations = reservations_read(2);
    let payments = settlements(vec![None]);
    let queue = queue_rereading(Some(presented()), 1);
    pay_rereading(&reservations, &wallet, &payments, &queue, command(30_000))
}

/// Runs a payment that must be refused before settling: no settle expectation is set.
fn refused(reservation: Reservation, funds: i64, amount: i64) -> Result<Payment, PayError> {
    pay(&reservations_with(reservation), &wallet_with(funds), &MockPaymentRepository::new(), command(amount))
}

#[test]
fn pay_settles_the_plan_the_domain_approved_with_the_presented_token_and_returns_the_payment() {
    let expected = SettlementPlan {
        reservation_id: reservation_id(11),
        user_id: user(5),
        token: presented().value,
        seat_id: seat_id(107),
        amount: won(30_000),
        paid_at: NOW,
    };
    let mut payments = MockPaymentRepository::new();
    payments
        .expect_settle()
        .withf(move |plan, receipt| *plan == expected && receipt.is_none())
        .times(1)
        .return_once(|_, _| Ok(Some(payment())));
    let mut wallet = MockWalletRepository::new();
    wallet.expect_balance().times(0);
    let paid = pay(&reservations_with(reservation(5)), &wallet, &payments, command(30_000));
    assert_eq!(paid.expect("payment succeeds, the balance left to the settlement's guard"), payment());
}

#[test]
fn pay_fails_with_invalid_amount_for_zero_or_negative_amounts_without_calling_any_port() {
    for amount in [0, -1, i64::MIN] {
        let result = block_on(execute(
            &MockReservationRepository::new(),
            &MockWalletRepository::new(),
            &MockPaymentRepository::new(),
            &untouched_queue(),
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
    wallet.expect_balance().times(1).return_once(|_| Ok(None));
    let result = refused_by_the_store_then_decided_with(wallet);
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
fn pay_fails_with_insufficient_balance_when_the_store_refused_and_the_balance_is_short() {
    let mut wallet = MockWalletRepository::new();
    wallet.expect_balance().times(1).return_once(|_| Ok(Some(balance(29_999))));
    let result = refused_by_the_store_then_decided_with(wallet);
    assert!(matches!(result, Err(PayError::InsufficientBalance)), "{result:?}");
}

#[test]
fn pay_fails_with_not_payable_when_a_lost_settlement_turns_out_to_be_already_paid() {
    let mut answers =
        vec![reservation(5), Reservation { status: ReservationStatus::Paid, ..reservation(5) }].into_iter();
    let mut reservations = MockReservationRepository::new();
    reservations.expect_reservation().times(2).returning(move |_| Ok(answers.next()));
    let queue = queue_rereading(Some(presented()), 1);
    let result =
        pay_rereading(&reservations, &wallet_read(1), &settlements(vec![None]), &queue, command(30_000));
    assert!(matches!(result, Err(PayError::NotPayable)), "{result:?}");
}

#[test]
fn pay_succeeds_when_a_retry_after_a_lost_settlement_wins() {
    let payments = settlements(vec![None, Some(payment())]);
    let queue = queue_rereading(Some(presented()), 1);
    let paid = pay_rereading(&reservations_read(2), &wallet_read(1), &payments, &queue, command(30_000));
    assert_eq!(paid.expect("second attempt succeeds"), payment());
}

#[test]
fn pay_fails_with_store_internal_after_three_lost_settlements() {
    let payments = settlements(vec![None, None, None]);
    let queue = queue_rereading(Some(presented()), 3);
    let result = pay_rereading(&reservations_read(3), &wallet_read(2), &payments, &queue, command(30_000));
    assert!(matches!(result, Err(PayError::Store(StoreError::Internal(_)))), "{result:?}");
}

/// Runs a payment whose one settlement is lost, after which the presented token reads back as
/// `stored`; the token, read first, must end it without deciding again.
fn lost_once_then_token_reads(stored: Option<QueueToken>) -> Result<Payment, PayError> {
    let queue = queue_rereading(stored, 1);
    pay_rereading(
        &reservations_with(reservation(5)),
        &wallet_with(90_000),
        &settlements(vec![None]),
        &queue,
        command(30_000),
    )
}

#[test]
fn pay_fails_with_token_expired_when_a_concurrent_payment_retired_the_token() {
    let spent = QueueToken { status: TokenStatus::Expired, ..presented() };
    let result = lost_once_then_token_reads(Some(spent));
    assert!(matches!(result, Err(PayError::TokenExpired)), "{result:?}");
}

#[test]
fn pay_fails_with_token_expired_when_the_token_ran_out_while_settling() {
    let ran_out = QueueToken { expires_at: Some(NOW), ..presented() };
    let result = lost_once_then_token_reads(Some(ran_out));
    assert!(matches!(result, Err(PayError::TokenExpired)), "{result:?}");
}

#[test]
fn pay_fails_with_token_expired_when_the_presented_token_is_gone() {
    let result = lost_once_then_token_reads(None);
    assert!(matches!(result, Err(PayError::TokenExpired)), "{result:?}");
}

#[test]
fn pay_fails_with_token_expired_rather_than_internal_when_the_last_attempt_lost_to_the_token() {
    let mut reads =
        vec![presented(), presented(), QueueToken { status: TokenStatus::Expired, ..presented() }]
            .into_iter();
    let mut queue = MockQueueRepository::new();
    queue.expect_fresh_token().times(3).returning(move |_| Ok(reads.next()));
    let payments = settlements(vec![None, None, None]);
    let result = pay_rereading(&reservations_read(3), &wallet_read(2), &payments, &queue, command(30_000));
    assert!(matches!(result, Err(PayError::TokenExpired)), "{result:?}");
}

#[test]
fn pay_fails_with_store_when_the_token_cannot_be_read_after_a_lost_settlement() {
    let mut queue = MockQueueRepository::new();
    queue.expect_fresh_token().times(1).return_once(|_| Err(store_down()));
    let result = pay_rereading(
        &reservations_with(reservation(5)),
        &wallet_with(90_000),
        &settlements(vec![None]),
        &queue,
        command(30_000),
    );
    assert!(matches!(result, Err(PayError::Store(StoreError::Unavailable(_)))), "{result:?}");
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
    wallet.expect_balance().times(1).return_once(|_| Err(store_down()));
    let result = refused_by_the_store_then_decided_with(wallet);
    assert!(matches!(result, Err(PayError::Store(StoreError::Unavailable(_)))), "{result:?}");
}

#[test]
fn pay_fails_with_store_when_the_settlement_cannot_be_committed() {
    let mut payments = MockPaymentRepository::new();
    payments.expect_settle().times(1).return_once(|_, _| Err(store_down()));
    let result = pay(&reservations_with(reservation(5)), &wallet_with(90_000), &payments, command(30_000));
    assert!(matches!(result, Err(PayError::Store(StoreError::Unavailable(_)))), "{result:?}");
}

#[test]
fn a_keyed_payment_hands_the_settlement_a_receipt_that_answers_only_a_landed_payment() {
    let mut payments = MockPaymentRepository::new();
    payments.expect_settle().times(1).return_once(|_, receipt| {
        let receipt = receipt.expect("the settlement records the answer with its effect");
        let paid = StoredResponse { status: 200, body: format!("{:?}", payment()) };
        assert_eq!(receipt.answer(&Some(payment())), Some(paid));
        assert_eq!(receipt.answer(&None), None, "a refusal is told apart, and answered, afterwards");
        Ok(Some(payment()))
    });
    let command = Pay { receipt: Some(receipt()), ..command(30_000) };
    let paid = pay(&reservations_with(reservation(5)), &MockWalletRepository::new(), &payments, command);
    assert_eq!(paid.expect("payment succeeds"), payment());
}
