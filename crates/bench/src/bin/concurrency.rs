//! `frontrow-concurrency`: the concurrency study. On a fresh copy of the migrated schema it
//! runs every locking strategy for the seat hold, the hot wallet and the payment at the SQL
//! level, `CONCURRENCY_RUNS` interleaved runs each, checks every run's correctness, and
//! rewrites `docs/CONCURRENCY.md` and `docs/concurrency.svg`.
//!
//! Exit status: 0 when every strategy that must be correct was, and every control broke; 2
//! when not; 1 when the study could not run. Settings (environment): `CONCURRENCY_RUNS`
//! (default 3), `CONCURRENCY_SCALE` (multiplies every count, default 1), `CONCURRENCY_OUT`
//! (default `docs/CONCURRENCY.md`, the chart beside it), `CONCURRENCY_SPARE_CONNECTIONS`
//! (connections left to others on the server, default 10), `FRONTROW_TEST_PG_URL` (the admin
//! URL the fresh database is created through).

#[path = "../common.rs"]
mod common;
#[path = "../concurrency/mod.rs"]
mod concurrency;
#[allow(dead_code, reason = "shared with frontrow-bench; the study uses only the catalogue fill")]
#[path = "../db.rs"]
mod db;

use std::path::PathBuf;
use std::time::Duration;

use adapter_postgres::testing::TestDatabase;

use common::grouped;
use concurrency::StudyResult;
use concurrency::document::{self, Context, HttpRace};
use concurrency::payment::{self, PaymentStrategy};
use concurrency::report::{Results, Size, add};
use concurrency::seat::{self, SeatStrategy};
use concurrency::setup::Study;
use concurrency::wallet::{self, WalletStrategy};

/// The name `db` uses for its results.
type BenchResult<T> = StudyResult<T>;

/// No run may take longer: a stuck lock queue fails the study instead of hanging it.
const RUN_CAP: Duration = Duration::from_secs(90);

/// The two sizes of the reference study's race, with its figures (mean wall times; mean seat
/// list during the race).
const SIZES: [Size; 2] = [
    Size {
        attempts: 1_000,
        clients: 10,
        reference: (1_442.0, 1_495.0),
        reference_list: ("28.8 ms", "6.8 ms"),
    },
    Size {
        attempts: 10_000,
        clients: 100,
        reference: (2_666.0, 3_839.0),
        reference_list: ("227–298 ms", "23.4–113.8 ms"),
    },
];

/// The study's settings.
struct Settings {
    runs: usize,
    scale: f64,
    out: PathBuf,
    spare: usize,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    common::exit_with("frontrow-concurrency", run().await);
}

/// Progress on stderr.
fn say(message: impl AsRef<str>) {
    eprintln!("[concurrency] {}", message.as_ref());
}

/// A number from the environment, or `default`.
fn setting<T: std::str::FromStr>(name: &str, default: T) -> StudyResult<T> {
    match std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
        Some(value) => value.trim().parse().map_err(|_| format!("{name}={value:?} is not a number").into()),
        None => Ok(default),
    }
}

/// Runs the study; `Ok(false)` when a check failed.
async fn run() -> StudyResult<bool> {
    let settings = Settings {
        runs: setting("CONCURRENCY_RUNS", 3usize)?.max(1),
        scale: setting("CONCURRENCY_SCALE", 1.0f64)?,
        out: PathBuf::from(setting("CONCURRENCY_OUT", "docs/CONCURRENCY.md".to_owned())?),
        spare: setting("CONCURRENCY_SPARE_CONNECTIONS", 10usize)?,
    };
    if !(settings.scale > 0.0 && settings.scale <= 1.0) {
        return Err("CONCURRENCY_SCALE must be in (0, 1]".into());
    }
    let scaled = |n: usize| ((n as f64 * settings.scale).round() as usize).max(1);
    let sizes = SIZES.map(|size| Size { attempts: scaled(size.attempts), ..size });
    let (charges, fans, contested) = (scaled(1_000), scaled(1_000), 50);
    let clients = sizes.iter().map(|s| s.clients).max().unwrap_or(100);
    let load_before = load_average();

    let database = TestDatabase::create().await;
    // Per run: a performance per race, and for each payment strategy one per 50 paying fans
    // plus one for the contested reservation.
    let per_run =
        SIZES.len() * SeatStrategy::ALL.len() + PaymentStrategy::ALL.len() * (fans.div_ceil(50) + 1);
    let schedules = i64::try_from(settings.runs * per_run)?;
    let mut study = Study::open(database.url(), schedules, clients, SIZES[0].clients, settings.spare).await?;
    let sessions = study.sessions.count();
    say(format!("database ready; {sessions} client sessions; {} runs", settings.runs));

    let mut results = Results::default();
    for round in 1..=settings.runs {
        for size in sizes {
            for strategy in SeatStrategy::ALL {
                say(format!("run {round} · seat {}@{} · {}", size.attempts, size.clients, strategy.name()));
                let raced = seat::race(&mut study, strategy, size.attempts, size.clients, RUN_CAP).await?;
                results.seat.push((size, strategy, vec![raced]));
            }
        }
        for strategy in WalletStrategy::ALL {
            say(format!("run {round} · wallet · {}", strategy.name()));
            add(
                &mut results.wallet,
                strategy,
                wallet::charge(&mut study, strategy, charges, clients, RUN_CAP).await?,
            );
        }
        for strategy in PaymentStrategy::ALL {
            say(format!("run {round} · payment · {}", strategy.name()));
            add(
                &mut results.fans,
                strategy,
                payment::fans(&mut study, strategy, fans, clients, RUN_CAP).await?,
            );
            let paid = payment::contested(&mut study, strategy, contested, contested, RUN_CAP).await?;
            add(&mut results.contested, strategy, paid);
        }
    }
    results.seat = merged(std::mem::take(&mut results.seat));

    let postgres: String = study.admin.query_one("SHOW server_version", &[]).await?.try_get(0)?;
    let load_after = load_average();
    drop(study);
    drop(database);
    let chart = settings.out.with_file_name("concurrency.svg");
    let context = Context {
        header: header(&settings, &postgres, sessions, &load_before, &load_after),
        chart: chart.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        sizes: (charges, clients, fans, contested, clients),
        sessions,
        http: http_figures(&settings.out.with_file_name("BENCHMARKS.md")),
        previous: std::fs::read_to_string(&settings.out).ok(),
    };
    if let Some(dir) = settings.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&settings.out, document::markdown(&results, &context))?;
    concurrency::chart::draw(&results, &chart)?;
    say(format!("wrote {} and {}", settings.out.display(), chart.display()));
    let failures = results.failures();
    for failure in &failures {
        say(format!("CHECK FAILED: {failure}"));
    }
    Ok(failures.is_empty())
}

/// Figure 1's runs grouped per size and strategy, in the order they first ran.
fn merged(
    runs: Vec<(Size, SeatStrategy, Vec<seat::SeatRun>)>,
) -> Vec<(Size, SeatStrategy, Vec<seat::SeatRun>)> {
    let mut grouped: Vec<(Size, SeatStrategy, Vec<seat::SeatRun>)> = Vec::new();
    for (size, strategy, raced) in runs {
        match grouped.iter_mut().find(|(s, k, _)| s.attempts == size.attempts && *k == strategy) {
            Some((_, _, list)) => list.extend(raced),
            None => grouped.push((size, strategy, raced)),
        }
    }
    grouped
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The machine, the server, the sizes.
fn header(settings: &Settings, postgres: &str, sessions: usize, before: &str, after: &str) -> Vec<String> {
    let (cores, cpu, when) = common::machine();
    vec![
        format!(
            "Run {when} on {cores} cores ({cpu}), PostgreSQL {postgres} (fsync on, READ COMMITTED) on the same \
             machine as the clients, over loopback. {} interleaved runs of every strategy (each run goes through \
             all of them in turn); a table shows the median and, in brackets, the lowest and highest of the runs, \
             or each run's value. Load average (1, 5, 15 min) before the study: {before}; after: {after}.",
            settings.runs
        ),
        format!(
            "Clients are tokio tasks in one process (closed loop: a client sends its next attempt when the \
             previous one is answered), each on a PostgreSQL session of its own ({sessions} sessions were free for \
             the clients: where a figure has more clients, they queue for a session as an application's pool \
             would, and the wait counts in the attempt's latency), with prepared statements, `lock_timeout` 5 s \
             and `statement_timeout` 15 s. \
             Scale: `CONCURRENCY_SCALE={}`.",
            settings.scale
        ),
    ]
}

/// The race figures of `docs/BENCHMARKS.md` (scenarios 1 and 5), with when it ran.
fn http_figures(path: &std::path::Path) -> Option<(Vec<HttpRace>, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let run = text.lines().find(|l| l.starts_with("Run "))?;
    let run = run.split(" on ").next().unwrap_or(run).trim_start_matches("Run ").to_owned();
    // The bold figure of the first row of `scenario` whose metric starts with `metric`.
    let figure = |scenario: &str, metric: &str| -> Option<f64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(scenario) && l[scenario.len()..].trim_start().starts_with(metric))?;
        line.split("**").nth(1)?.trim_end_matches(" ms").replace(',', "").parse().ok()
    };
    let mut races = Vec::new();
    for size in SIZES {
        let metric = format!(
            "{} same-seat attempts, {} concurrent: wall time",
            grouped(size.attempts as u64),
            size.clients
        );
        races.push(HttpRace {
            attempts: size.attempts,
            clients: size.clients,
            http_ms: figure("| 1 · race over HTTP |", &metric)?,
            sql_ms: figure("| 5 · race, raw SQL |", &metric)?,
        });
    }
    Some((races, format!("its run of {run}")))
}
