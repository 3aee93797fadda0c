//! Scenario 2: the token-issue spike. Every fan of the run asks for a queue token at once
//! (`POST /api/token`, a closed loop of `concurrency` clients); the tokens are what the other
//! scenarios use afterwards.

use serde_json::json;

use crate::BenchResult;
use crate::http::{Api, Latencies, StatusCounts, drive, tally};

/// What the spike measured.
pub struct Spike {
    /// Token of user `i + 1` at index `i` (empty when that issue failed).
    pub tokens: Vec<String>,
    /// Tokens issued per second over the whole spike.
    pub per_second: f64,
    /// Latency of each issue.
    pub latency: Latencies,
    /// Answers by class.
    pub counts: StatusCounts,
    /// Wall time, ms.
    pub wall_ms: f64,
}

/// Issues tokens to users `1..=users`.
pub async fn run(api: &Api, users: usize, concurrency: usize) -> BenchResult<Spike> {
    warm_up(api, concurrency).await?;
    let client = api.clone();
    let driven = drive(users, concurrency, move |i| {
        let api = client.clone();
        async move { api.post(i, "/api/token", None, &json!({ "userId": i + 1 })).await }
    })
    .await?;
    let (latency, counts) = tally(driven.outputs.iter().map(|a| (a.status, a.latency)));
    let tokens = driven
        .outputs
        .iter()
        .map(|a| a.body.get("token").and_then(|t| t.as_str()).unwrap_or_default().to_owned())
        .collect();
    Ok(Spike {
        tokens,
        per_second: counts.ok as f64 / driven.wall.as_secs_f64(),
        latency,
        counts,
        wall_ms: driven.wall.as_secs_f64() * 1e3,
    })
}

/// Opens the client's connections (and warms the server's code paths) with `GET /health`.
async fn warm_up(api: &Api, concurrency: usize) -> BenchResult<()> {
    let client = api.clone();
    drive(concurrency * 4, concurrency, move |i| {
        let api = client.clone();
        async move { api.get(i, "/health", None).await }
    })
    .await?;
    Ok(())
}
