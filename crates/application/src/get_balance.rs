//! `GET /api/balance?userId=`: what a fan has left to spend.

use domain::ports::WalletRepository;
use domain::{Balance, StoreError, UserId};

use crate::access::{Forbidden, ensure_self};

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetBalance {
    /// The token's user.
    pub actor: UserId,
    /// `userId` of the query; must be the actor.
    pub user_id: i64,
}

/// Why no balance was given.
#[derive(Debug, thiserror::Error)]
pub enum GetBalanceError {
    /// `userId` is not the token's user.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// No such user.
    #[error("user not found")]
    UserNotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the balance of the token's own user.
pub async fn execute(wallet: &dyn WalletRepository, command: GetBalance) -> Result<Balance, GetBalanceError> {
    let user = ensure_self(command.actor, command.user_id)?;
    wallet.balance(user).await?.ok_or(GetBalanceError::UserNotFound)
}
