//! The concurrency study: every locking strategy for the seat hold, the hot wallet and the
//! payment, measured side by side at the SQL level on one fresh database, with the
//! correctness of each run checked (`frontrow-concurrency`, `make bench-concurrency`).
//!
//! Every strategy runs closed-loop: `clients` tasks each take the next attempt as soon as their
//! previous one is answered, each on a PostgreSQL session of its own (checked out of
//! [`Sessions`] per attempt; when the server has fewer free connections than clients, they
//! queue for one, as an application's connection pool would, and the report says so).

pub mod chart;
pub mod document;
pub mod driver;
pub mod payment;
pub mod report;
pub mod seat;
pub mod sessions;
pub mod setup;
pub mod wallet;

use std::time::Duration;

pub use crate::common::grouped;

/// Errors of the study binary.
pub type StudyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What a strategy is for: the report checks each kind differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Must be correct in every run, or the study exits 2.
    Qualifying,
    /// Expected to break (read-modify-write without a lock): the study exits 2 if it does NOT,
    /// which proves that the checks can fail.
    Control,
    /// Shown for comparison; its correctness is reported, not required.
    Comparison,
}

impl Role {
    /// The label in the report's tables.
    pub fn label(self) -> &'static str {
        match self {
            Role::Qualifying => "",
            Role::Control => " (control, must break)",
            Role::Comparison => " (comparison)",
        }
    }
}

/// One attempt's outcome, as a strategy reports it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempt {
    /// It did what it tried (took the seat, charged, paid).
    pub won: bool,
    /// Optimistic retries it needed (version mismatches).
    pub retries: u32,
    /// Deadlocks it met and retried after.
    pub deadlocks: u32,
    /// It stopped retrying before succeeding.
    pub gave_up: bool,
}

impl Attempt {
    /// A plain win or loss, no retries.
    pub fn outcome(won: bool) -> Self {
        Self { won, ..Self::default() }
    }
}

/// Sorted samples, for percentiles.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// From unsorted samples.
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    /// The `q` quantile in milliseconds (nearest rank); 0 when empty.
    pub fn ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1].as_secs_f64() * 1e3
    }
}

/// The median and the spread (lowest, highest) of one figure over the runs.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Lowest.
    pub low: f64,
    /// Highest.
    pub high: f64,
}

impl Spread {
    /// Of `values` (at least one).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut values: Vec<f64> = values.into_iter().collect();
        values.sort_by(f64::total_cmp);
        let median = match values.len() {
            0 => 0.0,
            n if !n.is_multiple_of(2) => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        };
        Self {
            median,
            low: values.first().copied().unwrap_or(0.0),
            high: values.last().copied().unwrap_or(0.0),
        }
    }
}

/// `1,234 ms`, `12.3 ms`, `0.84 ms`.
pub fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{} ms", grouped(value.round() as u64))
    } else if value >= 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.2} ms")
    }
}

/// A median with its spread: `1,234 ms (1,200–1,300)`.
pub fn spread_ms(spread: Spread) -> String {
    format!("{} ({}–{})", ms(spread.median), ms(spread.low).trim_end_matches(" ms"), ms(spread.high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two_and_the_spread_its_extremes() {
        let spread = Spread::of([4.0, 1.0, 3.0, 2.0]);
        assert_eq!((spread.median, spread.low, spread.high), (2.5, 1.0, 4.0));
    }

    #[test]
    fn a_percentile_is_the_nearest_rank_of_the_sorted_samples() {
        let samples = Samples::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(samples.ms(0.50), 50.0);
        assert_eq!(samples.ms(0.99), 99.0);
        assert_eq!(Samples::default().ms(0.99), 0.0);
    }

    #[test]
    fn a_median_with_its_spread_reads_as_one_figure() {
        assert_eq!(spread_ms(Spread::of([1_200.0, 1_234.0, 1_300.0])), "1,234 ms (1,200–1,300 ms)");
    }
}
