//! Scenario 3, polling `GET /api/token` at a fixed arrival rate, and scenario 6, catalogue
//! reads (`GET /api/concerts`, `GET /api/{id}/available-dates`) with and without the
//! in-process cache: both through the open-model, latency-corrected generator (`loadgen`), plus a closed-loop
//! run that shows the capacity (polling) or mirrors the seed's 10,000 reads (catalogue).

use std::time::Duration;

use crate::BenchResult;
use crate::config::{Config, OpenLoad};
use crate::cpu::{Meter, Spent};
use crate::loadgen::Generator;
use crate::oha::{Load, Measured};

/// Scenario 3's figures.
pub struct Polling {
    /// At the fixed rate.
    pub open: Measured,
    /// The rate asked for, req/s.
    pub rate: u64,
    /// Closed loop at the same connection count: how much the server can take.
    pub capacity: Measured,
    /// CPU spent during the closed-loop run.
    pub capacity_cpu: Spent,
    /// The highest fixed rate found that was served with p99 within [`P99_LIMIT_MS`], and that
    /// run (the search steps down from the capacity by a fifth at a time).
    pub sustainable: Option<(u64, Measured)>,
}

/// Issue 6's latency bound for polling.
pub const P99_LIMIT_MS: f64 = 10.0;
/// Steps of the sustainable-rate search.
const SEARCH_STEPS: usize = 6;

/// Polls `base`'s `GET /api/token` with `token`; are the `frontrow` processes (for CPU accounting).
pub async fn polling(
    config: &Config,
    generator: &Generator,
    base: &str,
    token: &str,
    meter: &Meter,
) -> BenchResult<Polling> {
    let url = format!("{base}/api/token");
    let connections = config.poll.connections;
    let warm = Load::For { duration: Duration::from_secs(1), connections };
    generator.run(&url, token, warm).await?;
    let capacity_for = config.poll.duration.min(Duration::from_secs(3));
    let before = meter.snapshot();
    let capacity = generator.run(&url, token, Load::For { duration: capacity_for, connections }).await?;
    let capacity_cpu = meter.snapshot().since(&before);
    let open = generator.run(&url, token, Load::Open(config.poll)).await?;
    let mut sustainable = None;
    let mut rate = (capacity.ok_per_second * 0.9).min(config.poll.rate as f64) as u64;
    let step = OpenLoad { duration: capacity_for, ..config.poll };
    for _ in 0..SEARCH_STEPS {
        if rate < 100 {
            break;
        }
        let run = generator.run(&url, token, Load::Open(OpenLoad { rate, ..step })).await?;
        if run.p99_ms <= P99_LIMIT_MS && run.not_ok == 0 && run.ok_per_second >= rate as f64 * 0.97 {
            sustainable = Some((rate, run));
            break;
        }
        rate = rate * 4 / 5;
    }
    Ok(Polling { open, rate: config.poll.rate, capacity, capacity_cpu, sustainable })
}

/// One endpoint with or without the cache.
pub struct CatalogueRun {
    /// `concerts` or `dates`.
    pub endpoint: &'static str,
    /// `CATALOGUE_CACHE_SECONDS` of the instance read.
    pub cache_seconds: u64,
    /// `catalogue_reads` reads, closed loop (the seed's measure: their wall time).
    pub closed: Measured,
    /// At a fixed rate: the configured one, or 70 % of the closed loop's rate if that is lower
    /// (a rate the endpoint can sustain, so that the p99 means something).
    pub open: Measured,
    /// That rate, req/s.
    pub rate: u64,
    /// CPU spent during the closed-loop run.
    pub closed_cpu: Spent,
}

/// Reads the concert list and concert 1's dates from `base` (an instance started with
/// `cache_seconds`; `meter` accounts the CPU).
pub async fn catalogue(
    config: &Config,
    generator: &Generator,
    base: &str,
    token: &str,
    cache_seconds: u64,
    meter: &Meter,
) -> BenchResult<Vec<CatalogueRun>> {
    let mut runs = Vec::new();
    for (endpoint, path) in [("concerts", "/api/concerts"), ("dates", "/api/1/available-dates")] {
        let url = format!("{base}{path}");
        let connections = config.catalogue.connections;
        let warm = Load::Count { requests: 1_000, connections };
        generator.run(&url, token, warm).await?;
        let before = meter.snapshot();
        let closed =
            generator.run(&url, token, Load::Count { requests: config.catalogue_reads, connections }).await?;
        let closed_cpu = meter.snapshot().since(&before);
        let rate = config.catalogue.rate.min((closed.ok_per_second * 0.7) as u64).max(1);
        let open = generator.run(&url, token, Load::Open(OpenLoad { rate, ..config.catalogue })).await?;
        runs.push(CatalogueRun { endpoint, cache_seconds, closed, open, rate, closed_cpu });
    }
    Ok(runs)
}
