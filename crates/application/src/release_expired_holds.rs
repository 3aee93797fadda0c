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
