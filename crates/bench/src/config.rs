//! Sizes and paths, from environment variables, so a smoke test can run small and the full
//! run (`make bench` on a quiet machine) uses the full sizes.
//!
//! `BENCH_SCALE` (default 1) multiplies every count and duration that is not set explicitly;
//! `BENCH_SCALE=0.1` is a quick smoke run. Each size can also be set on its own (below).
//! `BENCH_ONLY` picks scenarios by name ([`SCENARIOS`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::BenchResult;

/// The names `BENCH_ONLY` takes: `core`, scenarios 1–8, which share one database and the token
/// spike's fans, so they run together; `estimate`, the wait estimate's accuracy (scenario 9),
/// which has a server and database of its own.
pub const SCENARIOS: [&str; 2] = ["core", "estimate"];

/// Everything a run can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// `BENCH_SCALE`, kept to tell a full-size run (where missed accuracy bounds fail it) from
    /// a smaller one.
    pub scale: f64,
    /// `BENCH_ONLY`: a comma list of [`SCENARIOS`] to run; `None` (unset) runs them all and
    /// writes `docs/BENCHMARKS.md`, a selection writes `target/bench/BENCHMARKS.md`.
    pub only: Option<Vec<String>>,
    /// `BENCH_SERVER`: the `frontrow` binary (default: beside this binary).
    pub server: PathBuf,
    /// `BENCH_OHA`: the `oha` load generator (default `target/tools/bin/oha`, then `PATH`).
    pub oha: PathBuf,
    /// `BENCH_OUT`: the report (default `docs/BENCHMARKS.md`, or `target/bench/BENCHMARKS.md`
    /// with `BENCH_ONLY`); the chart goes beside it.
    pub out: PathBuf,
    /// `BENCH_EXTRA`: a markdown file appended to the report (the queue_position bench output).
    pub extra: Option<PathBuf>,
    /// `BENCH_README` (default `README.md`, none when `BENCH_OUT` or `BENCH_ONLY` is set): its headline table,
    /// between the markers of `report::HEADLINE_MARKERS`, is rewritten; `none` leaves it alone.
    pub readme: Option<PathBuf>,
    /// `BENCH_INSTANCES`: `frontrow` instances sharing the database (requests round-robin).
    pub instances: usize,
    /// `BENCH_HTTP_WORKERS`, `BENCH_DB_POOL`: passed as `HTTP_WORKERS`, `DATABASE_MAX_CONNECTIONS`.
    pub http_workers: Option<String>,
    /// See `http_workers`.
    pub db_pool: Option<String>,
    /// Race 1: attempts and concurrency (seed: 1,000 at 10).
    pub race_small: (usize, usize),
    /// Race 2: attempts and concurrency (seed: 10,000 at 100).
    pub race_large: (usize, usize),
    /// `BENCH_SQL_CONNECTIONS`: PostgreSQL connections the raw-SQL race spreads its clients over.
    pub sql_connections: usize,
    /// `BENCH_SPIKE_CONCURRENCY`: clients asking for tokens at once.
    pub spike_concurrency: usize,
    /// `BENCH_BOOKING_USERS`: fans who each list free seats, hold one and pay it.
    pub booking_users: usize,
    /// `BENCH_BOOKING_CONCURRENCY`: fans doing so at once.
    pub booking_concurrency: usize,
    /// `BENCH_POLL_RATE` (req/s, default 20,000: with the default fans, one poll per fan per
    /// second), `BENCH_POLL_SECONDS`, `BENCH_POLL_CONNECTIONS`.
    pub poll: OpenLoad,
    /// `BENCH_POLL_FANS` (default 20,000, scaled): WAITING fans whose tokens the polling
    /// scenario rotates over. Many distinct tokens, because the server keeps the tokens it
    /// read in memory: one token polled over and over would measure that cache, not a queue.
    pub poll_fans: usize,
    /// `BENCH_CATALOGUE_READS`: closed-loop reads per endpoint (seed: 10,000 concert lists).
    pub catalogue_reads: usize,
    /// `BENCH_CATALOGUE_RATE`, `BENCH_CATALOGUE_SECONDS`, `BENCH_CATALOGUE_CONNECTIONS`.
    pub catalogue: OpenLoad,
}

/// A fixed-arrival-rate (open model) load.
#[derive(Debug, Clone, Copy)]
pub struct OpenLoad {
    /// Requests per second to send, whatever the answers' pace.
    pub rate: u64,
    /// How long.
    pub duration: Duration,
    /// Connections the generator may use.
    pub connections: usize,
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> BenchResult<Self> {
        let scale: f64 = match var("BENCH_SCALE") {
            Some(value) => value.parse().map_err(|_| format!("BENCH_SCALE={value:?} is not a number"))?,
            None => 1.0,
        };
        if !(scale > 0.0 && scale <= 10.0) {
            return Err(format!("BENCH_SCALE={scale} must be in (0, 10]").into());
        }
        let fixed = |name: &str, default: usize| -> BenchResult<usize> {
            match var(name) {
                Some(value) => value.parse().map_err(|_| format!("{name}={value:?} is not a count").into()),
                None => Ok(default),
            }
        };
        let count = |name: &str, full: usize| fixed(name, ((full as f64 * scale).round() as usize).max(1));
        let seconds = |name: &str, full: f64| -> BenchResult<Duration> {
            let value = match var(name) {
                Some(value) => {
                    value.parse().map_err(|_| format!("{name}={value:?} is not a number of seconds"))?
                }
                None => (full * scale).max(1.0),
            };
            Ok(Duration::from_secs_f64(value))
        };
        let exe = std::env::current_exe()?;
        let beside = exe.parent().map(|dir| dir.join("frontrow")).unwrap_or_else(|| "frontrow".into());
        let only = match var("BENCH_ONLY") {
            Some(list) => Some(scenario_names(&list)?),
            None => None,
        };
        // A run of some scenarios is a trial: its report goes under target/, not over the
        // full run's in docs/, and README is left alone.
        let default_out = if only.is_some() { "target/bench/BENCHMARKS.md" } else { "docs/BENCHMARKS.md" };
        let oha = var("BENCH_OHA").map(PathBuf::from).unwrap_or_else(|| {
            let local = PathBuf::from("target/tools/bin/oha");
            if local.exists() { local } else { PathBuf::from("oha") }
        });
        Ok(Self {
            scale,
            server: var("BENCH_SERVER").map(PathBuf::from).unwrap_or(beside),
            oha,
            out: var("BENCH_OUT").map_or_else(|| PathBuf::from(default_out), PathBuf::from),
            extra: var("BENCH_EXTRA").map(PathBuf::from),
            readme: match var("BENCH_README") {
                Some(value) if value == "none" => None,
                Some(value) => Some(PathBuf::from(value)),
                // A run writing its report elsewhere (a trial) leaves README alone.
                None if var("BENCH_OUT").is_some() || only.is_some() => None,
                None => Some(PathBuf::from("README.md")),
            },
            instances: fixed("BENCH_INSTANCES", 1)?.max(1),
            http_workers: var("BENCH_HTTP_WORKERS"),
            db_pool: var("BENCH_DB_POOL"),
            race_small: (
                count("BENCH_RACE_SMALL", 1_000)?,
                fixed("BENCH_RACE_SMALL_CONCURRENCY", 10)?.max(1),
            ),
            race_large: (
                count("BENCH_RACE_LARGE", 10_000)?,
                fixed("BENCH_RACE_LARGE_CONCURRENCY", 100)?.max(1),
            ),
            sql_connections: fixed("BENCH_SQL_CONNECTIONS", 32)?.max(1),
            spike_concurrency: fixed("BENCH_SPIKE_CONCURRENCY", 200)?.max(1),
            booking_users: count("BENCH_BOOKING_USERS", 10_000)?,
            booking_concurrency: fixed("BENCH_BOOKING_CONCURRENCY", 64)?.max(1),
            poll: OpenLoad {
                rate: fixed("BENCH_POLL_RATE", 20_000)? as u64,
                duration: seconds("BENCH_POLL_SECONDS", 10.0)?,
                connections: fixed("BENCH_POLL_CONNECTIONS", 64)?.max(1),
            },
            poll_fans: count("BENCH_POLL_FANS", 20_000)?.max(1),
            catalogue_reads: count("BENCH_CATALOGUE_READS", 10_000)?,
            catalogue: OpenLoad {
                rate: fixed("BENCH_CATALOGUE_RATE", 5_000)? as u64,
                duration: seconds("BENCH_CATALOGUE_SECONDS", 5.0)?,
                connections: fixed("BENCH_CATALOGUE_CONNECTIONS", 32)?.max(1),
            },
            only,
        })
    }

    /// Whether the scenario(s) `name` (one of [`SCENARIOS`]) run.
    pub fn selects(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|names| names.iter().any(|n| n == name))
    }

    /// Users the run needs: one per attempt of the larger race, plus the booking fans.
    pub fn race_users(&self) -> usize {
        self.race_small.0.max(self.race_large.0)
    }

    /// Performances of the booking flow: one per 25 fans, so that they compete for the seats.
    pub fn booking_schedules(&self) -> usize {
        self.booking_users.div_ceil(25)
    }

    /// All tokens issued in the spike.
    pub fn total_users(&self) -> usize {
        self.race_users() + self.booking_users
    }

    /// The first user id of the polling fans: after every user of the spike, so that no other
    /// scenario holds or spends their tokens.
    pub fn first_poll_user(&self) -> usize {
        self.total_users() + 1
    }

    /// The chart's path: `benchmarks.svg` beside the report.
    pub fn chart(&self) -> PathBuf {
        self.out.with_file_name("benchmarks.svg")
    }
}

/// The names of a `BENCH_ONLY` list; an unknown name is an error that lists the known ones.
fn scenario_names(list: &str) -> BenchResult<Vec<String>> {
    let names: Vec<String> =
        list.split(',').map(str::trim).filter(|name| !name.is_empty()).map(str::to_owned).collect();
    match names.iter().find(|name| !SCENARIOS.contains(&name.as_str())) {
        Some(unknown) => {
            Err(format!("BENCH_ONLY names {unknown:?}; the scenarios are {}", SCENARIOS.join(", ")).into())
        }
        None if names.is_empty() => Err("BENCH_ONLY names no scenario".into()),
        None => Ok(names),
    }
}

/// A non-empty environment variable.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_list_is_read_with_spaces_and_unknown_names_are_refused() {
        assert_eq!(scenario_names(" estimate, core ").ok(), Some(vec!["estimate".into(), "core".into()]));
        let refused = scenario_names("estimate,race").err().map(|error| error.to_string());
        assert_eq!(refused.as_deref(), Some("BENCH_ONLY names \"race\"; the scenarios are core, estimate"));
        assert!(scenario_names(" , ").is_err(), "an empty list selects nothing and says so");
    }
}
