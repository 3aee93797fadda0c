use super::*;
use domain::ports::{MockCatalogueRepository, MockReservationRepository};
use domain::{ImportOutcome, ReservationStatus, SeatNumber, StoreError, UserId, Won};
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
        // Long past on any machine's clock, which decides whether a copy must be confirmed.
        on_sale_at: datetime!(2020-01-01 00:00 UTC),
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
        price: domain::Won::new(30_000).expect("won"),
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
async fn a_free_seat_is_read_from_the_store_once_and_then_answered_from_memory() {
    let seats = cache(store_answering(vec![Ok(Some(seat(false)))]), MockReservationRepository::new());
    assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(false))));
    assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(false))));
}

#[tokio::test]
async fn a_taken_copy_never_answers_a_request_that_arrived_after_it_was_read() {
    // Released or refunded since, the store says free: a copy from before must not refuse.
    let catalogue = store_answering(vec![Ok(Some(seat(true))), Ok(Some(seat(false)))]);
    let seats = cache(catalogue, MockReservationRepository::new());
    assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(true))));
    assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(false))), "read again, and free now");
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
    let copy = seats.copy(seat_id()).expect("a copy").seat;
    assert_eq!(
        copy.hold,
        Some(SeatHold { reservation_id: reservation().id, until: NOW + Duration::minutes(5) })
    );
    assert!(!copy.is_free_at(NOW + Duration::minutes(4)));
}

#[tokio::test]
async fn a_release_here_drops_the_copy_of_its_seat() {
    let mut reservations = MockReservationRepository::new();
    reservations.expect_try_hold().times(1).returning(|_, _| Ok(Some(reservation())));
    let released = Reservation { status: ReservationStatus::Released, ..reservation() };
    let answer = released.clone();
    reservations.expect_release().times(1).return_once(move |_, _, _| Ok(Some(answer)));
    let seats = cache(store_answering(vec![Ok(Some(seat(false)))]), reservations);
    assert!(seats.seat(seat_id()).await.is_ok());
    assert!(matches!(seats.try_hold(&hold(), None).await, Ok(Some(_))));
    let holder = hold().user_id;
    assert_eq!(seats.release(reservation().id, holder, NOW).await, Ok(Some(released)));
    assert!(seats.copy(seat_id()).is_none());
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
    async fn release(
        &self,
        _: ReservationId,
        _: UserId,
        _: OffsetDateTime,
    ) -> StoreResult<Option<Reservation>> {
        unimplemented!("not asked")
    }
    async fn bookings(&self, _: UserId, _: u32) -> StoreResult<Vec<domain::Booking>> {
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
async fn holds_that_arrived_before_the_winner_asked_the_store_lose_to_it_without_asking() {
    let (seats, store) = slow_cache();
    assert!(seats.seat(seat_id()).await.is_ok());
    let hold = hold();
    // Every hold arrives while the seat's turn is taken, so before the first one can ask.
    let busy = seats.take_turn(seat_id()).await;
    let release_turn = async move {
        tokio::task::yield_now().await;
        drop(busy);
    };
    let attempts = futures::future::join_all((0..10).map(|_| seats.try_hold(&hold, None)));
    let ((), attempts) = tokio::join!(release_turn, attempts);
    let won = attempts.iter().filter(|attempt| matches!(attempt, Ok(Some(_)))).count();
    let lost = attempts.iter().filter(|attempt| matches!(attempt, Ok(None))).count();
    assert_eq!((won, lost), (1, 9));
    assert_eq!(store.asked.load(std::sync::atomic::Ordering::SeqCst), 1, "the losers never asked");
    assert!(seats.turns.lock().expect("turns").is_empty(), "no turn outlives its holds");
}

#[tokio::test]
async fn a_hold_that_arrived_after_the_winner_asked_the_store_asks_the_store_itself() {
    let (seats, store) = slow_cache();
    assert!(seats.seat(seat_id()).await.is_ok());
    assert!(matches!(seats.try_hold(&hold(), None).await, Ok(Some(_))));
    assert_eq!(seats.try_hold(&hold(), None).await, Ok(None));
    assert_eq!(store.asked.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_hold_dropped_while_with_the_store_leaves_no_turn_behind() {
    let (seats, _) = slow_cache();
    assert!(seats.seat(seat_id()).await.is_ok());
    let gave_up =
        tokio::time::timeout(std::time::Duration::from_millis(5), seats.try_hold(&hold(), None)).await;
    assert!(gave_up.is_err(), "the store takes 20 ms");
    assert!(seats.turns.lock().expect("turns").is_empty());
}

#[tokio::test]
async fn a_hold_with_an_idempotency_key_always_asks_the_store_which_records_its_answer() {
    let (seats, store) = slow_cache();
    assert!(seats.seat(seat_id()).await.is_ok());
    assert!(matches!(seats.try_hold(&hold(), None).await, Ok(Some(_))));
    let key = domain::IdempotencyKey::parse("k").expect("valid key");
    let receipt = Receipt::new(hold().user_id, key, domain::ClaimId::new(1), |_: &Option<Reservation>| None);
    assert_eq!(seats.try_hold(&hold(), Some(receipt)).await, Ok(None));
    assert_eq!(store.asked.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A catalogue whose seat reads take a while and answer `sold`; nothing else is asked of it.
#[derive(Default)]
struct SlowSeats {
    read: std::sync::atomic::AtomicUsize,
    sold: bool,
}

#[async_trait]
impl CatalogueRepository for SlowSeats {
    async fn concerts(&self) -> StoreResult<Vec<Concert>> {
        unimplemented!("not asked")
    }
    async fn concert(&self, _: ConcertId) -> StoreResult<Option<Concert>> {
        unimplemented!("not asked")
    }
    async fn schedules(&self, _: ConcertId) -> StoreResult<Vec<Schedule>> {
        unimplemented!("not asked")
    }
    async fn seats_of_schedule(&self, _: ScheduleId) -> StoreResult<Vec<Seat>> {
        unimplemented!("not asked")
    }
    async fn seats_of_concert(&self, _: ConcertId) -> StoreResult<Vec<Seat>> {
        unimplemented!("not asked")
    }
    async fn seat(&self, _: SeatId) -> StoreResult<Option<Seat>> {
        self.read.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        Ok(Some(seat(self.sold)))
    }
    async fn seed_if_empty(&self, _: &[NewConcert]) -> StoreResult<bool> {
        unimplemented!("not asked")
    }
    async fn import(&self, _: &[NewConcert]) -> StoreResult<ImportOutcome> {
        unimplemented!("not asked")
    }
    async fn sales(&self, _: OffsetDateTime) -> StoreResult<Vec<domain::PerformanceSales>> {
        unimplemented!("not asked")
    }
    async fn edit_seat(
        &self,
        _: SeatId,
        _: domain::SeatEdit,
        _: OffsetDateTime,
    ) -> StoreResult<Option<Seat>> {
        unimplemented!("not asked")
    }
}

#[tokio::test]
async fn concurrent_first_reads_of_one_seat_cost_the_store_one_read() {
    let store = Arc::new(SlowSeats::default());
    let seats = SeatCache::new(store.clone(), Arc::new(MockReservationRepository::new()));
    let reads = futures::future::join_all((0..10).map(|_| seats.seat(seat_id()))).await;
    assert!(reads.iter().all(|read| *read == Ok(Some(seat(false)))), "{reads:?}");
    assert_eq!(store.read.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(seats.turns.lock().expect("turns").is_empty(), "no turn outlives its reads");
}

#[tokio::test]
async fn reads_of_a_taken_seat_that_arrive_during_a_read_share_the_next_one() {
    let store = Arc::new(SlowSeats { sold: true, ..SlowSeats::default() });
    let seats = SeatCache::new(store.clone(), Arc::new(MockReservationRepository::new()));
    let reads = futures::future::join_all((0..10).map(|_| seats.seat(seat_id()))).await;
    assert!(reads.iter().all(|read| *read == Ok(Some(seat(true)))), "{reads:?}");
    // The first read was asked for before the other nine arrived; the second settles them all.
    assert_eq!(store.read.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_copy_of_a_seat_not_on_sale_yet_never_answers_a_request_that_arrived_after_it_was_read() {
    // The on-sale instant may have been moved earlier since: the store decides again.
    let not_yet = Seat { on_sale_at: datetime!(2999-01-01 00:00 UTC), ..seat(false) };
    let catalogue = store_answering(vec![Ok(Some(not_yet.clone())), Ok(Some(seat(false)))]);
    let seats = cache(catalogue, MockReservationRepository::new());
    assert_eq!(seats.seat(seat_id()).await, Ok(Some(not_yet)));
    assert_eq!(seats.seat(seat_id()).await, Ok(Some(seat(false))), "read again, and on sale now");
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
