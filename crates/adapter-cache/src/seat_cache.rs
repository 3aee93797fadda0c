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
//! which records its answer with it. First reads of one seat take the same turn, so that wave's
//! reads of the seat cost one query.
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
    /// One turn per seat with reads or holds in flight ([`Turn`]).
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
        let seats = self.catalogue.seats_of_schedule(schedule).await?;
        self.remember(&seats);
        Ok(seats)
    }

    async fn seats_of_concert(&self, concert: ConcertId) -> StoreResult<Vec<Seat>> {
        self.catalogue.seats_of_concert(concert).await
    }

    /// A remembered copy if there is one: exact when it says taken, possibly out of date when
    /// it says free (see the module docs; `try_hold` settles that).
    /// A miss takes the seat's turn, so concurrent first reads of one seat (a race's first
    /// wave) cost the store one read.
    async fn seat(&self, id: SeatId) -> StoreResult<Option<Seat>> {
        if let Some(copy) = self.copy(id) {
            return Ok(Some(copy));
        }
        let _turn = self.take_turn(id).await;
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
        let _turn = self.take_turn(hold.seat_id).await;
        let taken = || self.copy(hold.seat_id).is_some_and(|copy| !copy.is_free_at(hold.held_at));
        if receipt.is_none() && taken() { Ok(None) } else { self.hold_in_store(hold, receipt).await }
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
mod tests;
