//! The brake: what the box office changes in the waiting room while it runs, service-wide.
//! The settings (`QUEUE_MAX_ACTIVE`, `QUEUE_ADMIT_PER_TICK`) are the starting values; the
//! controls stored with the queue override them, and every admission step reads them in the
//! same atomic step as it admits, so a change holds from the next tick on every instance.

use crate::queue::QueuePolicy;

/// The most a cap may be set to, as for the settings.
pub const MOST_CAP: u32 = 1_000_000;

/// The waiting room's run-time controls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueControls {
    /// Nobody is admitted while paused; waiting fans keep their places.
    pub paused: bool,
    /// Overrides `QUEUE_MAX_ACTIVE` (0 = no cap); `None` keeps the setting.
    pub max_active: Option<u32>,
    /// Overrides `QUEUE_ADMIT_PER_TICK` (0 = no cap); `None` keeps the setting.
    pub admit_per_tick: Option<u32>,
}

/// A cap above [`MOST_CAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a cap must be between 0 and {MOST_CAP}, got {0}")]
pub struct CapOutOfRange(pub i64);

/// A cap the box office asked for: 0..=[`MOST_CAP`].
pub fn cap(value: i64) -> Result<u32, CapOutOfRange> {
    u32::try_from(value).ok().filter(|cap| *cap <= MOST_CAP).ok_or(CapOutOfRange(value))
}

impl QueueControls {
    /// The policy an admission step runs under: the settings' with the overrides, or `None`
    /// while paused (the step admits nobody; expiring and dropping go on).
    pub fn govern(&self, settings: &QueuePolicy) -> Option<QueuePolicy> {
        if self.paused {
            return None;
        }
        Some(self.applied_to(settings))
    }

    /// The settings' policy with the overrides, paused or not.
    pub fn applied_to(&self, settings: &QueuePolicy) -> QueuePolicy {
        QueuePolicy {
            max_active: self.max_active.unwrap_or(settings.max_active),
            admit_per_tick: self.admit_per_tick.unwrap_or(settings.admit_per_tick),
            ..*settings
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> QueuePolicy {
        QueuePolicy { max_active: 100, admit_per_tick: 0, ..QueuePolicy::default() }
    }

    #[test]
    fn no_controls_admit_as_the_settings_say() {
        assert_eq!(QueueControls::default().govern(&settings()), Some(settings()));
    }

    #[test]
    fn a_paused_room_admits_nobody_whatever_the_caps() {
        let paused = QueueControls { paused: true, max_active: Some(500), ..QueueControls::default() };
        assert_eq!(paused.govern(&settings()), None);
        assert_eq!(paused.applied_to(&settings()).max_active, 500, "the caps still read back");
    }

    #[test]
    fn overrides_replace_only_the_caps_they_name() {
        let controls = QueueControls { admit_per_tick: Some(7), ..QueueControls::default() };
        let governed = controls.govern(&settings()).expect("not paused");
        assert_eq!((governed.max_active, governed.admit_per_tick), (100, 7));
        assert_eq!(governed.tick, settings().tick);
        let uncapped = QueueControls { max_active: Some(0), ..QueueControls::default() };
        assert_eq!(
            uncapped.govern(&settings()).map(|policy| policy.admission_slots(1_000_000)),
            Some(u64::MAX)
        );
    }

    #[test]
    fn caps_run_from_zero_to_a_million() {
        assert_eq!(cap(0), Ok(0));
        assert_eq!(cap(1_000_000), Ok(1_000_000));
        assert_eq!(cap(1_000_001), Err(CapOutOfRange(1_000_001)));
        assert_eq!(cap(-1), Err(CapOutOfRange(-1)));
    }
}
