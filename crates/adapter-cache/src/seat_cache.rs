//! What this instance knows about seats, so a hold usually costs one round trip: the
//! compare-and-set itself, and the losers of a same-seat race none. The rule that keeps it
//! exact is in `docs/architecture.md` ("Seats: copies that refuse only what they saw"); in
//! short, a copy saying *taken* refuses a request only if the store's answer it comes from was
//! asked for after that request arrived, so a refusal always rests on what the store said
//! during the request's own lifetime, whoever released or refunded the seat before. A copy
//! saying *free* may be out of date and needs no such care: it only ever leads to `try_hold`,
//! the store's compare-and-set.
//!
//! Holds and confirming reads of one seat through this instance take turns: while one is with
//! the store, the others wait for its answer and, if it took the seat or found it taken, are
//! refused from it instead of queueing in the database behind the seat's row lock (the first
//! wave of a same-seat race would otherwise hold every pooled connection for the length of that
//! queue). A hold with an idempotency key always goes to the store, which records its answer
//! with it. Seat lists always come from the store; the 50 seats of a performance's list are
//! remembered, a concert's whole list (read for its dates) passes through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use domain::ports::{CatalogueRepository, ReservationRepository, StoreResult};
use domain::{
    Booking, Concert, ConcertId, ImportOutcome, NewConcert, NewHold, PerformanceSales, Receipt, Reservation,
    ReservationId, Schedule, ScheduleId, Seat, SeatEdit, SeatHold, SeatId, UserId,
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
    seats: RwLock<HashMap<SeatId, Known>>,
    /// One turn per seat with reads or holds in flight ([`Turn`]).
    turns: Mutex<HashMap<SeatId, Arc<tokio::sync::Mutex<()>>>>,
}

/// A seat as the store answered, and when that answer was asked for.
#[derive(Debug, Clone)]
struct Known {
    seat: Seat,
    asked: Instant,
}

impl Known {
    /// Whether this copy may answer a request that arrived at `arrived`: it comes from an
    /// answer asked for since then, or it cannot lead to a refusal (unsold, under no hold, on
    /// sale already: a free answer only leads to the store's compare-and-set).
    fn settles(&self, arrived: Instant) -> bool {
        let may_refuse = self.seat.sold
            || self.seat.hold.is_some()
            || !self.seat.is_on_sale_at(time::OffsetDateTime::now_utc());
        self.asked >= arrived || !may_refuse
    }
}

impl SeatCache {
    /// Wraps the store's two ports.
    pub fn new(
        catalogue: Arc<dyn CatalogueRepository>,
        reservations: Arc<dyn ReservationRepository>,
    ) -> Self {
        Self { catalogue, reservations, seats: RwLock::new(HashMap::new()), turns: Mutex::default() }
    }

    /// Waits for `seat`'s turn; it is held until the [`Turn`] is dropped.
    async fn take_turn(&self, seat: SeatId) -> Turn<'_> {
        let shared = {
            let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(turns.entry(seat).or_default())
        };
        // Built before the wait, so a request dropped while waiting still cleans up.
        let mut turn = Turn { cache: self, seat, shared, held: None };
        turn.held = Some(Arc::clone(&turn.shared).lock_owned().await);
        turn
    }

    /// Stores what the store answered to a read asked for at `asked`, unless a copy from a
    /// later answer is there already.
    fn remember(&self, seats: &[Seat], asked: Instant) {
        let mut map = self.map_mut();
        if map.len() + seats.len() > CAPACITY {
            map.clear();
        }
        for seat in seats {
            let answer = Known { seat: seat.clone(), asked };
            map.entry(seat.id)
                .and_modify(|known| {
                    if known.asked <= asked {
                        *known = answer.clone();
                    }
                })
                .or_insert(answer);
        }
    }

    fn copy(&self, id: SeatId) -> Option<Known> {
        self.seats.read().unwrap_or_else(PoisonError::into_inner).get(&id).cloned()
    }

    /// Asks the store, and makes the copy what it answered.
    async fn hold_in_store(
        &self,
        hold: &NewHold,
        receipt: Option<Receipt<Option<Reservation>>>,
    ) -> StoreResult<Option<Reservation>> {
        let asked = Instant::now();
        let outcome = self.reservations.try_hold(hold, receipt).await;
        match &outcome {
            Ok(Some(reservation)) => {
                if let Some(copy) = self.map_mut().get_mut(&hold.seat_id) {
                    copy.seat.hold =
                        Some(SeatHold { reservation_id: reservation.id, until: reservation.expires_at });
                    copy.asked = copy.asked.max(asked);
                }
            }
            Ok(None) | Err(_) => {
                self.map_mut().remove(&hold.seat_id);
            }
        }
        outcome
    }

    fn map_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SeatId, Known>> {
        self.seats.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One seat's turn, held or awaited. The last one dropped, however its request ended, removes
/// the seat's entry, so the map holds only seats with requests in flight.
struct Turn<'a> {
    cache: &'a SeatCache,
    seat: SeatId,
    shared: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.held.take());
        let mut turns = self.cache.turns.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's reference and this one: nobody else holds or waits (every other clone is
        // taken under the map's lock, so none can appear meanwhile).
        if Arc::strong_count(&self.shared) == 2 {
            turns.remove(&self.seat);
        }
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
        let asked = Instant::now();
        let seats = self.catalogue.seats_of_schedule(schedule).await?;
        self.remember(&seats, asked);
        Ok(seats)
    }

    async fn seats_of_concert(&self, concert: ConcertId) -> StoreResult<Vec<Seat>> {
        self.catalogue.seats_of_concert(concert).await
    }

    /// A remembered copy if it settles this read (see the module docs), else the store's answer,
    /// read once for every request of the seat that arrived before it was asked for: reads
    /// that find no settling copy take the seat's turn and look again once they have it.
    async fn seat(&self, id: SeatId) -> StoreResult<Option<Seat>> {
        let arrived = Instant::now();
        let settled = || self.copy(id).filter(|copy| copy.settles(arrived)).map(|copy| copy.seat);
        if let Some(seat) = settled() {
            return Ok(Some(seat));
        }
        let _turn = self.take_turn(id).await;
        if let Some(seat) = settled() {
            return Ok(Some(seat));
        }
        let asked = Instant::now();
        let seat = self.catalogue.seat(id).await?;
        match &seat {
            Some(seat) => self.remember(std::slice::from_ref(seat), asked),
            None => {
                self.map_mut().remove(&id);
            }
        }
        Ok(seat)
    }

    async fn seed_if_empty(&self, catalogue: &[NewConcert]) -> StoreResult<bool> {
        self.catalogue.seed_if_empty(catalogue).await
    }

    async fn sales(&self, at: OffsetDateTime) -> StoreResult<Vec<PerformanceSales>> {
        self.catalogue.sales(at).await
    }

    /// An import may move when seats go on sale: the copies start over.
    async fn import(&self, catalogue: &[NewConcert]) -> StoreResult<ImportOutcome> {
        let imported = self.catalogue.import(catalogue).await;
        self.map_mut().clear();
        imported
    }

    /// The store decides; this instance's copy goes, so the next read learns the new price or
    /// that the seat is gone. (A copy elsewhere saying *free* only ever leads to the store's
    /// compare-and-set, which charges the seat's price then and refuses a withdrawn seat.)
    async fn edit_seat(&self, seat: SeatId, edit: SeatEdit, at: OffsetDateTime) -> StoreResult<Option<Seat>> {
        let edited = self.catalogue.edit_seat(seat, edit, at).await;
        self.map_mut().remove(&seat);
        edited
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
        let arrived = Instant::now();
        let _turn = self.take_turn(hold.seat_id).await;
        let taken = || {
            self.copy(hold.seat_id)
                .is_some_and(|copy| copy.asked >= arrived && !copy.seat.is_free_at(hold.held_at))
        };
        if receipt.is_none() && taken() { Ok(None) } else { self.hold_in_store(hold, receipt).await }
    }

    async fn reservation(&self, id: ReservationId) -> StoreResult<Option<Reservation>> {
        self.reservations.reservation(id).await
    }

    async fn live_holds(&self, user: UserId, at: OffsetDateTime) -> StoreResult<u64> {
        self.reservations.live_holds(user, at).await
    }

    /// The store decides; a release here drops this instance's copy of the seat at once.
    /// (Other instances' copies need no news: see the module docs.)
    async fn release(
        &self,
        id: ReservationId,
        user: UserId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Reservation>> {
        let released = self.reservations.release(id, user, at).await?;
        if let Some(released) = &released {
            self.map_mut().remove(&released.seat_id);
        }
        Ok(released)
    }

    async fn bookings(&self, user: UserId, limit: u32) -> StoreResult<Vec<Booking>> {
        self.reservations.bookings(user, limit).await
    }

    async fn release_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        self.reservations.release_expired(now).await
    }
}

#[cfg(test)]
mod tests;
