//! `QUEUE_ADMIT_PER_TICK` through the binary's own tick loop: at most that many fans are
//! admitted per tick, ticks are at least `QUEUE_TICK_MS` apart, in issue order, and the cap is
//! service-wide when fans are spread over two instances sharing one PostgreSQL.
//!
//! When each fan was admitted is read back from their token: `expiresAt` minus the active TTL.
//! The checks wait for conditions and never for fixed times, so a slow machine changes only how
//! long they take.

mod support;

use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use support::{TestServer, parse_rfc3339};

const FANS: usize = 7;
const PER_TICK: usize = 2;
const TICK_SECONDS: f64 = 1.0;
const TTL_SECONDS: f64 = 600.0;

const SETTINGS: &[(&str, &str)] = &[
    ("QUEUE_MAX_ACTIVE", "0"),
    ("QUEUE_ADMIT_PER_TICK", "2"),
    ("QUEUE_TICK_MS", "1000"),
    ("QUEUE_ACTIVE_TTL_SECONDS", "600"),
];

/// Issues fans 1..=FANS in order, each on the next server in turn; returns (server, token).
async fn issue_in_turn(servers: &[&TestServer]) -> Vec<(usize, String)> {
    let mut tokens = Vec::new();
    for n in 0..FANS {
        let server = n % servers.len();
        let user = servers[server].uid(i64::try_from(n).expect("small") + 1);
        tokens.push((server, TestServer::token_of(&servers[server].issue_token(user).await)));
    }
    tokens
}

/// Polls every token (keeping the waiting ones) until all are active; returns when each was
/// admitted, in seconds, in issue order.
async fn admission_instants(servers: &[&TestServer], tokens: &[(usize, String)]) -> Vec<f64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut instants = Vec::new();
        for (server, token) in tokens {
            let body = servers[*server].token_status(token).await;
            if let Some(expires_at) = body["expiresAt"].as_str() {
                instants.push(parse_rfc3339(expires_at) - TTL_SECONDS);
            }
        }
        if instants.len() == tokens.len() {
            return instants;
        }
        assert!(Instant::now() < deadline, "{} of {FANS} admitted within a minute", instants.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// At most [`PER_TICK`] fans share an admission instant, instants are a tick apart or more,
/// and they never go backwards in issue order.
#[track_caller]
fn assert_paced(instants: &[f64]) {
    assert!(instants.windows(2).all(|pair| pair[0] <= pair[1]), "admitted in issue order: {instants:?}");
    let mut ticks: Vec<(f64, usize)> = Vec::new();
    for &at in instants {
        match ticks.last_mut() {
            Some((tick, fans)) if (at - *tick).abs() < 1e-6 => *fans += 1,
            _ => ticks.push((at, 1)),
        }
    }
    for (tick, fans) in &ticks {
        assert!(*fans <= PER_TICK, "{fans} fans admitted at {tick} with QUEUE_ADMIT_PER_TICK={PER_TICK}");
    }
    for pair in ticks.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= TICK_SECONDS - 1e-3, "admissions {gap:.3} s apart with a 1 s tick: {ticks:?}");
    }
    assert!(ticks.len() >= FANS.div_ceil(PER_TICK), "{FANS} fans need at least four ticks: {ticks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_admits_at_most_the_per_tick_cap_each_tick() {
    let server = TestServer::start(SETTINGS).await;
    let tokens = issue_in_turn(&[&server]).await;
    assert_paced(&admission_instants(&[&server], &tokens).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_share_the_per_tick_cap() {
    let database = TestDatabase::create().await;
    let first = TestServer::start_on(database.url(), SETTINGS).await;
    let second = TestServer::start_on(database.url(), &[&[("SEED_DEMO", "0")], SETTINGS].concat()).await;
    let servers = [&first, &second];
    let tokens = issue_in_turn(&servers).await;
    assert_paced(&admission_instants(&servers, &tokens).await);
}
