//! `GET`/`POST /admin/queue`: the box office's brake. Pause and resume admission, and change
//! the caps, service-wide, while the sale runs.

use domain::controls::cap;
use domain::ports::QueueRepository;
use domain::{CapOutOfRange, QueueControls, QueuePolicy, StoreError};

/// The change asked for; what is left out stays as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControlAdmission {
    /// Pause (`true`) or resume (`false`) admission.
    pub paused: Option<bool>,
    /// A new `QUEUE_MAX_ACTIVE` (0 = no cap).
    pub max_active: Option<i64>,
    /// A new `QUEUE_ADMIT_PER_TICK` (0 = no cap).
    pub admit_per_tick: Option<i64>,
}

/// The room's controls as they stand, and the caps admission runs under with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Whether admission is paused.
    pub paused: bool,
    /// The cap on active fans in force (0 = none).
    pub max_active: u32,
    /// The cap on admissions per tick in force (0 = none).
    pub admit_per_tick: u32,
}

/// Why the controls were not changed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ControlAdmissionError {
    /// A cap outside 0..=1,000,000.
    #[error("{field}: {source}")]
    OutOfRange {
        /// Which cap.
        field: &'static str,
        /// The value refused.
        source: CapOutOfRange,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What admission runs under now, given the settings.
pub async fn current(queue: &dyn QueueRepository, settings: &QueuePolicy) -> Result<Admission, StoreError> {
    Ok(admission(queue.controls().await?, settings))
}

/// Applies the change to the stored controls (all caps checked before anything is written).
pub async fn execute(
    queue: &dyn QueueRepository,
    settings: &QueuePolicy,
    change: ControlAdmission,
) -> Result<Admission, ControlAdmissionError> {
    let checked = |field, value: Option<i64>| {
        value.map(cap).transpose().map_err(|source| ControlAdmissionError::OutOfRange { field, source })
    };
    let max_active = checked("maxActive", change.max_active)?;
    let admit_per_tick = checked("admitPerTick", change.admit_per_tick)?;
    let stored = queue.controls().await?;
    let controls = QueueControls {
        paused: change.paused.unwrap_or(stored.paused),
        max_active: max_active.or(stored.max_active),
        admit_per_tick: admit_per_tick.or(stored.admit_per_tick),
    };
    queue.set_controls(controls).await?;
    Ok(admission(controls, settings))
}

fn admission(controls: QueueControls, settings: &QueuePolicy) -> Admission {
    let policy = controls.applied_to(settings);
    Admission {
        paused: controls.paused,
        max_active: policy.max_active,
        admit_per_tick: policy.admit_per_tick,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::store_down;
    use domain::ports::MockQueueRepository;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn settings() -> QueuePolicy {
        QueuePolicy { max_active: 100, admit_per_tick: 0, ..QueuePolicy::default() }
    }

    fn storing(stored: QueueControls) -> MockQueueRepository {
        let mut queue = MockQueueRepository::new();
        queue.expect_controls().return_once(move || Ok(stored));
        queue
    }

    #[test]
    fn pausing_keeps_the_caps_and_reports_what_admission_runs_under() {
        let stored = QueueControls { max_active: Some(30), ..QueueControls::default() };
        let mut queue = storing(stored);
        let paused = QueueControls { paused: true, ..stored };
        queue.expect_set_controls().with(eq(paused)).times(1).return_once(|_| Ok(()));
        let change = ControlAdmission { paused: Some(true), ..ControlAdmission::default() };
        let now = block_on(execute(&queue, &settings(), change)).expect("paused");
        assert_eq!(now, Admission { paused: true, max_active: 30, admit_per_tick: 0 });
    }

    #[test]
    fn a_new_cap_overrides_the_setting_and_leaves_the_pause_as_it_was() {
        let mut queue = storing(QueueControls { paused: true, ..QueueControls::default() });
        let expected = QueueControls { paused: true, max_active: None, admit_per_tick: Some(5) };
        queue.expect_set_controls().with(eq(expected)).times(1).return_once(|_| Ok(()));
        let change = ControlAdmission { admit_per_tick: Some(5), ..ControlAdmission::default() };
        let now = block_on(execute(&queue, &settings(), change)).expect("changed");
        assert_eq!(now, Admission { paused: true, max_active: 100, admit_per_tick: 5 });
    }

    #[test]
    fn a_cap_out_of_range_is_refused_before_anything_is_read_or_written() {
        for (change, field) in [
            (ControlAdmission { max_active: Some(-1), ..ControlAdmission::default() }, "maxActive"),
            (
                ControlAdmission { admit_per_tick: Some(1_000_001), ..ControlAdmission::default() },
                "admitPerTick",
            ),
        ] {
            let result = block_on(execute(&MockQueueRepository::new(), &settings(), change));
            assert!(
                matches!(result, Err(ControlAdmissionError::OutOfRange { field: at, .. }) if at == field),
                "{result:?}"
            );
        }
    }

    #[test]
    fn current_reports_the_settings_when_nothing_is_stored() {
        let now = block_on(current(&storing(QueueControls::default()), &settings())).expect("read");
        assert_eq!(now, Admission { paused: false, max_active: 100, admit_per_tick: 0 });
    }

    #[test]
    fn a_change_fails_with_store_when_the_store_is_down() {
        let mut queue = MockQueueRepository::new();
        queue.expect_controls().return_once(|| Err(store_down()));
        let result = block_on(execute(&queue, &settings(), ControlAdmission::default()));
        assert!(matches!(result, Err(ControlAdmissionError::Store(_))), "{result:?}");
    }
}
