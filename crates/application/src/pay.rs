//! `POST /api/pay`: pay for a held seat. The money path.

#[cfg(test)]
mod tests;

use domain::ports::{Clock, PaymentRepository, QueueRepository, ReservationRepository, WalletRepository};
use domain::{
    Payment, PaymentRejection, Receipt, ReservationId, SettlementPlan, StoreError, TokenValue, UserId, Won,
};

/// How many times a settlement that lost a race is decided again from fresh reads. A lost race
/// almost always turns into a definite rejection on the next read (token spent, paid, expired,
/// balance spent).
const ATTEMPTS: usize = 3;

/// The request.
#[derive(Debug, Clone, PartialEq)]
pub struct Pay {
    /// The token's user: only the holder may pay.
    pub actor: UserId,
    /// The token the gate let through. Paying spends it: the settlement retires it, and lands
    /// only while it is still active, so one token pays once even under concurrency.
    pub token: TokenValue,
    /// `reservationId` of the body.
    pub reservation_id: i64,
    /// `paymentAmount` of the body, in won.
    pub amount: i64,
    /// With an idempotency key: where a settlement that lands records its answer, with its
    /// effect. (A refusal wrote nothing, so its answer may be recorded afterwards.)
    pub receipt: Option<Receipt<Result<Payment, PayError>>>,
}

/// Why nothing was paid. Every failure leaves money, seat, reservation and token untouched.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PayError {
    /// The token was spent (by a concurrent payment with it) or ran out while this payment was
    /// being settled: the same answer a payment sent after that would get from the gate.
    #[error("the queue token has expired; ask for a new one")]
    TokenExpired,
    /// The amount is not a positive number of won.
    #[error("the payment amount must be a positive number of won")]
    InvalidAmount,
    /// No such reservation, or someone else's.
    #[error("reservation not found")]
    ReservationNotFound,
    /// Already paid, or given back.
    #[error("the reservation cannot be paid: it is paid already or was given back")]
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

/// Reads the reservation, lets the domain authorise, and hands the plan to the store's unit of
/// work, which commits all of it or nothing and guards the balance itself; so the first attempt
/// does not read the balance (a payment that wins costs one read and the settlement). If the
/// settlement is refused (too little money, a concurrent payment, the hold lapsing), the
/// decision is taken again from fresh reads, token first, now with the balance, which names the
/// reason: a settlement lost because the token was spent or ran out ends as
/// [`PayError::TokenExpired`], never as a retry. The first attempt trusts the gate, which has
/// just read the token.
pub async fn execute(
    reservations: &dyn ReservationRepository,
    wallet: &dyn WalletRepository,
    payments: &dyn PaymentRepository,
    queue: &dyn QueueRepository,
    clock: &dyn Clock,
    command: Pay,
) -> Result<Payment, PayError> {
    let amount = Won::new(command.amount).ok().filter(|won| won.get() > 0).ok_or(PayError::InvalidAmount)?;
    let id = ReservationId::new(command.reservation_id).map_err(|_| PayError::ReservationNotFound)?;
    let receipt =
        command.receipt.as_ref().map(|receipt| receipt.before(|paid: &Option<Payment>| paid.clone().map(Ok)));
    for attempt in 0..ATTEMPTS {
        let reservation = reservations.reservation(id).await?.ok_or(PayError::ReservationNotFound)?;
        let balance = match attempt {
            0 => None,
            _ => Some(wallet.balance(command.actor).await?.ok_or(PayError::ReservationNotFound)?),
        };
        let now = clock.now();
        let plan =
            SettlementPlan::authorize(&reservation, command.actor, command.token, amount, balance, now)?;
        if let Some(payment) = payments.settle(&plan, receipt.clone()).await? {
            return Ok(payment);
        }
        ensure_token_still_pays(queue, clock, &command).await?;
    }
    Err(PayError::Store(StoreError::Internal(format!(
        "settlement of reservation {id} kept losing races after {ATTEMPTS} attempts"
    ))))
}

/// After a lost settlement: fails with [`PayError::TokenExpired`] unless the presented token,
/// read afresh, may still pay for the actor now (the gate's verdict, restated).
async fn ensure_token_still_pays(
    queue: &dyn QueueRepository,
    clock: &dyn Clock,
    command: &Pay,
) -> Result<(), PayError> {
    let token = queue.fresh_token(command.token).await?;
    let now = clock.now();
    if token.is_some_and(|token| token.pays_for(command.actor, now)) {
        Ok(())
    } else {
        Err(PayError::TokenExpired)
    }
}
