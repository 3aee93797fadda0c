//! `frontrow catalogue import FILE.json`: put concerts on sale, or update them, from data.

use domain::ports::CatalogueRepository;
use domain::{ImportOutcome, NewConcert, StoreError};
use time::OffsetDateTime;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Concerts loaded whole.
    pub concerts_added: u32,
    /// Performances added to concerts that were there already.
    pub performances_added: u32,
}

/// Why nothing was imported.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImportCatalogueError {
    /// A performance that is on sale already would get other seats.
    #[error(
        "the performance of {concert:?} at {starts_at} has other seats than the file gives it; seat maps of \
         loaded performances cannot change (nothing was imported)"
    )]
    SeatsDiffer {
        /// The concert's key.
        concert: String,
        /// The performance's start.
        starts_at: OffsetDateTime,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loads or updates the checked `catalogue` in one atomic step (see the port).
pub async fn execute(
    catalogue: &dyn CatalogueRepository,
    concerts: &[NewConcert],
) -> Result<Imported, ImportCatalogueError> {
    match catalogue.import(concerts).await? {
        ImportOutcome::Imported { concerts_added, performances_added } => {
            Ok(Imported { concerts_added, performances_added })
        }
        ImportOutcome::SeatsDiffer { concert, starts_at } => {
            Err(ImportCatalogueError::SeatsDiffer { concert, starts_at })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{SHOW, store_down};
    use domain::ports::MockCatalogueRepository;
    use futures::executor::block_on;

    fn answering(outcome: Result<ImportOutcome, StoreError>) -> MockCatalogueRepository {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_import().times(1).return_once(move |_| outcome);
        catalogue
    }

    #[test]
    fn import_reports_what_it_added() {
        let outcome = ImportOutcome::Imported { concerts_added: 2, performances_added: 1 };
        let imported = block_on(execute(&answering(Ok(outcome)), &[])).expect("imported");
        assert_eq!(imported, Imported { concerts_added: 2, performances_added: 1 });
    }

    #[test]
    fn import_fails_with_seats_differ_naming_the_performance() {
        let outcome = ImportOutcome::SeatsDiffer { concert: "k".into(), starts_at: SHOW };
        let result = block_on(execute(&answering(Ok(outcome)), &[]));
        assert!(
            matches!(&result, Err(ImportCatalogueError::SeatsDiffer { concert, starts_at }) if concert == "k" && *starts_at == SHOW),
            "{result:?}"
        );
    }

    #[test]
    fn import_fails_with_store_when_the_store_is_down() {
        let result = block_on(execute(&answering(Err(store_down())), &[]));
        assert!(matches!(result, Err(ImportCatalogueError::Store(_))), "{result:?}");
    }
}
