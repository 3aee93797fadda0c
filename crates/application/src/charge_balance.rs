//! `POST /api/charge`: top up the prepaid balance.

use domain::ports::{Clock, WalletRepository};
use domain::{Balance, ChargeAmount, CreditOutcome, MoneyError, Receipt, StoreError, UserId};

use crate::access::{Forbidden, ensure_self};

/// The request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeBalance {
    /// The token's user.
    pub actor: UserId,
    /// `userId` of the body; must be the actor.
    pub user_id: i64,
    /// `amount` of the body, in won.
    pub amount: i64,
    /// With an idempotency key: where the credit records its answer, with its effect.
    pub receipt: Option<Receipt<Result<Balance, ChargeBalanceError>>>,
}

/// Why nothing was charged.
#[derive(Debug, Clone, thiserror::Error)]
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
    let receipt = command.receipt.map(|receipt| receipt.before(|outcome| Some(result_of(*outcome))));
    result_of(wallet.credit(user, amount, clock.now(), receipt).await?)
}

/// What the charge answers for what the credit did.
fn result_of(outcome: CreditOutcome) -> Result<Balance, ChargeBalanceError> {
    match outcome {
        CreditOutcome::Credited(balance) => Ok(balance),
        CreditOutcome::UnknownUser => Err(ChargeBalanceError::UserNotFound),
        CreditOutcome::LimitExceeded => Err(ChargeBalanceError::BalanceLimitExceeded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, balance, clock, store_down, user};
    use domain::money::{MAX_BALANCE, MAX_CHARGE};
    use domain::ports::{MockClock, MockWalletRepository};
    use domain::{ClaimId, IdempotencyKey, StoredResponse};
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn command(amount: i64) -> ChargeBalance {
        ChargeBalance { actor: user(5), user_id: 5, amount, receipt: None }
    }

    fn wallet_with(amount: i64) -> MockWalletRepository {
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().with(eq(user(5))).times(1).return_once(move |_| Ok(Some(balance(amount))));
        wallet
    }

    fn charge(wallet: &MockWalletRepository, command: ChargeBalance) -> Result<Balance, ChargeBalanceError> {
        block_on(execute(wallet, &clock(), command))
    }

    fn amount(n: i64) -> ChargeAmount {
        ChargeAmount::new(n).expect("valid charge")
    }

    #[test]
    fn charge_credits_the_amount_at_now_and_returns_the_new_balance() {
        let mut wallet = wallet_with(500);
        wallet
            .expect_credit()
            .with(eq(user(5)), eq(amount(1_000)), eq(NOW), eq(None))
            .times(1)
            .return_once(|_, _, _, _| Ok(CreditOutcome::Credited(balance(1_500))));
        assert_eq!(charge(&wallet, command(1_000)).expect("charge succeeds"), balance(1_500));
    }

    #[test]
    fn charge_may_fill_the_balance_up_to_the_ceiling_exactly() {
        let mut wallet = wallet_with(MAX_BALANCE - MAX_CHARGE);
        wallet
            .expect_credit()
            .times(1)
            .return_once(|_, _, _, _| Ok(CreditOutcome::Credited(balance(MAX_BALANCE))));
        assert_eq!(charge(&wallet, command(MAX_CHARGE)).expect("charge succeeds"), balance(MAX_BALANCE));
    }

    #[test]
    fn a_keyed_charge_hands_the_credit_a_receipt_that_answers_as_the_charge_itself_would() {
        let mut wallet = wallet_with(500);
        wallet.expect_credit().times(1).return_once(|_, _, _, receipt| {
            let receipt = receipt.expect("the credit records the answer with its effect");
            assert_eq!(receipt.claim, ClaimId::new(8));
            assert_eq!(receipt.answer(&CreditOutcome::Credited(balance(1_500))), Some(answer(200, "1500")));
            let limit = ChargeBalanceError::BalanceLimitExceeded.to_string();
            assert_eq!(receipt.answer(&CreditOutcome::LimitExceeded), Some(answer(422, &limit)));
            Ok(CreditOutcome::Credited(balance(1_500)))
        });
        let key = IdempotencyKey::parse("k").expect("valid key");
        let receipt =
            Receipt::new(user(5), key, ClaimId::new(8), |result: &Result<Balance, ChargeBalanceError>| {
                Some(match result {
                    Ok(balance) => answer(200, &balance.won().get().to_string()),
                    Err(error) => answer(422, &error.to_string()),
                })
            });
        let command = ChargeBalance { receipt: Some(receipt), ..command(1_000) };
        assert_eq!(charge(&wallet, command).expect("charge succeeds"), balance(1_500));
    }

    fn answer(status: u16, body: &str) -> StoredResponse {
        StoredResponse { status, body: body.into() }
    }

    #[test]
    fn charge_fails_with_invalid_amount_before_calling_any_port() {
        for bad in [0, -1, MAX_CHARGE + 1, i64::MAX] {
            let result = block_on(execute(&MockWalletRepository::new(), &MockClock::new(), command(bad)));
            assert!(matches!(result, Err(ChargeBalanceError::InvalidAmount)), "{bad}: {result:?}");
        }
    }

    #[test]
    fn charge_reports_an_invalid_amount_before_a_forbidden_user() {
        let command = ChargeBalance { user_id: 6, ..command(0) };
        let result = charge(&MockWalletRepository::new(), command);
        assert!(matches!(result, Err(ChargeBalanceError::InvalidAmount)), "{result:?}");
    }

    #[test]
    fn charge_fails_with_forbidden_for_another_users_id_without_calling_any_port() {
        let command = ChargeBalance { user_id: 6, ..command(1_000) };
        let result = charge(&MockWalletRepository::new(), command);
        assert!(matches!(result, Err(ChargeBalanceError::Forbidden(_))), "{result:?}");
    }

    #[test]
    fn charge_fails_with_user_not_found_for_an_unknown_user_without_crediting() {
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().return_once(|_| Ok(None));
        let result = charge(&wallet, command(1_000));
        assert!(matches!(result, Err(ChargeBalanceError::UserNotFound)), "{result:?}");
    }

    #[test]
    fn charge_fails_with_balance_limit_exceeded_before_calling_credit() {
        // No credit expectation: the domain's ceiling check must reject first.
        let result = charge(&wallet_with(MAX_BALANCE - 10), command(11));
        assert!(matches!(result, Err(ChargeBalanceError::BalanceLimitExceeded)), "{result:?}");
    }

    #[test]
    fn charge_fails_with_balance_limit_exceeded_when_the_store_refuses_a_raced_credit() {
        let mut wallet = wallet_with(500);
        wallet.expect_credit().times(1).return_once(|_, _, _, _| Ok(CreditOutcome::LimitExceeded));
        let result = charge(&wallet, command(1_000));
        assert!(matches!(result, Err(ChargeBalanceError::BalanceLimitExceeded)), "{result:?}");
    }

    #[test]
    fn charge_fails_with_user_not_found_when_the_store_does_not_know_the_user_at_credit() {
        let mut wallet = wallet_with(500);
        wallet.expect_credit().times(1).return_once(|_, _, _, _| Ok(CreditOutcome::UnknownUser));
        let result = charge(&wallet, command(1_000));
        assert!(matches!(result, Err(ChargeBalanceError::UserNotFound)), "{result:?}");
    }

    #[test]
    fn charge_fails_with_store_when_the_balance_cannot_be_read() {
        let mut wallet = MockWalletRepository::new();
        wallet.expect_balance().return_once(|_| Err(store_down()));
        let result = charge(&wallet, command(1_000));
        assert!(matches!(result, Err(ChargeBalanceError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn charge_fails_with_store_when_the_credit_cannot_be_written() {
        let mut wallet = wallet_with(500);
        wallet.expect_credit().return_once(|_, _, _, _| Err(store_down()));
        let result = charge(&wallet, command(1_000));
        assert!(matches!(result, Err(ChargeBalanceError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
