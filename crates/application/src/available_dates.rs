//! `GET /api/{concertId}/available-dates`: upcoming performances that still have a free seat.

use std::collections::HashMap;

use domain::ports::{CatalogueRepository, Clock};
use domain::{ConcertId, Schedule, ScheduleId, StoreError};

/// One bookable performance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableDate {
    /// The performance.
    pub schedule: Schedule,
    /// Seats free right now.
    pub available_seats: u32,
}

/// Why the dates could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum AvailableDatesError {
    /// No such concert.
    #[error("concert not found")]
    ConcertNotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Lists the concert's upcoming performances with at least one free seat, earliest first. Free
/// is the domain's [`domain::Seat::is_free_at`], applied to the seats as read now, never cached.
pub async fn execute(
    catalogue: &dyn CatalogueRepository,
    clock: &dyn Clock,
    concert_id: i64,
) -> Result<Vec<AvailableDate>, AvailableDatesError> {
    let concert = ConcertId::new(concert_id).map_err(|_| AvailableDatesError::ConcertNotFound)?;
    catalogue.concert(concert).await?.ok_or(AvailableDatesError::ConcertNotFound)?;
    let now = clock.now();
    let schedules = catalogue.schedules(concert).await?;
    let mut free: HashMap<ScheduleId, u32> = HashMap::new();
    for seat in catalogue.seats_of_concert(concert).await? {
        if seat.is_free_at(now) {
            *free.entry(seat.schedule_id).or_default() += 1;
        }
    }
    Ok(schedules
        .into_iter()
        .filter(|schedule| schedule.is_upcoming(now))
        .filter_map(|schedule| {
            let available_seats = free.get(&schedule.id).copied().unwrap_or_default();
            (available_seats > 0).then_some(AvailableDate { schedule, available_seats })
        })
        .collect())
}
