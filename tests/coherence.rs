//! Three instances on one PostgreSQL at their default settings, every request sent round-robin
//! as a load balancer would, during a sale: admissions, payments, the room filling again. Every
//! fan's token is sampled through every instance all along, and the stories must agree:
//! - a fan's status only moves WAITING → ACTIVE → EXPIRED, and a waiting position never grows;
//! - no moment has more fans shown ACTIVE than the cap;
//! - a token spent by a payment is refused by every instance within [`WINDOW`].
//!
//! "Before" and "after" are causal: an answer counts as earlier than another only if it was
//! received more than [`WINDOW`] before the other was sent, the bound README states for how
//! late an instance may learn of a change committed through another. The measured figures are
//! printed (`cargo test --test coherence -- --nocapture`). A second run kills every instance's
//! listening connection mid-sale. (Needs PostgreSQL; `make test` starts it.)

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use futures::future::join_all;
use support::{Seat, TestServer, seat_from_json, sleep_ms};
use tokio::sync::Mutex;

/// The default `QUEUE_MAX_ACTIVE`.
const CAP: usize = 100;
/// Fans in the sale: the room fills, and 30 wait.
const FANS: usize = 130;
/// Fans who buy a seat, spending their tokens: the 30 waiting are admitted in their place.
const BUYERS: usize = 60;
/// How late an instance may learn of a change made through another (README states it).
const WINDOW: Duration = Duration::from_millis(250);
/// Tasks sampling every token, round-robin over the instances.
const SAMPLERS: usize = 2;

/// Each sale runs up to 51 connections per instance set (16 pooled + 1 listening, × 3): one
/// sale at a time stays within PostgreSQL's default 100.
static ONE_SALE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// The imaginary load balancer: each request goes to the next instance.
struct Balancer {
    servers: Vec<TestServer>,
    next: AtomicUsize,
}

impl Balancer {
    /// The instance for the next request, and its index.
    fn pick(&self) -> (usize, &TestServer) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.servers.len();
        (i, &self.servers[i])
    }
}

/// One answer to `GET /api/token`.
#[derive(Debug, Clone, Copy)]
struct Seen {
    instance: usize,
    sent: Instant,
    received: Instant,
    /// 0 WAITING, 1 ACTIVE, 2 EXPIRED.
    rank: u8,
    position: i64,
}

/// Asks `instance` for `token`'s status.
async fn look(instance: usize, server: &TestServer, token: &str) -> Seen {
    let sent = Instant::now();
    let body = server.token_status(token).await;
    let received = Instant::now();
    let rank = match body["status"].as_str() {
        Some("WAITING") => 0,
        Some("ACTIVE") => 1,
        Some("EXPIRED") => 2,
        _ => panic!("a status WAITING, ACTIVE or EXPIRED: {body}"),
    };
    let position = body["position"].as_i64().unwrap_or_else(|| panic!("a position: {body}"));
    Seen { instance, sent, received, rank, position }
}

/// `n` free seats across the demo catalogue's performances.
async fn free_seats(server: &TestServer, token: &str, n: usize) -> Vec<Seat> {
    let mut seats = Vec::new();
    for concert_id in server.concert_ids(token).await {
        for date in server.dates(token, concert_id).await {
            let schedule_id = date["scheduleId"].as_i64().expect("scheduleId");
            let path = format!("/api/{concert_id}/available-seats?scheduleId={schedule_id}");
            let list = server.get(&path, Some(token)).await;
            let list = list.ok("available-seats").as_array().expect("a seat list").clone();
            seats.extend(list.iter().map(|seat| seat_from_json(concert_id, schedule_id, seat)));
            if seats.len() >= n {
                seats.truncate(n);
                return seats;
            }
        }
    }
    panic!("the demo catalogue has fewer than {n} free seats");
}

/// What a sale measured.
struct Sale {
    /// Every answer about each fan's token.
    seen: Vec<Vec<Seen>>,
    /// Per payment: from its answer until every instance refused the token.
    windows: Vec<Duration>,
}

/// Polls `token` through the balancer until ACTIVE.
async fn until_active(balancer: &Balancer, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (i, server) = balancer.pick();
        if look(i, server, token).await.rank == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "a fan was not admitted within 60 s");
        sleep_ms(50).await;
    }
}

/// Fan `n` waits for admission, then holds `seat`, charges and pays, each request through the
/// balancer; then asks every instance at once, again and again, until all refuse the spent
/// token. Returns that time (the round trip of the last asking included).
async fn buy(balancer: &Balancer, token: &str, user: i64, seat: &Seat) -> Duration {
    until_active(balancer, token).await;
    let held = balancer.pick().1.hold(token, user, seat).await;
    balancer.pick().1.charge(token, user, seat.price).await.ok("charge");
    let reservation = held["reservationId"].as_i64().expect("reservationId");
    balancer.pick().1.pay(token, reservation, seat.price).await.ok("pay");
    let paid = Instant::now();
    loop {
        let looks = balancer.servers.iter().enumerate().map(|(i, server)| look(i, server, token));
        if join_all(looks).await.iter().all(|seen| seen.rank == 2) {
            return paid.elapsed();
        }
        assert!(paid.elapsed() < Duration::from_secs(10), "a spent token still ACTIVE somewhere after 10 s");
    }
}

/// The listening connections of the instances, killed by the server.
async fn kill_listeners(db: &TestDatabase) -> i64 {
    let (client, connection) =
        tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    let kill = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'frontrow listener'";
    client.query_one(kill, &[]).await.expect("kill the listeners").get(0)
}

/// Waits until `n` instances listen again.
async fn until_listening(db: &TestDatabase, n: i64) -> Duration {
    let (client, connection) =
        tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    let count = "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND application_name = 'frontrow listener'
                    AND state = 'idle' AND query NOT LIKE 'SET %'";
    let started = Instant::now();
    loop {
        let listening: i64 = client.query_one(count, &[]).await.expect("count listeners").get(0);
        if listening == n {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{n} instances listening again within 10 s");
        sleep_ms(10).await;
    }
}

/// Runs the sale on three fresh instances; with `kill`, kills their listening connections once
/// a third of the buyers have paid, and checks they listen again.
async fn sale(kill: bool) -> Sale {
    let _alone = ONE_SALE_AT_A_TIME.lock().await;
    let db = TestDatabase::create().await;
    // The harness's fast tick put back to the default: every setting is the default one.
    let first = TestServer::start_on(db.url(), &[("QUEUE_TICK_MS", "1000"), ("SEED_DEMO", "1")]).await;
    let rest = [("QUEUE_TICK_MS", "1000"), ("SEED_DEMO", "0")];
    let (second, third) =
        tokio::join!(TestServer::start_on(db.url(), &rest), TestServer::start_on(db.url(), &rest));
    until_listening(&db, 3).await;
    let balancer = Arc::new(Balancer { servers: vec![first, second, third], next: AtomicUsize::new(0) });

    let users: Vec<i64> = (1..=FANS as i64).map(|n| balancer.servers[0].uid(n)).collect();
    let mut tokens = Vec::new();
    for &user in &users {
        tokens.push(TestServer::token_of(&balancer.pick().1.issue_token(user).await));
    }
    let tokens = Arc::new(tokens);
    until_active(&balancer, &tokens[0]).await;
    let seats = free_seats(&balancer.servers[0], &tokens[0], BUYERS).await;

    let stop = Arc::new(AtomicBool::new(false));
    let samplers: Vec<_> = (0..SAMPLERS)
        .map(|_| {
            let (balancer, tokens, stop) = (Arc::clone(&balancer), Arc::clone(&tokens), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut seen = vec![Vec::new(); FANS];
                while !stop.load(Ordering::Acquire) {
                    for (fan, token) in tokens.iter().enumerate() {
                        let (i, server) = balancer.pick();
                        seen[fan].push(look(i, server, token).await);
                    }
                }
                seen
            })
        })
        .collect();

    let paid = Arc::new(AtomicUsize::new(0));
    let buyers = (0..BUYERS).map(|fan| {
        let (balancer, tokens, paid) = (Arc::clone(&balancer), Arc::clone(&tokens), Arc::clone(&paid));
        let (user, seat) = (users[fan], seats[fan].clone());
        tokio::spawn(async move {
            sleep_ms(50 * fan as u64).await;
            let window = buy(&balancer, &tokens[fan], user, &seat).await;
            paid.fetch_add(1, Ordering::AcqRel);
            window
        })
    });
    let buyers = tokio::spawn(join_all(buyers));
    if kill {
        while paid.load(Ordering::Acquire) < BUYERS / 3 {
            sleep_ms(5).await;
        }
        assert_eq!(kill_listeners(&db).await, 3, "every instance was listening");
        let back = until_listening(&db, 3).await;
        eprintln!("coherence: listening again {back:?} after the kill");
    }
    let windows: Vec<Duration> =
        buyers.await.expect("buyers").into_iter().map(|window| window.expect("a buyer panicked")).collect();
    for token in &tokens[CAP..] {
        until_active(&balancer, token).await;
    }
    sleep_ms(1_000).await;
    stop.store(true, Ordering::Release);
    let mut seen = vec![Vec::new(); FANS];
    for sampler in join_all(samplers).await {
        for (fan, answers) in sampler.expect("a sampler panicked").into_iter().enumerate() {
            seen[fan].extend(answers);
        }
    }
    Sale { seen, windows }
}

/// Checks one fan's answers: no status goes back and no waiting position grows between answers
/// `WINDOW` apart. Returns the largest gap between two answers that disagree that way (zero
/// if none do).
fn check_story(fan: usize, seen: &[Seen]) -> Duration {
    let mut worst = Duration::ZERO;
    for earlier in seen {
        for later in seen {
            let backwards = later.rank < earlier.rank
                || (later.rank == 0 && earlier.rank == 0 && later.position > earlier.position);
            if !backwards || later.sent < earlier.received {
                continue;
            }
            let gap = later.sent - earlier.received;
            assert!(
                gap <= WINDOW,
                "fan {fan}: instance {} said {earlier:?}, then {gap:?} later instance {} said {later:?}",
                earlier.instance,
                later.instance
            );
            worst = worst.max(gap);
        }
    }
    worst
}

/// The most fans shown ACTIVE at one moment: fan i is certainly shown active from its first
/// ACTIVE answer's receipt to its last one's sending, less the window.
fn most_active_at_once(seen: &[Vec<Seen>]) -> usize {
    let mut edges = Vec::new();
    for answers in seen {
        let active = answers.iter().filter(|s| s.rank == 1);
        let from = active.clone().map(|s| s.received).min();
        let until = active.map(|s| s.sent).max();
        if let (Some(from), Some(until)) = (from, until)
            && let Some(until) = until.checked_sub(WINDOW)
            && from < until
        {
            edges.push((from, 1_i64));
            edges.push((until, -1_i64));
        }
    }
    edges.sort();
    let (mut now, mut most) = (0_i64, 0_i64);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn check(sale: &Sale, what: &str) {
    let answers: usize = sale.seen.iter().map(Vec::len).sum();
    assert!(sale.seen.iter().all(|s| s.len() >= 10), "{what}: every fan sampled at least 10 times");
    let worst =
        sale.seen.iter().enumerate().map(|(fan, seen)| check_story(fan, seen)).max().unwrap_or_default();
    let most = most_active_at_once(&sale.seen);
    assert!(most <= CAP, "{what}: {most} fans shown ACTIVE at once, cap {CAP}");
    let mut windows = sale.windows.clone();
    windows.sort();
    let slowest = windows[windows.len() - 1];
    assert!(slowest <= WINDOW, "{what}: a spent token was still ACTIVE on an instance after {slowest:?}");
    eprintln!(
        "coherence ({what}): {answers} answers; widest disagreement {worst:?}; most ACTIVE at once {most}; \
         spent token refused everywhere after p50 {:?}, p99 {:?}, max {slowest:?} ({} payments)",
        percentile(&windows, 50),
        percentile(&windows, 99),
        windows.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_at_default_settings_tell_every_fan_one_story() {
    check(&sale(false).await, "steady");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_every_listening_connection_mid_sale_changes_no_story() {
    check(&sale(true).await, "listeners killed");
}
