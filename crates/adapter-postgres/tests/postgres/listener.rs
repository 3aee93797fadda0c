//! Changes pushed between instances: a payment on one store is seen by another long before its
//! token copy would run out, the queue snapshot follows an admission at once and every store
//! copies the tokens it admitted before they are asked for, and a listening
//! connection killed by the server neither lets a stale copy through nor stays dead.

use std::time::{Duration as StdDuration, Instant};

use adapter_postgres::testing::TestDatabase;
use adapter_postgres::{PgOptions, PgStore, QueueTuning};
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{PaymentRepository, QueueRepository, ReservationRepository};
use domain::{Balance, QueuePolicy, QueueToken, SettlementPlan, TokenStatus};

use crate::support::{NOW, PRICE, approved_hold, funded_user, issue_at, seconds, seed, user};

/// Longer than any test: only a push can make these stores read a token or the queue again.
const HOUR: StdDuration = StdDuration::from_secs(3_600);

/// Copies trusted for an hour, the snapshot refreshed only on a push.
async fn trusting(db: &TestDatabase) -> PgStore {
    let tuning = QueueTuning {
        token_cache: HOUR,
        waiting_token_cache: HOUR,
        snapshot_refresh: HOUR,
        snapshot_max_age: HOUR,
        ..QueueTuning::default()
    };
    PgStore::connect_with(db.url(), PgOptions::default(), tuning).await.expect("connect")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The listening connections open on the database (they name themselves).
const LISTENERS: &str = "SELECT count(*) AS n FROM pg_stat_activity
                          WHERE datname = current_database() AND application_name = 'frontrow listener'
                            AND state = 'idle' AND query NOT LIKE 'SET %'";

async fn listeners(conn: &mut AsyncPgConnection) -> i64 {
    diesel::sql_query(LISTENERS).get_result::<Count>(conn).await.expect("count listeners").n
}

/// Waits until every one of `stores` listens (connected, caught up, trusting copies again).
async fn until_listening(stores: &[&PgStore]) {
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while !stores.iter().all(|store| store.is_listening()) {
        assert!(Instant::now() < deadline, "listening within 10 s");
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
}

/// Moves `token`'s stored `last_seen_at` an hour on behind the stores' backs (no notification
/// is sent for it), so a read can tell a copy from the row.
async fn poll_behind_their_backs(conn: &mut AsyncPgConnection, token: &QueueToken) {
    diesel::sql_query(
        "UPDATE queue_tokens SET last_seen_at = last_seen_at + interval '1 hour' WHERE token = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(token.value.as_uuid())
    .execute(conn)
    .await
    .expect("move last_seen_at");
}

/// Polls `store`'s view of `token` until `done` says so; returns how long it took.
async fn until_seen(store: &PgStore, token: &QueueToken, done: impl Fn(&QueueToken) -> bool) -> StdDuration {
    let started = Instant::now();
    loop {
        let seen = store.token(token.value).await.expect("token").expect("stored");
        if done(&seen) {
            return started.elapsed();
        }
        assert!(started.elapsed() < StdDuration::from_secs(5), "not seen within 5 s: {seen:?}");
        tokio::time::sleep(StdDuration::from_micros(200)).await;
    }
}

/// User `n` (funded, admitted) holding seat `seat` on `store`, and the plan paying for it.
async fn payer(store: &PgStore, n: i64, seat: i64) -> (QueueToken, SettlementPlan) {
    let token = funded_user(store, n, PRICE).await;
    // A tick apart, so each call admits.
    store.admit(NOW + seconds(2 * n), &QueuePolicy::default()).await.expect("admit");
    let token = store.fresh_token(token.value).await.expect("read").expect("stored");
    assert_eq!(token.status, TokenStatus::Active);
    let held =
        store.try_hold(&approved_hold(store, seat, n, NOW).await, None).await.expect("hold").expect("free");
    let balance = Balance::new(PRICE).expect("balance");
    let plan =
        SettlementPlan::authorize(&held, user(n), token.value, held.price, Some(balance), NOW + seconds(1))
            .expect("payable");
    (token, plan)
}

/// A connection of the test's own, and two trusting stores on the seeded `db`, both listening.
async fn seeded_pair(db: &TestDatabase) -> (AsyncPgConnection, PgStore, PgStore) {
    let conn = AsyncPgConnection::establish(db.url()).await.expect("connect");
    let (paying, other) = (trusting(db).await, trusting(db).await);
    seed(&paying).await;
    until_listening(&[&paying, &other]).await;
    (conn, paying, other)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_on_one_instance_expires_the_token_copy_of_another_at_once() {
    let db = TestDatabase::create().await;
    let (mut conn, paying, other) = seeded_pair(&db).await;
    let (token, plan) = payer(&paying, 1, 20).await;
    let copy = other.token(token.value).await.expect("token").expect("stored");
    assert_eq!(copy.status, TokenStatus::Active, "the other instance keeps an active copy");
    poll_behind_their_backs(&mut conn, &token).await;
    let served = other.token(token.value).await.expect("token").expect("stored");
    assert!(other.is_listening(), "still listening (else the row would have been read)");
    assert_eq!(served, copy, "the copy is served, not the row: the push is what can change it");
    assert!(paying.settle(&plan, None).await.expect("settle").is_some());
    let lag = until_seen(&other, &token, |seen| seen.status == TokenStatus::Expired).await;
    assert!(lag < StdDuration::from_secs(1), "seen after {lag:?}, with copies trusted for an hour");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admission_on_one_instance_moves_the_positions_another_serves_at_once() {
    let db = TestDatabase::create().await;
    let mut conn = AsyncPgConnection::establish(db.url()).await.expect("connect");
    let (admitting, other) = (trusting(&db).await, trusting(&db).await);
    until_listening(&[&admitting, &other]).await;
    let first = issue_at(&admitting, 1, NOW).await;
    let second = issue_at(&admitting, 2, NOW).await;
    let copy = other.token(first.value).await.expect("token").expect("stored");
    assert_eq!((copy.status, other.position(&second).await), (TokenStatus::Waiting, Ok(2)));
    poll_behind_their_backs(&mut conn, &first).await;
    let served = other.token(first.value).await.expect("token").expect("stored");
    assert!(other.is_listening(), "still listening (else the row would have been read)");
    assert_eq!(served.last_seen_at, copy.last_seen_at, "the copy is served, not the row");
    let policy = QueuePolicy { max_active: 1, ..QueuePolicy::default() };
    assert_eq!(admitting.admit(NOW, &policy).await.map(|report| report.admitted), Ok(1));
    until_seen(&other, &first, |seen| seen.status == TokenStatus::Active).await;
    assert_eq!(other.position(&second).await, Ok(1), "the snapshot moved with the push");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_keeps_copies_of_the_tokens_an_admission_admitted_before_they_are_asked_for() {
    let db = TestDatabase::create().await;
    let mut conn = AsyncPgConnection::establish(db.url()).await.expect("connect");
    let (admitting, other) = (trusting(&db).await, trusting(&db).await);
    until_listening(&[&admitting, &other]).await;
    let fans = [issue_at(&admitting, 1, NOW).await, issue_at(&admitting, 2, NOW).await];
    let waiting = issue_at(&admitting, 3, NOW).await;
    let policy = QueuePolicy { max_active: 2, ..QueuePolicy::default() };
    assert_eq!(admitting.admit(NOW, &policy).await.map(|report| report.admitted), Ok(2));
    let deadline = Instant::now() + StdDuration::from_secs(5);
    for store in [&admitting, &other] {
        for fan in &fans {
            while !store.keeps_copy_of(fan.value).await {
                assert!(Instant::now() < deadline, "a copy of every admitted token within 5 s");
                tokio::time::sleep(StdDuration::from_millis(2)).await;
            }
        }
    }
    assert!(!other.keeps_copy_of(waiting.value).await, "only admitted tokens are loaded");
    for fan in &fans {
        poll_behind_their_backs(&mut conn, fan).await;
        let served = other.token(fan.value).await.expect("token").expect("stored");
        assert!(other.is_listening(), "still listening (else the row would have been read)");
        assert_eq!((served.status, served.last_seen_at), (TokenStatus::Active, fan.last_seen_at), "the copy");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listening_connection_lets_no_stale_copy_through_and_comes_back() {
    let db = TestDatabase::create().await;
    let (mut conn, paying, other) = seeded_pair(&db).await;
    let (first, first_plan) = payer(&paying, 1, 20).await;
    let (second, second_plan) = payer(&paying, 2, 21).await;
    for token in [&first, &second] {
        assert_eq!(
            other.token(token.value).await.expect("token").map(|t| t.status),
            Some(TokenStatus::Active)
        );
    }

    // No connection may be opened (pooled ones stay open): the listeners stay down.
    let (server, database) = db.url().rsplit_once('/').expect("a database name");
    let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres")).await.expect("connect");
    let gate = |open: bool| format!("ALTER DATABASE \"{database}\" WITH ALLOW_CONNECTIONS {open}");
    diesel::sql_query(gate(false)).execute(&mut admin).await.expect("close the database to new connections");
    let kill = "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'frontrow listener'";
    let killed: Count = diesel::sql_query(kill).get_result(&mut conn).await.expect("kill the listeners");
    assert_eq!(killed.n, 2);
    // The stores notice at once: the server says why it closes a connection.
    let deadline = Instant::now() + StdDuration::from_secs(5);
    while paying.is_listening() || other.is_listening() {
        assert!(Instant::now() < deadline, "the stores noticed they no longer listen");
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    assert_eq!(listeners(&mut conn).await, 0, "nobody listens");
    // Paid while nobody listens: no instance hears of it, and none may trust its copy.
    assert!(paying.settle(&first_plan, None).await.expect("settle").is_some());
    let seen = other.token(first.value).await.expect("token").expect("stored");
    assert_eq!(seen.status, TokenStatus::Expired, "read from the database, not from the copy");

    diesel::sql_query(gate(true)).execute(&mut admin).await.expect("open the database again");
    until_listening(&[&paying, &other]).await;
    let copy = other.token(second.value).await.expect("token").expect("stored");
    assert_eq!(copy.status, TokenStatus::Active, "a copy made after listening again");
    assert!(paying.settle(&second_plan, None).await.expect("settle").is_some());
    let lag = until_seen(&other, &second, |seen| seen.status == TokenStatus::Expired).await;
    assert!(lag < StdDuration::from_secs(1), "pushed again once listening again: {lag:?}");
}
