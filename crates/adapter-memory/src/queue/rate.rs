//! The room's turnover: its counters as the admission steps of about the last half minute left
//! them, from which the places freed per second are read without walking anything.

use std::collections::VecDeque;

use domain::Occupancy;
use time::{Duration, OffsetDateTime};

/// How far back from the latest admission step the turnover looks.
pub(crate) const WINDOW: Duration = Duration::seconds(30);

/// `(instant, counters after the step)` of the admission steps of the last [`WINDOW`], oldest
/// first. Steps run at most once per tick (a step at an instant already logged replaces its
/// entry), so the log stays small.
#[derive(Debug, Default)]
pub(crate) struct TurnoverLog {
    steps: VecDeque<(OffsetDateTime, Occupancy)>,
}

impl TurnoverLog {
    /// Records the counters an admission step at `at` left, and forgets the steps that fell out
    /// of the window. An instant earlier than the latest step counts as the latest step's, so
    /// the log stays in order.
    pub(crate) fn record(&mut self, at: OffsetDateTime, counters: Occupancy) {
        match self.steps.back_mut() {
            Some(latest) if at <= latest.0 => latest.1 = counters,
            _ => self.steps.push_back((at, counters)),
        }
        let Some(&(latest, _)) = self.steps.back() else { return };
        while self.steps.front().is_some_and(|&(oldest, _)| oldest < latest - WINDOW) {
            self.steps.pop_front();
        }
    }

    /// Places freed per second from the oldest step of the window to the latest; `None` until
    /// two steps at different instants have been recorded.
    pub(crate) fn freed_per_second(&self) -> Option<f64> {
        let (&(oldest, first), &(latest, last)) = (self.steps.front()?, self.steps.back()?);
        last.freed_per_second_since(&first, (latest - oldest).as_seconds_f64())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const START: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn log_of(steps: &[(i64, u64, u64)]) -> TurnoverLog {
        let mut log = TurnoverLog::default();
        for &(second, admitted_total, active) in steps {
            log.record(START + Duration::seconds(second), Occupancy { admitted_total, active });
        }
        log
    }

    #[test]
    fn no_turnover_without_two_steps_at_different_instants() {
        assert_eq!(log_of(&[]).freed_per_second(), None);
        assert_eq!(log_of(&[(0, 5, 5)]).freed_per_second(), None);
        assert_eq!(log_of(&[(0, 5, 5), (0, 8, 8)]).freed_per_second(), None, "one instant is no span");
    }

    #[test]
    fn places_freed_are_the_admissions_less_the_growth_of_the_active_count() {
        assert_eq!(log_of(&[(0, 10, 10), (1, 12, 10), (2, 14, 10)]).freed_per_second(), Some(2.0));
        assert_eq!(log_of(&[(0, 40, 40), (4, 40, 34), (8, 46, 40)]).freed_per_second(), Some(0.75));
    }

    #[test]
    fn a_step_at_a_logged_instant_or_earlier_replaces_the_latest_entry() {
        let log = log_of(&[(0, 1, 1), (2, 4, 1), (2, 9, 1)]);
        assert_eq!(log.steps.len(), 2);
        assert_eq!(log.freed_per_second(), Some(4.0));
        assert_eq!(log_of(&[(0, 1, 1), (4, 3, 1), (3, 9, 1)]).freed_per_second(), Some(2.0));
    }

    #[test]
    fn steps_older_than_the_window_are_forgotten() {
        let log = log_of(&[(0, 100, 100), (10, 200, 100), (35, 205, 100), (40, 210, 100)]);
        assert_eq!(log.steps.len(), 3, "the step at 0 is more than 30 s before the one at 40");
        assert_eq!(log.freed_per_second(), Some(10.0 / 30.0));
        assert_eq!(
            log_of(&[(0, 9, 0), (100, 10, 0)]).freed_per_second(),
            None,
            "only the latest step is left"
        );
    }
}
