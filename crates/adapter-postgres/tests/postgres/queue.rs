//! The waiting room at scale: positions from the in-process snapshot checked against a
//! brute-force count, buffered polls, ticks shared by instances, the admission rate, and the
//! background task's lifetime.
//!
//! One file past 400 lines: each test needs the same small harness of raw counts, and splitting
//! them by topic would copy it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};

use adapter_postgres::testing::TestDatabase;
use adapter_postgres::{PgOptions, PgStore, QueueTuning};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Timestamptz, Uuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{AdmissionReport, PaymentRepository, QueueRepository, ReservationRepository};
use domain::{Balance, QueuePolicy, QueueToken, SettlementPlan, TokenStatus, TokenValue};
use time::{Duration, OffsetDateTime};

use crate::support::{NOW, PRICE, approved_hold, funded_user, issue_at, seconds, seed, token_value, user};

fn policy(max_active: u32, admit_per_tick: u32) -> QueuePolicy {
    QueuePolicy { max_active, admit_per_tick, ..QueuePolicy::default() }
}

fn report(admitted: u64, expired: u64, dropped: u64) -> AdmissionReport {
    AdmissionReport { admitted, expired, dropped }
}

/// A store whose background task refreshes every `refresh` and flushes polls every `flush`.
async fn tuned(db: &TestDatabase, refresh: StdDuration, flush: StdDuration) -> PgStore {
    let tuning = QueueTuning { snapshot_refresh: refresh, poll_flush: flush, ..QueueTuning::default() };
    PgStore::connect_with(db.url(), PgOptions::default(), tuning).await.expect("connect")
}

const HOUR: StdDuration = StdDuration::from_secs(3_600);

async fn sql(db: &TestDatabase) -> AsyncPgConnection {
    AsyncPgConnection::establish(db.url()).await.expect("connect")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, query: &str) -> i64 {
    diesel::sql_query(query).get_result::<Count>(conn).await.expect(query).n
}

/// Waiting tokens with a smaller ticket, plus one; 0 if `token` is not stored as waiting.
async fn brute_force_position(conn: &mut AsyncPgConnection, token: &QueueToken) -> u64 {
    let query = "SELECT CASE WHEN me.status = 'WAITING'
                             THEN (SELECT count(*) FROM queue_tokens a
                                    WHERE a.status = 'WAITING' AND a.ticket < me.ticket) + 1
                             ELSE 0 END AS n
                   FROM queue_tokens me WHERE me.token = $1";
    let found: Count = diesel::sql_query(query)
        .bind::<Uuid, _>(token.value.as_uuid())
        .get_result(conn)
        .await
        .expect("brute force");
    u64::try_from(found.n).expect("not negative")
}

/// Every token's position as the store reports it (after a fresh read, as a poll does)
/// equals the brute-force count.
/// Waits (bounded) until `store`'s snapshot has caught up with what another instance wrote:
/// its position of the last token is the brute-force one.
async fn until_caught_up(store: &PgStore, conn: &mut AsyncPgConnection, tokens: &[QueueToken]) {
    let last = tokens.last().expect("tokens");
    let started = Instant::now();
    while store.position(last).await != Ok(brute_force_position(conn, last).await) {
        assert!(started.elapsed() < StdDuration::from_secs(10), "the snapshot never caught up");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

async fn assert_positions_exact(store: &PgStore, conn: &mut AsyncPgConnection, tokens: &[QueueToken]) {
    for issued in tokens {
        let now = store.token(issued.value).await.expect("token").expect("exists");
        let expected = brute_force_position(conn, issued).await;
        assert_eq!(store.position(&now).await, Ok(expected), "fresh read of ticket {}", issued.ticket);
        assert_eq!(store.position(issued).await, Ok(expected), "stale copy of ticket {}", issued.ticket);
    }
}

#[derive(QueryableByName)]
struct Seen {
    #[diesel(sql_type = Timestamptz)]
    last_seen_at: OffsetDateTime,
}

async fn stored_last_seen(conn: &mut AsyncPgConnection, value: TokenValue) -> OffsetDateTime {
    let seen: Seen = diesel::sql_query("SELECT last_seen_at FROM queue_tokens WHERE token = $1")
        .bind::<Uuid, _>(value.as_uuid())
        .get_result(conn)
        .await
        .expect("last_seen_at");
    seen.last_seen_at
}

async fn issue_many(
    store: &PgStore,
    users: std::ops::RangeInclusive<i64>,
    at: OffsetDateTime,
) -> Vec<QueueToken> {
    let mut tokens = Vec::new();
    for n in users {
        tokens.push(issue_at(store, n, at).await);
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_match_a_brute_force_count_after_admissions_and_drops_in_the_middle() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let mut conn = sql(&db).await;
    let mut tokens = issue_many(&store, 1..=30, NOW).await;
    for even in tokens.iter().filter(|token| token.ticket % 2 == 0) {
        store.record_poll(even.value, NOW + seconds(100)).await.expect("record poll");
    }
    tokens.extend(issue_many(&store, 31..=40, NOW + seconds(100)).await);
    assert_positions_exact(&store, &mut conn, &tokens).await;

    // The odd tickets 1..=29 idled out; the three oldest polled ones go in.
    assert_eq!(store.admit(NOW + seconds(150), &policy(0, 3)).await, Ok(report(3, 0, 15)));
    assert_positions_exact(&store, &mut conn, &tokens).await;

    // User 10 (ticket 10, last poll at NOW + 100 s) idled out before any tick noticed, and asks
    // again: the middle place is retired and recorded, the new token queues at the back.
    let renewed = store
        .issue(user(10), token_value(1_010), NOW + seconds(221), &QueuePolicy::default())
        .await
        .expect("issue");
    assert_eq!(renewed.ticket, 41);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM queue_drops WHERE ticket = 10").await, 1);
    tokens.push(renewed);
    assert_positions_exact(&store, &mut conn, &tokens).await;

    // Another instance starts from the same numbers, and follows the next tick.
    let other = tuned(&db, StdDuration::from_millis(50), HOUR).await;
    assert_positions_exact(&other, &mut conn, &tokens).await;
    assert_eq!(store.admit(NOW + seconds(151), &policy(0, 4)).await, Ok(report(4, 0, 0)));
    until_caught_up(&other, &mut conn, &tokens).await;
    assert_positions_exact(&other, &mut conn, &tokens).await;
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM queue_drops WHERE ticket <= 14").await,
        0,
        "pruned"
    );
}

/// Only an active token pays, and active tokens sit at or below the watermark; an active token
/// above it (forged here: activated without an admission) must still leave the queue's
/// arithmetic exact when a payment retires it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_that_retires_a_token_above_the_watermark_frees_its_place_at_once() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    seed(&store).await;
    let payer = funded_user(&store, 1, PRICE).await;
    let behind = issue_at(&store, 2, NOW).await;
    assert_eq!(store.position(&behind).await, Ok(2));
    let mut conn = sql(&db).await;
    diesel::sql_query("UPDATE queue_tokens SET status = 'ACTIVE', expires_at = $1 WHERE token = $2")
        .bind::<Timestamptz, _>(NOW + seconds(600))
        .bind::<Uuid, _>(payer.value.as_uuid())
        .execute(&mut conn)
        .await
        .expect("forge an active token above the watermark");
    let reservation =
        store.try_hold(&approved_hold(&store, 20, 1, NOW).await, None).await.expect("hold").expect("free");
    let balance = Balance::new(PRICE).expect("balance");
    let at = NOW + seconds(5);
    let plan =
        SettlementPlan::authorize(&reservation, user(1), payer.value, reservation.price, Some(balance), at)
            .expect("payable");
    assert!(store.settle(&plan, None).await.expect("settle").is_some());
    assert_eq!(store.position(&payer).await, Ok(0), "the payer's place is gone");
    assert_eq!(store.position(&behind).await, Ok(1));
    assert_positions_exact(&store, &mut conn, &[payer, behind]).await;
}

/// `n` concurrent issues for user 1 at `at`, each with its own candidate; all must return the
/// same token.
async fn issue_concurrently(store: &PgStore, n: u128, at: OffsetDateTime) -> QueueToken {
    let tasks: Vec<_> = (0..n)
        .map(|k| {
            let store = store.clone();
            let candidate = token_value(u128::from(at.unix_timestamp().unsigned_abs()) * 1_000 + k);
            tokio::spawn(async move { store.issue(user(1), candidate, at, &QueuePolicy::default()).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("task").expect("issue works under contention"));
    }
    let winner = tokens[0].clone();
    assert!(tokens.iter().all(|token| *token == winner), "one token for one user: {tokens:?}");
    winner
}

/// The one-round-trip issue keeps one live token per user under contention without locking a
/// new user's row (the other issues wait on its uncommitted insert) and draws a ticket only for
/// the insert that wins: a ticket drawn by a losing insert would count as a place ahead of
/// everyone behind it until the watermark passed it. Checked for a new user, and for the same
/// user back after idling out, whose old ticket is then recorded as gone exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_issues_for_one_user_store_one_token_and_draw_one_ticket() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let mut conn = sql(&db).await;
    let drawn = "SELECT last_value AS n FROM queue_tickets";

    let first = issue_concurrently(&store, 50, NOW).await;
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM queue_tokens").await, 1);
    assert_eq!(count(&mut conn, drawn).await, i64::try_from(first.ticket).expect("small"), "one ticket");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users WHERE balance = 0").await, 1);

    let renewed = issue_concurrently(&store, 50, NOW + seconds(120)).await;
    assert_ne!(renewed.value, first.value, "the idle token was replaced");
    assert_eq!(renewed.ticket, first.ticket + 1, "one more ticket, at the back");
    assert_eq!(count(&mut conn, drawn).await, i64::try_from(renewed.ticket).expect("small"));
    let live = "SELECT count(*) AS n FROM queue_tokens WHERE status <> 'EXPIRED'";
    assert_eq!(count(&mut conn, live).await, 1, "one live token");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM queue_drops").await, 1, "the old place is gone");
    assert_eq!(store.position(&renewed).await, Ok(1));
    assert_positions_exact(&store, &mut conn, &[first, renewed]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_are_buffered_shown_by_token_and_written_by_admit_before_it_drops() {
    let db = TestDatabase::create().await;
    let store = tuned(&db, StdDuration::from_millis(200), HOUR).await;
    let mut conn = sql(&db).await;
    let polled = issue_at(&store, 1, NOW).await;
    let silent = issue_at(&store, 2, NOW).await;
    store.record_poll(polled.value, NOW + seconds(100)).await.expect("record poll");
    store.record_poll(polled.value, NOW + seconds(90)).await.expect("record poll");

    assert_eq!(stored_last_seen(&mut conn, polled.value).await, NOW, "a poll costs no write");
    let shown = store.token(polled.value).await.expect("token").expect("exists");
    assert_eq!(shown.last_seen_at, NOW + seconds(100), "token() shows the latest buffered poll");
    assert_eq!(store.token(silent.value).await.expect("token"), Some(silent.clone()));

    // Idle cutoff NOW + 30 s: only the buffered poll saves `polled`.
    assert_eq!(store.admit(NOW + seconds(150), &policy(0, 0)).await, Ok(report(1, 0, 1)));
    assert_eq!(stored_last_seen(&mut conn, polled.value).await, NOW + seconds(100), "flushed first");
    let polled = store.token(polled.value).await.expect("token").map(|token| token.status);
    let silent = store.token(silent.value).await.expect("token").map(|token| token.status);
    assert_eq!((polled, silent), (Some(TokenStatus::Active), Some(TokenStatus::Expired)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_polls_reach_the_database_within_a_flush_interval() {
    let db = TestDatabase::create().await;
    let store = tuned(&db, StdDuration::from_millis(200), StdDuration::from_millis(100)).await;
    let mut conn = sql(&db).await;
    let token = issue_at(&store, 1, NOW).await;
    store.record_poll(token.value, NOW + seconds(30)).await.expect("record poll");
    let started = Instant::now();
    while stored_last_seen(&mut conn, token.value).await != NOW + seconds(30) {
        assert!(started.elapsed() < StdDuration::from_secs(3), "the poll was never written");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_steps_once_per_tick_service_wide_while_every_attempt_expires_and_drops() {
    let db = TestDatabase::create().await;
    let (one, two) = (db.store().await, db.store().await);
    let tokens = issue_many(&one, 1..=4, NOW).await;
    let one_a_tick = policy(0, 1);
    assert_eq!(one.admit(NOW + seconds(10), &one_a_tick).await, Ok(report(1, 0, 0)));
    assert_eq!(one.admit(NOW + seconds(10), &one_a_tick).await, Ok(report(0, 0, 0)), "same instant");
    let almost = NOW + seconds(11) - Duration::milliseconds(1);
    assert_eq!(two.admit(almost, &one_a_tick).await, Ok(report(0, 0, 0)), "other instance, same tick");
    assert_eq!(two.admit(NOW + seconds(11), &one_a_tick).await, Ok(report(1, 0, 0)), "the next tick");

    // Not due, but idle tokens are still dropped (and expired ones expired) on every attempt.
    let impatient = QueuePolicy { idle_timeout: Duration::seconds(5), ..one_a_tick };
    let attempt = two.admit(NOW + seconds(11) + Duration::milliseconds(500), &impatient).await;
    assert_eq!(attempt, Ok(report(0, 0, 2)));
    // The two active tokens ran out 600 s after their ticks.
    let attempt = one.admit(NOW + seconds(611), &one_a_tick).await;
    assert_eq!(attempt, Ok(report(0, 2, 0)), "a due attempt with nobody left to admit");
    let dropped = one.token(tokens[3].value).await.expect("token").expect("exists");
    assert_eq!((dropped.status, one.position(&dropped).await), (TokenStatus::Expired, Ok(0)));
    assert_eq!(two.position(&tokens[3]).await, Ok(0), "a stale copy: the instance that dropped it knows");
}

#[derive(QueryableByName)]
struct Tick {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<OffsetDateTime>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_admitting_together_never_pass_either_cap() {
    let db = TestDatabase::create().await;
    let (one, two) = (db.store().await, db.store().await);
    let tokens = issue_many(&one, 1..=80, NOW).await;
    let cap =
        QueuePolicy { max_active: 5, admit_per_tick: 3, active_ttl: Duration::seconds(3), ..policy(0, 0) };

    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (mut conn, sampling) = (sql(&db).await, sampling.clone());
        tokio::spawn(async move {
            let (mut most, mut samples) = (0, 0);
            while AtomicBool::load(&sampling, Ordering::Relaxed) {
                let active = "SELECT count(*) AS n FROM queue_tokens WHERE status = 'ACTIVE'";
                most = most.max(count(&mut conn, active).await);
                samples += 1;
            }
            (most, samples)
        })
    };
    // Both instances attempt four times per simulated tick, a little apart, in lock step.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let instances: Vec<_> = [(one.clone(), 0), (two.clone(), 125)]
        .into_iter()
        .map(|(store, offset)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let mut admitted = 0;
                for k in 0..48 {
                    barrier.wait().await;
                    let at = NOW + seconds(10) + Duration::milliseconds(250 * k + offset);
                    admitted += store.admit(at, &cap).await.expect("admit").admitted;
                }
                admitted
            })
        })
        .collect();
    let mut admitted = 0;
    for instance in instances {
        admitted += instance.await.expect("task");
    }
    sampling.store(false, Ordering::Relaxed);
    let (most_active, samples) = sampler.await.expect("sampler");
    assert!(samples > 10, "the sampler ran ({samples} samples)");
    assert!(most_active <= 5, "{most_active} active at once");

    let mut conn = sql(&db).await;
    let ticks: Vec<Tick> = diesel::sql_query(
        "SELECT expires_at, count(*) AS n FROM queue_tokens WHERE expires_at IS NOT NULL GROUP BY 1 ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .expect("ticks");
    let instants: Vec<OffsetDateTime> = ticks.iter().filter_map(|tick| tick.expires_at).collect();
    assert!(ticks.iter().all(|tick| tick.n <= 3), "at most three per tick");
    assert!(instants.windows(2).all(|pair| pair[1] - pair[0] >= Duration::seconds(1)), "a tick apart");
    let total = ticks.iter().map(|tick| u64::try_from(tick.n).expect("count")).sum::<u64>();
    assert_eq!(total, admitted);
    assert!(admitted >= 15, "slots came back as tokens expired: {admitted} admitted");
    let order =
        "SELECT count(*) AS n FROM (SELECT ticket, lag(ticket) OVER (ORDER BY expires_at, ticket) AS before
                   FROM queue_tokens WHERE expires_at IS NOT NULL) t WHERE ticket < before";
    assert_eq!(count(&mut conn, order).await, 0, "admitted in ticket order");
    let recorded = "SELECT admitted_total AS n FROM queue_state";
    assert_eq!(u64::try_from(count(&mut conn, recorded).await).expect("count"), admitted);
    let fresh = db.store().await;
    assert_eq!(fresh.position(&tokens[79]).await.expect("position"), 80 - admitted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_follows_admissions_and_departures_on_every_instance_without_a_query() {
    let db = TestDatabase::create().await;
    let connected = Instant::now();
    let store = tuned(&db, StdDuration::from_millis(50), HOUR).await;
    assert_eq!(store.room().await.map(|room| room.freed_per_second), Ok(None), "one sample is no rate");
    let other = tuned(&db, StdDuration::from_millis(50), HOUR).await;
    issue_many(&store, 1..=8, NOW).await;
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let short_lived = QueuePolicy { active_ttl: seconds(1), ..policy(6, 0) };
    assert_eq!(store.admit(NOW + seconds(1), &short_lived).await, Ok(report(6, 0, 0)));
    assert_eq!(store.admit(NOW + seconds(3), &short_lived).await, Ok(report(2, 6, 0)), "six left, two in");
    let moved = Instant::now();
    for instance in [&store, &other] {
        // Until the refresher has sampled the departures (bounded; a loaded machine is slower).
        let room = loop {
            let room = instance.room().await.expect("room");
            if room.active == 2 && room.freed_per_second.is_some_and(|rate| rate > 0.0) {
                break room;
            }
            assert!(moved.elapsed() < StdDuration::from_secs(10), "the room never moved: {room:?}");
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        };
        assert_eq!((room.waiting, room.last_admission_at), (0, Some(NOW + seconds(3))));
        // Six places freed over at least the 300 ms slept before them, at most since connecting.
        let rate = room.freed_per_second.unwrap_or_default();
        let (least, most) = (6.0 / connected.elapsed().as_secs_f64(), 6.0 / 0.3);
        assert!((least..=most).contains(&rate), "{rate} places freed per second");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_whose_refresher_is_late_is_refreshed_before_it_serves_a_position() {
    let db = TestDatabase::create().await;
    let admitter = db.store().await;
    let tuning = QueueTuning {
        snapshot_refresh: HOUR,
        snapshot_max_age: StdDuration::from_millis(200),
        poll_flush: HOUR,
        ..QueueTuning::default()
    };
    let late = PgStore::connect_with(db.url(), PgOptions::default(), tuning).await.expect("connect");
    let tokens = issue_many(&admitter, 1..=3, NOW).await;
    assert_eq!(admitter.admit(NOW + seconds(1), &policy(0, 2)).await, Ok(report(2, 0, 0)));
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(late.position(&tokens[2]).await, Ok(1), "refreshed inline, not served stale");
}

#[derive(QueryableByName)]
struct Sessions {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_stops_with_the_last_clone_and_closes_its_connections() {
    let db = TestDatabase::create().await;
    let mut conn = sql(&db).await;
    let others = "SELECT count(*) AS n FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let store = tuned(&db, StdDuration::from_millis(20), StdDuration::from_millis(20)).await;
    let clone = store.clone();
    drop(store);
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    let open: Sessions = diesel::sql_query(others).get_result(&mut conn).await.expect("sessions");
    assert!(open.n >= 1, "the clone keeps the task and its pool alive");
    clone.record_poll(TokenValue::from_uuid(uuid::Uuid::from_u128(1)), NOW).await.expect("record poll");
    drop(clone);
    let started = Instant::now();
    while count(&mut conn, others).await > 0 {
        assert!(started.elapsed() < StdDuration::from_secs(5), "the background task outlived its store");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}
