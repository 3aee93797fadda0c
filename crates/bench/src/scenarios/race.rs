//! Scenario 1, the reference study's race over HTTP: `attempts` distinct ACTIVE fans each try to hold the
//! SAME seat (`POST /api/{concertId}/reserve-seat`) with `concurrency` clients, while a separate
//! task keeps listing that performance's free seats. Exactly one must win, nobody may get a
//! 5xx, and the seat list must stay fast.
//!
//! Scenario 5, the same race against the raw SQL statement alone: the adapter's
//! compare-and-set hold, sent straight to PostgreSQL by `concurrency` clients over
//! `connections` connections, so the HTTP path's overhead becomes a ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_postgres::Client;

use crate::BenchResult;
use crate::cpu::{Meter, Spent};
use crate::db::RaceSeat;
use crate::http::{Api, Latencies, StatusCounts, drive, tally};

/// The hold statement of `crates/adapter-postgres/src/reservations.rs` (`TRY_HOLD`), copied,
/// with the decision instant taken from the server clock (`now()`) instead of bound, and a
/// 300 s hold. Binds: $1 seat, $2 concert, $3 user, $4 seat name, $5 price.
const TRY_HOLD: &str = "\
WITH previous AS (
    SELECT held_by FROM seats WHERE id = $1
), seat AS (
    UPDATE seats
       SET held_by = nextval(pg_get_serial_sequence('reservations', 'id')),
           held_until = now() + interval '300 seconds'
     WHERE id = $1 AND concert_id = $2 AND NOT sold AND starts_at > now()
       AND (held_until IS NULL OR held_until <= now())
 RETURNING id, held_by, concert_id
), lapsed AS (
    UPDATE reservations SET status = 'EXPIRED'
     WHERE id IN (SELECT r.id FROM reservations r
                   WHERE r.id = (SELECT held_by FROM previous)
                     AND r.status = 'HELD' AND r.expires_at <= now()
                     AND EXISTS (SELECT 1 FROM seat)
                     FOR UPDATE OF r SKIP LOCKED)
)
INSERT INTO reservations (id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at)
SELECT held_by, $3, id, concert_id, $4, $5, 'HELD', now(), now() + interval '300 seconds' FROM seat
RETURNING id";

/// One race's outcome.
pub struct Race {
    /// Attempts made.
    pub attempts: usize,
    /// Concurrent clients.
    pub concurrency: usize,
    /// PostgreSQL connections they shared (SQL only).
    pub connections: usize,
    /// First attempt sent to last answer, ms.
    pub wall_ms: f64,
    /// Attempts that got the seat.
    pub winners: usize,
    /// Attempts refused with 409 `SEAT_UNAVAILABLE` (HTTP) or matching no row (SQL).
    pub losers: usize,
    /// Answers by class (HTTP only).
    pub counts: StatusCounts,
    /// Latency of each attempt.
    pub latency: Latencies,
    /// The seat list sampled during the race (HTTP only).
    pub seat_list: Latencies,
    /// CPU spent during the race (SQL only: the HTTP race is metered by the caller).
    pub cpu: Spent,
}

/// The HTTP race on `seat` by users `1..=attempts` (`tokens[i]` is user `i + 1`'s).
pub async fn over_http(
    api: &Api,
    tokens: &Arc<Vec<String>>,
    seat: &RaceSeat,
    attempts: usize,
    concurrency: usize,
) -> BenchResult<Race> {
    warm_up(api, concurrency + 1).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sampler(api.apart()?, tokens[0].clone(), seat.clone(), Arc::clone(&stop));
    // Let the sampler take a few quiet samples first, as the reference study's test listed seats throughout.
    tokio::time::sleep(Duration::from_millis(20)).await;

    let (client, tokens, path) =
        (api.clone(), Arc::clone(tokens), format!("/api/{}/reserve-seat", seat.concert_id));
    let seat_id = seat.seat_id;
    let driven = drive(attempts, concurrency, move |i| {
        let (api, tokens, path) = (client.clone(), Arc::clone(&tokens), path.clone());
        async move {
            let body = json!({ "seatId": seat_id, "userId": i + 1 });
            api.post(i, &path, Some(&tokens[i]), &body).await
        }
    })
    .await?;
    stop.store(true, Ordering::Relaxed);
    let seat_list = tokio::task::spawn_blocking(move || sampler.join())
        .await?
        .map_err(|_| "the seat-list sampler panicked")??;

    let (latency, counts) = tally(driven.outputs.iter().map(|a| (a.status, a.latency)));
    let losers = driven.outputs.iter().filter(|a| a.status == 409 && a.code() == "SEAT_UNAVAILABLE").count();
    Ok(Race {
        attempts,
        concurrency,
        connections: 0,
        wall_ms: driven.wall.as_secs_f64() * 1e3,
        winners: counts.ok,
        losers,
        counts,
        latency,
        seat_list,
        cpu: Spent::default(),
    })
}

/// Opens a kept-alive connection for each client (and the sampler) before the race, as the
/// the reference study's thread pools existed before its race: the race's first wave is then the race's, not
/// the load generator opening a hundred connections at once (an instance closes idle ones
/// after a few seconds, and the scenarios before leave them idle that long).
async fn warm_up(api: &Api, clients: usize) -> BenchResult<()> {
    let api = api.clone();
    drive(clients, clients, move |i| {
        let api = api.clone();
        async move { api.get(i, "/health", None).await }
    })
    .await?;
    Ok(())
}

/// Runs [`sample_seat_list`] on a thread and runtime of its own, with connections of its own: a
/// sample then waits for the instance, never behind the racers' tasks in the load generator.
fn sampler(
    api: Api,
    token: String,
    seat: RaceSeat,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<BenchResult<Latencies>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(runtime.block_on(sample_seat_list(api, token, seat, stop)))
    })
}

/// Lists the race performance's free seats one request at a time (1 ms apart) until told to
/// stop; returns the latencies.
async fn sample_seat_list(api: Api, token: String, seat: RaceSeat, stop: Arc<AtomicBool>) -> Latencies {
    let path = format!("/api/{}/available-seats?scheduleId={}", seat.concert_id, seat.schedule_id);
    let mut latencies = Latencies::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let answer = api.get(i, &path, Some(&token)).await;
        if answer.ok() {
            latencies.record(answer.latency);
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    latencies
}

/// The raw-SQL race on `seat` by users `1..=attempts`, `concurrency` clients sharing
/// `connections` (pipelined) PostgreSQL connections; CPU is metered while they are still open.
pub async fn over_sql(
    url: &str,
    seat: &RaceSeat,
    attempts: usize,
    concurrency: usize,
    connections: usize,
    meter: &Meter,
) -> BenchResult<Race> {
    let mut clients = Vec::new();
    for _ in 0..connections.min(concurrency) {
        let client = crate::db::connect(url).await?;
        let statement = client.prepare(TRY_HOLD).await?;
        clients.push((client, statement));
    }
    let clients = Arc::new(clients);
    let next = Arc::new(AtomicUsize::new(0));
    let (seat_id, concert_id, name, price) = (seat.seat_id, seat.concert_id, seat.name.clone(), seat.price);
    let gate = Arc::new(tokio::sync::Barrier::new(concurrency + 1));
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (clients, next, gate, name) =
            (Arc::clone(&clients), Arc::clone(&next), Arc::clone(&gate), name.clone());
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let (client, statement): &(Client, _) = &clients[worker % clients.len()];
            let (mut won, mut latency) = (0usize, Latencies::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= attempts {
                    return BenchResult::Ok((won, latency));
                }
                let user = i64::try_from(i + 1)?;
                let started = Instant::now();
                let rows = client.execute(statement, &[&seat_id, &concert_id, &user, &name, &price]).await?;
                latency.record(started.elapsed());
                won += usize::try_from(rows)?;
            }
        }));
    }
    let before = meter.snapshot();
    gate.wait().await;
    let started = Instant::now();
    let (mut winners, mut latency) = (0, Latencies::new());
    for task in tasks {
        let (won, seen) = task.await??;
        winners += won;
        latency.merge(&seen);
    }
    let wall = started.elapsed();
    let cpu = meter.snapshot().since(&before);
    let connections = clients.len();
    drop(clients);
    Ok(Race {
        attempts,
        concurrency,
        connections,
        wall_ms: wall.as_secs_f64() * 1e3,
        winners,
        losers: attempts - winners,
        counts: StatusCounts::default(),
        latency,
        seat_list: Latencies::new(),
        cpu,
    })
}
