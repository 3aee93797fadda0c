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
    /// The date has several performances; the contract asks for `scheduleId` then.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{
        NOW, SHOW, clock, concert, concert_id, held_until, schedule, schedule_id, seat_of, sold, store_down,
    };
    use domain::ports::{MockCatalogueRepository, MockClock};
    use futures::executor::block_on;
    use mockall::predicate::eq;
    use time::macros::{date, datetime};
    use time::{Duration, OffsetDateTime};

    /// An afternoon performance on the same date as [`SHOW`].
    const MATINEE: OffsetDateTime = datetime!(2030-02-01 14:00 UTC);

    /// Concert 1 with these performances.
    fn catalogue_of(schedules: Vec<Schedule>) -> MockCatalogueRepository {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concert().with(eq(concert_id(1))).times(1).return_once(|_| Ok(Some(concert(1))));
        catalogue.expect_schedules().with(eq(concert_id(1))).times(1).return_once(move |_| Ok(schedules));
        catalogue
    }

    /// ...whose performance `schedule` has these seats.
    fn with_seats(
        mut catalogue: MockCatalogueRepository,
        schedule: i64,
        seats: Vec<Seat>,
    ) -> MockCatalogueRepository {
        catalogue
            .expect_seats_of_schedule()
            .with(eq(schedule_id(schedule)))
            .times(1)
            .return_once(move |_| Ok(seats));
        catalogue
    }

    fn query(date: Option<Date>, schedule_id: Option<i64>) -> AvailableSeats {
        AvailableSeats { concert_id: 1, date, schedule_id }
    }

    fn seats(
        catalogue: &MockCatalogueRepository,
        query: AvailableSeats,
    ) -> Result<Vec<Seat>, AvailableSeatsError> {
        block_on(execute(catalogue, &clock(), query))
    }

    #[test]
    fn available_seats_lists_only_the_seats_free_now_of_the_performance_on_that_date() {
        let all = vec![
            seat_of(3, 1, SHOW),
            held_until(seat_of(3, 2, SHOW), NOW + Duration::SECOND),
            sold(seat_of(3, 3, SHOW)),
            held_until(seat_of(3, 4, SHOW), NOW),
        ];
        let catalogue = with_seats(catalogue_of(vec![schedule(3, 1, SHOW)]), 3, all);
        let free = seats(&catalogue, query(Some(date!(2030 - 02 - 01)), None)).expect("seats are listed");
        assert_eq!(free, vec![seat_of(3, 1, SHOW), held_until(seat_of(3, 4, SHOW), NOW)]);
    }

    #[test]
    fn available_seats_fails_with_missing_selector_without_calling_any_port() {
        let result = block_on(execute(&MockCatalogueRepository::new(), &MockClock::new(), query(None, None)));
        assert!(matches!(result, Err(AvailableSeatsError::MissingSelector)), "{result:?}");
    }

    #[test]
    fn available_seats_fails_with_ambiguous_date_when_the_date_has_two_performances() {
        let catalogue = catalogue_of(vec![schedule(3, 1, SHOW), schedule(4, 1, MATINEE)]);
        let result = seats(&catalogue, query(Some(date!(2030 - 02 - 01)), None));
        assert!(matches!(result, Err(AvailableSeatsError::AmbiguousDate)), "{result:?}");
    }

    #[test]
    fn available_seats_resolves_a_date_with_two_performances_by_schedule_id() {
        let catalogue = with_seats(
            catalogue_of(vec![schedule(3, 1, SHOW), schedule(4, 1, MATINEE)]),
            4,
            vec![seat_of(4, 1, MATINEE)],
        );
        let free = seats(&catalogue, query(Some(date!(2030 - 02 - 01)), Some(4))).expect("seats are listed");
        assert_eq!(free, vec![seat_of(4, 1, MATINEE)]);
    }

    #[test]
    fn available_seats_accepts_a_schedule_id_without_a_date() {
        let catalogue = with_seats(
            catalogue_of(vec![schedule(3, 1, SHOW), schedule(4, 1, MATINEE)]),
            3,
            vec![seat_of(3, 9, SHOW)],
        );
        let free = seats(&catalogue, query(None, Some(3))).expect("seats are listed");
        assert_eq!(free, vec![seat_of(3, 9, SHOW)]);
    }

    #[test]
    fn available_seats_fails_with_not_found_for_a_schedule_of_another_concert() {
        // Schedule 8 exists, but not among concert 1's performances; its seats are never read.
        let result = seats(&catalogue_of(vec![schedule(3, 1, SHOW)]), query(None, Some(8)));
        assert!(matches!(result, Err(AvailableSeatsError::NotFound)), "{result:?}");
    }

    #[test]
    fn available_seats_fails_with_not_found_for_a_date_without_a_performance() {
        let result =
            seats(&catalogue_of(vec![schedule(3, 1, SHOW)]), query(Some(date!(2030 - 02 - 02)), None));
        assert!(matches!(result, Err(AvailableSeatsError::NotFound)), "{result:?}");
    }

    #[test]
    fn available_seats_fails_with_not_found_when_date_and_schedule_id_disagree() {
        let result =
            seats(&catalogue_of(vec![schedule(3, 1, SHOW)]), query(Some(date!(2030 - 02 - 02)), Some(3)));
        assert!(matches!(result, Err(AvailableSeatsError::NotFound)), "{result:?}");
    }

    #[test]
    fn available_seats_fails_with_not_found_for_an_unknown_concert() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concert().with(eq(concert_id(9))).times(1).return_once(|_| Ok(None));
        let result =
            seats(&catalogue, AvailableSeats { concert_id: 9, ..query(Some(date!(2030 - 02 - 01)), None) });
        assert!(matches!(result, Err(AvailableSeatsError::NotFound)), "{result:?}");
    }

    #[test]
    fn available_seats_fails_with_not_found_for_an_invalid_concert_id_without_calling_any_port() {
        let query = AvailableSeats { concert_id: 0, ..query(Some(date!(2030 - 02 - 01)), None) };
        let result = block_on(execute(&MockCatalogueRepository::new(), &MockClock::new(), query));
        assert!(matches!(result, Err(AvailableSeatsError::NotFound)), "{result:?}");
    }

    #[test]
    fn available_seats_fails_with_store_when_the_schedules_cannot_be_read() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concert().return_once(|_| Ok(Some(concert(1))));
        catalogue.expect_schedules().return_once(|_| Err(store_down()));
        let result = seats(&catalogue, query(Some(date!(2030 - 02 - 01)), None));
        assert!(matches!(result, Err(AvailableSeatsError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn available_seats_fails_with_store_when_the_seats_cannot_be_read() {
        let mut catalogue = catalogue_of(vec![schedule(3, 1, SHOW)]);
        catalogue.expect_seats_of_schedule().return_once(|_| Err(store_down()));
        let result = seats(&catalogue, query(None, Some(3)));
        assert!(matches!(result, Err(AvailableSeatsError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
