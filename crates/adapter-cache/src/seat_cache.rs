//! What this instance knows about seats, so a hold usually costs one round trip: the
//! compare-and-set itself.
//!
//! A hold needs the seat's fixed facts (its concert, when its show starts, its name and price)
//! and, to refuse early, its sale state. The fixed facts never change, so every seat read
//! through this instance one at a time, or 50 at a time by a performance's seat list (what a
//! fan picks a seat from), is remembered; a concert's whole seat list (read for its available
//! dates, on every dates request) is passed through untouched, as it leads to no hold. The
//! sale state of a copy is worth two different things:
//! - **taken** (sold, held, or its show started) is exact while the clock says so: a sold seat
//!   stays sold and a hold ends only when its time runs out (there is no early release; a
//!   payment turns it into a sale, the sweeper only tidies lapsed holds). So the losers of a
//!   same-seat race are refused from memory, with the answer the store would give;
//! - **free** may be out of date (another fan or instance may have taken it since). That is
//!   harmless because the only thing a free answer leads to is `try_hold`, the store's
//!   compare-and-set, which decides against the database. When it refuses, the copy is
//!   dropped, so the next read asks the store and learns (exactly) that the seat is taken; when
//!   it succeeds, the copy becomes the hold just taken.
//!
//! Holds of one seat through this instance take turns: while one is with the store, the others
//! wait for its answer, and if it took the seat they are refused from the copy instead of
//! queueing in the database behind its row lock (the first wave of a same-seat race would
//! otherwise hold every pooled connection for the length of that queue, and every other request
//! of the instance would wait for one). A hold with an idempotency key always goes to the store,
//! which records its answer with it.
//!
//! Seat lists (`seats_of_schedule`, `seats_of_concert`) always come from the store: free-seat
//! lists and counts are never served from here. If an early release is ever added (cancelling
//! a hold), it must clear this cache on every instance or the reasoning above breaks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use domain::ports::{CatalogueRepository, ReservationRepository, StoreResult};
use domain::{
    Concert, ConcertId, NewConcert, NewHold, Receipt, Reservation, ReservationId, Schedule, ScheduleId, Seat,
    SeatHold, SeatId, UserId,
};
use time::OffsetDateTime;

/// Most seats remembered (1,000 performances of 50 seats at ~200 bytes each ≈ 10 MB); past it
/// the map starts over, which only costs reads. A plain map under a lock, not moka: a seat
/// list stores 50 copies at a time, and moka's per-entry bookkeeping doubled a list's CPU.
const CAPACITY: usize = 50_000;

/// The catalogue and reservation ports with seats remembered (see the module docs). Plug the
/// same value into both ports: a hold's outcome is what keeps the copies honest.
pub struct SeatCache {
    catalogue: Arc<dyn CatalogueRepository>,
    reservations: Arc<dyn ReservationRepository>,
    seats: RwLock<HashMap<SeatId, Seat>>,
    /// One turn per seat with holds in flight; an entry lives only while someone holds or
    /// waits for its turn.
    turns: Mutex<HashMap<SeatId, Arc<tokio::sync::Mutex<()>>>>,
}

impl SeatCache {
    /// Wraps the store's two ports.
    pub fn new(
        catalogue: Arc<dyn CatalogueRepository>,
        reservations: Arc<dyn ReservationRepository>,
    ) -> Self {
        Self { catalogue, reservations, seats: RwLock::new(HashMap::new()), turns: Mutex::default() }
    }

    /// The turn of `seat`'s holds, shared with every hold of it in flight here.
    fn turn_of(&self, seat: SeatId) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(turns.entry(seat).or_default())
    }

    /// Forgets `seat`'s turn once nobody else holds or waits for it (every clone is taken
    /// under the map's lock, so none can appear meanwhile).
    fn done_with(&self, seat: SeatId, turn: Arc<tokio::sync::Mutex<()>>) {
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::strong_count(&turn) == 2 {
            turns.remove(&seat);
        }
    }

    fn remember(&self, seats: &[Seat]) {
        let mut map = self.map_mut();
        if map.len() + seats.len() > CAPACITY {
            map.clear();
        }
        for seat in seats {
            map.insert(seat.id, seat.clone());
        }
    }

    fn copy(&self, id: SeatId) -> Option<Seat> {
        self.seats.read().unwrap_or_else(PoisonError::into_inner).get(&id).cloned()
    }

    /// Asks the store, and makes the copy what it answered.
    async fn hold_in_store(
        &self,
        hold: &NewHold,
        receipt: Option<Receipt<Option<Reservation>>>,
    ) -> StoreResult<Option<Reservation>> {
        let outcome = self.reservations.try_hold(hold, receipt).await;
        match &outcome {
            Ok(Some(reservation)) => {
                if let Some(copy) = self.map_mut().get_mut(&hold.seat_id) {
                    copy.hold =
                        Some(SeatHold { reservation_id: reservation.id, until: reservation.expires_at });
                }
            }
            Ok(None) | Err(_) => {
                self.map_mut().remove(&hold.seat_id);
            }
        }
        outcome
    }

    fn map_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SeatId, Seat>> {
        self.seats.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl CatalogueRepository for SeatCache {
    async fn concerts(&self) -> StoreResult<Vec<Concert>> {
        self.catalogue.concerts().await
    }

    async fn concert(&self, id: ConcertId) -> StoreResult<Option<Concert>> {
        self.catalogue.concert(id).await
    }

    async fn schedules(&self, concert: ConcertId) -> StoreResult<Vec<Schedule>> {
        self.catalogue.schedules(concert).await
    }

    async fn seats_of_schedule(&self, schedule: ScheduleId) -> StoreResult<Vec<Seat>> {
        let seats = self.catalogue.seats_of_schedule(schedule).await?;
        self.remember(&seats);
        Ok(seats)
    }

    async fn seats_of_concert(&self, concert: ConcertId) -> StoreResult<Vec<Seat>> {
        self.catalogue.seats_of_concert(concert).await
    }

    /// A remembered copy if there is one: exact when it says taken, possibly out of date when
    /// it says free (see the module docs; `try_hold` settles that).
    async fn seat(&self, id: SeatId) -> StoreResult<Option<Seat>> {
        if let Some(copy) = self.copy(id) {
            return Ok(Some(copy));
        }
        let seat = self.catalogue.seat(id).await?;
        if let Some(seat) = &seat {
            self.remember(std::slice::from_ref(seat));
        }
        Ok(seat)
    }

    async fn seed_if_empty(&self, catalogue: &[NewConcert]) -> StoreResult<bool> {
        self.catalogue.seed_if_empty(catalogue).await
    }
}

#[async_trait]
impl ReservationRepository for SeatCache {
    /// The store decides; its answer updates the copy: the hold just taken, or (refused) no
    /// copy, so the next read learns from the store what took the seat. Holds of one seat take
    /// turns (see the module docs): one that waited for a hold that took the seat is refused
    /// from the copy, exactly as the store would refuse it.
    async fn try_hold(
        &self,
        hold: &NewHold,
        receipt: Option<Receipt<Option<Reservation>>>,
    ) -> StoreResult<Option<Reservation>> {
        let turn = self.turn_of(hold.seat_id);
        let my_turn = turn.lock().await;
        let taken = || self.copy(hold.seat_id).is_some_and(|copy| !copy.is_free_at(hold.held_at));
        let outcome =
            if receipt.is_none() && taken() { Ok(None) } else { self.hold_in_store(hold, receipt).await };
        drop(my_turn);
        self.done_with(hold.seat_id, turn);
        outcome
    }

    async fn reservation(&self, id: ReservationId) -> StoreResult<Option<Reservation>> {
        self.reservations.reservation(id).await
    }

    async fn live_holds(&self, user: UserId, at: OffsetDateTime) -> StoreResult<u64> {
        self.reservations.live_holds(user, at).await
    }

    async fn release_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        self.reservations.release_expired(now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ports::{MockCatalogueRepository, MockReservationRepository};
    use domain::{ReservationStatus, SeatNumber, StoreError, UserId, Won};
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn seat_id() -> SeatId {
        SeatId::new(9).expect("valid id")
    }

    fn seat(sold: bool) -> Seat {
        Seat {
            id: seat_id(),
            schedule_id: ScheduleId::new(3).expect("valid id"),
            concert_id: ConcertId::new(1).expect("valid id"),
            starts_at: NOW + Duration::days(30),
            number: SeatNumber::new(9).expect("valid number"),
            zone: "R".into(),
            price: Won::new(100_000).expect("valid price"),
            sold,
            hold: None,
        }
    }

    fn hold() -> NewHold {
        let free = seat(false);
        NewHold {
            seat_id: free.id,
            concert_id: free.concert_id,
            seat_name: free.name(),
            price: free.price,
            user_id: UserId::new(5).expect("valid id"),
            held_at: NOW,
            until: NOW + Duration::minutes(5),
            max_live_holds: 0,
        }
    }

    fn reservation() -> Reservation {
        let hold = hold();
        Reservation {
            id: ReservationId::new(77).expect("valid id"),
            user_id: hold.user_id,
            seat_id: hold.seat_id,
            concert_id: hold.concert_id,
            seat_name: hold.seat_name,
            price: hold.price,
            status: ReservationStatus::Held,
            reserved_at: hold.held_at,
            expires_at: hold.until,
        }
    }

    fn cache(catalogue: MockCatalogueRepository, reservations: MockReservationRepository) -> SeatCache {
        SeatCache::new(Arc::new(catalogue), Arc::new(reservations))
    }

    fn store_answering(answers: Vec<StoreResult<Option<Seat>>>) -> MockCatalogueRepository {
        let mut catalogue = MockCatalogueRepository::new();
        let times = answers.len();
        let mut answers = answers.into_iter();
        catalogue.expect_seat().times(times).returning(move |_| answers.next().expect("an answer per read"));
        catalogue
    }

    #[tokio::test]
    async fn a_seat_is_read_from_the_store_once_and_then_answered_from_memory() {
        let seats = cache(store_answering(vec![Ok(Some(seat(true)))]), MockReservationRepository::new());
        assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(true))));
        assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(true))));
    }

    #[tokio::test]
    async fn seat_lists_always_come_from_the_store_and_spare_the_hold_its_seat_read() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_seats_of_schedule().times(2).returning(|_| Ok(vec![seat(false)]));
        let seats = cache(catalogue, MockReservationRepository::new());
        for _ in 0..2 {
            assert_eq!(
                seats.seats_of_schedule(ScheduleId::new(3).expect("valid id")).await,
                Ok(vec![seat(false)])
            );
        }
        assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(false))), "no store read expected");
    }

    #[tokio::test]
    async fn a_concerts_seat_list_is_passed_through_and_not_remembered() {
        let mut catalogue = store_answering(vec![Ok(Some(seat(true)))]);
        catalogue.expect_seats_of_concert().times(1).returning(|_| Ok(vec![seat(false)]));
        let seats = cache(catalogue, MockReservationRepository::new());
        let concert = ConcertId::new(1).expect("valid id");
        assert_eq!(seats.seats_of_concert(concert).await, Ok(vec![seat(false)]));
        assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(true))), "the seat is read from the store");
    }

    #[tokio::test]
    async fn a_refused_hold_drops_the_copy_so_the_next_read_asks_the_store() {
        let catalogue = store_answering(vec![Ok(Some(seat(false))), Ok(Some(seat(true)))]);
        let mut reservations = MockReservationRepository::new();
        reservations.expect_try_hold().times(1).returning(|_, _| Ok(None));
        let seats = cache(catalogue, reservations);
        assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(false))));
        assert_eq!(seats.try_hold(&hold(), None).await, Ok(None));
        assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(true))), "the store says sold");
    }

    #[tokio::test]
    async fn a_hold_taken_here_becomes_the_copy() {
        let mut reservations = MockReservationRepository::new();
        reservations.expect_try_hold().times(1).returning(|_, _| Ok(Some(reservation())));
        let seats = cache(store_answering(vec![Ok(Some(seat(false)))]), reservations);
        assert!(seats.seat(seat_id()).await.is_ok());
        assert_eq!(seats.try_hold(&hold(), None).await, Ok(Some(reservation())));
        let copy = seats.seat(seat_id()).await.expect("read").expect("seat");
        assert_eq!(
            copy.hold,
            Some(SeatHold { reservation_id: reservation().id, until: NOW + Duration::minutes(5) })
        );
        assert!(!copy.is_free_at(NOW + Duration::minutes(4)));
    }

    /// A store whose holds take a while: the first one takes the seat, any later one is refused.
    #[derive(Default)]
    struct SlowHolds {
        asked: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl ReservationRepository for SlowHolds {
        async fn try_hold(
            &self,
            _: &NewHold,
            _: Option<Receipt<Option<Reservation>>>,
        ) -> StoreResult<Option<Reservation>> {
            let before = self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok((before == 0).then(reservation))
        }
        async fn reservation(&self, _: ReservationId) -> StoreResult<Option<Reservation>> {
            unimplemented!("not asked")
        }
        async fn live_holds(&self, _: UserId, _: OffsetDateTime) -> StoreResult<u64> {
            unimplemented!("not asked")
        }
        async fn release_expired(&self, _: OffsetDateTime) -> StoreResult<u64> {
            unimplemented!("not asked")
        }
    }

    fn slow_cache() -> (SeatCache, Arc<SlowHolds>) {
        let store = Arc::new(SlowHolds::default());
        let seats = SeatCache::new(Arc::new(store_answering(vec![Ok(Some(seat(false)))])), store.clone());
        (seats, store)
    }

    #[tokio::test]
    async fn holds_of_one_seat_wait_for_the_one_in_the_store_and_lose_to_it_without_asking() {
        let (seats, store) = slow_cache();
        assert!(seats.seat(seat_id()).await.is_ok());
        let hold = hold();
        let attempts = futures::future::join_all((0..10).map(|_| seats.try_hold(&hold, None))).await;
        let won = attempts.iter().filter(|attempt| matches!(attempt, Ok(Some(_)))).count();
        let lost = attempts.iter().filter(|attempt| matches!(attempt, Ok(None))).count();
        assert_eq!((won, lost), (1, 9));
        assert_eq!(store.asked.load(std::sync::atomic::Ordering::SeqCst), 1, "the losers never asked");
        assert!(seats.turns.lock().expect("turns").is_empty(), "no turn outlives its holds");
    }

    #[tokio::test]
    async fn a_hold_with_an_idempotency_key_always_asks_the_store_which_records_its_answer() {
        let (seats, store) = slow_cache();
        assert!(seats.seat(seat_id()).await.is_ok());
        assert!(matches!(seats.try_hold(&hold(), None).await, Ok(Some(_))));
        let key = domain::IdempotencyKey::parse("k").expect("valid key");
        let receipt =
            Receipt::new(hold().user_id, key, domain::ClaimId::new(1), |_: &Option<Reservation>| None);
        assert_eq!(seats.try_hold(&hold(), Some(receipt)).await, Ok(None));
        assert_eq!(store.asked.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn unknown_seats_and_failures_are_not_remembered() {
        let down = StoreError::Unavailable("down".into());
        let catalogue = store_answering(vec![Ok(None), Err(down.clone()), Ok(None)]);
        let seats = cache(catalogue, MockReservationRepository::new());
        assert_eq!(seats.seat(seat_id()).await, Ok(None));
        assert_eq!(seats.seat(seat_id()).await, Err(down));
        assert_eq!(seats.seat(seat_id()).await, Ok(None));
    }
}
