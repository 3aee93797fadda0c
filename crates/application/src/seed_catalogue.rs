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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ON_SALE, SHOW, store_down, won};
    use domain::ports::MockCatalogueRepository;
    use domain::{NewSchedule, NewSeat, SeatNumber};
    use futures::executor::block_on;

    fn demo() -> Vec<NewConcert> {
        let seats = SeatNumber::all()
            .map(|number| NewSeat { number, zone: "R".into(), price: won(30_000) })
            .collect();
        vec![NewConcert {
            key: "demo".into(),
            title: "Demo".into(),
            artist: "Artist".into(),
            venue: "Hall".into(),
            schedules: vec![NewSchedule { starts_at: SHOW, on_sale_at: ON_SALE, seats }],
        }]
    }

    fn catalogue_answering(loaded: bool) -> MockCatalogueRepository {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue
            .expect_seed_if_empty()
            .withf(|concerts| concerts == demo())
            .times(1)
            .return_once(move |_| Ok(loaded));
        catalogue
    }

    #[test]
    fn seed_catalogue_hands_the_catalogue_to_the_store_and_says_it_loaded_it() {
        let loaded = block_on(execute(&catalogue_answering(true), &demo()));
        assert!(loaded.expect("seeding runs"));
    }

    #[test]
    fn seed_catalogue_says_so_when_the_store_already_had_concerts() {
        let loaded = block_on(execute(&catalogue_answering(false), &demo()));
        assert!(!loaded.expect("seeding runs"));
    }

    #[test]
    fn seed_catalogue_fails_with_store_when_the_store_is_down() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_seed_if_empty().return_once(|_| Err(store_down()));
        let result = block_on(execute(&catalogue, &demo()));
        assert!(matches!(result, Err(SeedCatalogueError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
