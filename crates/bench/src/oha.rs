//! Scenarios 3 and 6 go through `oha` (crates.io, `cargo install oha --locked`), an open-model
//! HTTP load generator: with `-q RATE --latency-correction` it sends at a fixed arrival rate
//! and measures each latency from the instant the request was due, so a slow server cannot
//! hide its queueing (no coordinated omission). Its JSON summary is parsed here.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::BenchResult;
use crate::config::OpenLoad;

/// How `oha` is to load the server.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// Open model: `rate` requests per second for `duration`, latency-corrected.
    Open(OpenLoad),
    /// Closed model: `requests` requests by `connections` clients as fast as answered.
    Count {
        /// Requests in all.
        requests: usize,
        /// Concurrent connections.
        connections: usize,
    },
    /// Closed model for a duration: the capacity at `connections` clients.
    For {
        /// How long.
        duration: Duration,
        /// Concurrent connections.
        connections: usize,
    },
}

/// `oha`'s summary of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    /// 2xx answers per second over the run.
    pub ok_per_second: f64,
    /// Wall time of the run, ms.
    pub wall_ms: f64,
    /// 2xx answers.
    pub ok: u64,
    /// Other answers and failed requests.
    pub not_ok: u64,
    /// Latency percentiles, ms (from the due instant in the open model).
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p95_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
}

/// Runs `oha` against `url` with a bearer token and returns its summary.
pub async fn run(oha: &Path, url: &str, token: &str, load: Load) -> BenchResult<Measured> {
    let mut command = Command::new(oha);
    command.args(["--no-tui", "--output-format", "json", "-H"]).arg(format!("Authorization: Bearer {token}"));
    match load {
        Load::Open(open) => {
            command
                .args(["-q", &open.rate.to_string(), "--latency-correction"])
                .args(["-z", &format!("{}ms", open.duration.as_millis())])
                .args(["-c", &open.connections.to_string()]);
        }
        Load::Count { requests, connections } => {
            command.args(["-n", &requests.to_string(), "-c", &connections.to_string()]);
        }
        Load::For { duration, connections } => {
            command
                .args(["-z", &format!("{}ms", duration.as_millis())])
                .args(["-c", &connections.to_string()]);
        }
    }
    command.arg(url);
    let output = command.output().await.map_err(|error| {
        format!(
            "cannot run {} ({error}); install it once with `cargo install oha --locked --root target/tools` \
             (or set BENCH_OHA)",
            oha.display()
        )
    })?;
    if !output.status.success() {
        return Err(
            format!("oha failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr)).into()
        );
    }
    parse(&serde_json::from_slice(&output.stdout)?)
}

/// Reads the fields of `oha --output-format json` this benchmark reports.
fn parse(json: &Value) -> BenchResult<Measured> {
    let number = |pointer: &str| -> BenchResult<f64> {
        json.pointer(pointer)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("oha's JSON has no {pointer}").into())
    };
    let total_s = number("/summary/total")?;
    let (mut ok, mut not_ok) = (0u64, 0u64);
    if let Some(statuses) = json.get("statusCodeDistribution").and_then(Value::as_object) {
        for (status, count) in statuses {
            let count = count.as_u64().unwrap_or(0);
            if status.starts_with('2') { ok += count } else { not_ok += count }
        }
    }
    if let Some(errors) = json.get("errorDistribution").and_then(Value::as_object) {
        // Requests still in flight when a timed run ends are reported as "aborted due to
        // deadline"; they are neither answers nor failures of the server.
        not_ok += errors
            .iter()
            .filter(|(error, _)| !error.contains("deadline"))
            .filter_map(|(_, count)| count.as_u64())
            .sum::<u64>();
    }
    Ok(Measured {
        ok_per_second: ok as f64 / total_s.max(1e-9),
        wall_ms: total_s * 1e3,
        ok,
        not_ok,
        p50_ms: number("/metrics/latency_ms/p50").unwrap_or(f64::NAN),
        p95_ms: number("/metrics/latency_ms/p95").unwrap_or(f64::NAN),
        p99_ms: number("/metrics/latency_ms/p99").unwrap_or(f64::NAN),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_oha_json() {
        let json = serde_json::json!({
            "summary": { "total": 2.0, "requestsPerSec": 100.0 },
            "metrics": { "latency_ms": { "p50": 1.5, "p95": 3.0, "p99": 4.25 } },
            "statusCodeDistribution": { "200": 190, "503": 4 },
            "errorDistribution": { "aborted due to deadline": 7, "connection closed": 1 }
        });
        let measured = parse(&json).expect("parses");
        assert_eq!(measured.ok, 190);
        assert_eq!(measured.not_ok, 5);
        assert!((measured.ok_per_second - 95.0).abs() < 1e-9);
        assert!((measured.p99_ms - 4.25).abs() < 1e-9);
        assert!((measured.wall_ms - 2000.0).abs() < 1e-9);
    }
}
