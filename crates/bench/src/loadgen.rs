//! The load generator of scenarios 3 and 6: `oha` when it is installed (preferred, a
//! well-kept open-model generator), otherwise a built-in one with the same semantics, so that
//! `make bench` from a fresh clone need not spend minutes compiling `oha` first.
//!
//! The built-in open model: request `k` is due at `start + k / rate`; every millisecond the
//! dispatcher starts all requests that have fallen due, each waiting for one of `connections`
//! keep-alive connections, and each latency is measured from its DUE instant (latency
//! correction: a server that falls behind shows its queueing instead of slowing the sender).
//! Requests not answered when the duration ends are dropped, as `oha -z` does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use tokio::sync::Semaphore;

use crate::BenchResult;
use crate::client::Pool;
use crate::config::OpenLoad;
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
            Generator::Builtin => builtin(url, token, load).await,
        }
    }
}

/// One `GET`: whether it was answered 2xx.
async fn one(client: &Pool, path: &str, token: &str) -> bool {
    client.send(Method::GET, path, Some(token), None).await.ok()
}

/// `http://IP:PORT/path` as the pool's base and the path.
fn split(url: &str) -> BenchResult<(&str, &str)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let slash = rest.find('/').unwrap_or(rest.len());
    Ok((&url[..7 + slash], &rest[slash..]))
}

async fn builtin(url: &str, token: &str, load: Load) -> BenchResult<Measured> {
    let (base, path) = split(url)?;
    let client = Arc::new(Pool::new(base)?);
    let (url, token) = (Arc::<str>::from(path), Arc::<str>::from(token));
    let started = Instant::now();
    let results: Vec<(bool, Duration)> = match load {
        Load::Open(open) => open_model(client, url, token, open).await?,
        Load::Count { requests, connections } => {
            closed(client, url, token, connections, Some(requests), None).await?
        }
        Load::For { duration, connections } => {
            closed(client, url, token, connections, None, Some(duration)).await?
        }
    };
    let wall = match load {
        Load::Open(open) => open.duration,
        Load::For { duration, .. } => duration,
        Load::Count { .. } => started.elapsed(),
    };
    let mut latency = Latencies::new();
    let (mut ok, mut not_ok) = (0u64, 0u64);
    for (success, took) in results {
        latency.record(took);
        if success { ok += 1 } else { not_ok += 1 }
    }
    Ok(Measured {
        ok_per_second: ok as f64 / wall.as_secs_f64(),
        wall_ms: wall.as_secs_f64() * 1e3,
        ok,
        not_ok,
        p50_ms: latency.ms(0.5),
        p95_ms: latency.ms(0.95),
        p99_ms: latency.ms(0.99),
    })
}

/// Fixed arrival rate, latency from each request's due instant.
async fn open_model(
    client: Arc<Pool>,
    url: Arc<str>,
    token: Arc<str>,
    load: OpenLoad,
) -> BenchResult<Vec<(bool, Duration)>> {
    let slots = Arc::new(Semaphore::new(load.connections));
    let total = (load.rate as f64 * load.duration.as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(1.0 / load.rate.max(1) as f64);
    let start = tokio::time::Instant::now();
    let deadline = start + load.duration;
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        let now = tokio::time::Instant::now();
        while sent < total {
            let due = start + interval.mul_f64(sent as f64);
            if due > now {
                break;
            }
            let (client, url, token, slots) =
                (Arc::clone(&client), Arc::clone(&url), Arc::clone(&token), Arc::clone(&slots));
            tasks.push(tokio::spawn(async move {
                let answered = async {
                    let _slot = slots.acquire().await.ok()?;
                    let success = one(&client, &url, &token).await;
                    Some((success, due.elapsed()))
                };
                tokio::time::timeout_at(deadline, answered).await.ok().flatten()
            }));
            sent += 1;
        }
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Some(result) = task.await? {
            results.push(result);
        }
    }
    Ok(results)
}

/// `connections` clients back to back, for `requests` requests or for `duration`.
async fn closed(
    client: Arc<Pool>,
    url: Arc<str>,
    token: Arc<str>,
    connections: usize,
    requests: Option<usize>,
    duration: Option<Duration>,
) -> BenchResult<Vec<(bool, Duration)>> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = duration.map(|d| Instant::now() + d);
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (client, url, token, next) =
            (Arc::clone(&client), Arc::clone(&url), Arc::clone(&token), Arc::clone(&next));
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if requests.is_some_and(|n| i >= n) || deadline.is_some_and(|d| Instant::now() >= d) {
                    return done;
                }
                let began = Instant::now();
                let success = one(&client, &url, &token).await;
                done.push((success, began.elapsed()));
            }
        }));
    }
    let mut results = Vec::new();
    for worker in workers {
        results.extend(worker.await?);
    }
    Ok(results)
}
