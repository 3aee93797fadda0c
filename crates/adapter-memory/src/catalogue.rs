//! Concerts, performances and seats: the catalogue tables and the catalogue port.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use domain::ports::{CatalogueRepository, StoreError, StoreResult};
use domain::{
    Concert, ConcertId, ImportOutcome, NewConcert, NewSchedule, PerformanceSales, Schedule, ScheduleId, Seat,
    SeatEdit, SeatId, SeatState,
};
use time::OffsetDateTime;

use crate::{MemoryStore, next_id, slot};

/// The catalogue tables. Rows sit at `id - 1`; the two child lists are indexes kept in id
/// order, which is load order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Catalogue {
    concerts: Vec<Concert>,
    /// Concerts by key.
    keys: HashMap<String, ConcertId>,
    schedules: Vec<Schedule>,
    seats: Vec<Seat>,
    /// By concert slot: its schedules.
    schedules_of_concert: Vec<Vec<ScheduleId>>,
    /// By schedule slot: its seats, by number, withdrawn ones included.
    seats_of_schedule: Vec<Vec<SeatId>>,
    /// Seats taken off the map: kept (their reservations and payments point at them), never
    /// listed, never held.
    withdrawn: HashSet<SeatId>,
    /// Cancelled performances, with the instant: kept for the sales view, never listed.
    cancelled: HashMap<ScheduleId, OffsetDateTime>,
}

impl Catalogue {
    fn concert(&self, id: ConcertId) -> Option<&Concert> {
        self.concerts.get(slot(id.get())?)
    }

    pub(crate) fn schedule(&self, id: ScheduleId) -> Option<&Schedule> {
        self.schedules.get(slot(id.get())?)
    }

    /// One seat.
    pub(crate) fn seat(&self, id: SeatId) -> Option<&Seat> {
        self.seats.get(slot(id.get())?)
    }

    /// One seat on the map (not withdrawn): what fans see and hold.
    pub(crate) fn listed_seat(&self, id: SeatId) -> Option<&Seat> {
        self.seat(id).filter(|seat| !self.withdrawn.contains(&seat.id))
    }

    /// One seat, to change its sale state.
    pub(crate) fn seat_mut(&mut self, id: SeatId) -> Option<&mut Seat> {
        self.seats.get_mut(slot(id.get())?)
    }

    fn schedule_ids(&self, concert: ConcertId) -> &[ScheduleId] {
        slot(concert.get()).and_then(|i| self.schedules_of_concert.get(i)).map_or(&[], Vec::as_slice)
    }

    /// Every seat of `schedule`, withdrawn ones included.
    pub(crate) fn seat_ids(&self, schedule: ScheduleId) -> &[SeatId] {
        slot(schedule.get()).and_then(|i| self.seats_of_schedule.get(i)).map_or(&[], Vec::as_slice)
    }

    fn schedules(&self, concert: ConcertId) -> Vec<Schedule> {
        let mut schedules: Vec<Schedule> =
            self.schedule_ids(concert).iter().filter_map(|&id| self.schedule(id)).cloned().collect();
        schedules.sort_by_key(|schedule| (schedule.starts_at, schedule.id));
        schedules
    }

    fn seats_of_schedule(&self, schedule: ScheduleId) -> Vec<Seat> {
        self.seat_ids(schedule).iter().filter_map(|&id| self.listed_seat(id)).cloned().collect()
    }

    /// The performances fans see: cancelled ones are gone.
    fn listed_schedules(&self, concert: ConcertId) -> Vec<Schedule> {
        let mut schedules = self.schedules(concert);
        schedules.retain(|schedule| !self.cancelled.contains_key(&schedule.id));
        schedules
    }

    /// See [`CatalogueRepository::edit_seat`].
    fn edit_seat(&mut self, id: SeatId, edit: SeatEdit, at: OffsetDateTime) -> Option<Seat> {
        if self.withdrawn.contains(&id) {
            return None;
        }
        let seat = self.seat_mut(id).filter(|seat| seat.is_editable_at(at))?;
        let edited = match edit {
            SeatEdit::Reprice(price) => {
                seat.price = price;
                seat.clone()
            }
            SeatEdit::Withdraw => {
                // A lapsed hold goes with it, so a payment still in flight for it is refused.
                let was = seat.clone();
                seat.hold = None;
                was
            }
        };
        if edit == SeatEdit::Withdraw {
            self.withdrawn.insert(id);
        }
        Some(edited)
    }

    /// Marks `schedule` cancelled (keeping an earlier instant) and every seat of it withdrawn;
    /// the instant it is cancelled from.
    pub(crate) fn cancel(&mut self, schedule: ScheduleId, at: OffsetDateTime) -> OffsetDateTime {
        let seats = self.seat_ids(schedule).to_vec();
        self.withdrawn.extend(seats);
        *self.cancelled.entry(schedule).or_insert(at)
    }

    fn seats_of_concert(&self, concert: ConcertId) -> Vec<Seat> {
        self.schedule_ids(concert).iter().flat_map(|&schedule| self.seats_of_schedule(schedule)).collect()
    }

    /// Loads `catalogue` into an empty catalogue, whole or not at all.
    fn seed(&mut self, catalogue: &[NewConcert]) -> StoreResult<bool> {
        if !self.concerts.is_empty() {
            return Ok(false);
        }
        let mut loaded = Catalogue::default();
        for concert in catalogue {
            loaded.load(concert)?;
        }
        *self = loaded;
        Ok(true)
    }

    fn load(&mut self, new: &NewConcert) -> StoreResult<()> {
        let concert_id = next_id(self.concerts.len(), ConcertId::new)?;
        self.schedules_of_concert.push(Vec::with_capacity(new.schedules.len()));
        self.concerts.push(Concert {
            id: concert_id,
            title: new.title.clone(),
            artist: new.artist.clone(),
            venue: new.venue.clone(),
        });
        self.keys.insert(new.key.clone(), concert_id);
        for new_schedule in &new.schedules {
            self.add_schedule(concert_id, new_schedule, &new.title)?;
        }
        Ok(())
    }

    /// Adds one performance with its seats to a loaded concert.
    fn add_schedule(
        &mut self,
        concert_id: ConcertId,
        new_schedule: &NewSchedule,
        title: &str,
    ) -> StoreResult<()> {
        {
            let schedule_id = next_id(self.schedules.len(), ScheduleId::new)?;
            let mut numbers = HashSet::new();
            let mut seats = Vec::with_capacity(new_schedule.seats.len());
            for new_seat in &new_schedule.seats {
                if !numbers.insert(new_seat.number) {
                    return Err(StoreError::Internal(format!(
                        "seat {} appears twice in one performance of {}",
                        new_seat.number.name(),
                        title
                    )));
                }
                let seat = Seat {
                    id: next_id(self.seats.len(), SeatId::new)?,
                    schedule_id,
                    concert_id,
                    starts_at: new_schedule.starts_at,
                    on_sale_at: new_schedule.on_sale_at,
                    number: new_seat.number,
                    zone: new_seat.zone.clone(),
                    price: new_seat.price,
                    sold: false,
                    hold: None,
                };
                seats.push((seat.number, seat.id));
                self.seats.push(seat);
            }
            seats.sort_unstable();
            self.seats_of_schedule.push(seats.into_iter().map(|(_, id)| id).collect());
            self.schedules.push(Schedule {
                id: schedule_id,
                concert_id,
                starts_at: new_schedule.starts_at,
                on_sale_at: new_schedule.on_sale_at,
            });
            if let Some(list) = slot(concert_id.get()).and_then(|i| self.schedules_of_concert.get_mut(i)) {
                list.push(schedule_id);
            }
        }
        Ok(())
    }

    /// Every performance's seats, live holds at `at` and sales, by performance id (the money is
    /// the payments' to add).
    pub(crate) fn seat_counts(&self, at: OffsetDateTime) -> Vec<PerformanceSales> {
        self.schedules
            .iter()
            .map(|schedule| {
                // Withdrawn seats are off the map, but one still sold (its refund did not fit
                // the buyer's balance) is still counted, so free = seats - held - sold holds.
                let seats = self.seat_ids(schedule.id).iter().filter_map(|&id| self.seat(id));
                let listed = |seat: &&Seat| seat.sold || !self.withdrawn.contains(&seat.id);
                PerformanceSales {
                    schedule_id: Some(schedule.id),
                    concert_id: Some(schedule.concert_id),
                    starts_at: Some(schedule.starts_at),
                    on_sale_at: Some(schedule.on_sale_at),
                    cancelled_at: self.cancelled.get(&schedule.id).copied(),
                    seats: seats.clone().filter(listed).count() as u64,
                    held: seats.clone().filter(|seat| seat.state_at(at) == SeatState::Held).count() as u64,
                    sold: seats.filter(|seat| seat.state_at(at) == SeatState::Sold).count() as u64,
                    ..PerformanceSales::default()
                }
            })
            .collect()
    }

    /// See [`CatalogueRepository::import`]: works on a copy, kept only if all of it lands.
    fn import(&mut self, catalogue: &[NewConcert]) -> StoreResult<ImportOutcome> {
        let mut next = self.clone();
        let (mut concerts_added, mut performances_added) = (0, 0);
        for new in catalogue {
            let Some(&concert_id) = next.keys.get(&new.key) else {
                next.load(new)?;
                concerts_added += 1;
                continue;
            };
            if let Some(concert) = slot(concert_id.get()).and_then(|i| next.concerts.get_mut(i)) {
                concert.title.clone_from(&new.title);
                concert.artist.clone_from(&new.artist);
                concert.venue.clone_from(&new.venue);
            }
            for new_schedule in &new.schedules {
                let known =
                    next.schedules(concert_id).into_iter().find(|s| s.starts_at == new_schedule.starts_at);
                let Some(known) = known else {
                    next.add_schedule(concert_id, new_schedule, &new.title)?;
                    performances_added += 1;
                    continue;
                };
                if next.cancelled.contains_key(&known.id) {
                    continue;
                }
                let seats = next.seats_of_schedule(known.id);
                let mut wanted: Vec<_> = new_schedule.seats.iter().collect();
                wanted.sort_by_key(|seat| seat.number);
                let same = seats.len() == wanted.len()
                    && seats.iter().zip(wanted).all(|(seat, new_seat)| {
                        (seat.number, &seat.zone, seat.price)
                            == (new_seat.number, &new_seat.zone, new_seat.price)
                    });
                if !same {
                    return Ok(ImportOutcome::SeatsDiffer {
                        concert: new.key.clone(),
                        starts_at: known.starts_at,
                    });
                }
                let on_sale_at = new_schedule.on_sale_at;
                if let Some(schedule) = slot(known.id.get()).and_then(|i| next.schedules.get_mut(i)) {
                    schedule.on_sale_at = on_sale_at;
                }
                for seat in seats {
                    if let Some(seat) = next.seat_mut(seat.id) {
                        seat.on_sale_at = on_sale_at;
                    }
                }
            }
        }
        *self = next;
        Ok(ImportOutcome::Imported { concerts_added, performances_added })
    }
}

#[async_trait]
impl CatalogueRepository for MemoryStore {
    async fn concerts(&self) -> StoreResult<Vec<Concert>> {
        self.with_state(|state| Ok(state.catalogue.concerts.clone()))
    }

    async fn concert(&self, id: ConcertId) -> StoreResult<Option<Concert>> {
        self.with_state(|state| Ok(state.catalogue.concert(id).cloned()))
    }

    async fn schedules(&self, concert: ConcertId) -> StoreResult<Vec<Schedule>> {
        self.with_state(|state| Ok(state.catalogue.listed_schedules(concert)))
    }

    async fn seats_of_schedule(&self, schedule: ScheduleId) -> StoreResult<Vec<Seat>> {
        self.with_state(|state| Ok(state.catalogue.seats_of_schedule(schedule)))
    }

    async fn seats_of_concert(&self, concert: ConcertId) -> StoreResult<Vec<Seat>> {
        self.with_state(|state| Ok(state.catalogue.seats_of_concert(concert)))
    }

    async fn seat(&self, id: SeatId) -> StoreResult<Option<Seat>> {
        self.with_state(|state| Ok(state.catalogue.listed_seat(id).cloned()))
    }

    async fn edit_seat(&self, seat: SeatId, edit: SeatEdit, at: OffsetDateTime) -> StoreResult<Option<Seat>> {
        self.with_state(|state| Ok(state.catalogue.edit_seat(seat, edit, at)))
    }

    async fn seed_if_empty(&self, catalogue: &[NewConcert]) -> StoreResult<bool> {
        self.with_state(|state| state.catalogue.seed(catalogue))
    }

    async fn import(&self, catalogue: &[NewConcert]) -> StoreResult<ImportOutcome> {
        self.with_state(|state| state.catalogue.import(catalogue))
    }

    async fn sales(&self, at: OffsetDateTime) -> StoreResult<Vec<PerformanceSales>> {
        self.with_state(|state| Ok(state.sales(at)))
    }
}

#[cfg(test)]
mod tests;
