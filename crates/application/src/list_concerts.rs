//! `GET /api/concerts`: what is on.

use domain::ports::CatalogueRepository;
use domain::{Concert, StoreError};

/// Why the list could not be given.
#[derive(Debug, thiserror::Error)]
pub enum ListConcertsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every concert, by id.
pub async fn execute(catalogue: &dyn CatalogueRepository) -> Result<Vec<Concert>, ListConcertsError> {
    Ok(catalogue.concerts().await?)
}
