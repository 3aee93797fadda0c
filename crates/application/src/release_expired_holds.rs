//! The hold sweeper: tidies lapsed holds. Correctness never waits for it, because every rule
//! decides expiry from the clock at read time; it keeps stored statuses honest for reports.

use domain::StoreError;
use domain::ports::{Clock, ReservationRepository};

/// Why a sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseExpiredHoldsError {
    /// The store failed; the next sweep tries again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Marks lapsed holds expired and frees their seats; returns how many.
pub async fn execute(
    reservations: &dyn ReservationRepository,
    clock: &dyn Clock,
) -> Result<u64, ReleaseExpiredHoldsError> {
    Ok(reservations.release_expired(clock.now()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, store_down};
    use domain::ports::MockReservationRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    #[test]
    fn release_expired_holds_sweeps_as_of_now_and_returns_how_many() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_release_expired().with(eq(NOW)).times(1).return_once(|_| Ok(3));
        assert_eq!(block_on(execute(&reservations, &clock())).expect("sweep runs"), 3);
    }

    #[test]
    fn release_expired_holds_fails_with_store_when_the_store_is_down() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_release_expired().return_once(|_| Err(store_down()));
        let result = block_on(execute(&reservations, &clock()));
        assert!(
            matches!(result, Err(ReleaseExpiredHoldsError::Store(StoreError::Unavailable(_)))),
            "{result:?}"
        );
    }
}
