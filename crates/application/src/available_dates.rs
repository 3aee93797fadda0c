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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{
        NOW, SHOW, clock, concert, concert_id, held_until, schedule, seat_of, sold, store_down,
    };
    use domain::Seat;
    use domain::ports::{MockCatalogueRepository, MockClock};
    use futures::executor::block_on;
    use mockall::predicate::eq;
    use time::{Duration, OffsetDateTime};

    /// `count` free seats, numbered from 1, of schedule `schedule` starting at `starts_at`.
    fn free_seats(schedule: i64, starts_at: OffsetDateTime, count: i64) -> Vec<Seat> {
        (1..=count).map(|number| seat_of(schedule, number, starts_at)).collect()
    }

    /// Concert 1 with these performances and seats.
    fn catalogue_of(schedules: Vec<Schedule>, seats: Vec<Seat>) -> MockCatalogueRepository {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concert().with(eq(concert_id(1))).times(1).return_once(|_| Ok(Some(concert(1))));
        catalogue.expect_schedules().with(eq(concert_id(1))).times(1).return_once(move |_| Ok(schedules));
        catalogue.expect_seats_of_concert().with(eq(concert_id(1))).times(1).return_once(move |_| Ok(seats));
        catalogue
    }

    fn dates(
        catalogue: &MockCatalogueRepository,
        concert_id: i64,
    ) -> Result<Vec<AvailableDate>, AvailableDatesError> {
        block_on(execute(catalogue, &clock(), concert_id))
    }

    #[test]
    fn available_dates_lists_upcoming_performances_with_their_free_seat_counts() {
        let later = SHOW + Duration::days(1);
        let seats = [free_seats(3, SHOW, 3), free_seats(4, later, 1)].concat();
        let catalogue = catalogue_of(vec![schedule(3, 1, SHOW), schedule(4, 1, later)], seats);
        let expected = vec![
            AvailableDate { schedule: schedule(3, 1, SHOW), available_seats: 3 },
            AvailableDate { schedule: schedule(4, 1, later), available_seats: 1 },
        ];
        assert_eq!(dates(&catalogue, 1).expect("dates are listed"), expected);
    }

    #[test]
    fn available_dates_excludes_performances_that_are_past_or_starting_now() {
        let past = NOW - Duration::days(1);
        let seats = [free_seats(2, past, 5), free_seats(5, NOW, 5), free_seats(3, SHOW, 5)].concat();
        let catalogue =
            catalogue_of(vec![schedule(2, 1, past), schedule(5, 1, NOW), schedule(3, 1, SHOW)], seats);
        let listed = dates(&catalogue, 1).expect("dates are listed");
        assert_eq!(listed, vec![AvailableDate { schedule: schedule(3, 1, SHOW), available_seats: 5 }]);
    }

    #[test]
    fn available_dates_excludes_performances_without_a_free_seat() {
        let (sold_out, empty, open) = (SHOW, SHOW + Duration::days(1), SHOW + Duration::days(2));
        let seats = vec![
            sold(seat_of(3, 1, sold_out)),
            held_until(seat_of(3, 2, sold_out), NOW + Duration::minutes(1)),
            seat_of(6, 1, open),
        ];
        let schedules = vec![schedule(3, 1, sold_out), schedule(4, 1, empty), schedule(6, 1, open)];
        let listed = dates(&catalogue_of(schedules, seats), 1).expect("dates are listed");
        assert_eq!(listed, vec![AvailableDate { schedule: schedule(6, 1, open), available_seats: 1 }]);
    }

    #[test]
    fn available_dates_counts_a_lapsed_hold_as_free_and_a_live_hold_or_sale_as_taken() {
        let seats = vec![
            held_until(seat_of(3, 1, SHOW), NOW),
            held_until(seat_of(3, 2, SHOW), NOW + Duration::SECOND),
            sold(seat_of(3, 3, SHOW)),
            seat_of(3, 4, SHOW),
        ];
        let listed = dates(&catalogue_of(vec![schedule(3, 1, SHOW)], seats), 1).expect("dates are listed");
        assert_eq!(listed, vec![AvailableDate { schedule: schedule(3, 1, SHOW), available_seats: 2 }]);
    }

    #[test]
    fn available_dates_fails_with_concert_not_found_for_an_unknown_concert() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concert().with(eq(concert_id(9))).times(1).return_once(|_| Ok(None));
        let result = dates(&catalogue, 9);
        assert!(matches!(result, Err(AvailableDatesError::ConcertNotFound)), "{result:?}");
    }

    #[test]
    fn available_dates_fails_with_concert_not_found_for_an_invalid_id_without_calling_any_port() {
        for bad in [0, -1] {
            let result = block_on(execute(&MockCatalogueRepository::new(), &MockClock::new(), bad));
            assert!(matches!(result, Err(AvailableDatesError::ConcertNotFound)), "{bad}: {result:?}");
        }
    }

    #[test]
    fn available_dates_fails_with_store_when_the_concert_cannot_be_read() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concert().return_once(|_| Err(store_down()));
        let result = dates(&catalogue, 1);
        assert!(matches!(result, Err(AvailableDatesError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn available_dates_fails_with_store_when_the_seats_cannot_be_read() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_concert().return_once(|_| Ok(Some(concert(1))));
        catalogue.expect_schedules().return_once(|_| Ok(vec![schedule(3, 1, SHOW)]));
        catalogue.expect_seats_of_concert().return_once(|_| Err(store_down()));
        let result = dates(&catalogue, 1);
        assert!(matches!(result, Err(AvailableDatesError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
