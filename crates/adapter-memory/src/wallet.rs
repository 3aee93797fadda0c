//! Balances and their ledger, and the wallet port.

use std::collections::HashMap;

use async_trait::async_trait;
use domain::ports::{CreditOutcome, StoreError, StoreResult, WalletRepository};
use domain::{Balance, ChargeAmount, LedgerEntry, LedgerReason, MoneyError, Receipt, UserId};
use time::OffsetDateTime;

use crate::MemoryStore;

/// One user's money: the balance and every change that led to it.
#[derive(Debug, Default)]
struct Account {
    balance: Balance,
    /// Oldest first; sums to `balance`.
    ledger: Vec<LedgerEntry>,
}

/// Every user's account. A user exists once they have an account, which the queue opens on
/// their first token.
#[derive(Debug, Default)]
pub(crate) struct Wallets {
    accounts: HashMap<UserId, Account>,
}

impl Wallets {
    /// Opens `user`'s account with a zero balance, unless it is open already.
    pub(crate) fn open(&mut self, user: UserId) {
        self.accounts.entry(user).or_default();
    }

    /// Forgets `user`'s account if it never held money: a zero balance and an empty ledger
    /// (the same as the account a new visit opens).
    pub(crate) fn close_if_empty(&mut self, user: UserId) {
        if self
            .accounts
            .get(&user)
            .is_some_and(|account| account.balance == Balance::ZERO && account.ledger.is_empty())
        {
            self.accounts.remove(&user);
        }
    }

    /// See [`crate::shrink_if_sparse`].
    pub(crate) fn shrink_if_sparse(&mut self) {
        crate::shrink_if_sparse(&mut self.accounts);
    }

    /// `user`'s balance; `None` for an unknown user.
    pub(crate) fn balance(&self, user: UserId) -> Option<Balance> {
        self.accounts.get(&user).map(|account| account.balance)
    }

    /// Sets `user`'s balance to `balance_after`, recording the change `delta` in the ledger.
    /// The caller has checked the arithmetic; an unknown user changes nothing.
    pub(crate) fn post(
        &mut self,
        user: UserId,
        delta: i64,
        reason: LedgerReason,
        balance_after: Balance,
        at: OffsetDateTime,
    ) {
        if let Some(account) = self.accounts.get_mut(&user) {
            account.balance = balance_after;
            account.ledger.push(LedgerEntry { user_id: user, delta, reason, balance_after, at });
        }
    }

    fn credit(
        &mut self,
        user: UserId,
        amount: ChargeAmount,
        at: OffsetDateTime,
    ) -> StoreResult<CreditOutcome> {
        let Some(balance) = self.balance(user) else { return Ok(CreditOutcome::UnknownUser) };
        let after = match balance.credit(amount) {
            Ok(after) => after,
            Err(MoneyError::BalanceLimitExceeded) => return Ok(CreditOutcome::LimitExceeded),
            Err(other) => return Err(StoreError::Internal(format!("credit refused: {other}"))),
        };
        self.post(user, amount.won().get(), LedgerReason::Charge, after, at);
        Ok(CreditOutcome::Credited(after))
    }

    fn ledger(&self, user: UserId) -> Vec<LedgerEntry> {
        self.accounts.get(&user).map(|account| account.ledger.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl WalletRepository for MemoryStore {
    async fn balance(&self, user: UserId) -> StoreResult<Option<Balance>> {
        self.with_state(|state| Ok(state.wallets.balance(user)))
    }

    async fn credit(
        &self,
        user: UserId,
        amount: ChargeAmount,
        at: OffsetDateTime,
        receipt: Option<Receipt<CreditOutcome>>,
    ) -> StoreResult<CreditOutcome> {
        self.with_state(|state| state.keyed(receipt.as_ref(), |state| state.wallets.credit(user, amount, at)))
    }

    async fn ledger(&self, user: UserId) -> StoreResult<Vec<LedgerEntry>> {
        self.with_state(|state| Ok(state.wallets.ledger(user)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testkit::{NOW, funded_user, issue, seconds, user};
    use domain::money::{MAX_BALANCE, MAX_CHARGE};

    fn charge(amount: i64) -> ChargeAmount {
        ChargeAmount::new(amount).expect("valid charge")
    }

    fn balance(amount: i64) -> Balance {
        Balance::new(amount).expect("valid balance")
    }

    #[tokio::test]
    async fn a_user_issued_a_token_starts_with_a_zero_balance_and_an_empty_ledger() {
        let store = MemoryStore::new();
        issue(&store, 1).await;
        assert_eq!(store.balance(user(1)).await, Ok(Some(Balance::ZERO)));
        assert_eq!(store.ledger(user(1)).await, Ok(vec![]));
    }

    #[tokio::test]
    async fn balance_of_an_unknown_user_is_none_and_their_ledger_is_empty() {
        let store = MemoryStore::new();
        assert_eq!(store.balance(user(9)).await, Ok(None));
        assert_eq!(store.ledger(user(9)).await, Ok(vec![]));
    }

    #[tokio::test]
    async fn credit_adds_the_amount_and_writes_a_charge_entry() {
        let store = MemoryStore::new();
        issue(&store, 1).await;
        assert_eq!(
            store.credit(user(1), charge(700), NOW, None).await,
            Ok(CreditOutcome::Credited(balance(700)))
        );
        let entry = LedgerEntry {
            user_id: user(1),
            delta: 700,
            reason: LedgerReason::Charge,
            balance_after: balance(700),
            at: NOW,
        };
        assert_eq!(store.ledger(user(1)).await, Ok(vec![entry]));
    }

    #[tokio::test]
    async fn credit_fails_with_unknown_user_and_creates_nobody() {
        let store = MemoryStore::new();
        assert_eq!(store.credit(user(9), charge(5), NOW, None).await, Ok(CreditOutcome::UnknownUser));
        assert_eq!(store.balance(user(9)).await, Ok(None));
    }

    #[tokio::test]
    async fn credit_fails_with_limit_exceeded_above_the_ceiling_and_changes_nothing() {
        let store = MemoryStore::new();
        issue(&store, 1).await;
        for _ in 0..(MAX_BALANCE / MAX_CHARGE) {
            store.credit(user(1), charge(MAX_CHARGE), NOW, None).await.expect("credit");
        }
        let ledger_before = store.ledger(user(1)).await.expect("ledger");
        assert_eq!(store.credit(user(1), charge(1), NOW, None).await, Ok(CreditOutcome::LimitExceeded));
        assert_eq!(store.balance(user(1)).await, Ok(Some(balance(MAX_BALANCE))));
        assert_eq!(store.ledger(user(1)).await, Ok(ledger_before));
    }

    #[tokio::test]
    async fn credit_may_fill_the_balance_to_the_ceiling_exactly() {
        let store = MemoryStore::new();
        funded_user(&store, 1, MAX_CHARGE - 1).await;
        for _ in 1..(MAX_BALANCE / MAX_CHARGE) {
            store.credit(user(1), charge(MAX_CHARGE), NOW, None).await.expect("credit");
        }
        assert_eq!(
            store.credit(user(1), charge(1), NOW, None).await,
            Ok(CreditOutcome::Credited(balance(MAX_BALANCE)))
        );
    }

    #[tokio::test]
    async fn ledger_is_oldest_first_and_sums_to_the_balance() {
        let store = MemoryStore::new();
        issue(&store, 1).await;
        for (i, amount) in [100, 20, 3].into_iter().enumerate() {
            store.credit(user(1), charge(amount), NOW + seconds(i as i64), None).await.expect("credit");
        }
        let ledger = store.ledger(user(1)).await.expect("ledger");
        let deltas: Vec<i64> = ledger.iter().map(|e| e.delta).collect();
        let afters: Vec<i64> = ledger.iter().map(|e| e.balance_after.won().get()).collect();
        assert_eq!(deltas, [100, 20, 3]);
        assert_eq!(afters, [100, 120, 123]);
        assert!(ledger.windows(2).all(|pair| pair[0].at < pair[1].at));
        assert_eq!(store.balance(user(1)).await, Ok(Some(balance(123))));
    }

    #[tokio::test]
    async fn ledgers_are_kept_per_user() {
        let store = MemoryStore::new();
        funded_user(&store, 1, 10).await;
        funded_user(&store, 2, 20).await;
        assert_eq!(store.ledger(user(1)).await.map(|l| l.len()), Ok(1));
        assert_eq!(store.balance(user(2)).await, Ok(Some(balance(20))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_concurrent_credits_lose_no_update() {
        let store = Arc::new(MemoryStore::new());
        issue(&store, 1).await;
        let tasks: Vec<_> = (1..=200)
            .map(|amount| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.credit(user(1), charge(amount), NOW, None).await })
            })
            .collect();
        for task in tasks {
            assert!(matches!(task.await.expect("task"), Ok(CreditOutcome::Credited(_))));
        }
        let expected: i64 = (1..=200).sum();
        assert_eq!(store.balance(user(1)).await, Ok(Some(balance(expected))));
        let ledger = store.ledger(user(1)).await.expect("ledger");
        assert_eq!(ledger.len(), 200);
        assert_eq!(ledger.iter().map(|e| e.delta).sum::<i64>(), expected);
        assert_eq!(ledger.last().map(|e| e.balance_after), Some(balance(expected)));
        let mut running = 0;
        for entry in &ledger {
            running += entry.delta;
            assert_eq!(entry.balance_after.won().get(), running);
        }
    }
}
