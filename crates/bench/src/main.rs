//! `frontrow-bench`: the benchmark suite. It creates a fresh PostgreSQL database (a copy
//! of the tests' migrated template), fills a catalogue, starts release `frontrow` instance(s)
//! on it, runs the seven scenarios with the load generator on the same machine, checks the
//! outcomes (one winner per race, zero 5xx, the booking audit), and writes
//! `docs/BENCHMARKS.md` with its chart `docs/benchmarks.svg`. Scenario 9, the wait estimate's
//! accuracy, runs on a database and an instance of its own (`scenarios::estimate`); `BENCH_ONLY`
//! picks scenarios.
//!
//! Run it through `make bench`; sizes and paths are environment variables (see `config`), e.g.
//! `BENCH_SCALE=0.1` for a quick smoke run. The exit status is non-zero when a correctness
//! check fails; a missed performance target is reported, not fatal, but the wait estimate's
//! accuracy bounds are a check in a full-size run.

mod chart;
mod client;
mod common;
mod config;
mod cpu;
mod db;
mod http;
mod loadgen;
mod oha;
mod report;
mod results;
mod scenarios;
mod server;

use std::sync::Arc;
use std::time::Duration;

use adapter_postgres::testing::TestDatabase;

use crate::config::Config;
use crate::cpu::Meter;
use crate::db::{CONCERT_ONE_SCHEDULES, SEATS_PER_SCHEDULE};
use crate::http::Api;
use crate::loadgen::Generator;
use crate::report::Context;
use crate::results::{OneInstance, Results};
use crate::scenarios::{booking, estimate, instances, polling, race, reads, spike};
use crate::server::Server;

/// Errors of the benchmark binary.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// `CATALOGUE_CACHE_SECONDS` of the main instances (the default).
const CACHE_SECONDS: u64 = 10;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    common::exit_with("frontrow-bench", run().await);
}

/// Progress on stderr (the report is the product).
fn say(message: impl AsRef<str>) {
    eprintln!("[bench] {}", message.as_ref());
}

/// Runs the scenarios `BENCH_ONLY` selects (all by default); `Ok(false)` when a correctness
/// check failed.
async fn run() -> BenchResult<bool> {
    let config = Config::from_env()?;
    say(format!("{config:?}"));
    let mut results = Results::default();
    let (mut generator, mut postgres) = (None, String::new());
    if config.selects("core") {
        let picked = Generator::pick(config.oha.clone()).await;
        say(format!("read scenarios use {}", picked.describe()));
        postgres = core(&config, &picked, &mut results).await?;
        generator = Some(picked);
    }
    if config.selects("estimate") {
        let plan = estimate::Plan::at(config.scale);
        say(format!("9 · wait estimate: {} fans at {:.1}/s", plan.fans, plan.arrivals_per_second));
        match estimate::run(&config).await {
            Ok(measured) => {
                results.estimate(&measured, config.scale >= 1.0);
                if postgres.is_empty() {
                    postgres.clone_from(&measured.postgres);
                }
            }
            Err(error) => results.not_run("9 · wait estimate", &error),
        }
    }
    // Scenarios ran in the order their data needs (tokens first); report them by number.
    results.rows.sort_by_key(|row| row.scenario.chars().next());
    results.notes.sort_by_key(|(heading, _)| heading.chars().next());
    write(&config, generator.as_ref(), &postgres, &results)?;
    for failure in &results.failures {
        say(format!("CHECK FAILED: {failure}"));
    }
    Ok(results.failures.is_empty())
}

/// Scenarios 1–8, which share a database and the token spike's fans, into `results`; returns
/// the database server's version.
async fn core(config: &Config, generator: &Generator, results: &mut Results) -> BenchResult<String> {
    let database = TestDatabase::create().await;
    let db = db::connect(database.url()).await?;
    let booking_schedules = i64::try_from(config.booking_schedules())?.max(1);
    db::fill_catalogue(&db, CONCERT_ONE_SCHEDULES + booking_schedules).await?;
    // Start from a quiet server: write out what the catalogue fill (and the position benchmark
    // `make bench` runs first, a million-token database) left dirty, so a checkpoint does not
    // land in the middle of the first scenarios.
    db.batch_execute("CHECKPOINT").await?;
    say(format!("database ready: {} performances", CONCERT_ONE_SCHEDULES + booking_schedules));

    let mut servers = Vec::new();
    for _ in 0..config.instances {
        servers.push(Server::start(config, database.url(), CACHE_SECONDS).await?);
    }
    let api = Api::new(&servers.iter().map(|s| s.base_url.clone()).collect::<Vec<_>>())?;

    say(format!("2 · token spike: {} fans", config.total_users()));
    let database_name = database.url().rsplit('/').next().unwrap_or_default().to_owned();
    let meter = Meter { servers: servers.iter().map(Server::pid).collect(), database: database_name };
    let before = meter.snapshot();
    let spike = spike::run(&api, config.total_users(), config.spike_concurrency).await?;
    results.spike(&spike, config.spike_concurrency, meter.snapshot().since(&before));
    let admitted = db::wait_all_active(&db, Duration::from_secs(60)).await?;
    say(format!("all admitted {} ms after the spike", admitted.as_millis()));
    // Settle the bulk insert and admission (autovacuum would, later): not in one batch, as a
    // multi-statement batch is one transaction and VACUUM refuses to run in one.
    for table in ["queue_tokens", "users"] {
        db.batch_execute(&format!("VACUUM ANALYZE {table}")).await?;
    }
    db.batch_execute("CHECKPOINT").await?;
    let tokens = spike.tokens;
    let race_tokens = Arc::new(tokens[..config.race_users()].to_vec());
    let mut one_instance = OneInstance { race_ms: 0.0, list_p99_ms: 0.0, polling_per_second: 0.0 };

    for (size, large, number) in [(config.race_small, false, 1i16), (config.race_large, true, 2)] {
        let (attempts, concurrency) = size;
        say(format!("1 · HTTP race: {attempts} attempts at {concurrency}"));
        let http_seat = db::seat(&db, 1, number).await?;
        let before = meter.snapshot();
        let http = race::over_http(&api, &race_tokens, &http_seat, attempts, concurrency).await?;
        let http_cpu = meter.snapshot().since(&before);
        say(format!("5 · SQL race: {attempts} attempts at {concurrency}"));
        let sql_seat = db::seat(&db, 2, number).await?;
        let sql =
            race::over_sql(database.url(), &sql_seat, attempts, concurrency, config.sql_connections, &meter)
                .await?;
        let rows = [
            db::reservations_on(&db, http_seat.seat_id).await?,
            db::reservations_on(&db, sql_seat.seat_id).await?,
        ];
        results.race(&http, &sql, rows, large, http_cpu);
        if large {
            one_instance.race_ms = http.wall_ms;
            one_instance.list_p99_ms = http.seat_list.ms(0.99);
        }
    }

    say(format!("4 · booking flow: {} fans", config.booking_users));
    let fans = Arc::new(tokens[config.race_users()..].to_vec());
    let booked = booking::run(
        &api,
        fans,
        config.race_users() + 1,
        booking_schedules,
        config.booking_concurrency,
        &meter,
    )
    .await?;
    let audit = db::audit(&db).await?;
    results.booking(&booked, &audit);

    say("6 · catalogue reads, cache on and off");
    match catalogue(config, generator, &servers[0].base_url, database.url(), &tokens[1], &meter).await {
        Ok(runs) => results.catalogue(&runs, config.catalogue_reads),
        Err(error) => results.not_run("6 · catalogue reads", &error),
    }

    for server in &servers {
        show_errors("server", server);
    }
    // Last, with the main instances stopped: they admit without a cap, and these fans must wait.
    drop(servers);
    say(format!("3 · polling: {} waiting fans at {} req/s", config.poll_fans, config.poll.rate));
    let polled = match polling(config, generator, database.url(), &db, &meter).await {
        Ok(polling) => {
            results.polling(&polling, &generator.describe());
            one_instance.polling_per_second = polling.capacity.ok_per_second;
            Some(polling)
        }
        Err(error) => {
            results.not_run("3 · polling", &error);
            None
        }
    };
    let seventh = "7 · three instances";
    if config.instances != 1 {
        results.note(
            seventh,
            vec![format!("Not run: it compares with one instance, and this run has {}.", config.instances)],
        );
    } else if polled.is_none() {
        results
            .note(seventh, vec!["Not run: it polls scenario 3's fans, and scenario 3 did not run.".into()]);
    }
    if let Some(polled) = polled.filter(|_| config.instances == 1) {
        say(format!("7 · scenarios 1 and 3 over {} instances", instances::INSTANCES));
        let spread =
            instances::run(config, database.url(), &db, CACHE_SECONDS, &race_tokens, &polled, &meter).await;
        match spread {
            Ok(spread) => results.instances(&spread, &one_instance),
            Err(error) => results.not_run(seventh, &error),
        }
    }
    results.scans(&db::sequential_scans(&db, 1_000_000, 1_000).await?);
    if let Some(positions) = config.extra.as_ref().and_then(|path| std::fs::read_to_string(path).ok()) {
        results.waiting_room_scale(&positions);
    }
    Ok(db.query_one("SHOW server_version", &[]).await?.try_get(0)?)
}

/// Scenario 6: the main instance (cache on), then a fresh instance with the cache off.
async fn catalogue(
    config: &Config,
    generator: &Generator,
    cached: &str,
    database_url: &str,
    token: &str,
    meter: &Meter,
) -> BenchResult<Vec<reads::CatalogueRun>> {
    let mut runs = reads::catalogue(config, generator, cached, token, CACHE_SECONDS, meter).await?;
    let uncached = Server::start(config, database_url, 0).await?;
    runs.extend(
        reads::catalogue(
            config,
            generator,
            &uncached.base_url,
            token,
            0,
            &meter.with_servers(vec![uncached.pid()]),
        )
        .await?,
    );
    Ok(runs)
}

/// Scenario 3 on an instance of its own that admits nobody (`QUEUE_MAX_ACTIVE=1`, and the
/// race fans' tokens are active for an hour), so its fans stay WAITING.
async fn polling(
    config: &Config,
    generator: &Generator,
    database_url: &str,
    db: &tokio_postgres::Client,
    meter: &Meter,
) -> BenchResult<polling::Polling> {
    let server =
        Server::start_with(config, database_url, CACHE_SECONDS, &[("QUEUE_MAX_ACTIVE", "1")]).await?;
    let polled =
        polling::run(config, generator, &server.base_url, db, &meter.with_servers(vec![server.pid()])).await;
    show_errors("polling server", &server);
    polled
}

/// Shows `server`'s recent log on stderr when it holds an error or a panic.
pub(crate) fn show_errors(what: &str, server: &Server) {
    let log = server.log_tail();
    if log.contains("ERROR") || log.contains("panicked") {
        say(format!("{what} log (pid {}) shows errors:\n{log}", server.pid()));
    }
}

/// Writes the report and the chart; `generator` is the core scenarios' (`None` when they did
/// not run), `postgres` the database server's version.
fn write(
    config: &Config,
    generator: Option<&Generator>,
    postgres: &str,
    results: &Results,
) -> BenchResult<()> {
    // The position benchmark's figures belong with the core scenarios.
    let extra = match (&config.extra, generator) {
        (Some(path), Some(_)) => std::fs::read_to_string(path).ok(),
        _ => None,
    };
    let chart = config.chart();
    let context = Context {
        header: header(config, generator, postgres),
        notes: results.notes.clone(),
        extra,
        chart: chart.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    if let Some(dir) = config.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&config.out, report::markdown(&results.rows, &context))?;
    chart::draw(&results.rows, &chart)?;
    if let Some(readme) = &config.readme {
        let when = time::OffsetDateTime::now_utc().date();
        let updated = std::fs::read_to_string(readme).ok().and_then(|text| {
            report::with_headline(&text, &results.rows, &format!("{when}, {}", scale_note(config)))
        });
        if let Some(updated) = updated {
            std::fs::write(readme, updated)?;
            say(format!("updated the headline table in {}", readme.display()));
        }
    }
    say(format!("wrote {} and {}", config.out.display(), chart.display()));
    println!(
        "{}",
        report::markdown(&results.rows, &Context { header: vec![], notes: vec![], extra: None, ..context })
    );
    Ok(())
}

/// "full sizes" or the scale a run used.
fn scale_note(config: &Config) -> String {
    if config.race_large.0 >= 10_000 && config.booking_users >= 10_000 {
        "full sizes, load generator on the same 2 cores".into()
    } else {
        format!(
            "REDUCED sizes (race {}@{}, {} booking fans)",
            config.race_large.0, config.race_large.1, config.booking_users
        )
    }
}

/// When, where, with what.
fn header(config: &Config, generator: Option<&Generator>, postgres: &str) -> Vec<String> {
    let (cores, cpu, when) = common::machine();
    let Some(generator) = generator else {
        let names = config.only.as_ref().map(|names| names.join(",")).unwrap_or_default();
        return vec![format!(
            "Run {when} on {cores} cores ({cpu}), PostgreSQL {postgres} (fsync on) and the load generator on \
             the same machine; only `BENCH_ONLY={names}`, at `BENCH_SCALE={}`.",
            config.scale
        )];
    };
    let per = |v: &Option<String>, default: &str| v.clone().unwrap_or_else(|| default.to_owned());
    vec![
        format!(
            "Run {when} on {cores} cores ({cpu}), PostgreSQL {postgres} (fsync on) and the load generator on the same machine; \
             {} `frontrow` instance(s) (release, `HTTP_WORKERS={}`, `DATABASE_MAX_CONNECTIONS={}`, no queue caps, \
             `CATALOGUE_CACHE_SECONDS={CACHE_SECONDS}`); scenario 3 runs last on an instance of its own with \
             `QUEUE_MAX_ACTIVE=1`, so that its fans stay waiting.",
            config.instances,
            per(&config.http_workers, "one per core"),
            per(&config.db_pool, "16")
        ),
        format!(
            "Sizes: races {}@{} and {}@{}, {} fans in the token spike, {} in the booking flow on {} seats, \
             polling by {} waiting fans at {} req/s for {} s, catalogue {} reads then up to {} req/s (at most 70 % of the closed-loop rate) for {} s. Scale with `BENCH_SCALE` or the \
             `BENCH_*` variables of `crates/bench/src/config.rs`. Scenario 6 and scenario 3's one-token run are driven by {}; \
             scenario 3's many-fan runs by the built-in generator, which rotates tokens.",
            config.race_small.0,
            config.race_small.1,
            config.race_large.0,
            config.race_large.1,
            config.total_users(),
            config.booking_users,
            usize::try_from(SEATS_PER_SCHEDULE).unwrap_or(50) * config.booking_schedules(),
            config.poll_fans,
            config.poll.rate,
            config.poll.duration.as_secs_f64(),
            config.catalogue_reads,
            config.catalogue.rate,
            config.catalogue.duration.as_secs_f64(),
            generator.describe()
        ),
    ]
}
