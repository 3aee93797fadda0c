//! `POST /api/charge`: top up the prepaid balance.

use domain::ports::{Clock, WalletRepository};
use domain::{Balance, ChargeAmount, CreditOutcome, MoneyError, StoreError, UserId};

use crate::access::{Forbidden, ensure_self};

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeBalance {
    /// The token's user.
    pub actor: UserId,
    /// `userId` of the body; must be the actor.
    pub user_id: i64,
    /// `amount` of the body, in won.
    pub amount: i64,
}

/// Why nothing was charged.
#[derive(Debug, thiserror::Error)]
pub enum ChargeBalanceError {
    /// The amount is not 1..=10,000,000.
    #[error("the amount must be between 1 and 10000000 won")]
    InvalidAmount,
    /// `userId` is not the token's user.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// No such user.
    #[error("user not found")]
    UserNotFound,
    /// The balance would pass 1,000,000,000.
    #[error("the balance may not exceed 1000000000 won")]
    BalanceLimitExceeded,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds the amount and its ledger entry in one atomic store step; concurrent charges never lose
/// an update. The ceiling is checked by the domain first, and again by the store at commit.
pub async fn execute(
    wallet: &dyn WalletRepository,
    clock: &dyn Clock,
    command: ChargeBalance,
) -> Result<Balance, ChargeBalanceError> {
    let amount = ChargeAmount::new(command.amount).map_err(|_| ChargeBalanceError::InvalidAmount)?;
    let user = ensure_self(command.actor, command.user_id)?;
    let balance = wallet.balance(user).await?.ok_or(ChargeBalanceError::UserNotFound)?;
    if let Err(MoneyError::BalanceLimitExceeded) = balance.credit(amount) {
        return Err(ChargeBalanceError::BalanceLimitExceeded);
    }
    match wallet.credit(user, amount, clock.now()).await? {
        CreditOutcome::Credited(balance) => Ok(balance),
        CreditOutcome::UnknownUser => Err(ChargeBalanceError::UserNotFound),
        CreditOutcome::LimitExceeded => Err(ChargeBalanceError::BalanceLimitExceeded),
    }
}
