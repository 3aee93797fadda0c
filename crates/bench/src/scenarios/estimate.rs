//! Scenario 9: how honest `estimatedWaitSeconds` is during a steady sale. A room of its own
//! ([`MAX_ACTIVE`] fans booking at once, one admission step a second) gets fans at [`OVERLOAD`]
//! times what it can let through, so the queue grows steadily. Each fan keeps the estimate of
//! the answer to `POST /api/token` (what they are told on joining), polls `GET /api/token`
//! every [`POLL`] until ACTIVE, and once admitted charges their balance, shops for 2–4 s, holds
//! a seat of their own and pays: the paid token frees its place, so places come back at a
//! steady pace and the estimate has a real outflow to read.
//!
//! A fan counts once the server has measured a whole outflow window of payments (its window is
//! 30 s: fans who joined [`Plan::window`] after the first payment and later) and is not one of
//! the first room's worth (who walk into free places). The figure is `|told − actual| ÷ actual`
//! per counted fan; its median must stay within 20 % and its p90 within 50 %.

use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use serde_json::{Value, json};

use crate::BenchResult;
use crate::config::Config;
use crate::db::{self, SEATS_PER_SCHEDULE, SaleSeat};
use crate::http::{Api, Latencies, StatusCounts, tally};
use crate::scenarios::booking::mix;
use crate::server::Server;

/// Most fans booking at once (`QUEUE_MAX_ACTIVE`).
pub const MAX_ACTIVE: u32 = 20;
/// The admission tick (`QUEUE_TICK_MS`); no per-tick cap.
pub const TICK: Duration = Duration::from_secs(1);
/// How often a waiting fan asks where they stand; also the resolution of the actual wait.
pub const POLL: Duration = Duration::from_millis(250);
/// An admitted fan shops for a time spread evenly over this range (ms), then holds and pays.
pub const SHOP_MS: (u64, u64) = (2_000, 4_000);
/// Arrivals over the room's nominal throughput ([`nominal_throughput`]).
pub const OVERLOAD: f64 = 1.4;
/// The bounds on the median and the p90 of the relative error.
pub const BOUNDS: (f64, f64) = (0.20, 0.50);
/// At full scale: how long fans arrive before the counted ones (the first fans' shopping and a
/// whole outflow window), how long the counted ones arrive, and the server's outflow window.
const FULL_SECONDS: (f64, f64, f64) = (35.0, 45.0, 30.0);
/// How long the last fan may wait for admission before the run gives up on them.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);
/// Enough for any seat's price.
const CHARGE: i64 = 200_000;

/// Places the room frees per second when every admitted fan shops for the mean time, pays at
/// once and their place waits half a tick on average for the next admission step.
pub fn nominal_throughput() -> f64 {
    let mean_shop = (SHOP_MS.0 + SHOP_MS.1) as f64 / 2e3;
    f64::from(MAX_ACTIVE) / (mean_shop + TICK.as_secs_f64() / 2.0 + 0.1)
}

/// The run's timing at a `BENCH_SCALE`.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Fans arriving per second (evenly spaced).
    pub arrivals_per_second: f64,
    /// Arrivals before the counted ones.
    pub warm_up: Duration,
    /// Arrivals of the counted ones.
    pub measured: Duration,
    /// Fans count from this long after the first payment.
    pub window: Duration,
    /// Fans in all.
    pub fans: usize,
}

impl Plan {
    /// The plan at `scale` (each span at least a second).
    pub fn at(scale: f64) -> Self {
        let (warm_up, measured, window) = FULL_SECONDS;
        let span = |full: f64| Duration::from_secs_f64((full * scale).max(1.0));
        let arrivals_per_second = OVERLOAD * nominal_throughput();
        let (warm_up, measured) = (span(warm_up), span(measured));
        let fans = ((warm_up + measured).as_secs_f64() * arrivals_per_second).ceil() as usize;
        Self { arrivals_per_second, warm_up, measured, window: span(window), fans }
    }
}

/// One fan's run, instants from the first arrival.
#[derive(Debug, Clone, Default)]
pub struct Fan {
    /// When the join answered (the estimate was told).
    pub joined: Duration,
    /// `estimatedWaitSeconds` of that answer.
    pub told: Option<f64>,
    /// From the join answer to the admission: halfway between the last answer that said
    /// WAITING and the first that said ACTIVE.
    pub waited: Option<Duration>,
    /// When the payment answered.
    pub paid: Option<Duration>,
    /// Every answer the fan got (status, latency).
    pub answers: Vec<(u16, Duration)>,
}

/// What the scenario measured.
pub struct Estimate {
    /// The timing it ran with.
    pub plan: Plan,
    /// Every fan, in arrival order.
    pub fans: Vec<Fan>,
    /// The counted fans' accuracy ([`counted`]); `None` when none counted.
    pub accuracy: Option<Accuracy>,
    /// Latency and statuses of every request.
    pub latency: Latencies,
    /// See `latency`.
    pub counts: StatusCounts,
    /// `/proc/loadavg`'s 1-minute figure before and after.
    pub load: (f64, f64),
    /// The database server's version, for the report's header.
    pub postgres: String,
}

impl Estimate {
    /// Admissions per second from the first to the last, as the fans saw them: what the room
    /// actually let through (`None` with fewer than two admissions).
    pub fn admitted_per_second(&self) -> Option<f64> {
        let admitted: Vec<Duration> =
            self.fans.iter().filter_map(|fan| Some(fan.joined + fan.waited?)).collect();
        let (first, last) = (admitted.iter().min()?, admitted.iter().max()?);
        let span = (*last - *first).as_secs_f64();
        (admitted.len() > 1 && span > 0.0).then(|| (admitted.len() - 1) as f64 / span)
    }
}

/// Runs the scenario on a database and a `frontrow` of its own.
pub async fn run(config: &Config) -> BenchResult<Estimate> {
    let plan = Plan::at(config.scale);
    let database = TestDatabase::create().await;
    let db = db::connect(database.url()).await?;
    let per_schedule = usize::try_from(SEATS_PER_SCHEDULE)?;
    db::fill_catalogue(&db, i64::try_from(plan.fans.div_ceil(per_schedule) + 1)?).await?;
    let seats = db::first_seats(&db, plan.fans).await?;
    let postgres: String = db.query_one("SHOW server_version", &[]).await?.try_get(0)?;
    let room = [
        ("QUEUE_MAX_ACTIVE", MAX_ACTIVE.to_string()),
        ("QUEUE_ADMIT_PER_TICK", "0".into()),
        ("QUEUE_TICK_MS", TICK.as_millis().to_string()),
    ];
    let room: Vec<(&str, &str)> = room.iter().map(|(key, value)| (*key, value.as_str())).collect();
    let server = Server::start_with(config, database.url(), 10, &room).await?;
    let api = Api::new(std::slice::from_ref(&server.base_url))?;
    let load_before = load_average();
    let start = Instant::now();
    let deadline = start + plan.warm_up + plan.measured + DRAIN_LIMIT;
    let mut running = Vec::with_capacity(plan.fans);
    for (k, seat) in seats.into_iter().enumerate() {
        let at = start + Duration::from_secs_f64(k as f64 / plan.arrivals_per_second);
        tokio::time::sleep_until(at.into()).await;
        running.push(tokio::spawn(fan(api.clone(), k, seat, start, deadline)));
    }
    let mut fans = Vec::with_capacity(running.len());
    for task in running {
        fans.push(task.await?);
    }
    crate::show_errors("estimate server", &server);
    let (latency, counts) = tally(fans.iter().flat_map(|fan| fan.answers.iter().copied()));
    let accuracy = Accuracy::of(&counted(&fans, plan.window));
    Ok(Estimate { plan, fans, accuracy, latency, counts, load: (load_before, load_average()), postgres })
}

/// Fan `k` (user `k + 1`): joins, polls until admitted, charges, shops, holds `seat`, pays.
async fn fan(api: Api, k: usize, seat: SaleSeat, start: Instant, deadline: Instant) -> Fan {
    let mut fan = Fan::default();
    let joined = api.post(k, "/api/token", None, &json!({ "userId": k + 1 })).await;
    let told_at = Instant::now();
    fan.joined = told_at - start;
    fan.answers.push((joined.status, joined.latency));
    let body = &joined.body;
    let (Some(token), Some(told)) = (
        body.get("token").and_then(Value::as_str).map(str::to_owned),
        body.get("estimatedWaitSeconds").and_then(Value::as_f64),
    ) else {
        return fan;
    };
    fan.told = Some(told);
    let (mut status, mut last_waiting) = (status_of(body), told_at);
    if status == "ACTIVE" {
        fan.waited = Some(Duration::ZERO);
    }
    while status == "WAITING" && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        let answer = api.get(k, "/api/token", Some(&token)).await;
        let now = Instant::now();
        fan.answers.push((answer.status, answer.latency));
        status = status_of(&answer.body);
        match status.as_str() {
            "WAITING" => last_waiting = now,
            "ACTIVE" => fan.waited = Some(last_waiting + (now - last_waiting) / 2 - told_at),
            _ => return fan,
        }
    }
    if fan.waited.is_none() {
        return fan;
    }
    let charge = json!({ "userId": k + 1, "amount": CHARGE });
    let charged = api.post(k, "/api/charge", Some(&token), &charge).await;
    fan.answers.push((charged.status, charged.latency));
    let (low, high) = SHOP_MS;
    tokio::time::sleep(Duration::from_millis(low + mix(k as u64) % (high - low + 1))).await;
    let hold = json!({ "seatId": seat.seat_id, "userId": k + 1 });
    let held = api.post(k, &format!("/api/{}/reserve-seat", seat.concert_id), Some(&token), &hold).await;
    fan.answers.push((held.status, held.latency));
    let Some(reservation) = held.body.get("reservationId").and_then(Value::as_i64) else { return fan };
    let pay = json!({ "reservationId": reservation, "paymentAmount": seat.price });
    let paid = api.post(k, "/api/pay", Some(&token), &pay).await;
    fan.answers.push((paid.status, paid.latency));
    if paid.ok() {
        fan.paid = Some(start.elapsed());
    }
    fan
}

fn status_of(body: &Value) -> String {
    body.get("status").and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The 1-minute load average (0 where `/proc/loadavg` cannot be read).
fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().and_then(|first| first.parse().ok()).unwrap_or(0.0)
}

/// The (told, actual) waits in seconds of the fans who count: admitted, joined at least
/// `window` after the first payment (the server has measured a whole window of outflow), and
/// not among the first [`MAX_ACTIVE`] to arrive.
pub fn counted(fans: &[Fan], window: Duration) -> Vec<(f64, f64)> {
    let Some(first_paid) = fans.iter().filter_map(|fan| fan.paid).min() else { return Vec::new() };
    let from = first_paid + window;
    fans.iter()
        .skip(usize::try_from(MAX_ACTIVE).unwrap_or(usize::MAX))
        .filter(|fan| fan.joined >= from)
        .filter_map(|fan| Some((fan.told?, fan.waited?.as_secs_f64())))
        .collect()
}

/// `|told − actual| ÷ actual`; an actual wait under [`POLL`] (the resolution it is measured
/// with) counts as one poll period, so a fan let in at once does not divide by zero.
pub fn relative_error(told: f64, actual: f64) -> f64 {
    (told - actual).abs() / actual.max(POLL.as_secs_f64())
}

/// The `q` quantile of `values` by nearest rank: the smallest value with at least a fraction
/// `q` of them at or below it. `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

/// How close the told waits came to the actual ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accuracy {
    /// Fans counted.
    pub n: usize,
    /// Median of the relative errors.
    pub median_error: f64,
    /// 90th percentile of the relative errors.
    pub p90_error: f64,
    /// Median actual wait, seconds.
    pub median_actual: f64,
    /// Median told wait, seconds.
    pub median_told: f64,
}

impl Accuracy {
    /// The accuracy of (told, actual) pairs in seconds; `None` when there are none.
    pub fn of(pairs: &[(f64, f64)]) -> Option<Self> {
        let errors: Vec<f64> = pairs.iter().map(|&(told, actual)| relative_error(told, actual)).collect();
        let told: Vec<f64> = pairs.iter().map(|&(told, _)| told).collect();
        let actual: Vec<f64> = pairs.iter().map(|&(_, actual)| actual).collect();
        Some(Self {
            n: pairs.len(),
            median_error: quantile(&errors, 0.5)?,
            p90_error: quantile(&errors, 0.9)?,
            median_actual: quantile(&actual, 0.5)?,
            median_told: quantile(&told, 0.5)?,
        })
    }

    /// Whether both bounds ([`BOUNDS`]) hold.
    pub fn within_bounds(&self) -> bool {
        self.median_error <= BOUNDS.0 && self.p90_error <= BOUNDS.1
    }
}

#[cfg(test)]
mod tests;
