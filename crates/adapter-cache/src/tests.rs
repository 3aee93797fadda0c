use std::sync::Mutex;

use domain::ports::MockCatalogueRepository;
use time::macros::datetime;

use super::*;

/// A catalogue nobody else writes: its epoch never moves.
struct Unchanging;

impl Freshness for Unchanging {
    fn epoch(&self) -> Option<u64> {
        Some(0)
    }
}

fn concert(title: &str) -> Concert {
    Concert {
        id: ConcertId::new(1).expect("valid id"),
        title: title.into(),
        artist: "Lanterns".into(),
        venue: "Hall".into(),
    }
}

fn schedule() -> Schedule {
    Schedule {
        id: ScheduleId::new(3).expect("valid id"),
        concert_id: ConcertId::new(1).expect("valid id"),
        starts_at: datetime!(2030-01-01 19:00 UTC),
        on_sale_at: datetime!(2029-12-01 12:00 UTC),
    }
}

/// An epoch the test moves by hand, as pushed changes would.
struct Epoch(Mutex<Option<u64>>);

impl Epoch {
    fn at(epoch: Option<u64>) -> Arc<Epoch> {
        Arc::new(Epoch(Mutex::new(epoch)))
    }

    fn set(&self, epoch: Option<u64>) {
        *self.0.lock().expect("not poisoned") = epoch;
    }
}

impl Freshness for Epoch {
    fn epoch(&self) -> Option<u64> {
        *self.0.lock().expect("not poisoned")
    }
}

fn cached(inner: MockCatalogueRepository, freshness: Arc<dyn Freshness>, ttl: Duration) -> CachedCatalogue {
    CachedCatalogue::new(Arc::new(inner), freshness, ttl)
}

/// A store expecting the list to be read `lists` times, and the concert and its performances
/// `each` times.
fn store_read(lists: usize, each: usize) -> MockCatalogueRepository {
    let mut inner = MockCatalogueRepository::new();
    inner.expect_concerts().times(lists).returning(|| Ok(vec![concert("Aurora")]));
    inner.expect_concert().times(each).returning(|_| Ok(Some(concert("Aurora"))));
    inner.expect_schedules().times(each).returning(|_| Ok(vec![schedule()]));
    inner
}

/// Reads the list, then the concert and its performances (as a concert's dates do), `times`
/// times.
async fn read_all(catalogue: &CachedCatalogue, times: usize) {
    let id = ConcertId::new(1).expect("valid id");
    for _ in 0..times {
        assert_eq!(catalogue.concerts().await, Ok(vec![concert("Aurora")]));
        assert_eq!(catalogue.concert(id).await, Ok(Some(concert("Aurora"))));
        assert_eq!(catalogue.schedules(id).await, Ok(vec![schedule()]));
    }
}

/// Cached for a minute at a fixed epoch.
fn steady(inner: MockCatalogueRepository) -> CachedCatalogue {
    cached(inner, Arc::new(Unchanging), Duration::from_secs(60))
}

#[tokio::test]
async fn entries_are_read_again_after_the_ttl() {
    let mut inner = MockCatalogueRepository::new();
    inner.expect_concerts().times(2).returning(|| Ok(vec![concert("Aurora")]));
    let catalogue = cached(inner, Arc::new(Unchanging), Duration::from_millis(50));
    assert!(catalogue.concerts().await.is_ok());
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(catalogue.concerts().await.is_ok());
}

#[tokio::test]
async fn the_list_each_concert_and_its_performances_are_read_once_while_the_epoch_holds() {
    read_all(&steady(store_read(1, 1)), 3).await;
}

#[tokio::test]
async fn seats_are_never_cached() {
    let mut inner = MockCatalogueRepository::new();
    inner.expect_seats_of_schedule().times(2).returning(|_| Ok(vec![]));
    inner.expect_seats_of_concert().times(2).returning(|_| Ok(vec![]));
    inner.expect_seat().times(2).returning(|_| Ok(None));
    let catalogue = steady(inner);
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
        if calls == 1 { Err(StoreError::Unavailable("down".into())) } else { Ok(vec![concert("Aurora")]) }
    });
    let catalogue = steady(inner);
    assert_eq!(catalogue.concerts().await, Err(StoreError::Unavailable("down".into())));
    assert_eq!(catalogue.concerts().await, Ok(vec![concert("Aurora")]));
}

#[tokio::test]
async fn a_first_load_and_an_import_through_this_instance_empty_the_cache() {
    let mut inner = MockCatalogueRepository::new();
    inner.expect_concerts().times(3).returning(|| Ok(vec![]));
    inner.expect_seed_if_empty().times(1).returning(|_| Ok(true));
    inner
        .expect_import()
        .times(1)
        .returning(|_| Ok(ImportOutcome::Imported { concerts_added: 0, performances_added: 0 }));
    let catalogue = steady(inner);
    assert_eq!(catalogue.concerts().await, Ok(vec![]));
    assert_eq!(catalogue.seed_if_empty(&[]).await, Ok(true));
    assert_eq!(catalogue.concerts().await, Ok(vec![]));
    assert!(catalogue.import(&[]).await.is_ok());
    assert_eq!(catalogue.concerts().await, Ok(vec![]));
}

#[tokio::test]
async fn a_new_epoch_sends_the_next_read_of_every_entry_to_the_store() {
    let epoch = Epoch::at(Some(7));
    let catalogue = cached(store_read(2, 2), epoch.clone(), Duration::from_secs(3600));
    read_all(&catalogue, 2).await;
    epoch.set(Some(8));
    read_all(&catalogue, 2).await;
}

#[tokio::test]
async fn every_read_goes_to_the_store_while_there_is_no_epoch() {
    let epoch = Epoch::at(None);
    let catalogue = cached(store_read(4, 4), epoch.clone(), Duration::from_secs(3600));
    read_all(&catalogue, 3).await;
    // Listening again: the first reads are cached, the next ones served from them.
    epoch.set(Some(1));
    read_all(&catalogue, 2).await;
}

/// A store whose concert list answers only once the test lets it, and names the concert after
/// the read's number: a load can be caught under way.
struct Slow {
    reads: std::sync::atomic::AtomicUsize,
    gate: tokio::sync::Semaphore,
}

impl Slow {
    /// Closed until the test adds permits.
    fn closed() -> Slow {
        Slow { reads: Default::default(), gate: tokio::sync::Semaphore::new(0) }
    }
}

#[async_trait]
impl CatalogueRepository for Slow {
    async fn concerts(&self) -> StoreResult<Vec<Concert>> {
        let read = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        let _let_through = self.gate.acquire().await.expect("the gate stays open");
        Ok(vec![concert(&format!("read {read}"))])
    }

    async fn concert(&self, _: ConcertId) -> StoreResult<Option<Concert>> {
        unreachable!("only the list is read")
    }

    async fn schedules(&self, _: ConcertId) -> StoreResult<Vec<Schedule>> {
        unreachable!("only the list is read")
    }

    async fn seats_of_schedule(&self, _: ScheduleId) -> StoreResult<Vec<Seat>> {
        unreachable!("only the list is read")
    }

    async fn seats_of_concert(&self, _: ConcertId) -> StoreResult<Vec<Seat>> {
        unreachable!("only the list is read")
    }

    async fn seat(&self, _: SeatId) -> StoreResult<Option<Seat>> {
        unreachable!("only the list is read")
    }

    async fn seed_if_empty(&self, _: &[NewConcert]) -> StoreResult<bool> {
        unreachable!("only the list is read")
    }

    async fn sales(&self, _: time::OffsetDateTime) -> StoreResult<Vec<PerformanceSales>> {
        unreachable!("only the list is read")
    }

    async fn import(&self, _: &[NewConcert]) -> StoreResult<ImportOutcome> {
        unreachable!("only the list is read")
    }

    async fn edit_seat(&self, _: SeatId, _: SeatEdit, _: time::OffsetDateTime) -> StoreResult<Option<Seat>> {
        unreachable!("only the list is read")
    }
}

/// Waits until `store` has been asked for the list `n` times.
async fn until_read(store: &Slow, n: usize) {
    while store.reads.load(Ordering::SeqCst) < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_load_that_began_before_a_new_epoch_is_not_served_after_it() {
    let store = Arc::new(Slow::closed());
    let epoch = Epoch::at(Some(1));
    let catalogue = CachedCatalogue::new(store.clone(), epoch.clone(), Duration::from_secs(3600));
    let before = catalogue.concerts();
    let after = async {
        until_read(&store, 1).await;
        // The change commits, and is heard, while the first load is under way.
        epoch.set(Some(2));
        catalogue.concerts().await
    };
    let open = async {
        until_read(&store, 2).await;
        store.gate.add_permits(2);
    };
    let both = async { tokio::join!(before, after, open) };
    let (before, after, ()) =
        tokio::time::timeout(Duration::from_secs(5), both).await.expect("a read after the change loads anew");
    assert_eq!(before, Ok(vec![concert("read 1")]), "the reader that began first");
    assert_eq!(after, Ok(vec![concert("read 2")]), "the reader after the change");
    assert_eq!(catalogue.concerts().await, Ok(vec![concert("read 2")]), "served from the cache");
    assert_eq!(store.reads.load(Ordering::SeqCst), 2);
}
