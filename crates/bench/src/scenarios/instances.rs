//! Scenario 7: scenarios 1 and 3 again, spread round-robin over three instances on the one
//! database, with the same checks: exactly one winner and no 5xx in the race, every polling fan
//! still WAITING after the polls. Beside the one-instance figures, the ratios show what keeping
//! instances coherent costs (changes pushed between them, one signing key).
//!
//! The race's requests alternate between the instances one by one; the polls are spread by
//! connection (each keep-alive connection of the generator goes to the next instance, as a
//! connection-level balancer would), and every connection rotates over all the fans' tokens,
//! so every instance answers every fan.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;

use crate::BenchResult;
use crate::config::Config;
use crate::cpu::{Meter, Spent};
use crate::db;
use crate::http::Api;
use crate::loadgen;
use crate::oha::{Load, Measured};
use crate::scenarios::polling::{self, Polling};
use crate::scenarios::race::{self, Race};
use crate::server::Server;

/// Instances the scenario spreads over.
pub const INSTANCES: usize = 3;

/// The seat of the race: one that scenarios 1 and 5 do not use (they race for seats 1 and 2
/// of performances 1 and 2).
const SEAT: (i64, i16) = (1, 3);

/// Scenario 7's figures.
pub struct Spread {
    /// The large race, over the three instances.
    pub race: Race,
    /// Reservations the database holds on the race's seat afterwards.
    pub seat_rows: i64,
    /// CPU spent during the race.
    pub race_cpu: Spent,
    /// The polling fans, closed loop, over the three instances.
    pub polling: Measured,
    /// CPU spent during it.
    pub polling_cpu: Spent,
    /// How many fans were polled.
    pub fans: usize,
}

/// Runs the scenario on three fresh instances that admit nobody new (`QUEUE_MAX_ACTIVE=1`:
/// the race fans hold active tokens, so the polling fans stay WAITING): the large race with
/// `race_tokens`, then scenario 3's fans (`polled`).
pub async fn run(
    config: &Config,
    database_url: &str,
    db: &Client,
    cache_seconds: u64,
    race_tokens: &Arc<Vec<String>>,
    polled: &Polling,
    meter: &Meter,
) -> BenchResult<Spread> {
    let poll_tokens = &polled.tokens;
    let mut servers = Vec::with_capacity(INSTANCES);
    for _ in 0..INSTANCES {
        servers.push(
            Server::start_with(config, database_url, cache_seconds, &[("QUEUE_MAX_ACTIVE", "1")]).await?,
        );
    }
    let urls: Vec<String> = servers.iter().map(|server| server.base_url.clone()).collect();
    let meter = meter.with_servers(servers.iter().map(Server::pid).collect());

    let api = Api::new(&urls)?;
    let seat = db::seat(db, SEAT.0, SEAT.1).await?;
    let (attempts, concurrency) = config.race_large;
    let before = meter.snapshot();
    let race = race::over_http(&api, race_tokens, &seat, attempts, concurrency).await?;
    let race_cpu = meter.snapshot().since(&before);
    let seat_rows = db::reservations_on(db, seat.seat_id).await?;

    let polls: Vec<String> = urls.iter().map(|url| format!("{url}/api/token")).collect();
    let connections = config.poll.connections;
    let warm = Load::For { duration: Duration::from_secs(1), connections };
    loadgen::spread(&polls, poll_tokens, warm).await?;
    let before = meter.snapshot();
    let load = Load::For { duration: config.poll.duration.min(Duration::from_secs(3)), connections };
    let measured = loadgen::spread(&polls, poll_tokens, load).await?;
    let polling_cpu = meter.snapshot().since(&before);
    polling::still_waiting(db, polled.first_user, poll_tokens.len()).await?;
    Ok(Spread { race, seat_rows, race_cpu, polling: measured, polling_cpu, fans: poll_tokens.len() })
}
