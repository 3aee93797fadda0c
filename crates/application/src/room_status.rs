//! The waiting room as an operator watches it during a sale: how many wait, how many are in,
//! the cap, whether the box office holds admission, and how long the fan at the back would be
//! told to wait. Read from the shared store, so every instance reports the same figures.

use domain::ports::{Clock, QueueRepository};
use domain::{QueuePolicy, StoreError};
use time::Duration;

/// The room now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomStatus {
    /// Fans waiting.
    pub waiting: u64,
    /// Fans admitted and not yet ended.
    pub active: u64,
    /// The cap on active fans in force, the box office's override included (0 = none).
    pub max_active: u32,
    /// The box office holds admission.
    pub paused: bool,
    /// What the fan at the back is told (zero when nobody waits); counted from the moment the
    /// room resumes while paused.
    pub estimated_wait_at_back: Duration,
}

/// Reads the room once and lets the domain's estimate speak for the fan at the back.
pub async fn execute(
    queue: &dyn QueueRepository,
    clock: &dyn Clock,
    settings: &QueuePolicy,
) -> Result<RoomStatus, StoreError> {
    let room = queue.room().await?;
    let now = clock.now();
    Ok(RoomStatus {
        waiting: room.waiting,
        active: room.active,
        max_active: room.controls.applied_to(settings).max_active,
        paused: room.controls.paused,
        estimated_wait_at_back: room.estimated_wait(room.waiting, settings, now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, store_down};
    use domain::ports::MockQueueRepository;
    use domain::{QueueControls, RoomReading};
    use futures::executor::block_on;

    fn settings() -> QueuePolicy {
        QueuePolicy { max_active: 10, admit_per_tick: 0, tick: Duration::SECOND, ..QueuePolicy::default() }
    }

    fn queue_reading(room: RoomReading) -> MockQueueRepository {
        let mut queue = MockQueueRepository::new();
        queue.expect_room().times(1).return_once(move || Ok(room));
        queue
    }

    #[test]
    fn the_fan_at_the_back_is_told_what_the_domain_estimates_for_the_last_place() {
        let room = RoomReading {
            waiting: 25,
            active: 10,
            freed_per_second: Some(2.0),
            last_admission_at: Some(NOW),
            ..RoomReading::default()
        };
        let status = block_on(execute(&queue_reading(room), &clock(), &settings())).expect("read");
        assert_eq!((status.waiting, status.active, status.max_active, status.paused), (25, 10, 10, false));
        assert_eq!(status.estimated_wait_at_back, room.estimated_wait(25, &settings(), NOW));
        assert!(
            status.estimated_wait_at_back >= Duration::seconds(12),
            "{:?}",
            status.estimated_wait_at_back
        );
    }

    #[test]
    fn an_empty_room_tells_no_wait() {
        let status =
            block_on(execute(&queue_reading(RoomReading::default()), &clock(), &settings())).expect("read");
        assert_eq!(status.estimated_wait_at_back, Duration::ZERO);
        assert_eq!(status.waiting, 0);
    }

    #[test]
    fn the_box_office_overrides_show_as_the_cap_in_force_and_the_pause() {
        let controls = QueueControls { paused: true, max_active: Some(500), ..QueueControls::default() };
        let room = RoomReading { controls, waiting: 3, ..RoomReading::default() };
        let status = block_on(execute(&queue_reading(room), &clock(), &settings())).expect("read");
        assert_eq!((status.max_active, status.paused), (500, true));
    }

    #[test]
    fn a_store_failure_is_passed_on() {
        let mut queue = MockQueueRepository::new();
        queue.expect_room().return_once(|| Err(store_down()));
        let failed = block_on(execute(&queue, &clock(), &settings()));
        assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{failed:?}");
    }
}
