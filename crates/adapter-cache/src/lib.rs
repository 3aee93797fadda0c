//! A read-through cache in front of the catalogue port, as seed 000's caching strategy designs
//! it: the concert list, each concert, and each concert's performances are kept in process for
//! `CATALOGUE_CACHE_SECONDS`; seats — and so free-seat lists and counts — always go to the
//! store, because they change with every hold and must never be stale.
//!
//! Every instance keeps its own cache and correctness never depends on it: the catalogue only
//! changes when it is seeded (which clears this instance's cache), so the worst a stale entry
//! can do is show a concert or a performance up to the TTL late. Concurrent misses of one key
//! share one store read (moka's `try_get_with`), so a cold cache under a spike costs one query.
//!
//! [`SeatCache`] is the one cache of seats, and never of seat lists: it remembers each seat's
//! fixed facts so a hold needs no seat read, refuses a taken seat only from an answer the store
//! gave during the refused request's lifetime (so the losers of a same-seat race share one read
//! per wave), and lets the store's compare-and-set settle every seat it believes free.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{CatalogueRepository, StoreResult};
use domain::{
    Concert, ConcertId, ImportOutcome, NewConcert, PerformanceSales, Schedule, ScheduleId, Seat, SeatEdit,
    SeatId, StoreError,
};
use moka::future::Cache;

mod seat_cache;

pub use seat_cache::SeatCache;

/// Most concerts (and per-concert schedule lists) kept; unknown ids are cached too, so the
/// bound keeps a scan of random ids from growing memory.
const CAPACITY: u64 = 10_000;

/// The catalogue port with concerts and schedules cached.
pub struct CachedCatalogue {
    inner: Arc<dyn CatalogueRepository>,
    concerts: Cache<(), Vec<Concert>>,
    concert: Cache<ConcertId, Option<Concert>>,
    schedules: Cache<ConcertId, Vec<Schedule>>,
}

impl CachedCatalogue {
    /// Wraps `inner`, keeping entries for `ttl`.
    pub fn new(inner: Arc<dyn CatalogueRepository>, ttl: Duration) -> Self {
        Self {
            inner,
            concerts: Cache::builder().max_capacity(1).time_to_live(ttl).build(),
            concert: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build(),
            schedules: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build(),
        }
    }

    fn clear(&self) {
        self.concerts.invalidate_all();
        self.concert.invalidate_all();
        self.schedules.invalidate_all();
    }
}

/// Failed loads are not cached; the shared error comes back as the store's own error.
fn unshare(error: Arc<StoreError>) -> StoreError {
    (*error).clone()
}

#[async_trait]
impl CatalogueRepository for CachedCatalogue {
    async fn concerts(&self) -> StoreResult<Vec<Concert>> {
        self.concerts.try_get_with((), self.inner.concerts()).await.map_err(unshare)
    }

    async fn concert(&self, id: ConcertId) -> StoreResult<Option<Concert>> {
        self.concert.try_get_with(id, self.inner.concert(id)).await.map_err(unshare)
    }

    async fn schedules(&self, concert: ConcertId) -> StoreResult<Vec<Schedule>> {
        self.schedules.try_get_with(concert, self.inner.schedules(concert)).await.map_err(unshare)
    }

    async fn seats_of_schedule(&self, schedule: ScheduleId) -> StoreResult<Vec<Seat>> {
        self.inner.seats_of_schedule(schedule).await
    }

    async fn seats_of_concert(&self, concert: ConcertId) -> StoreResult<Vec<Seat>> {
        self.inner.seats_of_concert(concert).await
    }

    async fn seat(&self, id: SeatId) -> StoreResult<Option<Seat>> {
        self.inner.seat(id).await
    }

    async fn seed_if_empty(&self, catalogue: &[NewConcert]) -> StoreResult<bool> {
        let seeded = self.inner.seed_if_empty(catalogue).await;
        self.clear();
        seeded
    }

    async fn sales(&self, at: time::OffsetDateTime) -> StoreResult<Vec<PerformanceSales>> {
        self.inner.sales(at).await
    }

    async fn import(&self, catalogue: &[NewConcert]) -> StoreResult<ImportOutcome> {
        let imported = self.inner.import(catalogue).await;
        self.clear();
        imported
    }

    async fn edit_seat(
        &self,
        seat: SeatId,
        edit: SeatEdit,
        at: time::OffsetDateTime,
    ) -> StoreResult<Option<Seat>> {
        self.inner.edit_seat(seat, edit, at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ports::MockCatalogueRepository;
    use time::macros::datetime;

    fn concert() -> Concert {
        Concert {
            id: ConcertId::new(1).expect("valid id"),
            title: "Aurora".into(),
            artist: "Lanterns".into(),
            venue: "Hall".into(),
        }
    }

    fn cached(inner: MockCatalogueRepository, ttl: Duration) -> CachedCatalogue {
        CachedCatalogue::new(Arc::new(inner), ttl)
    }

    #[tokio::test]
    async fn the_concert_list_is_read_from_the_store_once_within_the_ttl() {
        let mut inner = MockCatalogueRepository::new();
        inner.expect_concerts().times(1).returning(|| Ok(vec![concert()]));
        let catalogue = cached(inner, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(catalogue.concerts().await, Ok(vec![concert()]));
        }
    }

    #[tokio::test]
    async fn entries_are_read_again_after_the_ttl() {
        let mut inner = MockCatalogueRepository::new();
        inner.expect_concerts().times(2).returning(|| Ok(vec![concert()]));
        let catalogue = cached(inner, Duration::from_millis(50));
        assert!(catalogue.concerts().await.is_ok());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(catalogue.concerts().await.is_ok());
    }

    #[tokio::test]
    async fn concerts_and_schedules_are_cached_per_concert() {
        let id = ConcertId::new(1).expect("valid id");
        let schedule = Schedule {
            id: ScheduleId::new(3).expect("valid id"),
            concert_id: id,
            starts_at: datetime!(2030-01-01 19:00 UTC),
            on_sale_at: datetime!(2029-12-01 12:00 UTC),
        };
        let listed = schedule.clone();
        let mut inner = MockCatalogueRepository::new();
        inner.expect_concert().times(1).returning(|_| Ok(Some(concert())));
        inner.expect_schedules().times(1).returning(move |_| Ok(vec![listed.clone()]));
        let catalogue = cached(inner, Duration::from_secs(60));
        for _ in 0..2 {
            assert_eq!(catalogue.concert(id).await, Ok(Some(concert())));
            assert_eq!(catalogue.schedules(id).await, Ok(vec![schedule.clone()]));
        }
    }

    #[tokio::test]
    async fn seats_are_never_cached() {
        let mut inner = MockCatalogueRepository::new();
        inner.expect_seats_of_schedule().times(2).returning(|_| Ok(vec![]));
        inner.expect_seats_of_concert().times(2).returning(|_| Ok(vec![]));
        inner.expect_seat().times(2).returning(|_| Ok(None));
        let catalogue = cached(inner, Duration::from_secs(60));
        for _ in 0..2 {
            assert!(catalogue.seats_of_schedule(ScheduleId::new(3).expect("valid id")).await.is_ok());
            assert!(catalogue.seats_of_concert(ConcertId::new(1).expect("valid id")).await.is_ok());
            assert!(catalogue.seat(SeatId::new(9).expect("valid id")).await.is_ok());
        }
    }

    #[tokio::test]
    async fn store_failures_are_passed_on_and_not_cached() {
        let mut inner = MockCatalogueRepository::new();
        let mut calls = 0;
        inner.expect_concerts().times(2).returning(move || {
            calls += 1;
            if calls == 1 { Err(StoreError::Unavailable("down".into())) } else { Ok(vec![concert()]) }
        });
        let catalogue = cached(inner, Duration::from_secs(60));
        assert_eq!(catalogue.concerts().await, Err(StoreError::Unavailable("down".into())));
        assert_eq!(catalogue.concerts().await, Ok(vec![concert()]));
    }

    #[tokio::test]
    async fn seeding_clears_the_cache() {
        let mut inner = MockCatalogueRepository::new();
        inner.expect_concerts().times(2).returning(|| Ok(vec![]));
        inner.expect_seed_if_empty().times(1).returning(|_| Ok(true));
        let catalogue = cached(inner, Duration::from_secs(60));
        assert_eq!(catalogue.concerts().await, Ok(vec![]));
        assert_eq!(catalogue.seed_if_empty(&[]).await, Ok(true));
        assert_eq!(catalogue.concerts().await, Ok(vec![]));
    }
}
