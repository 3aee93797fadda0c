//! The closed-loop HTTP driver of the logic-heavy scenarios (race, token spike, booking): a
//! keep-alive client over the instances (`client`), latency histograms, and `drive`, which runs `n`
//! operations with a fixed number of concurrent clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hyper::Method;
use serde_json::Value;

use crate::BenchResult;
use crate::client::Pool;

pub use crate::client::Answer;

/// The service's instances, each behind a keep-alive [`Pool`]; request `i` goes to instance
/// `i % instances` (a round-robin load balancer).
#[derive(Clone)]
pub struct Api {
    bases: Arc<Vec<String>>,
    pools: Arc<Vec<Pool>>,
}

impl Api {
    /// A client for `bases` (`http://IP:PORT`).
    pub fn new(bases: &[String]) -> BenchResult<Self> {
        let pools = bases.iter().map(|base| Pool::new(base)).collect::<BenchResult<Vec<_>>>()?;
        Ok(Self { bases: Arc::new(bases.to_vec()), pools: Arc::new(pools) })
    }

    /// A client for the same instances that shares no connection with this one (a connection
    /// is driven by a task of the runtime that opened it).
    pub fn apart(&self) -> BenchResult<Self> {
        Self::new(&self.bases)
    }

    fn pool(&self, i: usize) -> &Pool {
        &self.pools[i % self.pools.len()]
    }

    /// `GET path` with a bearer token.
    pub async fn get(&self, i: usize, path: &str, token: Option<&str>) -> Answer {
        self.pool(i).send(Method::GET, path, token, None).await
    }

    /// `POST path` with a JSON body and a bearer token.
    pub async fn post(&self, i: usize, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.pool(i).send(Method::POST, path, token, Some(body)).await
    }

    /// `DELETE path` with a bearer token.
    pub async fn delete(&self, i: usize, path: &str, token: Option<&str>) -> Answer {
        self.pool(i).send(Method::DELETE, path, token, None).await
    }
}

/// A latency distribution in microseconds (1 µs to 10 min, 3 significant digits).
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Latencies {
    /// Empty.
    pub fn new() -> Self {
        // `new_with_bounds` fails only on bounds like low = 0 or high < 2 * low.
        Self(Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid"))
    }

    /// Adds one sample.
    pub fn record(&mut self, latency: Duration) {
        self.0.saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Samples.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The `q` quantile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1_000.0
    }

    /// The mean in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        self.0.mean() / 1_000.0
    }

    /// The largest sample in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.0.max() as f64 / 1_000.0
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`drive`] returns: each operation's output in index order, and the wall time from the
/// moment all clients were released to the last answer.
pub struct Driven<T> {
    /// Output of operation `i` at index `i`.
    pub outputs: Vec<T>,
    /// Wall time of the whole run.
    pub wall: Duration,
}

/// Runs `op(0..n)` with `concurrency` clients, each taking the next index as soon as its
/// previous operation is done (a closed loop, as the reference study's thread pools did).
pub async fn drive<T, F, Fut>(n: usize, concurrency: usize, op: F) -> BenchResult<Driven<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let workers = concurrency.min(n.max(1));
    let gate = Arc::new(tokio::sync::Barrier::new(workers + 1));
    let mut clients = Vec::new();
    for _ in 0..workers {
        let (op, next, gate) = (Arc::clone(&op), Arc::clone(&next), Arc::clone(&gate));
        clients.push(tokio::spawn(async move {
            gate.wait().await;
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return done;
                }
                done.push((i, op(i).await));
            }
        }));
    }
    gate.wait().await;
    let started = Instant::now();
    let mut all = Vec::with_capacity(n);
    for client in clients {
        all.extend(client.await?);
    }
    let wall = started.elapsed();
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(Driven { outputs: all.into_iter().map(|(_, output)| output).collect(), wall })
}

/// Status counts of a set of answers: 2xx, 4xx, 5xx and failed connections.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatusCounts {
    /// 2xx.
    pub ok: usize,
    /// 4xx.
    pub client_errors: usize,
    /// 5xx.
    pub server_errors: usize,
    /// No answer at all.
    pub failed: usize,
}

impl StatusCounts {
    /// Counts one status.
    fn add(&mut self, status: u16) {
        match status {
            200..=299 => self.ok += 1,
            400..=499 => self.client_errors += 1,
            500..=599 => self.server_errors += 1,
            _ => self.failed += 1,
        }
    }
}

/// The latency distribution and status counts of `answers` (status, latency).
pub fn tally(answers: impl IntoIterator<Item = (u16, Duration)>) -> (Latencies, StatusCounts) {
    let (mut latency, mut counts) = (Latencies::new(), StatusCounts::default());
    for (status, took) in answers {
        latency.record(took);
        counts.add(status);
    }
    (latency, counts)
}
