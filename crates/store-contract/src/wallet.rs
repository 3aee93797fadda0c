//! Wallet checks: balances, credits and the ledger that explains them.

use domain::money::{MAX_BALANCE, MAX_CHARGE};
use domain::{Balance, CreditOutcome, LedgerEntry, LedgerReason};

use crate::Repositories;
use crate::fixture::{balance, balance_of, charge, now, secs, uid, user};

/// A user issued a token exists with a zero balance and an empty ledger.
pub async fn a_new_user_has_a_zero_balance_and_an_empty_ledger(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    assert_eq!(stores.wallet.balance(uid(1)).await, Ok(Some(Balance::ZERO)), "a new user's balance");
    assert_eq!(stores.wallet.ledger(uid(1)).await, Ok(vec![]), "a new user's ledger");
}

/// `credit` adds the amount and writes a `Charge` entry with the delta, the balance after and
/// the instant; entries come oldest first and are kept per user.
pub async fn credit_adds_the_amount_and_writes_a_charge_entry(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    user(&stores, 2, now).await;
    let first = stores.wallet.credit(uid(1), charge(700), now, None).await;
    assert_eq!(first, Ok(CreditOutcome::Credited(balance(700))), "first credit");
    let second = stores.wallet.credit(uid(1), charge(300), now + secs(1), None).await;
    assert_eq!(second, Ok(CreditOutcome::Credited(balance(1_000))), "second credit");
    let entry = |delta, after, at| LedgerEntry {
        user_id: uid(1),
        delta,
        reason: LedgerReason::Charge,
        balance_after: balance(after),
        at,
    };
    let expected = vec![entry(700, 700, now), entry(300, 1_000, now + secs(1))];
    assert_eq!(stores.wallet.ledger(uid(1)).await, Ok(expected), "ledger of two charges, oldest first");
    assert_eq!(balance_of(&stores, uid(1)).await, balance(1_000), "balance after two credits");
    assert_eq!(balance_of(&stores, uid(2)).await, Balance::ZERO, "another user's balance is untouched");
    assert_eq!(stores.wallet.ledger(uid(2)).await, Ok(vec![]), "another user's ledger is untouched");
}

/// A credit that would lift the balance above 1,000,000,000 is `LimitExceeded` and changes
/// nothing; reaching the ceiling exactly is allowed.
pub async fn credit_above_the_ceiling_is_refused_and_changes_nothing(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let near = MAX_BALANCE - 10;
    let full_charges = near / MAX_CHARGE;
    for _ in 0..full_charges {
        let outcome = stores.wallet.credit(uid(1), charge(MAX_CHARGE), now, None).await;
        assert!(matches!(outcome, Ok(CreditOutcome::Credited(_))), "credit below the ceiling: {outcome:?}");
    }
    let rest = near - full_charges * MAX_CHARGE;
    let outcome = stores.wallet.credit(uid(1), charge(rest), now, None).await;
    assert_eq!(outcome, Ok(CreditOutcome::Credited(balance(near))), "10 won under the ceiling");
    let ledger_before = stores.wallet.ledger(uid(1)).await.expect("ledger works");

    for over in [11, MAX_CHARGE] {
        let outcome = stores.wallet.credit(uid(1), charge(over), now + secs(1), None).await;
        assert_eq!(outcome, Ok(CreditOutcome::LimitExceeded), "a credit of {over} would pass the ceiling");
        assert_eq!(balance_of(&stores, uid(1)).await, balance(near), "a refused credit changes no balance");
        let ledger = stores.wallet.ledger(uid(1)).await.expect("ledger works");
        assert_eq!(ledger, ledger_before, "a refused credit writes no ledger entry");
    }
    let exact = stores.wallet.credit(uid(1), charge(10), now + secs(2), None).await;
    assert_eq!(
        exact,
        Ok(CreditOutcome::Credited(balance(MAX_BALANCE))),
        "the ceiling may be reached exactly"
    );
    let ledger = stores.wallet.ledger(uid(1)).await.expect("ledger works");
    assert_eq!(ledger.len(), ledger_before.len() + 1);
    assert_eq!(
        ledger.iter().map(|entry| entry.delta).sum::<i64>(),
        MAX_BALANCE,
        "the ledger sums to the balance"
    );
}

/// A user never issued a token has no balance; a credit to them is `UnknownUser` and creates
/// nobody.
pub async fn an_unknown_user_has_no_balance_and_cannot_be_credited(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    assert_eq!(stores.wallet.balance(uid(9)).await, Ok(None), "balance of an unknown user");
    let outcome = stores.wallet.credit(uid(9), charge(500), now, None).await;
    assert_eq!(outcome, Ok(CreditOutcome::UnknownUser), "credit of an unknown user");
    assert_eq!(stores.wallet.balance(uid(9)).await, Ok(None), "a refused credit creates nobody");
    assert_eq!(stores.wallet.ledger(uid(9)).await, Ok(vec![]), "an unknown user's ledger is empty");
    assert_eq!(balance_of(&stores, uid(1)).await, Balance::ZERO, "no other user was credited instead");
}
