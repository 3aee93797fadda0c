//! Remembers seats that cannot be held, for exactly as long as the rules say they cannot be.
//!
//! Thousands of fans racing for one seat all read it before trying to hold it; once one of
//! them holds it, every later read says "held until T". Being taken is monotone until T: a
//! sold seat stays sold, a seat of a started show stays unbookable, and a hold ends only when
//! its time runs out (there is no early release: a payment turns it into a sale, the sweeper
//! only tidies holds that have lapsed). So a seat read as not free may be served from memory
//! while the clock says it is still not free, and the answer is the one the store would give.
//! The first read at or after T goes to the store again. Free seats are never kept, so the
//! winner of a race always decides against the store, and seat lists are never served from
//! here. If an early release is ever added (cancelling a hold), it must clear this cache on
//! every instance or this reasoning breaks.

use std::sync::Arc;

use async_trait::async_trait;
use domain::ports::{CatalogueRepository, Clock, StoreResult};
use domain::{Concert, ConcertId, NewConcert, Schedule, ScheduleId, Seat, SeatId};
use moka::future::Cache;

/// Most seats remembered (1,000 performances of 50 seats at ~200 bytes each ≈ 10 MB).
const CAPACITY: u64 = 50_000;

/// The catalogue port with seats that are not free remembered until they may be free.
pub struct TakenSeats {
    inner: Arc<dyn CatalogueRepository>,
    clock: Arc<dyn Clock>,
    taken: Cache<SeatId, Seat>,
}

impl TakenSeats {
    /// Wraps `inner`; `clock` is the one the use cases decide with.
    pub fn new(inner: Arc<dyn CatalogueRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { inner, clock, taken: Cache::builder().max_capacity(CAPACITY).build() }
    }
}

#[async_trait]
impl CatalogueRepository for TakenSeats {
    async fn concerts(&self) -> StoreResult<Vec<Concert>> {
        self.inner.concerts().await
    }

    async fn concert(&self, id: ConcertId) -> StoreResult<Option<Concert>> {
        self.inner.concert(id).await
    }

    async fn schedules(&self, concert: ConcertId) -> StoreResult<Vec<Schedule>> {
        self.inner.schedules(concert).await
    }

    async fn seats_of_schedule(&self, schedule: ScheduleId) -> StoreResult<Vec<Seat>> {
        self.inner.seats_of_schedule(schedule).await
    }

    async fn seats_of_concert(&self, concert: ConcertId) -> StoreResult<Vec<Seat>> {
        self.inner.seats_of_concert(concert).await
    }

    async fn seat(&self, id: SeatId) -> StoreResult<Option<Seat>> {
        if let Some(seat) = self.taken.get(&id).await {
            if !seat.is_free_at(self.clock.now()) {
                return Ok(Some(seat));
            }
            self.taken.invalidate(&id).await;
        }
        let seat = self.inner.seat(id).await?;
        if let Some(seat) = &seat
            && !seat.is_free_at(self.clock.now())
        {
            self.taken.insert(id, seat.clone()).await;
        }
        Ok(seat)
    }

    async fn seed_if_empty(&self, catalogue: &[NewConcert]) -> StoreResult<bool> {
        self.inner.seed_if_empty(catalogue).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ports::{MockCatalogueRepository, MockClock};
    use domain::{ReservationId, SeatHold, SeatNumber, StoreError, Won};
    use std::sync::Mutex;
    use time::macros::datetime;
    use time::{Duration, OffsetDateTime};

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn seat(sold: bool, held_for: Option<Duration>) -> Seat {
        Seat {
            id: SeatId::new(9).expect("valid id"),
            schedule_id: ScheduleId::new(3).expect("valid id"),
            concert_id: ConcertId::new(1).expect("valid id"),
            starts_at: NOW + Duration::days(30),
            number: SeatNumber::new(9).expect("valid number"),
            zone: "R".into(),
            price: Won::new(100_000).expect("valid price"),
            sold,
            hold: held_for.map(|span| SeatHold {
                reservation_id: ReservationId::new(7).expect("valid id"),
                until: NOW + span,
            }),
        }
    }

    /// A clock the test moves by hand.
    fn clock_at(now: Arc<Mutex<OffsetDateTime>>) -> Arc<dyn Clock> {
        let mut clock = MockClock::new();
        clock.expect_now().returning(move || *now.lock().expect("clock lock"));
        Arc::new(clock)
    }

    fn cached(inner: MockCatalogueRepository, now: &Arc<Mutex<OffsetDateTime>>) -> TakenSeats {
        TakenSeats::new(Arc::new(inner), clock_at(now.clone()))
    }

    async fn read_twice(seats: &TakenSeats) -> [StoreResult<Option<Seat>>; 2] {
        let id = SeatId::new(9).expect("valid id");
        [seats.seat(id).await, seats.seat(id).await]
    }

    #[tokio::test]
    async fn a_held_seat_is_read_from_the_store_once_while_its_hold_lasts() {
        let held = seat(false, Some(Duration::minutes(5)));
        let answer = held.clone();
        let mut inner = MockCatalogueRepository::new();
        inner.expect_seat().times(1).returning(move |_| Ok(Some(answer.clone())));
        let seats = cached(inner, &Arc::new(Mutex::new(NOW)));
        assert_eq!(read_twice(&seats).await, [Ok(Some(held.clone())), Ok(Some(held))]);
    }

    #[tokio::test]
    async fn a_held_seat_is_read_again_once_its_hold_has_lapsed() {
        let mut inner = MockCatalogueRepository::new();
        inner.expect_seat().times(2).returning(|_| Ok(Some(seat(false, Some(Duration::minutes(5))))));
        let now = Arc::new(Mutex::new(NOW));
        let seats = cached(inner, &now);
        assert!(seats.seat(SeatId::new(9).expect("valid id")).await.is_ok());
        *now.lock().expect("clock lock") = NOW + Duration::minutes(5);
        assert!(seats.seat(SeatId::new(9).expect("valid id")).await.is_ok());
    }

    #[tokio::test]
    async fn a_sold_seat_is_read_from_the_store_once() {
        let mut inner = MockCatalogueRepository::new();
        inner.expect_seat().times(1).returning(|_| Ok(Some(seat(true, Some(Duration::minutes(-1))))));
        let now = Arc::new(Mutex::new(NOW));
        let seats = cached(inner, &now);
        *now.lock().expect("clock lock") = NOW + Duration::days(1);
        let [first, second] = read_twice(&seats).await;
        assert_eq!(first, second);
        assert!(first.expect("read").expect("seat").sold);
    }

    #[tokio::test]
    async fn free_seats_unknown_seats_and_failures_are_always_read_from_the_store() {
        let mut inner = MockCatalogueRepository::new();
        let mut answers = vec![
            Ok(Some(seat(false, None))),
            Ok(Some(seat(false, Some(Duration::minutes(-1))))),
            Ok(None),
            Err(StoreError::Unavailable("down".into())),
        ]
        .into_iter();
        inner.expect_seat().times(4).returning(move |_| answers.next().expect("an answer per read"));
        let seats = cached(inner, &Arc::new(Mutex::new(NOW)));
        let [free, lapsed] = read_twice(&seats).await;
        assert!(free.expect("read").expect("seat").is_free_at(NOW));
        assert!(lapsed.expect("read").expect("seat").is_free_at(NOW));
        assert_eq!(read_twice(&seats).await, [Ok(None), Err(StoreError::Unavailable("down".into()))]);
    }
}
