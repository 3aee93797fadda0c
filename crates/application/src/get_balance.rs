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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{balance, store_down, user};
    use domain::ports::MockWalletRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn command(user_id: i64) -> GetBalance {
        GetBalance { actor: user(5), user_id }
    }

    #[test]
    fn get_balance_returns_the_actors_balance() {
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().with(eq(user(5))).times(1).return_once(|_| Ok(Some(balance(42_000))));
        let result = block_on(execute(&wallet, command(5)));
        assert_eq!(result.expect("balance is read"), balance(42_000));
    }

    #[test]
    fn get_balance_fails_with_forbidden_for_another_users_id_without_reading_the_store() {
        for other in [6, 0, -5] {
            let result = block_on(execute(&MockWalletRepository::new(), command(other)));
            assert!(matches!(result, Err(GetBalanceError::Forbidden(_))), "{other}: {result:?}");
        }
    }

    #[test]
    fn get_balance_fails_with_user_not_found_for_an_unknown_user() {
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().return_once(|_| Ok(None));
        let result = block_on(execute(&wallet, command(5)));
        assert!(matches!(result, Err(GetBalanceError::UserNotFound)), "{result:?}");
    }

    #[test]
    fn get_balance_fails_with_store_when_the_store_is_down() {
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().return_once(|_| Err(store_down()));
        let result = block_on(execute(&wallet, command(5)));
        assert!(matches!(result, Err(GetBalanceError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
