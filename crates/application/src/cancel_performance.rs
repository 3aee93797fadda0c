//! `POST /admin/performances/{scheduleId}/cancel`: the box office calls a performance off.
//! Nobody can hold or buy its seats any more, live holds end, and every buyer gets their money
//! back as a refund would give it. Safe to ask again: it finishes what is left.

use domain::ports::{Clock, PaymentRepository};
use domain::{Cancellation, ScheduleId, StoreError};

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelPerformance {
    /// The performance of the path.
    pub schedule_id: i64,
}

/// Why nothing was cancelled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CancelPerformanceError {
    /// No such performance.
    #[error("performance not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The whole cancellation is the store's atomic step (see
/// [`PaymentRepository::cancel_performance`]); asking again keeps the first instant and
/// refunds whatever could not be refunded before.
pub async fn execute(
    payments: &dyn PaymentRepository,
    clock: &dyn Clock,
    command: CancelPerformance,
) -> Result<Cancellation, CancelPerformanceError> {
    let id = ScheduleId::new(command.schedule_id).map_err(|_| CancelPerformanceError::NotFound)?;
    payments.cancel_performance(id, clock.now()).await?.ok_or(CancelPerformanceError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, schedule_id, store_down};
    use domain::ports::MockPaymentRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn cancellation() -> Cancellation {
        Cancellation {
            schedule_id: schedule_id(3),
            cancelled_at: NOW,
            refunds: 2,
            refunded: 60_000,
            unrefunded: 0,
        }
    }

    #[test]
    fn a_performance_is_cancelled_at_the_clock_instant() {
        let mut payments = MockPaymentRepository::new();
        payments
            .expect_cancel_performance()
            .with(eq(schedule_id(3)), eq(NOW))
            .times(1)
            .return_once(|_, _| Ok(Some(cancellation())));
        let cancelled = block_on(execute(&payments, &clock(), CancelPerformance { schedule_id: 3 }));
        assert_eq!(cancelled.expect("cancelled"), cancellation());
    }

    #[test]
    fn an_unknown_performance_is_not_found() {
        let mut payments = MockPaymentRepository::new();
        payments.expect_cancel_performance().return_once(|_, _| Ok(None));
        let refused = block_on(execute(&payments, &clock(), CancelPerformance { schedule_id: 3 }));
        assert!(matches!(refused, Err(CancelPerformanceError::NotFound)), "{refused:?}");
    }

    #[test]
    fn an_id_that_cannot_exist_is_not_found_without_asking_the_store() {
        let payments = MockPaymentRepository::new();
        let refused = block_on(execute(&payments, &clock(), CancelPerformance { schedule_id: 0 }));
        assert!(matches!(refused, Err(CancelPerformanceError::NotFound)), "{refused:?}");
    }

    #[test]
    fn a_store_failure_is_reported_as_such() {
        let mut payments = MockPaymentRepository::new();
        payments.expect_cancel_performance().return_once(|_, _| Err(store_down()));
        let failed = block_on(execute(&payments, &clock(), CancelPerformance { schedule_id: 3 }));
        assert!(matches!(failed, Err(CancelPerformanceError::Store(_))), "{failed:?}");
    }
}
