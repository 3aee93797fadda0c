//! Exactly once, under the worst timing: a keyed charge whose credit is blocked behind another
//! transaction holding the user's row. The client gives up (503 at the request deadline) and
//! retries with the same key after the claim's lease ran out, twenty times at once; or the
//! instance running it is killed. Either way the money is credited exactly once, the key
//! answers with that one credit, and the ledger sums to the balance.
//!
//! Both need PostgreSQL (a transaction of the test's own holds the user's row), whatever
//! `FRONTROW_TEST_STORE` says; without it they fail and say how to start it.

mod support;

use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use futures::future::join_all;
use serde_json::{Value, json};
use support::TestServer;

/// The claim lease the server runs with (its default), and how long a retry waits past it.
const LEASE: Duration = Duration::from_secs(60);
const PAST_THE_LEASE: Duration = Duration::from_secs(62);

/// A session of the test's own that holds `user`'s row locked, as a slow transaction updating
/// their balance would, until [`Blocker::release`].
struct Blocker {
    client: tokio_postgres::Client,
}

impl Blocker {
    async fn lock_user(url: &str, user: i64) -> Blocker {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("the test connects to PostgreSQL");
        tokio::spawn(connection);
        client.batch_execute("BEGIN").await.expect("begin");
        // What a slow balance update holds: the row, not its key (foreign keys stay usable).
        let locked = client.execute("UPDATE users SET balance = balance WHERE id = $1", &[&user]).await;
        assert_eq!(locked.expect("lock the user's row"), 1, "the user exists");
        Blocker { client }
    }

    async fn release(self) {
        self.client.batch_execute("COMMIT").await.expect("commit releases the row");
    }
}

/// `POST /api/charge` of 1,000 won for user 1 with `key`.
async fn charge(server: &TestServer, token: &str, key: &str) -> (u16, Value, bool) {
    let request = server
        .client
        .post(server.url("/api/charge"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"userId": server.uid(1), "amount": 1_000}));
    let response = request.send().await.expect("the charge gets an answer");
    let status = response.status().as_u16();
    let replayed = response.headers().get("Idempotent-Replayed").is_some_and(|value| value == "true");
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, replayed)
}

/// The user's balance and ledger, read from the database: (balance, ledger rows, ledger sum).
async fn audit(url: &str, user: i64) -> (i64, i64, i64) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT u.balance, count(l.*), coalesce(sum(l.delta), 0)::BIGINT
               FROM users u LEFT JOIN ledger_entries l ON l.user_id = u.id
              WHERE u.id = $1 GROUP BY u.balance",
            &[&user],
        )
        .await
        .expect("audit query");
    (row.get(0), row.get(1), row.get(2))
}

/// Waits until PostgreSQL shows a statement waiting for a row lock: the blocked credit.
async fn until_a_statement_waits_on_a_lock(url: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("read pg_stat_activity")
            .get(0);
        if waiting > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the keyed charge never reached the locked row");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_storm_after_the_lease_of_a_blocked_charge_credits_exactly_once() {
    let database = TestDatabase::create().await;
    let server =
        TestServer::start_on(database.url(), &[("REQUEST_TIMEOUT_MS", "2000"), ("QUEUE_MAX_ACTIVE", "0")])
            .await;
    let token = server.active_user(server.uid(1)).await;
    let blocker = Blocker::lock_user(database.url(), server.uid(1)).await;
    let started = Instant::now();

    let (status, body, _) = charge(&server, &token, "storm").await;
    assert_eq!((status, body["code"].as_str()), (503, Some("UNAVAILABLE")), "the first attempt times out");
    tokio::time::sleep(PAST_THE_LEASE.saturating_sub(started.elapsed())).await;
    assert!(started.elapsed() > LEASE, "the retries come after the claim's lease");
    let retries = join_all((0..20).map(|_| charge(&server, &token, "storm"))).await;
    for (status, body, _) in &retries {
        assert_eq!(
            (*status, body["code"].as_str()),
            (409, Some("IDEMPOTENCY_KEY_IN_PROGRESS")),
            "a retry while the first credit is still blocked: {body}"
        );
    }

    blocker.release().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, body, replayed) = loop {
        let answer = charge(&server, &token, "storm").await;
        if answer.0 != 409 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((status, replayed), (200, true), "the blocked credit's own answer is replayed: {body}");
    assert_eq!(body["currentBalance"], 1_000, "the answer of the one credit");
    assert_eq!(audit(database.url(), server.uid(1)).await, (1_000, 1, 1_000), "credited exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_charge_whose_instance_is_killed_mid_credit_is_credited_once_by_the_retry() {
    let database = TestDatabase::create().await;
    let overrides = [("REQUEST_TIMEOUT_MS", "60000"), ("QUEUE_MAX_ACTIVE", "0")];
    let doomed = TestServer::start_on(database.url(), &overrides).await;
    let token = doomed.active_user(doomed.uid(1)).await;
    let blocker = Blocker::lock_user(database.url(), doomed.uid(1)).await;
    let started = Instant::now();

    let in_flight = {
        let request = doomed
            .client
            .post(doomed.url("/api/charge"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "crash")
            .json(&json!({"userId": doomed.uid(1), "amount": 1_000}));
        tokio::spawn(request.send())
    };
    until_a_statement_waits_on_a_lock(database.url()).await;
    let killed = std::process::Command::new("kill").args(["-KILL", &doomed.pid().to_string()]).status();
    assert!(killed.is_ok_and(|status| status.success()), "kill -KILL the instance");
    assert!(doomed.wait_exit(Duration::from_secs(10)).await.is_some(), "the instance is gone");
    assert!(in_flight.await.expect("the request task").is_err(), "the client never got an answer");
    blocker.release().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        audit(database.url(), doomed.uid(1)).await,
        (0, 0, 0),
        "the dead instance's credit rolled back"
    );

    let survivor = TestServer::start_on(database.url(), &overrides).await;
    let (status, body, _) = charge(&survivor, &token, "crash").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("IDEMPOTENCY_KEY_IN_PROGRESS")),
        "within the lease"
    );
    tokio::time::sleep(PAST_THE_LEASE.saturating_sub(started.elapsed())).await;
    let (status, body, replayed) = charge(&survivor, &token, "crash").await;
    assert_eq!((status, replayed), (200, false), "after the lease the retry runs: {body}");
    assert_eq!(body["currentBalance"], 1_000);
    let (status, body, replayed) = charge(&survivor, &token, "crash").await;
    assert_eq!(
        (status, replayed, body["currentBalance"].as_i64()),
        (200, true, Some(1_000)),
        "then it replays"
    );
    assert_eq!(audit(database.url(), survivor.uid(1)).await, (1_000, 1, 1_000), "credited exactly once");
}
