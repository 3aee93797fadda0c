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
