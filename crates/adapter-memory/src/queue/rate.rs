//! The observed admission rate: tokens admitted per second over the admission steps of about
//! the last half minute, kept up to date as steps run so that reading it costs nothing.

use std::collections::VecDeque;

use time::{Duration, OffsetDateTime};

/// How far back from the latest admission step the rate looks.
pub(crate) const WINDOW: Duration = Duration::seconds(30);

/// The admission steps of the last [`WINDOW`], oldest first, as `(instant, admitted)`.
///
/// The rate is the tokens admitted after the oldest step, divided by the time from the oldest
/// step to the latest: the oldest step only marks where the measured span begins. Steps run at
/// most once per tick (and steps at one instant share an entry), so the log stays small.
#[derive(Debug, Default)]
pub(crate) struct AdmissionLog {
    steps: VecDeque<(OffsetDateTime, u64)>,
    /// `admitted` summed over every step but the oldest.
    admitted_after_oldest: u64,
}

impl AdmissionLog {
    /// Records an admission step that ran at `at` and admitted `admitted` tokens, and forgets
    /// the steps that fell out of the window. An instant earlier than the latest step counts as
    /// the latest step's, so the log stays in order.
    pub(crate) fn record(&mut self, at: OffsetDateTime, admitted: u64) {
        match self.steps.back_mut() {
            Some(latest) if at <= latest.0 => {
                latest.1 = latest.1.saturating_add(admitted);
                if self.steps.len() > 1 {
                    self.admitted_after_oldest = self.admitted_after_oldest.saturating_add(admitted);
                }
            }
            Some(_) => {
                self.steps.push_back((at, admitted));
                self.admitted_after_oldest = self.admitted_after_oldest.saturating_add(admitted);
            }
            None => self.steps.push_back((at, admitted)),
        }
        let Some(&(latest, _)) = self.steps.back() else { return };
        while self.steps.front().is_some_and(|&(oldest, _)| oldest < latest - WINDOW) {
            self.steps.pop_front();
            if let Some(&(_, new_oldest)) = self.steps.front() {
                self.admitted_after_oldest = self.admitted_after_oldest.saturating_sub(new_oldest);
            }
        }
    }

    /// Tokens admitted per second over the window; `None` until two steps at different
    /// instants have been recorded.
    pub(crate) fn per_second(&self) -> Option<f64> {
        let (&(oldest, _), &(latest, _)) = (self.steps.front()?, self.steps.back()?);
        let span = (latest - oldest).as_seconds_f64();
        (span > 0.0).then(|| self.admitted_after_oldest as f64 / span)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const START: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn at(seconds: i64) -> OffsetDateTime {
        START + Duration::seconds(seconds)
    }

    fn log_of(steps: &[(i64, u64)]) -> AdmissionLog {
        let mut log = AdmissionLog::default();
        for &(second, admitted) in steps {
            log.record(at(second), admitted);
        }
        log
    }

    #[test]
    fn no_rate_without_two_steps_at_different_instants() {
        assert_eq!(log_of(&[]).per_second(), None);
        assert_eq!(log_of(&[(0, 5)]).per_second(), None);
        assert_eq!(log_of(&[(0, 5), (0, 3)]).per_second(), None, "one instant is no span");
    }

    #[test]
    fn rate_counts_the_tokens_admitted_after_the_oldest_step_over_the_span() {
        assert_eq!(log_of(&[(0, 2), (1, 2), (2, 2)]).per_second(), Some(2.0));
        assert_eq!(log_of(&[(0, 40), (4, 0), (8, 6)]).per_second(), Some(0.75));
    }

    #[test]
    fn steps_at_one_instant_share_an_entry() {
        let log = log_of(&[(0, 1), (2, 3), (2, 5)]);
        assert_eq!(log.steps.len(), 2);
        assert_eq!(log.per_second(), Some(4.0));
    }

    #[test]
    fn a_step_earlier_than_the_latest_counts_as_the_latest() {
        assert_eq!(log_of(&[(0, 1), (4, 2), (3, 6)]).per_second(), Some(2.0));
    }

    #[test]
    fn steps_older_than_the_window_are_forgotten() {
        let log = log_of(&[(0, 100), (10, 100), (35, 5), (40, 5)]);
        assert_eq!(log.steps.len(), 3, "the step at 0 is more than 30 s before the one at 40");
        assert_eq!(log.per_second(), Some(10.0 / 30.0));
        let quiet = log_of(&[(0, 9), (100, 1)]);
        assert_eq!(quiet.per_second(), None, "only the latest step is left");
    }
}
