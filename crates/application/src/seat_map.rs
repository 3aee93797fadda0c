//! `GET /admin/performances/{scheduleId}/seats`: a performance's whole map as the box office
//! sees it: every seat on it, free, held or sold, with the ids the seat edits take.

use domain::ports::{CatalogueRepository, Clock};
use domain::{ScheduleId, Seat, SeatState, StoreError};

/// One seat and how it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedSeat {
    /// The seat.
    pub seat: Seat,
    /// Free, held or sold now.
    pub state: SeatState,
}

/// Why there is no map.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SeatMapError {
    /// No such performance, or none of its seats is on the map (a cancelled one).
    #[error("performance not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every seat on the map of the performance, by number, as it stands now.
pub async fn execute(
    catalogue: &dyn CatalogueRepository,
    clock: &dyn Clock,
    schedule_id: i64,
) -> Result<Vec<MappedSeat>, SeatMapError> {
    let id = ScheduleId::new(schedule_id).map_err(|_| SeatMapError::NotFound)?;
    let seats = catalogue.seats_of_schedule(id).await?;
    if seats.is_empty() {
        return Err(SeatMapError::NotFound);
    }
    let now = clock.now();
    Ok(seats.into_iter().map(|seat| MappedSeat { state: seat.state_at(now), seat }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, held_until, schedule_id, seat, sold, store_down};
    use domain::ports::MockCatalogueRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;
    use time::Duration;

    #[test]
    fn every_seat_is_listed_with_how_it_stands_now() {
        let mut catalogue = MockCatalogueRepository::new();
        let seats = vec![
            seat(1),
            held_until(seat(2), NOW + Duration::MINUTE),
            held_until(seat(3), NOW),
            sold(seat(4)),
        ];
        catalogue.expect_seats_of_schedule().with(eq(schedule_id(3))).return_once(move |_| Ok(seats));
        let map = block_on(execute(&catalogue, &clock(), 3)).expect("a map");
        let states: Vec<SeatState> = map.iter().map(|mapped| mapped.state).collect();
        assert_eq!(states, [SeatState::Free, SeatState::Held, SeatState::Free, SeatState::Sold]);
    }

    #[test]
    fn a_performance_with_no_seat_on_the_map_is_not_found() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_seats_of_schedule().return_once(|_| Ok(Vec::new()));
        assert!(matches!(block_on(execute(&catalogue, &clock(), 3)), Err(SeatMapError::NotFound)));
        assert!(matches!(block_on(execute(&catalogue, &clock(), -1)), Err(SeatMapError::NotFound)));
    }

    #[test]
    fn a_store_failure_is_reported_as_such() {
        let mut catalogue = MockCatalogueRepository::new();
        catalogue.expect_seats_of_schedule().return_once(|_| Err(store_down()));
        assert!(matches!(block_on(execute(&catalogue, &clock(), 3)), Err(SeatMapError::Store(_))));
    }
}
