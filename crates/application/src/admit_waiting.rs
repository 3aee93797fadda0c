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
