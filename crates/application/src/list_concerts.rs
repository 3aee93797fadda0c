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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{concert, store_down};
    use domain::ports::MockCatalogueRepository;
    use futures::executor::block_on;

    #[test]
    fn list_concerts_returns_every_concert_as_the_store_orders_them() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concerts().times(1).return_once(|| Ok(vec![concert(1), concert(2)]));
        let concerts = block_on(execute(&catalogue)).expect("concerts are listed");
        assert_eq!(concerts, vec![concert(1), concert(2)]);
    }

    #[test]
    fn list_concerts_returns_an_empty_list_for_an_empty_catalogue() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concerts().times(1).return_once(|| Ok(Vec::new()));
        assert_eq!(block_on(execute(&catalogue)).expect("concerts are listed"), Vec::new());
    }

    #[test]
    fn list_concerts_fails_with_store_when_the_store_is_down() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concerts().return_once(|| Err(store_down()));
        let result = block_on(execute(&catalogue));
        assert!(matches!(result, Err(ListConcertsError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
