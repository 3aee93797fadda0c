//! Scenario 3: a waiting room being polled. Many fans hold WAITING tokens and each polls
//! `GET /api/token` about once a second; the runs rotate over all their tokens. One token
//! polled over and over would measure only the instance's in-process token cache.
//!
//! The fans get their tokens from an instance of their own, started with `QUEUE_MAX_ACTIVE=1`:
//! the earlier scenarios' fans still hold active tokens (an hour's TTL), so nobody new is
//! admitted and every fan stays WAITING for the whole scenario. That is checked before the
//! runs (every first poll says WAITING, with distinct positions 1 to N) and after them (in the
//! database); a failed check fails the scenario rather than report figures of another load.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_postgres::Client;

use crate::BenchResult;
use crate::config::{Config, OpenLoad};
use crate::cpu::{Meter, Spent};
use crate::http::{Api, drive};
use crate::loadgen::{self, Generator};
use crate::oha::{Load, Measured};

/// The latency bound of the polling target.
pub const P99_LIMIT_MS: f64 = 10.0;
/// Share of the asked rate a run must serve (2xx) to count as held.
pub const SERVED_SHARE: f64 = 0.97;
/// Where the sustainable-rate search starts, as a share of the fans' closed-loop capacity.
pub const SEARCH_START: f64 = 0.9;
/// Each step of the search asks this share of the previous rate.
const SEARCH_STEP: f64 = 0.9;
/// Steps of the search at most (down to under half of its start). Each step lasts as long as
/// the fixed-rate run: the instance's token copies run out every few seconds, and a shorter
/// window may or may not catch that.
const SEARCH_STEPS: usize = 8;
/// Longer than the instance's queue snapshot refresh (~200 ms), so that first polls show the
/// positions of all fans issued.
const SETTLE: Duration = Duration::from_secs(1);

/// Scenario 3's figures.
pub struct Polling {
    /// WAITING fans the runs rotate over.
    pub fans: usize,
    /// Their tokens.
    pub tokens: Vec<String>,
    /// Their user ids start here.
    pub first_user: usize,
    /// Issuing their tokens took this long (ms; not one of the figures).
    pub issue_ms: f64,
    /// Lowest and highest position their first polls reported.
    pub positions: (i64, i64),
    /// The fixed rate asked for, req/s.
    pub rate: u64,
    /// How long each fixed-rate run lasted, s.
    pub seconds: f64,
    /// All fans at that rate.
    pub open: Measured,
    /// CPU spent during it.
    pub open_cpu: Spent,
    /// All fans, closed loop: how much the instance can take.
    pub capacity: Measured,
    /// CPU spent during it.
    pub capacity_cpu: Spent,
    /// One token, closed loop, through the read scenarios' generator (`oha` when installed).
    pub one_token: Measured,
    /// The rate the search started from ([`SEARCH_START`] of `capacity`).
    pub search_from: u64,
    /// Every step of the search, in order: the rate asked and what it got, so a miss shows
    /// which bound each step broke.
    pub steps: Vec<(u64, Measured)>,
    /// The highest fixed rate found that was held ([`P99_LIMIT_MS`], [`SERVED_SHARE`]), and
    /// that run.
    pub sustainable: Option<(u64, Measured)>,
}

/// Issues the fans' tokens on `base` (an instance that admits nobody), checks they wait, and
/// polls them; `meter` accounts that instance's CPU, `db` is for the final check.
pub async fn run(
    config: &Config,
    generator: &Generator,
    base: &str,
    db: &Client,
    meter: &Meter,
) -> BenchResult<Polling> {
    let (fans, first_user) = (config.poll_fans, config.first_poll_user());
    let api = Api::new(&[base.to_owned()])?;
    let (tokens, issue_ms) = issue(&api, first_user, fans, config.spike_concurrency).await?;
    tokio::time::sleep(SETTLE).await;
    let positions = check_waiting(&api, &tokens, config.spike_concurrency).await?;

    let url = format!("{base}/api/token");
    let connections = config.poll.connections;
    let short = config.poll.duration.min(Duration::from_secs(3));
    loadgen::rotating(&url, &tokens, Load::For { duration: Duration::from_secs(1), connections }).await?;
    let one_token = generator.run(&url, &tokens[0], Load::For { duration: short, connections }).await?;
    let before = meter.snapshot();
    let capacity = loadgen::rotating(&url, &tokens, Load::For { duration: short, connections }).await?;
    let capacity_cpu = meter.snapshot().since(&before);
    let before = meter.snapshot();
    let open = loadgen::rotating(&url, &tokens, Load::Open(config.poll)).await?;
    let open_cpu = meter.snapshot().since(&before);

    let search_from = (capacity.ok_per_second * SEARCH_START) as u64;
    let (mut sustainable, mut steps, mut rate) = (None, Vec::new(), search_from);
    for _ in 0..SEARCH_STEPS {
        if rate < 100 {
            break;
        }
        let step = OpenLoad { rate, ..config.poll };
        let run = loadgen::rotating(&url, &tokens, Load::Open(step)).await?;
        steps.push((rate, run));
        if held(rate, &run) {
            sustainable = Some((rate, run));
            break;
        }
        rate = (rate as f64 * SEARCH_STEP) as u64;
    }
    still_waiting(db, first_user, fans).await?;
    Ok(Polling {
        fans,
        tokens,
        first_user,
        issue_ms,
        positions,
        rate: config.poll.rate,
        seconds: config.poll.duration.as_secs_f64(),
        open,
        open_cpu,
        capacity,
        capacity_cpu,
        one_token,
        search_from,
        steps,
        sustainable,
    })
}

/// Whether a run at `rate` was held: p99 within the bound, every answer 2xx, and nearly all
/// the requests asked for answered.
pub fn held(rate: u64, run: &Measured) -> bool {
    run.p99_ms <= P99_LIMIT_MS && run.not_ok == 0 && run.ok_per_second >= rate as f64 * SERVED_SHARE
}

/// `POST /api/token` for users `first..first + fans`: their tokens, and the wall time in ms.
async fn issue(api: &Api, first: usize, fans: usize, concurrency: usize) -> BenchResult<(Vec<String>, f64)> {
    let client = api.clone();
    let driven = drive(fans, concurrency, move |i| {
        let api = client.clone();
        async move { api.post(i, "/api/token", None, &json!({ "userId": first + i })).await }
    })
    .await?;
    let mut tokens = Vec::with_capacity(fans);
    for (i, answer) in driven.outputs.iter().enumerate() {
        let token = answer.body.get("token").and_then(Value::as_str).unwrap_or_default();
        if !answer.ok() || token.is_empty() || status(&answer.body) != "WAITING" {
            return Err(format!(
                "polling fan {} was not issued a WAITING token: {} {}",
                first + i,
                answer.status,
                answer.body
            )
            .into());
        }
        tokens.push(token.to_owned());
    }
    Ok((tokens, driven.wall.as_secs_f64() * 1e3))
}

/// Polls every token once: all must be WAITING, at distinct positions 1 to `tokens.len()`
/// (no one else waits). Returns the lowest and highest position.
async fn check_waiting(api: &Api, tokens: &[String], concurrency: usize) -> BenchResult<(i64, i64)> {
    let (client, all) = (api.clone(), std::sync::Arc::new(tokens.to_vec()));
    let driven = drive(tokens.len(), concurrency, move |i| {
        let (api, all) = (client.clone(), std::sync::Arc::clone(&all));
        async move { api.get(i, "/api/token", Some(&all[i])).await }
    })
    .await?;
    let mut positions = Vec::with_capacity(tokens.len());
    for answer in &driven.outputs {
        let position = answer.body.get("position").and_then(Value::as_i64).unwrap_or(0);
        if !answer.ok() || status(&answer.body) != "WAITING" {
            return Err(format!(
                "a polling fan is not WAITING before the runs ({} {}); the polling instance's \
                 QUEUE_MAX_ACTIVE=1 needs the earlier fans' active tokens to stay over the cap",
                answer.status, answer.body
            )
            .into());
        }
        positions.push(position);
    }
    positions.sort_unstable();
    positions.dedup();
    let n = i64::try_from(tokens.len())?;
    let (low, high) = (positions.first().copied().unwrap_or(0), positions.last().copied().unwrap_or(0));
    if positions.len() != tokens.len() || low != 1 || high != n {
        return Err(format!(
            "polling fans' positions are not 1 to {n}: {} distinct, from {low} to {high}",
            positions.len()
        )
        .into());
    }
    Ok((low, high))
}

/// The database still has every fan's token, and each WAITING (nobody was admitted, dropped
/// or reissued while the figures were taken).
pub async fn still_waiting(db: &Client, first: usize, fans: usize) -> BenchResult<()> {
    let (low, high) = (i64::try_from(first)?, i64::try_from(first + fans - 1)?);
    let row = db
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'WAITING'), count(*) FROM queue_tokens
              WHERE user_id BETWEEN $1 AND $2",
            &[&low, &high],
        )
        .await?;
    let (waiting, all): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if waiting != i64::try_from(fans)? || all != waiting {
        return Err(format!(
            "after the polling runs {waiting} of the {fans} fans' tokens are WAITING ({all} tokens in all)"
        )
        .into());
    }
    Ok(())
}

/// The `status` field of a token answer.
fn status(body: &Value) -> &str {
    body.get("status").and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ok: u64, not_ok: u64, p99_ms: f64) -> Measured {
        Measured { ok_per_second: ok as f64, ok, not_ok, p99_ms, ..Measured::default() }
    }

    #[test]
    fn a_rate_is_held_only_when_fast_complete_and_served() {
        assert!(held(20_000, &run(19_500, 0, 4.0)));
        assert!(!held(20_000, &run(19_000, 0, 4.0)), "under 97 % served");
        assert!(!held(20_000, &run(20_000, 1, 4.0)), "a non-2xx answer");
        assert!(!held(20_000, &run(20_000, 0, 10.5)), "p99 over the bound");
    }
}
