//! Scenario 6, catalogue reads (`GET /api/concerts`, `GET /api/{id}/available-dates`) with
//! and without the in-process cache: a closed-loop run that mirrors the reference study's 10,000 reads,
//! then a fixed arrival rate through the open-model, latency-corrected generator (`loadgen`).

use crate::BenchResult;
use crate::config::{Config, OpenLoad};
use crate::cpu::{Meter, Spent};
use crate::loadgen::Generator;
use crate::oha::{Load, Measured};

/// One endpoint with or without the cache.
pub struct CatalogueRun {
    /// `concerts` or `dates`.
    pub endpoint: &'static str,
    /// `CATALOGUE_CACHE_SECONDS` of the instance read.
    pub cache_seconds: u64,
    /// `catalogue_reads` reads, closed loop (the reference study's measure: their wall time).
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
