//! Exactly-once checks: a write made under an idempotency claim (a credit, a hold, a
//! settlement with a [`Receipt`]) records its answer in the same atomic step as its effect, and
//! lands only while its claim is still the key's current one. So a key is either answered or
//! untouched, and no retry, take-over or race can make the effect happen twice.

use std::fmt::Debug;

use domain::idempotency::CLAIM_LEASE;
use domain::ports::StoreError;
use domain::{ClaimId, CreditOutcome, IdempotencyClaim, Receipt, StoredResponse};
use time::OffsetDateTime;

use crate::Repositories;
use crate::fixture::{
    R_PRICE, approved, balance, balance_of, charge, now, plan, reservation, seat, seat_of, secs, uid, user,
};
use crate::idempotency::{claim, claimed, find, key};
use crate::payments::{Scene, scene};
use crate::races::all_at_once;

/// A receipt for user `n`'s `key` under `claim` that answers any outcome with 200 and its
/// debug text, so a check can tell which outcome was recorded.
fn receipt<T: Debug + 'static>(n: i64, key_text: &str, claim: ClaimId) -> Receipt<T> {
    Receipt::new(uid(n), key(key_text), claim, |outcome: &T| {
        Some(StoredResponse { status: 200, body: format!("{outcome:?}") })
    })
}

/// What user `n`'s `key` has recorded as its answer, if anything.
async fn answer(stores: &Repositories, n: i64, key_text: &str) -> Option<StoredResponse> {
    find(stores, n, key_text).await.and_then(|record| record.response)
}

/// The sum of user `n`'s ledger, which must equal their balance.
async fn audited_balance(stores: &Repositories, n: i64) -> i64 {
    let ledger = stores.wallet.ledger(uid(n)).await.expect("ledger works");
    let sum: i64 = ledger.iter().map(|entry| entry.delta).sum();
    assert_eq!(balance(sum), balance_of(stores, uid(n)).await, "the ledger sums to the balance");
    sum
}

/// A keyed credit records its answer with its effect: no separate completion is needed, and the
/// same request afterwards replays exactly that answer. A refusal inside the write (over the
/// ceiling) is recorded the same way.
pub async fn a_keyed_credit_records_its_answer_in_the_same_step_as_its_effect(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let first = claimed(claim(&stores, 1, "k1", "fp-a", now).await);
    let outcome = stores.wallet.credit(uid(1), charge(1_000), now, Some(receipt(1, "k1", first))).await;
    assert_eq!(outcome, Ok(CreditOutcome::Credited(balance(1_000))));
    let recorded =
        StoredResponse { status: 200, body: format!("{:?}", CreditOutcome::Credited(balance(1_000))) };
    assert_eq!(answer(&stores, 1, "k1").await, Some(recorded.clone()), "the answer landed with the credit");
    assert_eq!(claim(&stores, 1, "k1", "fp-a", now + secs(1)).await, IdempotencyClaim::Replay(recorded));
    assert_eq!(audited_balance(&stores, 1).await, 1_000);
}

/// A claim that lapsed and was taken over can no longer write: its credit, hold and settlement
/// each fail with `ClaimSuperseded` and change nothing, while the take-over's own write lands
/// once, with its answer.
pub async fn a_write_under_a_claim_that_was_taken_over_changes_nothing(stores: Repositories) {
    let Scene { world, token, held } = scene(&stores, 100_000).await;
    let at = world.now;
    let stale = claimed(claim(&stores, 1, "k1", "fp-a", at).await);
    let current = claimed(claim(&stores, 1, "k1", "fp-a", at + CLAIM_LEASE).await);
    assert_ne!(stale, current);

    let credit = stores.wallet.credit(uid(1), charge(1_000), at, Some(receipt(1, "k1", stale))).await;
    assert_eq!(credit, Err(StoreError::ClaimSuperseded), "a stale credit");
    let seat = seat_of(&stores, &world.late, 7).await;
    let hold = stores.reservations.try_hold(&approved(&seat, 1, at), Some(receipt(1, "k1", stale))).await;
    assert_eq!(hold, Err(StoreError::ClaimSuperseded), "a stale hold");
    let settle =
        stores.payments.settle(&plan(&held, &token, at + secs(1)), Some(receipt(1, "k1", stale))).await;
    assert_eq!(settle, Err(StoreError::ClaimSuperseded), "a stale settlement");
    assert_eq!(audited_balance(&stores, 1).await, 100_000, "no money moved");
    assert!(self::seat(&stores, seat.id).await.hold.is_none(), "the seat is still free");
    assert_eq!(reservation(&stores, held.id).await, held, "the reservation is still held");
    assert_eq!(answer(&stores, 1, "k1").await, None, "nothing was recorded");

    let settle =
        stores.payments.settle(&plan(&held, &token, at + secs(1)), Some(receipt(1, "k1", current))).await;
    let payment = settle.expect("the current claim settles").expect("the settlement lands");
    assert_eq!(answer(&stores, 1, "k1").await.map(|a| a.body), Some(format!("{:?}", Some(payment))));
    assert_eq!(audited_balance(&stores, 1).await, 100_000 - R_PRICE);
}

/// A claim whose key is answered already cannot write again: a second write under the same
/// claim (a duplicate delivery of the work) changes nothing.
pub async fn a_second_write_under_an_answered_claim_changes_nothing(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let first = claimed(claim(&stores, 1, "k1", "fp-a", now).await);
    let credited = stores.wallet.credit(uid(1), charge(1_000), now, Some(receipt(1, "k1", first))).await;
    assert_eq!(credited, Ok(CreditOutcome::Credited(balance(1_000))));
    let again = stores.wallet.credit(uid(1), charge(1_000), now, Some(receipt(1, "k1", first))).await;
    assert_eq!(again, Err(StoreError::ClaimSuperseded));
    assert_eq!(audited_balance(&stores, 1).await, 1_000);
}

/// Twenty retries of one keyed charge race after the first attempt's claim lapsed (its instance
/// is presumed dead, but its work may still be running): one retry takes the key over, the
/// others are told it is in progress, the first attempt's late write lands nowhere, and the
/// money is credited exactly once.
pub async fn twenty_retries_racing_a_lapsed_claim_credit_exactly_once(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let first = claimed(claim(&stores, 1, "k1", "fp-a", now).await);
    let retried_at = now + CLAIM_LEASE + secs(1);
    let outcomes = all_at_once(20, |_| {
        let stores = stores.clone();
        async move { retry(&stores, retried_at).await }
    })
    .await;
    let credited = outcomes.iter().filter(|outcome| matches!(outcome, Some(Ok(_)))).count();
    let running = outcomes.iter().filter(|outcome| outcome.is_none()).count();
    assert_eq!((credited, running), (1, 19), "one retry runs, nineteen are in progress: {outcomes:?}");
    let late = stores.wallet.credit(uid(1), charge(1_000), now, Some(receipt(1, "k1", first))).await;
    assert_eq!(late, Err(StoreError::ClaimSuperseded), "the first attempt's late write");
    assert_eq!(audited_balance(&stores, 1).await, 1_000, "credited exactly once");
    let replayed = claim(&stores, 1, "k1", "fp-a", retried_at + secs(1)).await;
    assert!(matches!(replayed, IdempotencyClaim::Replay(_)), "a later retry replays: {replayed:?}");
}

/// One retry of the keyed charge: claim, and on a claim, credit under it. `None` when the key
/// was not claimed.
async fn retry(stores: &Repositories, at: OffsetDateTime) -> Option<Result<CreditOutcome, StoreError>> {
    match claim(stores, 1, "k1", "fp-a", at).await {
        IdempotencyClaim::Claimed(claim) => {
            Some(stores.wallet.credit(uid(1), charge(1_000), at, Some(receipt(1, "k1", claim))).await)
        }
        _ => None,
    }
}
