//! How long a waiting fan will wait: told from what the next admission steps will actually do,
//! not from how fast fans happened to arrive lately.
//!
//! Admission runs once per tick, and each step lets in as many of the front fans as the free
//! places and the per-tick cap allow. So the fan at position `p` is let in at the first step by
//! which both
//! - the per-tick cap has let `p` fans through: `ceil(p / cap)` steps, and
//! - `p` places have been free: the places free now, then those that come back as admitted
//!   fans pay, give their token back or time out. That outflow is the one the store measured
//!   lately, and never less than `max_active` per active TTL, since every admitted fan's time
//!   runs out.
//!
//! While the box office holds admission, the estimate is the wait counted from when it resumes:
//! the clock is stopped, and the fan is told the room is paused.

use time::{Duration, OffsetDateTime};

use crate::controls::QueueControls;
use crate::queue::QueuePolicy;

/// The room's two counters at one instant, from which its outflow is measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Occupancy {
    /// Admissions ever made.
    pub admitted_total: u64,
    /// Tokens active at that instant.
    pub active: u64,
}

impl Occupancy {
    /// Places freed per second between `earlier` and this reading, `seconds` later. Every
    /// admission takes a place and every end (a payment, a timeout) gives one back, so the places
    /// freed are the admissions in between less the growth of the active count. `None` over no
    /// span.
    pub fn freed_per_second_since(&self, earlier: &Occupancy, seconds: f64) -> Option<f64> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return None;
        }
        let admitted = self.admitted_total.saturating_sub(earlier.admitted_total);
        let freed = admitted.saturating_add(earlier.active).saturating_sub(self.active);
        Some(freed as f64 / seconds)
    }
}

/// The waiting room as the store sees it now: what the estimate, the box office and the
/// operator's dashboard are told.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoomReading {
    /// The box office's controls in force.
    pub controls: QueueControls,
    /// When the last admission step ran anywhere in the service.
    pub last_admission_at: Option<OffsetDateTime>,
    /// Fans waiting (counted as positions are: the position of the fan at the back).
    pub waiting: u64,
    /// Fans admitted and not yet ended.
    pub active: u64,
    /// Places freed per second lately ([`Occupancy::freed_per_second_since`]); `None` until
    /// there is a span to measure.
    pub freed_per_second: Option<f64>,
}

impl RoomReading {
    /// The expected wait of the fan at `position` (1 = next; 0 = not waiting) at `now`, under
    /// the `settings` with the box office's overrides. Whole seconds, rounded up.
    pub fn estimated_wait(&self, position: u64, settings: &QueuePolicy, now: OffsetDateTime) -> Duration {
        if position == 0 {
            return Duration::ZERO;
        }
        let policy = self.controls.applied_to(settings);
        let tick = policy.tick.as_seconds_f64().max(0.001);
        let first_step = self.first_step_in(&policy, now, tick);
        let wanted = position as f64;
        let steps_for_cap = match policy.admit_per_tick {
            0 => 0.0,
            cap => (wanted / f64::from(cap)).ceil() - 1.0,
        };
        let places_in = self.places_free_in(position, &policy);
        let steps_for_places = ((places_in - first_step) / tick).ceil().max(0.0);
        let wait = first_step + steps_for_cap.max(steps_for_places) * tick;
        Duration::saturating_seconds_f64(wait.ceil())
    }

    /// Seconds until the next admission step: a tick after the last one, at once when one is
    /// due or when a paused room resumes.
    fn first_step_in(&self, policy: &QueuePolicy, now: OffsetDateTime, tick: f64) -> f64 {
        match self.last_admission_at {
            Some(last) if !self.controls.paused => {
                (last.saturating_add(policy.tick) - now).as_seconds_f64().clamp(0.0, tick)
            }
            _ => 0.0,
        }
    }

    /// Seconds until `position` places will have been free: 0 when they are free now.
    fn places_free_in(&self, position: u64, policy: &QueuePolicy) -> f64 {
        if policy.max_active == 0 {
            return 0.0;
        }
        let free_now = u64::from(policy.max_active).saturating_sub(self.active);
        let Some(short) = position.checked_sub(free_now).filter(|short| *short > 0) else { return 0.0 };
        let short = short as f64;
        let by_timeouts = short * policy.active_ttl.as_seconds_f64().max(0.0) / f64::from(policy.max_active);
        let by_outflow = self
            .freed_per_second
            .filter(|measured| measured.is_finite() && *measured > 0.0)
            .map_or(f64::INFINITY, |measured| short / measured);
        by_outflow.min(by_timeouts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn policy(max_active: u32, admit_per_tick: u32, tick: Duration) -> QueuePolicy {
        QueuePolicy { max_active, admit_per_tick, tick, ..QueuePolicy::default() }
    }

    fn room(active: u64, freed_per_second: Option<f64>, last_step_ago: Duration) -> RoomReading {
        RoomReading {
            last_admission_at: Some(NOW - last_step_ago),
            active,
            freed_per_second,
            ..RoomReading::default()
        }
    }

    /// The room tick by tick, on a simulated clock: before each step, the places freed since
    /// the start at `freed_per_second` (whole places) come back; each step admits the front fans
    /// as the caps allow. Returns when each of `fans` waiting fans is let in, from `NOW`.
    fn simulate(policy: &QueuePolicy, reading: &RoomReading, fans: u64) -> Vec<f64> {
        let tick = policy.tick.as_seconds_f64();
        let first = reading.first_step_in(policy, NOW, tick);
        let rate = reading.freed_per_second.unwrap_or(0.0);
        let (mut active, mut freed_so_far, mut admitted_at) = (reading.active, 0_u64, Vec::new());
        let mut step = 0_u32;
        while (admitted_at.len() as u64) < fans {
            let at = first + f64::from(step) * tick;
            let freed_by_now = (rate * at).floor() as u64;
            active = active.saturating_sub(freed_by_now - freed_so_far);
            freed_so_far = freed_by_now;
            let let_in = policy.admission_slots(active).min(fans - admitted_at.len() as u64);
            admitted_at.extend(std::iter::repeat_n(at, let_in as usize));
            active += let_in;
            step += 1;
            assert!(step < 100_000, "the simulated room never let everyone in");
        }
        admitted_at
    }

    /// Every fan's estimate is within a second (the rounding) of when the simulation lets them in.
    fn assert_estimates_match_the_simulation(policy: &QueuePolicy, reading: &RoomReading, fans: u64) {
        for (index, actual) in simulate(policy, reading, fans).into_iter().enumerate() {
            let position = index as u64 + 1;
            let estimate = reading.estimated_wait(position, policy, NOW).as_seconds_f64();
            assert!(
                (estimate - actual).abs() <= 1.0,
                "position {position}: estimated {estimate} s, let in after {actual} s"
            );
        }
    }

    #[test]
    fn a_burst_into_an_empty_room_is_told_the_next_tick() {
        let policy = policy(100, 0, Duration::seconds(1));
        let empty = room(1, None, Duration::milliseconds(400));
        for position in 1..=5 {
            assert_eq!(
                empty.estimated_wait(position, &policy, NOW),
                Duration::seconds(1),
                "position {position}"
            );
        }
        assert_estimates_match_the_simulation(&policy, &empty, 99);
    }

    #[test]
    fn a_full_room_with_steady_payments_moves_at_the_pace_of_the_payments() {
        let policy = policy(100, 0, Duration::seconds(1));
        let full = room(100, Some(2.0), Duration::milliseconds(500));
        assert_eq!(full.estimated_wait(50, &policy, NOW), Duration::seconds(26), "25.5 s, rounded up");
        assert_estimates_match_the_simulation(&policy, &full, 300);
    }

    #[test]
    fn free_places_go_first_then_the_payments_pace_the_rest() {
        let policy = policy(100, 0, Duration::seconds(1));
        let nearly_full = room(90, Some(5.0), Duration::seconds(1));
        assert_eq!(nearly_full.estimated_wait(10, &policy, NOW), Duration::ZERO, "a step is due now");
        assert_eq!(nearly_full.estimated_wait(60, &policy, NOW), Duration::seconds(10));
        assert_estimates_match_the_simulation(&policy, &nearly_full, 200);
    }

    #[test]
    fn a_per_minute_cap_is_counted_from_the_next_step() {
        let policy = policy(0, 10, Duration::minutes(1));
        let capped = room(0, None, Duration::seconds(20));
        assert_eq!(capped.estimated_wait(1, &policy, NOW), Duration::seconds(40));
        assert_eq!(capped.estimated_wait(10, &policy, NOW), Duration::seconds(40));
        assert_eq!(capped.estimated_wait(11, &policy, NOW), Duration::seconds(100));
        assert_eq!(capped.estimated_wait(25, &policy, NOW), Duration::seconds(160));
        assert_estimates_match_the_simulation(&policy, &capped, 95);
    }

    #[test]
    fn the_slower_of_the_cap_and_the_payments_decides() {
        let policy = policy(100, 3, Duration::seconds(1));
        let cap_binds = room(100, Some(10.0), Duration::ZERO);
        assert_eq!(cap_binds.estimated_wait(30, &policy, NOW), Duration::seconds(10));
        assert_estimates_match_the_simulation(&policy, &cap_binds, 120);
        let payments_bind = room(100, Some(1.0), Duration::ZERO);
        assert_eq!(payments_bind.estimated_wait(30, &policy, NOW), Duration::seconds(30));
        assert_estimates_match_the_simulation(&policy, &payments_bind, 120);
    }

    #[test]
    fn without_a_measured_outflow_places_come_back_as_fans_time_out() {
        let policy = policy(100, 0, Duration::seconds(1));
        let just_filled = room(100, None, Duration::ZERO);
        assert_eq!(just_filled.estimated_wait(100, &policy, NOW), Duration::minutes(10), "the active TTL");
        let nobody_pays = room(100, Some(0.0), Duration::ZERO);
        assert_eq!(nobody_pays.estimated_wait(50, &policy, NOW), Duration::minutes(5));
    }

    #[test]
    fn a_paused_room_counts_the_wait_from_when_it_resumes() {
        let policy = policy(100, 0, Duration::seconds(1));
        let running = room(100, Some(2.0), Duration::seconds(1));
        let paused = RoomReading {
            controls: QueueControls { paused: true, ..QueueControls::default() },
            last_admission_at: Some(NOW - Duration::hours(1)),
            ..running
        };
        assert_eq!(paused.estimated_wait(50, &policy, NOW), running.estimated_wait(50, &policy, NOW));
        let an_hour_on = NOW + Duration::hours(1);
        assert_eq!(
            paused.estimated_wait(50, &policy, an_hour_on),
            paused.estimated_wait(50, &policy, NOW),
            "the clock is stopped"
        );
    }

    #[test]
    fn the_box_office_overrides_are_the_caps_that_count() {
        let settings = policy(100, 0, Duration::seconds(1));
        let braked = RoomReading {
            controls: QueueControls { admit_per_tick: Some(1), ..QueueControls::default() },
            ..room(0, None, Duration::seconds(1))
        };
        assert_eq!(braked.estimated_wait(5, &settings, NOW), Duration::seconds(4));
    }

    #[test]
    fn a_fan_not_waiting_waits_for_nothing() {
        let policy = policy(1, 1, Duration::seconds(1));
        assert_eq!(room(1, None, Duration::ZERO).estimated_wait(0, &policy, NOW), Duration::ZERO);
    }

    #[test]
    fn an_endless_wait_saturates_instead_of_panicking() {
        let endless = QueuePolicy { active_ttl: Duration::MAX, ..policy(1, 0, Duration::seconds(1)) };
        let stuck = room(1, Some(f64::NAN), Duration::ZERO);
        assert_eq!(stuck.estimated_wait(u64::MAX, &endless, NOW), Duration::MAX);
    }

    #[test]
    fn the_outflow_is_admissions_less_the_growth_of_the_active_count() {
        let earlier = Occupancy { admitted_total: 100, active: 80 };
        let later = Occupancy { admitted_total: 130, active: 90 };
        assert_eq!(
            later.freed_per_second_since(&earlier, 10.0),
            Some(2.0),
            "30 in, 10 more active: 20 freed"
        );
        let emptied = Occupancy { admitted_total: 100, active: 0 };
        assert_eq!(emptied.freed_per_second_since(&earlier, 4.0), Some(20.0));
        assert_eq!(later.freed_per_second_since(&earlier, 0.0), None);
        assert_eq!(later.freed_per_second_since(&earlier, f64::NAN), None);
    }
}
