//! The admission tick: expires finished tokens, drops abandoned places, admits the next fans.

use domain::ports::{Clock, QueueRepository};
use domain::{AdmissionReport, QueuePolicy, StoreError};

/// Why a tick failed.
#[derive(Debug, thiserror::Error)]
pub enum AdmitWaitingError {
    /// The store failed; the next tick tries again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs one tick. The store applies it atomically across instances, with the domain's
/// [`QueuePolicy::admission_slots`] deciding how many may enter.
pub async fn execute(
    queue: &dyn QueueRepository,
    clock: &dyn Clock,
    policy: &QueuePolicy,
) -> Result<AdmissionReport, AdmitWaitingError> {
    Ok(queue.admit(clock.now(), policy).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, store_down};
    use domain::ports::MockQueueRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    #[test]
    fn admit_waiting_passes_now_and_the_policy_to_admit_and_returns_its_report() {
        let policy = QueuePolicy { max_active: 50, admit_per_tick: 5, ..QueuePolicy::default() };
        let report = AdmissionReport { admitted: 5, expired: 2, dropped: 1 };
        let mut queue = MockQueueRepository::new();
        queue.expect_admit().with(eq(NOW), eq(policy)).times(1).return_once(move |_, _| Ok(report));
        let result = block_on(execute(&queue, &clock(), &policy));
        assert_eq!(result.expect("tick runs"), report);
    }

    #[test]
    fn admit_waiting_fails_with_store_when_the_store_is_down() {
        let mut queue = MockQueueRepository::new();
        queue.expect_admit().times(1).return_once(|_, _| Err(store_down()));
        let result = block_on(execute(&queue, &clock(), &QueuePolicy::default()));
        assert!(matches!(result, Err(AdmitWaitingError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
