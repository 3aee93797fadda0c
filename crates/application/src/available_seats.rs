//! `GET /api/{concertId}/available-seats?date=…|scheduleId=…`: the seats free right now.

use domain::ports::{CatalogueRepository, Clock};
use domain::{ConcertId, Schedule, Seat, StoreError};
use time::Date;

/// Which performance: by date, or by id when a date has several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvailableSeats {
    /// The concert, as sent in the path.
    pub concert_id: i64,
    /// `?date=`, already parsed (an impossible date is a 400 before this).
    pub date: Option<Date>,
    /// `?scheduleId=`; wins over `date`, which must then agree with it.
    pub schedule_id: Option<i64>,
}

/// Why the seats could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum AvailableSeatsError {
    /// Neither a date nor a schedule was given.
    #[error("give a date (YYYY-MM-DD) or a scheduleId")]
    MissingSelector,
    /// The date has several performances; SPEC asks for `scheduleId` then.
    #[error("that date has several performances; give a scheduleId")]
    AmbiguousDate,
    /// No such concert, or no performance of it on that date or with that id.
    #[error("no such concert performance")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Picks the performance, then lists its seats that are free now (domain rule), by number.
pub async fn execute(
    catalogue: &dyn CatalogueRepository,
    clock: &dyn Clock,
    query: AvailableSeats,
) -> Result<Vec<Seat>, AvailableSeatsError> {
    if query.date.is_none() && query.schedule_id.is_none() {
        return Err(AvailableSeatsError::MissingSelector);
    }
    let concert = ConcertId::new(query.concert_id).map_err(|_| AvailableSeatsError::NotFound)?;
    catalogue.concert(concert).await?.ok_or(AvailableSeatsError::NotFound)?;
    let schedule = pick(catalogue.schedules(concert).await?, query)?;
    let now = clock.now();
    let mut seats = catalogue.seats_of_schedule(schedule.id).await?;
    seats.retain(|seat| seat.is_free_at(now));
    Ok(seats)
}

fn pick(schedules: Vec<Schedule>, query: AvailableSeats) -> Result<Schedule, AvailableSeatsError> {
    let on_date = |schedule: &Schedule| query.date.is_none_or(|date| schedule.date() == date);
    let mut matching = schedules
        .into_iter()
        .filter(|schedule| query.schedule_id.is_none_or(|id| schedule.id.get() == id))
        .filter(on_date);
    match (matching.next(), matching.next()) {
        (Some(schedule), None) => Ok(schedule),
        (Some(_), Some(_)) => Err(AvailableSeatsError::AmbiguousDate),
        (None, _) => Err(AvailableSeatsError::NotFound),
    }
}
