//! What a poll of the waiting room costs with 1,000 and with 1,000,000 fans waiting.
//!
//! For each size, a fresh test database is filled in bulk with that many waiting tokens, plus
//! one abandoned place for every ten waiting ones (recorded as dropped, so the position
//! arithmetic has drops to count), then a `PgStore` is connected and its queue snapshot
//! loaded. 20,000 random waiting tokens are then polled through the ports by 16 concurrent
//! tasks, as `GET /api/token` does: `token(value)` (one primary-key read) followed by
//! `position(&token)` (arithmetic on the in-process snapshot). `position` alone is measured
//! too. Every position is checked against the one the fill implies.
//!
//! Run: `cargo bench -p adapter-postgres --features testing --bench queue_position`
//! (PostgreSQL as for the tests: `FRONTROW_TEST_PG_URL`, by default the local server). The
//! output is a markdown table; the bar is p99(1,000,000) / p99(1,000) <= 1.5.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use adapter_postgres::{PgOptions, PgStore, QueueTuning};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Uuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::QueueRepository;
use domain::{QueueToken, TokenValue};
use hdrhistogram::Histogram;
use num_format::{Locale, ToFormattedString};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Polls measured per size.
const POLLS: usize = 20_000;
/// Polls run first and not measured (caches, prepared statements, pool).
const WARM_UP: usize = 4_000;
/// Concurrent pollers.
const TASKS: usize = 16;
/// One abandoned place per this many tickets.
const DROP_EVERY: u64 = 11;

/// Fills the queue: users and tokens `1..=total` (ticket = user id), every eleventh one
/// abandoned and recorded as a drop, the sequence moved past them. Binds: $1 total.
const FILL: [&str; 4] = [
    "INSERT INTO users (id, balance, created_at) SELECT g, 0, now() FROM generate_series(1, $1) g",
    "INSERT INTO queue_tokens (token, user_id, ticket, status, issued_at, last_seen_at, expires_at)
     SELECT gen_random_uuid(), g, g, CASE WHEN g % 11 = 0 THEN 'EXPIRED' ELSE 'WAITING' END, now(), now(), NULL
       FROM generate_series(1, $1) g",
    "INSERT INTO queue_drops (ticket) SELECT g FROM generate_series(11, $1, 11) g",
    "SELECT setval('queue_tickets', $1)",
];

#[derive(QueryableByName)]
struct Sampled {
    #[diesel(sql_type = Uuid)]
    token: uuid::Uuid,
    #[diesel(sql_type = BigInt)]
    ticket: i64,
}

/// Latencies of one kind of operation.
struct Measured {
    latency: Histogram<u64>,
    per_second: f64,
    wrong: u64,
}

/// One size's results.
struct Run {
    waiting: u64,
    fill: Duration,
    poll: Measured,
    position: Measured,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> BenchResult<()> {
    let small = run(1_000).await?;
    let large = run(1_000_000).await?;
    print(&small, &large);
    Ok(())
}

/// The position the fill gives ticket `ticket`: tickets before it, minus the abandoned ones.
fn expected_position(ticket: u64) -> u64 {
    ticket - ticket / DROP_EVERY
}

async fn run(waiting: u64) -> BenchResult<Run> {
    let db = TestDatabase::create().await;
    let total = waiting + waiting / (DROP_EVERY - 1);
    let mut conn = AsyncPgConnection::establish(db.url()).await?;
    let started = Instant::now();
    for statement in FILL {
        diesel::sql_query(statement).bind::<BigInt, _>(i64::try_from(total)?).execute(&mut conn).await?;
    }
    // Settle the bulk load before measuring: hint bits and statistics set, dirty pages written.
    for settle in ["VACUUM ANALYZE queue_tokens", "ANALYZE queue_drops", "ANALYZE users", "CHECKPOINT"] {
        diesel::sql_query(settle).execute(&mut conn).await?;
    }
    let fill = started.elapsed();
    eprintln!("{waiting} waiting: filled {total} tokens in {:.1} s", fill.as_secs_f64());

    // The token cache off: this measures what a poll costs when it reads its token (one
    // primary-key read) and computes its position, at both queue sizes; with the cache on, the
    // small queue's sampled tokens would all be answered from memory and the ratio would
    // compare the cache with the database.
    let tuning = QueueTuning { token_cache: Duration::ZERO, ..QueueTuning::default() };
    let store = PgStore::connect_with(db.url(), PgOptions::default(), tuning).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let values = sample(&mut conn, total, WARM_UP + POLLS).await?;
    let (warm_up, measured) = values.split_at(WARM_UP);
    poll_all(&store, warm_up).await?;
    let poll = poll_all(&store, measured).await?;

    let mut tokens = Vec::with_capacity(measured.len());
    for (value, _) in measured {
        tokens.push(store.token(*value).await?.ok_or("a sampled token is missing")?);
    }
    let position = positions(&store, tokens).await?;
    drop(store);
    Ok(Run { waiting, fill, poll, position })
}

/// `count` random waiting tokens with their expected positions (xorshift: no dependency, and
/// the same tickets on every run).
async fn sample(
    conn: &mut AsyncPgConnection,
    total: u64,
    count: usize,
) -> BenchResult<Vec<(TokenValue, u64)>> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut tickets = Vec::with_capacity(count);
    while tickets.len() < count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let ticket = state % total + 1;
        if !ticket.is_multiple_of(DROP_EVERY) {
            tickets.push(i64::try_from(ticket)?);
        }
    }
    let rows: Vec<Sampled> =
        diesel::sql_query("SELECT token, ticket FROM queue_tokens WHERE ticket = ANY($1)")
            .bind::<Array<BigInt>, _>(&tickets)
            .load(conn)
            .await?;
    let by_ticket: std::collections::HashMap<i64, uuid::Uuid> =
        rows.into_iter().map(|row| (row.ticket, row.token)).collect();
    let mut sampled = Vec::with_capacity(count);
    for ticket in tickets {
        let token = by_ticket.get(&ticket).ok_or("a sampled ticket has no token")?;
        sampled.push((TokenValue::from_uuid(*token), expected_position(u64::try_from(ticket)?)));
    }
    Ok(sampled)
}

/// Runs `op` over `items` with [`TASKS`] concurrent tasks; `op` answers whether the result was
/// right.
async fn measure<T, F, Fut>(items: Vec<T>, op: F) -> BenchResult<Measured>
where
    T: Send + Sync + 'static,
    F: Fn(Arc<Vec<T>>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = BenchResult<bool>> + Send,
{
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let (items, next, wrong, op) = (items.clone(), next.clone(), wrong.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= items.len() {
                    return BenchResult::Ok(latency);
                }
                let began = Instant::now();
                let right = op(items.clone(), index).await?;
                latency.saturating_record(u64::try_from(began.elapsed().as_nanos())?);
                if !right {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for task in tasks {
        latency.add(task.await??)?;
    }
    let per_second = items.len() as f64 / started.elapsed().as_secs_f64();
    Ok(Measured { latency, per_second, wrong: AtomicU64::load(&wrong, Ordering::Relaxed) })
}

/// A poll: `token(value)` then `position(&token)`.
async fn poll_all(store: &PgStore, values: &[(TokenValue, u64)]) -> BenchResult<Measured> {
    let store = store.clone();
    measure(values.to_vec(), move |values, index| {
        let store = store.clone();
        async move {
            let (value, expected) = values[index];
            let token = store.token(value).await?.ok_or("a polled token is missing")?;
            Ok(store.position(&token).await? == expected)
        }
    })
    .await
}

/// `position(&token)` alone, on tokens read beforehand.
async fn positions(store: &PgStore, tokens: Vec<QueueToken>) -> BenchResult<Measured> {
    let store = store.clone();
    measure(tokens, move |tokens, index| {
        let store = store.clone();
        async move {
            let token = &tokens[index];
            Ok(store.position(token).await? == expected_position(token.ticket))
        }
    })
    .await
}

fn duration(nanos: u64) -> String {
    match nanos {
        0..1_000 => format!("{nanos} ns"),
        1_000..1_000_000 => format!("{:.1} µs", nanos as f64 / 1e3),
        _ => format!("{:.2} ms", nanos as f64 / 1e6),
    }
}

/// `12345` as `12,345`.
fn grouped(n: u64) -> String {
    n.to_formatted_string(&Locale::en)
}

fn table(title: &str, small: &Run, large: &Run, pick: fn(&Run) -> &Measured) {
    let (a, b) = (pick(small), pick(large));
    println!("| {title} | {} waiting | {} waiting |", grouped(small.waiting), grouped(large.waiting));
    println!("|---|---:|---:|");
    for (label, quantile) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)] {
        let (x, y) = (a.latency.value_at_quantile(quantile), b.latency.value_at_quantile(quantile));
        println!("| {label} | {} | {} |", duration(x), duration(y));
    }
    println!("| max | {} | {} |", duration(a.latency.max()), duration(b.latency.max()));
    println!("| ops/s | {} | {} |", grouped(a.per_second as u64), grouped(b.per_second as u64));
    println!("| wrong positions | {} | {} |", a.wrong, b.wrong);
    let ratio = b.latency.value_at_quantile(0.99) as f64 / a.latency.value_at_quantile(0.99).max(1) as f64;
    println!();
    println!("p99({}) / p99({}) = {ratio:.2}", grouped(large.waiting), grouped(small.waiting));
    println!();
}

fn print(small: &Run, large: &Run) {
    println!();
    println!(
        "Queue position benchmark: {} random waiting tokens, {TASKS} concurrent tasks, after {} warm-up polls \
         (fill: {:.1} s and {:.1} s).",
        grouped(POLLS as u64),
        grouped(WARM_UP as u64),
        small.fill.as_secs_f64(),
        large.fill.as_secs_f64()
    );
    println!();
    table("poll: token() + position()", small, large, |run| &run.poll);
    table("position() alone", small, large, |run| &run.position);
}
