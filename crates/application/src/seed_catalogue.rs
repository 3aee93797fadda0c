//! Loads a catalogue (the demo one, say) into an empty store.

use domain::ports::CatalogueRepository;
use domain::{NewConcert, StoreError};

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedCatalogueError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loads `catalogue` unless concerts exist already; says whether it did.
pub async fn execute(
    catalogue: &dyn CatalogueRepository,
    concerts: &[NewConcert],
) -> Result<bool, SeedCatalogueError> {
    Ok(catalogue.seed_if_empty(concerts).await?)
}
