//! The closed loop: `clients` tasks share `attempts` numbered attempts, each task taking the
//! next number as soon as its previous attempt is answered, all released at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Barrier;
use tokio::task::JoinSet;

use super::sessions::{Session, Sessions};
use super::{Attempt, Samples, StudyResult};

/// A run's totals.
#[derive(Debug, Clone, Default)]
pub struct Driven {
    /// First attempt sent to last answer.
    pub wall: Duration,
    /// Each attempt's latency, waiting for a session included.
    pub latency: Samples,
    /// Attempts that won.
    pub won: u64,
    /// Optimistic retries, over all attempts.
    pub retries: u64,
    /// Deadlocks met, over all attempts.
    pub deadlocks: u64,
    /// Attempts that gave up retrying.
    pub gave_up: u64,
    /// Attempts that ended in an error.
    pub errors: u64,
    /// The first such error, for the report.
    pub first_error: Option<String>,
}

/// What one client task saw.
#[derive(Default)]
struct ClientTally {
    latencies: Vec<Duration>,
    won: u64,
    retries: u64,
    deadlocks: u64,
    gave_up: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `attempts` attempts (`attempt(i, session)` for i in `0..attempts`, which gives the
/// session back with its outcome) over `clients` tasks; an error if the run outlasts `cap`.
pub async fn drive<F, Fut>(
    sessions: &Sessions,
    clients: usize,
    attempts: usize,
    cap: Duration,
    attempt: F,
) -> StudyResult<Driven>
where
    F: Fn(usize, Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (Session, StudyResult<Attempt>)> + Send + 'static,
{
    let attempt = Arc::new(attempt);
    let next = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Barrier::new(clients + 1));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (attempt, next, gate, sessions) =
            (Arc::clone(&attempt), Arc::clone(&next), Arc::clone(&gate), sessions.clone());
        tasks.spawn(async move {
            gate.wait().await;
            let mut tally = ClientTally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= attempts {
                    return StudyResult::Ok(tally);
                }
                let started = Instant::now();
                let session = sessions.checkout().await?;
                let (session, outcome) = attempt(i, session).await;
                tally.latencies.push(started.elapsed());
                sessions.give_back(session).await;
                match outcome {
                    Ok(seen) => {
                        tally.won += u64::from(seen.won);
                        tally.retries += u64::from(seen.retries);
                        tally.deadlocks += u64::from(seen.deadlocks);
                        tally.gave_up += u64::from(seen.gave_up);
                    }
                    Err(error) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert_with(|| crate::common::error_chain(error.as_ref()));
                    }
                }
            }
        });
    }
    gate.wait().await;
    let started = Instant::now();
    let mut driven = Driven::default();
    let mut latencies = Vec::with_capacity(attempts);
    let collected = tokio::time::timeout(cap, async {
        while let Some(joined) = tasks.join_next().await {
            let tally = joined??;
            latencies.extend(tally.latencies);
            driven.won += tally.won;
            driven.retries += tally.retries;
            driven.deadlocks += tally.deadlocks;
            driven.gave_up += tally.gave_up;
            driven.errors += tally.errors;
            if driven.first_error.is_none() {
                driven.first_error = tally.first_error;
            }
        }
        StudyResult::Ok(())
    })
    .await;
    match collected {
        Ok(done) => done?,
        Err(_) => return Err(format!("a run outlasted its cap of {} s", cap.as_secs()).into()),
    }
    driven.wall = started.elapsed();
    driven.latency = Samples::new(latencies);
    Ok(driven)
}

/// The SQLSTATE of `error` when it is the server's.
pub fn sqlstate(error: &tokio_postgres::Error) -> Option<&str> {
    error.code().map(tokio_postgres::error::SqlState::code)
}
