//! Rows and notes of scenario 3, polling. The target rows are the many-fan runs; the one-token
//! run is kept as a labelled upper bound of the HTTP path, because the instance answers a
//! token it read recently from memory and one token is therefore never a waiting room.

use super::{PEER_FANS, PEER_POLL_P95, Results, S3, S8};
use crate::report::{Better, Row, Unit, grouped};
use crate::scenarios::polling::{P99_LIMIT_MS, Polling, SEARCH_START, SERVED_SHARE};

/// Closed-loop polls per second the many waiting fans must get.
const CAPACITY_TARGET: f64 = 40_000.0;

impl Results {
    /// Scenario 3; `one_token_by` names the generator of the one-token run.
    pub fn polling(&mut self, polling: &Polling, one_token_by: &str) {
        let rate = grouped(polling.rate);
        let fans = format!("{} waiting fans", grouped(polling.fans as u64));
        let row = |metric: String, value: f64, unit: Unit, better: Better| {
            Row::new(S3, metric, value, unit, better)
        };
        let held = polling.sustainable.map_or(0.0, |(rate, _)| rate as f64);
        let search = format!(
            "highest fixed rate held at p99 ≤ {P99_LIMIT_MS} ms, {fans} (search down from {:.0} % of their closed loop)",
            SEARCH_START * 100.0
        );
        self.rows.push(
            row(search, held, Unit::PerSec, Better::Higher).anchor(PEER_FANS.0, PEER_FANS.1).target(20_000.0),
        );
        let p99 = format!("poll p99 at a fixed {rate} req/s, {fans} (latency-corrected)");
        self.rows.push(
            row(p99, polling.open.p99_ms, Unit::Ms, Better::Lower)
                .anchor(PEER_POLL_P95.0, PEER_POLL_P95.1)
                .target(P99_LIMIT_MS),
        );
        let p95 = format!("poll p95 at a fixed {rate} req/s, {fans} (latency-corrected)");
        self.rows.push(
            row(p95, polling.open.p95_ms, Unit::Ms, Better::Lower).anchor(PEER_POLL_P95.0, PEER_POLL_P95.1),
        );
        let served = format!("polls served at a fixed {rate} req/s, {fans}");
        self.rows.push(
            row(served, polling.open.ok_per_second, Unit::PerSec, Better::Higher)
                .anchor(PEER_FANS.0, PEER_FANS.1),
        );
        let capacity = format!("capacity, closed loop, {fans}");
        self.rows.push(
            row(capacity, polling.capacity.ok_per_second, Unit::PerSec, Better::Higher)
                .anchor(PEER_FANS.0, PEER_FANS.1)
                .target(CAPACITY_TARGET),
        );
        // No anchor: beside the peers' many fans it would flatter.
        let one = "capacity, closed loop, one token (served from the instance's token cache)".to_owned();
        self.rows.push(row(one, polling.one_token.ok_per_second, Unit::PerSec, Better::Higher));
        if polling.open.not_ok > 0 {
            self.failures.push(format!("polling: {} non-2xx answers", polling.open.not_ok));
        }
        self.note(S3, notes(polling, one_token_by));
    }
}

impl Results {
    /// The position benchmark's verdict (`crates/adapter-postgres/benches/queue_position.rs`,
    /// which `make bench` runs first; `text` is its markdown): p99 with 1,000,000 fans waiting
    /// divided by p99 with 1,000, for a poll (token read and position) and for the position
    /// arithmetic alone.
    pub fn waiting_room_scale(&mut self, text: &str) {
        let ratios: Vec<f64> = text
            .lines()
            .filter(|line| line.starts_with("p99("))
            .filter_map(|line| line.rsplit_once(" = ")?.1.trim().parse().ok())
            .collect();
        let [poll, position, ..] = ratios[..] else {
            self.failures.push("the position benchmark's output shows no p99 ratios".into());
            return;
        };
        let what = "p99 with 1,000,000 fans waiting ÷ with 1,000";
        let poll_metric = format!("a poll (token read + position): {what}");
        self.rows.push(Row::new(S8, poll_metric, poll, Unit::Ratio, Better::Lower).target(SCALE_TARGET));
        let position_metric = format!("the position arithmetic alone (under 2 µs either way): {what}");
        self.rows.push(Row::new(S8, position_metric, position, Unit::Ratio, Better::Lower));
    }
}

/// How much slower a poll may get when a thousand times more fans wait.
const SCALE_TARGET: f64 = 1.5;

/// The scenario's notes.
fn notes(polling: &Polling, one_token_by: &str) -> Vec<String> {
    let fans = grouped(polling.fans as u64);
    let every = polling.fans as f64 / polling.rate.max(1) as f64;
    let setup = format!(
        "- {fans} fans (users {}–{}) got their tokens from an instance of their own started with \
         `QUEUE_MAX_ACTIVE=1`: the earlier scenarios' fans still hold active tokens, so none of these \
         is admitted. Issuing took {} (not one of the figures). Before the runs every fan's first poll \
         said WAITING, at positions {}–{}; after them the database still had all {fans} WAITING.",
        grouped(polling.first_user as u64),
        grouped((polling.first_user + polling.fans - 1) as u64),
        Unit::Ms.show(polling.issue_ms),
        grouped(u64::try_from(polling.positions.0).unwrap_or(0)),
        grouped(u64::try_from(polling.positions.1).unwrap_or(0)),
    );
    let how = format!(
        "- Every run but the last rotates over all {fans} tokens (request k carries fan k mod {fans}), with \
         the built-in generator, as `oha` sends one fixed token: at {} req/s each fan polls about every \
         {every:.1} s. The instance keeps copies of the tokens it read for a while (README, \
         `TOKEN_CACHE_MS`), so a poll reaches PostgreSQL when its fan's copy has run out, and the last \
         poll of each fan is written back once it has moved by the poll write granularity (15 s by default); \
         PostgreSQL's CPU per poll below is \
         what that costs. Fixed-rate runs last {} s each.",
        grouped(polling.rate),
        polling.seconds
    );
    let open = format!(
        "- Fixed {} req/s, latency-corrected: {} answers 2xx, {} not; p50 {}, p95 {}, p99 {}. {}.",
        grouped(polling.rate),
        grouped(polling.open.ok),
        polling.open.not_ok,
        Unit::Ms.show(polling.open.p50_ms),
        Unit::Ms.show(polling.open.p95_ms),
        Unit::Ms.show(polling.open.p99_ms),
        polling.open_cpu.per_operation(polling.open.ok)
    );
    let search = format!(
        "- Highest rate held (p99 ≤ {P99_LIMIT_MS} ms, no error, ≥ {:.0} % of the asked rate served), searched \
         down from {} req/s in steps of a tenth: {}.",
        SERVED_SHARE * 100.0,
        grouped(polling.search_from),
        match polling.sustainable {
            Some((rate, run)) => format!(
                "{} req/s (p50 {}, p99 {})",
                grouped(rate),
                Unit::Ms.show(run.p50_ms),
                Unit::Ms.show(run.p99_ms)
            ),
            None => format!(
                "none down to {} req/s",
                grouped(polling.steps.last().map_or(polling.search_from, |(rate, _)| *rate))
            ),
        }
    );
    let steps: Vec<String> = polling
        .steps
        .iter()
        .map(|(rate, run)| {
            let served = grouped(run.ok_per_second as u64);
            format!(
                "{}: p99 {}, {served}/s served, {} not 2xx",
                grouped(*rate),
                Unit::Ms.show(run.p99_ms),
                run.not_ok
            )
        })
        .collect();
    let search = format!("{search} Steps (req/s asked: what it got): {}.", steps.join("; "));
    let closed = format!(
        "- Closed loop, {fans} fans: {} /s at p99 {}. {}.",
        grouped(polling.capacity.ok_per_second as u64),
        Unit::Ms.show(polling.capacity.p99_ms),
        polling.capacity_cpu.per_operation(polling.capacity.ok)
    );
    let one = format!(
        "- Closed loop, one token ({one_token_by}): {} /s at p99 {}. That token is answered from the \
         instance's memory nearly every time, so this is what the HTTP path costs, not a waiting room.",
        grouped(polling.one_token.ok_per_second as u64),
        Unit::Ms.show(polling.one_token.p99_ms)
    );
    vec![setup, how, open, search, closed, one]
}
