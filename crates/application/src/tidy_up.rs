//! Housekeeping: forgets the tokens (and the empty users) past `QUEUE_TOKEN_RETENTION_SECONDS`
//! and purges idempotency records past `IDEMPOTENCY_RETENTION_SECONDS`, so storage follows the
//! recent traffic instead of all traffic ever. Correctness never waits for it: an expired token
//! or record already counts as expired or absent; forgetting only frees the room.

use domain::StoreError;
use domain::ports::{Clock, IdempotencyRepository, QueueRepository};
use domain::{IdempotencyPolicy, QueuePolicy};
use time::Duration;

/// What one round forgot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tidied {
    /// Tokens forgotten.
    pub tokens: u64,
    /// Idempotency records purged.
    pub keys: u64,
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum TidyUpError {
    /// The store failed; the next round tries again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often to tidy up: a quarter of the shorter retention, so nothing outlives its window by
/// more than a quarter of it; at least every minute, at most every second.
pub fn every(queue: &QueuePolicy, idempotency: &IdempotencyPolicy) -> Duration {
    let quarter = queue.retention.min(idempotency.ttl) / 4_i32;
    quarter.clamp(Duration::SECOND, Duration::MINUTE)
}

/// One round, both kinds as of one `now`. A failure of one kind does not stop the other; the
/// first failure is reported.
pub async fn execute(
    queue: &dyn QueueRepository,
    idempotency: &dyn IdempotencyRepository,
    clock: &dyn Clock,
    queue_policy: &QueuePolicy,
    idempotency_policy: &IdempotencyPolicy,
) -> Result<Tidied, TidyUpError> {
    let now = clock.now();
    let tokens = queue.forget_ended(queue_policy.forget_cutoff(now)).await;
    let keys = idempotency.purge_expired(now, idempotency_policy.ttl).await;
    Ok(Tidied { tokens: tokens?, keys: keys? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, store_down};
    use domain::ports::{MockIdempotencyRepository, MockQueueRepository};
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn policies() -> (QueuePolicy, IdempotencyPolicy) {
        let queue = QueuePolicy { retention: Duration::hours(2), ..QueuePolicy::default() };
        let keys = IdempotencyPolicy { ttl: Duration::hours(5), ..IdempotencyPolicy::default() };
        (queue, keys)
    }

    #[test]
    fn a_round_forgets_tokens_ended_before_the_retention_and_purges_records_past_theirs() {
        let (queue_policy, key_policy) = policies();
        let mut queue = MockQueueRepository::new();
        queue.expect_forget_ended().with(eq(NOW - Duration::hours(2))).times(1).return_once(|_| Ok(7));
        let mut keys = MockIdempotencyRepository::new();
        keys.expect_purge_expired().with(eq(NOW), eq(Duration::hours(5))).times(1).return_once(|_, _| Ok(3));
        let tidied = block_on(execute(&queue, &keys, &clock(), &queue_policy, &key_policy));
        assert_eq!(tidied.ok(), Some(Tidied { tokens: 7, keys: 3 }));
    }

    #[test]
    fn a_failing_store_for_tokens_still_lets_the_records_be_purged_and_reports_the_failure() {
        let (queue_policy, key_policy) = policies();
        let mut queue = MockQueueRepository::new();
        queue.expect_forget_ended().return_once(|_| Err(store_down()));
        let mut keys = MockIdempotencyRepository::new();
        keys.expect_purge_expired().times(1).return_once(|_, _| Ok(3));
        let result = block_on(execute(&queue, &keys, &clock(), &queue_policy, &key_policy));
        assert!(matches!(result, Err(TidyUpError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn rounds_come_a_quarter_of_the_shorter_retention_apart_between_a_second_and_a_minute() {
        let (queue_policy, key_policy) = policies();
        assert_eq!(every(&queue_policy, &key_policy), Duration::MINUTE);
        let short = QueuePolicy { retention: Duration::seconds(8), ..queue_policy };
        assert_eq!(every(&short, &key_policy), Duration::seconds(2));
        let shortest = QueuePolicy { retention: Duration::seconds(1), ..queue_policy };
        assert_eq!(every(&shortest, &key_policy), Duration::SECOND);
    }
}
