//! The load generator of scenarios 3 and 6: `oha` when it is installed (preferred, a
//! well-kept open-model generator), otherwise a built-in one with the same semantics, so that
//! `make bench` from a fresh clone need not spend minutes compiling `oha` first. `oha` sends
//! one fixed `Authorization` header, so the built-in one also drives the runs that rotate over
//! many fans' tokens ([`rotating`]), whether `oha` is installed or not.
//!
//! The built-in open model: request `k` is due at `start + k / rate` and carries token
//! `k mod tokens`; `connections` workers, one keep-alive connection each, take the requests in
//! order, each waiting until its request falls due (or sending at once when it is overdue),
//! and each latency is measured from the DUE instant (latency correction: a server that falls
//! behind shows its queueing instead of slowing the sender). Requests not answered when the
//! duration ends are dropped, as `oha -z` does. One task per connection, not per request, and
//! a histogram per worker keep the generator's own CPU small: it shares the cores with the
//! server and PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::Uri;
use hyper::header::HeaderValue;
use tokio::time::Instant;

use crate::BenchResult;
use crate::client::{Pool, bearer};
use crate::http::Latencies;
use crate::oha::{self, Load, Measured};

/// Which generator drives the read scenarios.
#[derive(Debug, Clone)]
pub enum Generator {
    /// The `oha` binary at this path.
    Oha(PathBuf),
    /// The built-in one.
    Builtin,
}

impl Generator {
    /// `oha` if `path` runs, else the built-in generator.
    pub async fn pick(path: PathBuf) -> Self {
        let runs = tokio::process::Command::new(&path)
            .arg("--version")
            .output()
            .await
            .is_ok_and(|output| output.status.success());
        if runs { Generator::Oha(path) } else { Generator::Builtin }
    }

    /// For the report.
    pub fn describe(&self) -> String {
        match self {
            Generator::Oha(path) => format!("`oha` ({})", path.display()),
            Generator::Builtin => {
                "the built-in open-model generator (`crates/bench/src/loadgen.rs`; `oha` not installed)"
                    .into()
            }
        }
    }

    /// Loads `url` with a bearer `token`.
    pub async fn run(&self, url: &str, token: &str, load: Load) -> BenchResult<Measured> {
        match self {
            Generator::Oha(path) => oha::run(path, url, token, load).await,
            Generator::Builtin => rotating(url, &[token.to_owned()], load).await,
        }
    }
}

/// Loads `url` with the built-in generator, request `k` carrying `tokens[k % tokens.len()]`.
pub async fn rotating(url: &str, tokens: &[String], load: Load) -> BenchResult<Measured> {
    spread(&[url.to_owned()], tokens, load).await
}

/// [`rotating`] over several instances serving one path: connection `c` goes to `urls[c %
/// urls.len()]`, as a connection-level balancer would spread keep-alive connections.
pub async fn spread(urls: &[String], tokens: &[String], load: Load) -> BenchResult<Measured> {
    let mut clients = Vec::with_capacity(urls.len());
    let mut paths = Vec::with_capacity(urls.len());
    for url in urls {
        let (base, path) = split(url)?;
        clients.push(Pool::new(base)?);
        paths.push(path);
    }
    let Some(path) = paths.first() else { return Err("the load generator needs at least one URL".into()) };
    if paths.iter().any(|other| other != path) {
        return Err("every instance must be asked the same path".into());
    }
    let authorizations = tokens.iter().map(|token| bearer(token)).collect::<BenchResult<Vec<_>>>()?;
    if authorizations.is_empty() {
        return Err("the load generator needs at least one token".into());
    }
    let shared = Arc::new(Shared { clients, path: path.parse()?, authorizations, next: AtomicU64::new(0) });
    let started = Instant::now();
    let (connections, plan, wall) = match load {
        Load::Open(open) => {
            let plan = Plan::Open {
                rate: open.rate.max(1),
                total: total(open.rate, open.duration),
                duration: open.duration,
            };
            (open.connections, plan, Some(open.duration))
        }
        Load::Count { requests, connections } => (connections, Plan::Count(requests as u64), None),
        Load::For { duration, connections } => (connections, Plan::Until(duration), Some(duration)),
    };
    let workers: Vec<_> = (0..connections.max(1))
        .map(|connection| tokio::spawn(worker(Arc::clone(&shared), connection, plan, started)))
        .collect();
    let mut latency = Latencies::new();
    let (mut ok, mut not_ok) = (0u64, 0u64);
    for handle in workers {
        let done = handle.await?;
        latency.merge(&done.latency);
        ok += done.ok;
        not_ok += done.not_ok;
    }
    let wall = wall.unwrap_or_else(|| started.elapsed());
    Ok(Measured {
        ok_per_second: ok as f64 / wall.as_secs_f64().max(1e-9),
        wall_ms: wall.as_secs_f64() * 1e3,
        ok,
        not_ok,
        p50_ms: latency.ms(0.5),
        p95_ms: latency.ms(0.95),
        p99_ms: latency.ms(0.99),
    })
}

/// What the workers of one run share.
struct Shared {
    /// One pool per instance.
    clients: Vec<Pool>,
    path: Uri,
    /// `Bearer <token>` of each token, built once.
    authorizations: Vec<HeaderValue>,
    /// The next request's index.
    next: AtomicU64,
}

/// When requests are sent and when the run ends.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// Request `k` due at `start + k / rate`, `total` of them; unanswered after `duration`:
    /// dropped.
    Open { rate: u64, total: u64, duration: Duration },
    /// Back to back, this many requests.
    Count(u64),
    /// Back to back, none started after this long (the last ones are waited for).
    Until(Duration),
}

/// One worker's tally.
struct Tally {
    latency: Latencies,
    ok: u64,
    not_ok: u64,
}

/// Requests of an open run of `rate` req/s for `duration`.
fn total(rate: u64, duration: Duration) -> u64 {
    (rate as f64 * duration.as_secs_f64()) as u64
}

/// The due instant of request `k` at `rate` req/s (integer nanoseconds: no drift).
fn due(start: Instant, k: u64, rate: u64) -> Instant {
    start
        + Duration::from_nanos(
            u64::try_from(u128::from(k) * 1_000_000_000 / u128::from(rate)).unwrap_or(u64::MAX),
        )
}

/// One connection's worth of requests (connection number `connection`, which picks its
/// instance): takes the next index until the plan is done.
async fn worker(shared: Arc<Shared>, connection: usize, plan: Plan, start: Instant) -> Tally {
    let mut tally = Tally { latency: Latencies::new(), ok: 0, not_ok: 0 };
    let n = shared.authorizations.len() as u64;
    let client = &shared.clients[connection % shared.clients.len()];
    loop {
        let k = shared.next.fetch_add(1, Ordering::Relaxed);
        let authorization = &shared.authorizations[usize::try_from(k % n).unwrap_or(0)];
        let (from, status) = match plan {
            Plan::Open { rate, total, duration } => {
                let end = start + duration;
                if k >= total || Instant::now() >= end {
                    break;
                }
                let due = due(start, k, rate);
                if due > Instant::now() {
                    tokio::time::sleep_until(due).await;
                }
                let answered = client.get_status(&shared.path, authorization);
                match tokio::time::timeout_at(end, answered).await {
                    Ok(status) => (due, status),
                    Err(_) => break,
                }
            }
            Plan::Count(requests) if k >= requests => break,
            Plan::Until(duration) if start.elapsed() >= duration => break,
            Plan::Count(_) | Plan::Until(_) => {
                let began = Instant::now();
                (began, client.get_status(&shared.path, authorization).await)
            }
        };
        tally.latency.record(from.elapsed());
        if (200..300).contains(&status) { tally.ok += 1 } else { tally.not_ok += 1 }
    }
    tally
}

/// `http://IP:PORT/path` as the pool's base and the path.
fn split(url: &str) -> BenchResult<(&str, &str)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let slash = rest.find('/').unwrap_or(rest.len());
    Ok((&url[..7 + slash], &rest[slash..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_due_evenly() {
        let start = Instant::now();
        assert_eq!(due(start, 0, 20_000), start);
        assert_eq!(due(start, 20_000, 20_000) - start, Duration::from_secs(1));
        assert_eq!(due(start, 3, 20_000) - start, Duration::from_micros(150));
        assert_eq!(total(20_000, Duration::from_millis(2_500)), 50_000);
    }

    #[test]
    fn urls_split_into_base_and_path() {
        assert_eq!(
            split("http://127.0.0.1:8080/api/token").ok(),
            Some(("http://127.0.0.1:8080", "/api/token"))
        );
        assert!(split("https://x/y").is_err());
    }
}
