//! Outages: while PostgreSQL is down every request that needs it answers 503 `UNAVAILABLE`
//! quickly and `/ready` says not ready; when it is back the service recovers by itself; a
//! payment cut off by a database crash is committed entirely or not at all; and a server told
//! to stop finishes the requests it is serving. The PostgreSQL tests start a throwaway cluster
//! of their own on a private port (see `support::cluster`), whatever `FRONTROW_TEST_STORE` says.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use support::cluster::{Cluster, StopMode};
use support::{Reply, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's `DATABASE_TIMEOUT_MS` in these tests.
const DB_TIMEOUT: &str = "500";
/// The longest an answer may take while the database is down ("quickly", with slack for a
/// loaded machine; the server gives up after `DB_TIMEOUT` per connection attempt).
const QUICK: Duration = Duration::from_secs(3);
/// How long the service may take to notice that the database is back.
const RECOVERY: Duration = Duration::from_secs(10);
/// The balance every user is given (more than the dearest demo seat).
const CHARGED: i64 = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_answer_503_quickly_while_the_database_is_down_and_recover_by_themselves() {
    let mut cluster = Cluster::start();
    let server = TestServer::start_on(&cluster.url(), &settings()).await;
    let user = server.uid(1);
    let token = server.active_user(user).await;
    server.charge(&token, user, CHARGED).await.ok("charge");
    let concerts = server.concert_ids(&token).await;

    tokio::task::block_in_place(|| cluster.stop(StopMode::Fast));
    for round in 0..3 {
        let gated = [
            server.client.get(server.url("/api/concerts")).bearer_auth(&token),
            server.client.post(server.url("/api/charge")).bearer_auth(&token).json(&json!({
                "userId": user, "amount": 1_000
            })),
            server.client.get(server.url("/api/token")).bearer_auth(&token),
            server.client.post(server.url("/api/token")).json(&json!({ "userId": user })),
        ];
        for request in gated {
            let (reply, took, what) = timed(&server, request).await;
            reply.assert_error(503, "UNAVAILABLE", &format!("{what} with the database down (round {round})"));
            assert!(
                took < QUICK,
                "{what} took {took:?} with the database down; it must answer within {QUICK:?}"
            );
        }
        let (ready, took, _) = timed(&server, server.client.get(server.url("/ready"))).await;
        ready.assert_error(503, "UNAVAILABLE", "GET /ready with the database down");
        assert!(took < QUICK, "GET /ready took {took:?} with the database down");
        let (health, _, _) = timed(&server, server.client.get(server.url("/health"))).await;
        assert_eq!(health.status, 200, "GET /health is liveness and does not need the database");
    }

    tokio::task::block_in_place(|| cluster.restart());
    wait_ready(&server).await;
    assert_eq!(server.status_of(&token).await, "ACTIVE", "the token works again, without a restart");
    assert_eq!(server.concert_ids(&token).await, concerts, "the catalogue is served again");
    assert_eq!(server.balance_of(&token, user).await, CHARGED, "no charge refused during the outage counted");
    let after = server.charge(&token, user, 1_000).await;
    assert_eq!(after.ok("charge after recovery")["currentBalance"], CHARGED + 1_000);
    assert!(server.exit_status().is_none(), "the server kept running through the outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_answer_503_in_bounded_time_while_the_database_does_not_answer() {
    let cluster = Cluster::start();
    let mut overrides = settings().to_vec();
    overrides.extend([("REQUEST_TIMEOUT_MS", "1500"), ("DATABASE_MAX_CONNECTIONS", "4")]);
    let server = TestServer::start_on(&cluster.url(), &overrides).await;
    let user = server.uid(1);
    let token = server.active_user(user).await;
    server.charge(&token, user, CHARGED).await.ok("charge");

    // Frozen, the server keeps its connections open and answers nothing: requests that got a
    // connection wait on it, the others wait for the pool. Only reads, so that nothing is left
    // to happen when it resumes.
    tokio::task::block_in_place(|| cluster.freeze());
    let balance = format!("/api/balance?userId={user}");
    let requests = (0..12).map(|i| match i % 4 {
        0 => server.client.get(server.url("/api/concerts")).bearer_auth(&token),
        1 => server.client.get(server.url("/api/token")).bearer_auth(&token),
        2 => server.client.get(server.url(&balance)).bearer_auth(&token),
        _ => server.client.get(server.url("/ready")),
    });
    for (reply, took, what) in join_all(requests.map(|request| timed(&server, request))).await {
        reply.assert_error(503, "UNAVAILABLE", &format!("{what} with the database frozen"));
        assert!(
            took < QUICK,
            "{what} took {took:?} with the database frozen; it must answer within {QUICK:?}"
        );
    }
    let (health, ..) = timed(&server, server.client.get(server.url("/health"))).await;
    assert_eq!(health.status, 200, "GET /health does not need the database");

    tokio::task::block_in_place(|| cluster.thaw());
    wait_ready(&server).await;
    assert_eq!(server.balance_of(&token, user).await, CHARGED, "served again once the database answers");
    assert_eq!(server.status_of(&token).await, "ACTIVE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_cut_off_mid_way_is_all_or_nothing() {
    const USERS: usize = 40;
    let mut cluster = Cluster::start();
    let server = Arc::new(TestServer::start_on(&cluster.url(), &settings()).await);
    let users: Vec<i64> = (1..=USERS as i64).map(|n| server.uid(n)).collect();
    // One at a time: with a 500 ms pool wait, a burst of set-up requests on a loaded machine
    // could itself be answered 503.
    let mut tokens = Vec::new();
    for &user in &users {
        tokens.push(server.active_user(user).await);
    }
    let seats = server.some_free_seats(&tokens[0], USERS).await;
    let mut buyers = Vec::new();
    for ((&user, token), seat) in users.iter().zip(&tokens).zip(&seats) {
        server.charge(token, user, CHARGED).await.ok("charge");
        let hold = server.hold(token, user, seat).await;
        buyers.push((
            user,
            token.clone(),
            hold["reservationId"].as_i64().expect("reservationId"),
            seat.price,
        ));
    }

    // Payments start 15 ms apart; the database crashes once a quarter of them have succeeded.
    let succeeded = Arc::new(AtomicUsize::new(0));
    let burst: Vec<_> = buyers
        .iter()
        .enumerate()
        .map(|(i, (_, token, reservation, price))| {
            let (server, succeeded) = (Arc::clone(&server), Arc::clone(&succeeded));
            let body = json!({ "reservationId": reservation, "paymentAmount": price });
            let request = server.client.post(server.url("/api/pay")).bearer_auth(token).json(&body);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(15 * i as u64)).await;
                let answer = timed(&server, request).await;
                if answer.0.status == 200 {
                    succeeded.fetch_add(1, Ordering::SeqCst);
                }
                answer
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while succeeded.load(Ordering::SeqCst) < USERS / 4 {
        assert!(Instant::now() < deadline, "the payments did not get going before the crash");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::task::block_in_place(|| cluster.stop(StopMode::Immediate));
    let mut answered = HashMap::new();
    for ((user, ..), task) in buyers.iter().zip(join_all(burst).await) {
        let (reply, took, _) = task.expect("a payment task panicked");
        match reply.status {
            200 => {}
            503 => reply.assert_error(503, "UNAVAILABLE", "a payment while the database crashed"),
            other => panic!(
                "a payment during the crash answered {other} (only 200 or 503 make sense): {}",
                reply.text
            ),
        }
        assert!(took < QUICK, "a payment during the crash took {took:?}");
        answered.insert(*user, reply.status);
    }
    let unanswered = answered.values().filter(|&&status| status == 503).count();
    assert!(unanswered > 0, "the crash came after every payment; nothing was cut off");

    tokio::task::block_in_place(|| cluster.restart());
    wait_ready(&server).await;
    let db = connect(&cluster.url()).await;
    let paid = check_all_or_nothing(&db, &users).await;
    for (user, status) in &answered {
        if *status == 200 {
            assert!(paid[user], "user {user} was told the payment succeeded, but it was lost in the crash");
        }
    }

    // Retrying is safe: a payment that did commit is not taken twice, one that did not now works.
    for (user, token, reservation, price) in &buyers {
        if answered[user] == 200 {
            continue;
        }
        let retry = server.pay(token, *reservation, *price).await;
        if paid[user] {
            retry.assert_error(401, "TOKEN_EXPIRED", "retrying a payment that committed before the crash");
        } else {
            retry.ok("retrying a payment that the crash rolled back");
        }
    }
    let paid = check_all_or_nothing(&db, &users).await;
    assert!(paid.values().all(|&p| p), "after the retries every reservation is paid: {paid:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_told_to_stop_finishes_the_requests_in_flight() {
    const REQUESTS: i64 = 20;
    let server = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await;
    let users: Vec<i64> = (1..=REQUESTS).map(|n| server.uid(n)).collect();
    let tokens = join_all(users.iter().map(|&user| server.active_user(user))).await;
    let addr = server.base_url.trim_start_matches("http://").to_owned();

    // Each charge sends its headers and half its body, so the handler is running and waiting.
    let mut in_flight = Vec::new();
    for (user, token) in users.iter().zip(&tokens) {
        let body = json!({ "userId": user, "amount": 1_000 }).to_string();
        let (first, rest) = body.split_at(body.len() / 2);
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        let head = format!(
            "POST /api/charge HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("send the first half");
        in_flight.push((stream, rest.to_owned()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.terminate();

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        use std::io::ErrorKind::{ConnectionRefused, ConnectionReset};
        match TcpStream::connect(&addr).await {
            // Reset: the connection reached the backlog just as the listener closed.
            Err(error) if matches!(error.kind(), ConnectionRefused | ConnectionReset) => break,
            Err(error) => panic!("unexpected error connecting to a stopping server: {error}"),
            Ok(_) => assert!(Instant::now() < deadline, "a stopping server still accepts new connections"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.exit_status().is_none(), "the server exited with {REQUESTS} requests still in flight");

    for (mut stream, rest) in in_flight {
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            stream.write_all(rest.as_bytes()).await.expect("send the second half");
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.expect("read the answer");
            String::from_utf8_lossy(&raw).into_owned()
        })
        .await
        .expect("an in-flight request was not answered within 10 s of the stop");
        assert!(answer.starts_with("HTTP/1.1 200"), "an in-flight request was cut off: {answer:?}");
        let body = answer.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or("");
        let json: serde_json::Value = serde_json::from_str(body).expect("a complete JSON body");
        assert_eq!(json["currentBalance"], 1_000, "the charge was done: {json}");
    }
    let exit = server.wait_exit(Duration::from_secs(30)).await;
    let exit = exit.unwrap_or_else(|| panic!("the server did not exit within 30 s:\n{}", server.log_tail()));
    assert!(exit.success(), "the server exited with {exit}:\n{}", server.log_tail());
}

/// The server settings of the PostgreSQL tests. The in-process caches are off, so every request
/// these tests send needs the database (with them on, a token or the concert list read within
/// the TTL is still served during an outage, which is the point of them, not of these tests).
fn settings() -> [(&'static str, &'static str); 5] {
    [
        ("SEED_DEMO", "1"),
        ("DATABASE_TIMEOUT_MS", DB_TIMEOUT),
        ("QUEUE_MAX_ACTIVE", "0"),
        ("TOKEN_CACHE_MS", "0"),
        ("CATALOGUE_CACHE_SECONDS", "0"),
    ]
}

/// Sends `request` (giving up after 10 s, a hang) and measures how long the answer took.
async fn timed(server: &TestServer, request: reqwest::RequestBuilder) -> (Reply, Duration, String) {
    let request = request.timeout(Duration::from_secs(10));
    let what = request
        .try_clone()
        .and_then(|r| r.build().ok())
        .map(|r| format!("{} {}", r.method(), r.url().path()));
    let started = Instant::now();
    let reply = server.send(request).await;
    (reply, started.elapsed(), what.unwrap_or_default())
}

/// Polls `GET /ready` until 200, at most [`RECOVERY`].
async fn wait_ready(server: &TestServer) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let (reply, ..) = timed(server, server.client.get(server.url("/ready"))).await;
        if reply.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not ready {RECOVERY:?} after the database came back: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to the throwaway cluster");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Every user's one reservation, with what a payment would have changed.
const STATE: &str = "
SELECT r.user_id, r.status, r.price, s.sold, u.balance,
       (SELECT count(*) FROM payments p WHERE p.user_id = r.user_id) AS payments,
       (SELECT count(*) FROM payments p WHERE p.reservation_id = r.id) AS payments_of_reservation,
       (SELECT count(*) FROM ledger_entries l WHERE l.user_id = r.user_id AND l.reason = 'PAYMENT')
           AS payment_entries,
       (SELECT count(*) FROM ledger_entries l WHERE l.reservation_id = r.id) AS entries_of_reservation,
       (SELECT COALESCE(sum(l.delta), 0)::bigint FROM ledger_entries l WHERE l.user_id = r.user_id)
           AS ledger_sum,
       (SELECT t.status FROM queue_tokens t WHERE t.user_id = r.user_id ORDER BY t.ticket DESC LIMIT 1)
           AS token
  FROM reservations r JOIN seats s ON s.id = r.seat_id JOIN users u ON u.id = r.user_id
 WHERE r.user_id = ANY($1)";

/// Asserts that each user's payment happened entirely or not at all, and that every ledger
/// sums to its balance; returns whether each user paid.
async fn check_all_or_nothing(db: &tokio_postgres::Client, users: &[i64]) -> HashMap<i64, bool> {
    let rows = db.query(STATE, &[&users]).await.expect("read the payment state");
    assert_eq!(rows.len(), users.len(), "one reservation per user");
    let mut paid = HashMap::new();
    for row in rows {
        let user: i64 = row.get("user_id");
        let status: String = row.get("status");
        let (price, balance, ledger_sum): (i64, i64, i64) =
            (row.get("price"), row.get("balance"), row.get("ledger_sum"));
        let sold: bool = row.get("sold");
        let counts: [i64; 4] =
            ["payments", "payments_of_reservation", "payment_entries", "entries_of_reservation"]
                .map(|column| row.get(column));
        let token: Option<String> = row.get("token");
        let state = format!(
            "user {user}: reservation {status}, seat sold {sold}, balance {balance}, \
             [payments, of the reservation, PAYMENT entries, entries of the reservation] {counts:?}, token {token:?}"
        );
        let is_paid = status == "PAID";
        if is_paid {
            assert_eq!(counts, [1; 4], "a partial payment: {state}");
            assert!(sold, "a partial payment: {state}");
            assert_eq!(balance, CHARGED - price, "a partial payment: {state}");
            assert_eq!(token.as_deref(), Some("EXPIRED"), "a partial payment: {state}");
        } else {
            assert!(status == "HELD" || status == "EXPIRED", "unexpected reservation status: {state}");
            assert_eq!(counts, [0; 4], "a partial payment: {state}");
            assert!(!sold, "a partial payment: {state}");
            assert_eq!(balance, CHARGED, "a partial payment: {state}");
            assert_eq!(token.as_deref(), Some("ACTIVE"), "a partial payment: {state}");
        }
        assert_eq!(ledger_sum, balance, "the ledger does not sum to the balance: {state}");
        paid.insert(user, is_paid);
    }
    paid
}
