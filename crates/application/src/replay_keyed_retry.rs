//! A keyed retry whose token can no longer act: the gate refused its token as expired or
//! still waiting, yet the client most needs the answer of its first request right then ("did my
//! payment go through?": the payment itself spends the payer's token). So the answer stored for
//! that token's user, that key and that same request is replayed (or the retry is told the first
//! attempt is still running); anything else keeps the gate's refusal. Such a retry never runs
//! and never claims a key.

use domain::ports::{Clock, IdempotencyRepository, QueueRepository, TokenSeal};
use domain::{ClaimDecision, IdempotencyKey, IdempotencyPolicy, StoreError, StoredResponse, decide_claim};

use crate::queue_status::token_named;

/// The retry: the token text it carries, its key, and what identifies the request (its
/// fingerprint, as the key's record has it).
#[derive(Debug, Clone, Copy)]
pub struct KeyedRetry<'a> {
    /// The bearer text.
    pub token_text: &'a str,
    /// The `Idempotency-Key`.
    pub key: &'a IdempotencyKey,
    /// The request's fingerprint.
    pub fingerprint: &'a str,
}

/// What the retry is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAnswer {
    /// The first attempt's answer, as stored.
    Replay(StoredResponse),
    /// The first attempt is still running.
    InProgress,
    /// Nothing to replay: the gate's refusal stands.
    Refuse,
}

/// Why no answer could be looked up.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Looks up what a refused keyed retry is answered with: only a token this service sealed, and
/// only its own user's record of this key for this very request, is ever replayed.
pub async fn execute(
    queue: &dyn QueueRepository,
    keys: &dyn IdempotencyRepository,
    seal: &dyn TokenSeal,
    clock: &dyn Clock,
    policy: &IdempotencyPolicy,
    retry: KeyedRetry<'_>,
) -> Result<RetryAnswer, ReplayError> {
    let Some(claims) = seal.open(retry.token_text) else { return Ok(RetryAnswer::Refuse) };
    let Some(token) = token_named(queue, &claims).await? else { return Ok(RetryAnswer::Refuse) };
    let record = keys.find(token.user_id, retry.key).await?;
    Ok(match decide_claim(record.as_ref(), retry.fingerprint, clock.now(), policy.ttl, policy.lease) {
        ClaimDecision::Replay(stored) => RetryAnswer::Replay(stored),
        ClaimDecision::InProgress => RetryAnswer::InProgress,
        ClaimDecision::Claim | ClaimDecision::Reused => RetryAnswer::Refuse,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, seal, store_down, text_of, token, user};
    use domain::TokenStatus::Expired;
    use domain::ports::{MockClock, MockIdempotencyRepository, MockQueueRepository};
    use domain::{IdempotencyRecord, QueueToken};
    use futures::executor::block_on;
    use mockall::predicate::eq;
    use time::Duration;

    fn key() -> IdempotencyKey {
        IdempotencyKey::parse("pay-1").expect("valid key")
    }

    fn response() -> StoredResponse {
        StoredResponse { status: 200, body: r#"{"paymentId":1}"#.into() }
    }

    /// What user 5's key `pay-1` holds: the request `fp-a`, claimed 10 s ago, answered with
    /// `response` (or still running).
    fn record(response: Option<StoredResponse>) -> IdempotencyRecord {
        IdempotencyRecord { fingerprint: "fp-a".into(), claimed_at: NOW - Duration::seconds(10), response }
    }

    fn queue_knowing(token: QueueToken) -> MockQueueRepository {
        let mut queue = MockQueueRepository::new();
        queue.expect_token().with(eq(token.value)).times(1).return_once(move |_| Ok(Some(token)));
        queue
    }

    fn keys_holding(record: Option<IdempotencyRecord>) -> MockIdempotencyRepository {
        let mut keys = MockIdempotencyRepository::new();
        keys.expect_find().with(eq(user(5)), eq(key())).times(1).return_once(move |_, _| Ok(record));
        keys
    }

    fn retry(
        queue: &MockQueueRepository,
        keys: &MockIdempotencyRepository,
        text: &str,
        fingerprint: &str,
    ) -> Result<RetryAnswer, ReplayError> {
        let key = key();
        let retry = KeyedRetry { token_text: text, key: &key, fingerprint };
        block_on(execute(queue, keys, &seal(), &clock(), &IdempotencyPolicy::default(), retry))
    }

    #[test]
    fn a_retry_with_a_spent_token_gets_the_answer_its_first_attempt_stored() {
        let spent = token(5, 7, Expired);
        let answer = retry(
            &queue_knowing(spent.clone()),
            &keys_holding(Some(record(Some(response())))),
            &text_of(&spent),
            "fp-a",
        );
        assert_eq!(answer.expect("looked up"), RetryAnswer::Replay(response()));
    }

    #[test]
    fn a_retry_whose_first_attempt_is_still_running_is_told_so() {
        let spent = token(5, 7, Expired);
        let answer =
            retry(&queue_knowing(spent.clone()), &keys_holding(Some(record(None))), &text_of(&spent), "fp-a");
        assert_eq!(answer.expect("looked up"), RetryAnswer::InProgress);
    }

    #[test]
    fn a_different_request_under_the_key_or_a_key_never_used_keeps_the_refusal() {
        for (stored, fingerprint) in [(Some(record(Some(response()))), "fp-b"), (None, "fp-a")] {
            let spent = token(5, 7, Expired);
            let answer =
                retry(&queue_knowing(spent.clone()), &keys_holding(stored), &text_of(&spent), fingerprint);
            assert_eq!(answer.expect("looked up"), RetryAnswer::Refuse, "{fingerprint}");
        }
    }

    #[test]
    fn an_answer_past_the_retention_is_not_replayed() {
        let spent = token(5, 7, Expired);
        let old = IdempotencyRecord { claimed_at: NOW - Duration::days(2), ..record(Some(response())) };
        let answer = retry(&queue_knowing(spent.clone()), &keys_holding(Some(old)), &text_of(&spent), "fp-a");
        assert_eq!(answer.expect("looked up"), RetryAnswer::Refuse);
    }

    #[test]
    fn a_text_the_seal_refuses_keeps_the_refusal_without_reading_anything() {
        let (queue, keys) = (MockQueueRepository::new(), MockIdempotencyRepository::new());
        let key = key();
        let bare = token(5, 7, Expired).value.to_string();
        let retry = KeyedRetry { token_text: &bare, key: &key, fingerprint: "fp-a" };
        let answer = block_on(execute(
            &queue,
            &keys,
            &seal(),
            &MockClock::new(),
            &IdempotencyPolicy::default(),
            retry,
        ));
        assert_eq!(answer.expect("decided"), RetryAnswer::Refuse);
    }

    #[test]
    fn an_unknown_token_or_one_its_claims_do_not_describe_keeps_the_refusal() {
        let spent = token(5, 7, Expired);
        let mut queue = MockQueueRepository::new();
        queue.expect_token().times(1).return_once(|_| Ok(None));
        let answer = retry(&queue, &MockIdempotencyRepository::new(), &text_of(&spent), "fp-a");
        assert_eq!(answer.expect("looked up"), RetryAnswer::Refuse);
        let someone_else = QueueToken { user_id: user(6), ..spent.clone() };
        let answer =
            retry(&queue_knowing(spent), &MockIdempotencyRepository::new(), &text_of(&someone_else), "fp-a");
        assert_eq!(answer.expect("looked up"), RetryAnswer::Refuse);
    }

    #[test]
    fn a_store_failure_is_reported() {
        let spent = token(5, 7, Expired);
        let mut keys = MockIdempotencyRepository::new();
        keys.expect_find().return_once(|_, _| Err(store_down()));
        let answer = retry(&queue_knowing(spent.clone()), &keys, &text_of(&spent), "fp-a");
        assert!(matches!(answer, Err(ReplayError::Store(StoreError::Unavailable(_)))), "{answer:?}");
    }
}
