//! Exactly-once keyed writes. A request that claimed an `Idempotency-Key` hands its write a
//! [`Receipt`]: the store checks, in the same atomic step as the write's effect, that the claim
//! is still the key's current one (else it writes nothing and answers
//! [`crate::StoreError::ClaimSuperseded`]) and records the answer the request will give. So a
//! key is always either "done, with this answer" or "nothing happened": a crash, a timeout or a
//! dropped client at any point can never make a retry do the write twice.

use std::fmt;
use std::sync::Arc;

use crate::idempotency::{ClaimId, IdempotencyKey, StoredResponse};
use crate::ids::UserId;

/// How an outcome of type `T` is answered; `None` for an outcome whose answer is decided later
/// (only ever an outcome that wrote nothing).
type Answer<T> = dyn Fn(&T) -> Option<StoredResponse> + Send + Sync;

/// Where and how a keyed write records its answer: the user's key, the claim that fences the
/// write, and how the write's outcome is answered.
pub struct Receipt<T> {
    /// Whose key.
    pub user: UserId,
    /// The key.
    pub key: IdempotencyKey,
    /// The claim the write must still hold when it commits.
    pub claim: ClaimId,
    answer: Arc<Answer<T>>,
}

impl<T: 'static> Receipt<T> {
    /// A receipt answering an outcome as `answer` does.
    pub fn new(
        user: UserId,
        key: IdempotencyKey,
        claim: ClaimId,
        answer: impl Fn(&T) -> Option<StoredResponse> + Send + Sync + 'static,
    ) -> Self {
        Self { user, key, claim, answer: Arc::new(answer) }
    }

    /// The answer to record for `outcome`, if it is decided by the outcome alone.
    pub fn answer(&self, outcome: &T) -> Option<StoredResponse> {
        (self.answer)(outcome)
    }

    /// The same receipt for a step whose outcome `U` becomes this receipt's `T` as `map` says
    /// (`None`: the answer is not decided by that outcome alone). Lets a use case hand a port a
    /// receipt for the port's outcome while the answer is still rendered from the use case's
    /// result.
    pub fn before<U>(&self, map: impl Fn(&U) -> Option<T> + Send + Sync + 'static) -> Receipt<U> {
        let answer = Arc::clone(&self.answer);
        Receipt {
            user: self.user,
            key: self.key.clone(),
            claim: self.claim,
            answer: Arc::new(move |outcome: &U| map(outcome).and_then(|mapped| answer(&mapped))),
        }
    }
}

impl<T> Clone for Receipt<T> {
    fn clone(&self) -> Self {
        Self { user: self.user, key: self.key.clone(), claim: self.claim, answer: Arc::clone(&self.answer) }
    }
}

impl<T> fmt::Debug for Receipt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipt")
            .field("user", &self.user)
            .field("claim", &self.claim)
            .finish_non_exhaustive()
    }
}

/// Two receipts are equal when they record under the same claim of the same key (the answer
/// function cannot be compared); enough for tests to check which receipt a port was given.
impl<T> PartialEq for Receipt<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.user, &self.key, self.claim) == (other.user, &other.key, other.claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(status: u16, body: &str) -> StoredResponse {
        StoredResponse { status, body: body.into() }
    }

    fn receipt() -> Receipt<Result<i64, &'static str>> {
        let user = UserId::new(3).expect("valid id");
        let key = IdempotencyKey::parse("k").expect("valid key");
        Receipt::new(user, key, ClaimId::new(9), |result: &Result<i64, &'static str>| match result {
            Ok(balance) => Some(stored(200, &balance.to_string())),
            Err(reason) => Some(stored(422, reason)),
        })
    }

    #[test]
    fn a_receipt_answers_an_outcome_as_it_was_told() {
        assert_eq!(receipt().answer(&Ok(5)), Some(stored(200, "5")));
        assert_eq!(receipt().answer(&Err("no")), Some(stored(422, "no")));
    }

    #[test]
    fn a_receipt_for_an_earlier_step_maps_its_outcome_first_and_keeps_the_claim() {
        let before = receipt().before(|credited: &Option<i64>| credited.map(Ok));
        assert_eq!(before.answer(&Some(7)), Some(stored(200, "7")));
        assert_eq!(before.answer(&None), None, "an outcome the answer does not follow from");
        assert_eq!((before.user, before.claim), (receipt().user, ClaimId::new(9)));
        assert_eq!(before.key.as_str(), "k");
    }

    #[test]
    fn receipts_are_equal_when_they_name_the_same_claim_of_the_same_key() {
        assert_eq!(receipt(), receipt().clone());
        let other = Receipt { claim: ClaimId::new(10), ..receipt() };
        assert_ne!(receipt(), other);
    }
}
