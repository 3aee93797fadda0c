//! The waiting room: strict FIFO admission under `QUEUE_MAX_ACTIVE`, slots freed by payment,
//! by the active TTL and by abandonment of waiting tokens.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{TestServer, sleep_ms};

/// Issues tokens for test users `from..=to` in order.
async fn issue_users(s: &TestServer, from: i64, to: i64) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in from..=to {
        tokens.push(TestServer::token_of(&s.issue_token(s.uid(i)).await));
    }
    tokens
}

/// Status bodies of all `tokens`, read from the LAST to the first. Admission goes front to back
/// and so does expiry, so reading back to front can only under-count the active tokens of one
/// instant, never over-count them: a count above the cap is a real breach. (A position read
/// early may be one too high for the same reason, so waits also check the positions.)
async fn snapshot(s: &TestServer, tokens: &[String]) -> Vec<Value> {
    let mut out = vec![Value::Null; tokens.len()];
    for (i, token) in tokens.iter().enumerate().rev() {
        out[i] = s.token_status(token).await;
    }
    out
}

fn statuses(snap: &[Value]) -> Vec<&str> {
    snap.iter().map(|b| b["status"].as_str().unwrap_or("<missing>")).collect()
}

fn positions(snap: &[Value]) -> Vec<i64> {
    snap.iter().map(|b| b["position"].as_i64().unwrap_or(-1)).collect()
}

#[track_caller]
fn assert_cap(snap: &[Value], cap: usize) {
    let active = statuses(snap).iter().filter(|s| **s == "ACTIVE").count();
    assert!(active <= cap, "{active} tokens active with QUEUE_MAX_ACTIVE={cap}: {:?}", statuses(snap));
}

/// Polls (which also keeps waiting tokens alive) until `done` holds for a snapshot, checking the
/// cap on every sample; panics after `within`.
async fn wait_for(
    s: &TestServer,
    tokens: &[String],
    cap: usize,
    within: Duration,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let snap = snapshot(s, tokens).await;
        assert_cap(&snap, cap);
        if done(&snap) {
            return snap;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {within:?}; statuses {:?}, positions {:?}",
            statuses(&snap),
            positions(&snap)
        );
        sleep_ms(50).await;
    }
}

/// Pays for one seat with `token`, which expires it.
async fn buy_a_seat(s: &TestServer, token: &str, user: i64) {
    let seat = s.some_free_seats(token, 1).await.remove(0);
    let held = s.hold(token, user, &seat).await;
    s.charge(token, user, seat.price).await.ok("charge");
    s.pay(token, held["reservationId"].as_i64().expect("reservationId"), seat.price).await.ok("pay");
}

#[tokio::test]
async fn admission_is_fifo_under_the_cap_and_a_payment_lets_the_next_in_line_in() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "2")]).await;
    let t = issue_users(&s, 1, 5).await;
    let snap = wait_for(&s, &t, 2, Duration::from_secs(10), "users 1 and 2 admitted", |snap| {
        statuses(snap) == ["ACTIVE", "ACTIVE", "WAITING", "WAITING", "WAITING"]
            && positions(snap)[2..] == [1, 2, 3]
    })
    .await;
    assert_eq!(positions(&snap)[..2], [0, 0], "active tokens have position 0");
    for body in &snap[2..] {
        assert!(body["expiresAt"].is_null(), "waiting tokens have no expiresAt: {body}");
        assert!(body["estimatedWaitSeconds"].is_number(), "waiting tokens estimate the wait: {body}");
    }

    // Nothing changes while nobody leaves; asking again keeps the place.
    for _ in 0..6 {
        let snap = snapshot(&s, &t).await;
        assert_cap(&snap, 2);
        assert_eq!(statuses(&snap), ["ACTIVE", "ACTIVE", "WAITING", "WAITING", "WAITING"]);
        sleep_ms(50).await;
    }
    let again = s.issue_token(s.uid(4)).await;
    assert_eq!(TestServer::token_of(&again), t[3], "same token when asking again");
    assert_eq!(again["position"].as_i64(), Some(2), "asking again keeps the place: {again}");

    // User 1 pays: their token expires and user 3 (not 4 or 5) takes the slot.
    buy_a_seat(&s, &t[0], s.uid(1)).await;
    let snap = wait_for(&s, &t, 2, Duration::from_secs(10), "user 3 admitted after user 1 paid", |snap| {
        statuses(snap)[2] == "ACTIVE" && positions(snap)[3..] == [1, 2]
    })
    .await;
    assert_eq!(statuses(&snap), ["EXPIRED", "ACTIVE", "ACTIVE", "WAITING", "WAITING"]);
    assert_eq!(positions(&snap)[3..], [1, 2], "the waiting tokens moved up by one");

    // And again: user 2 pays, user 4 is next.
    buy_a_seat(&s, &t[1], s.uid(2)).await;
    let snap = wait_for(&s, &t, 2, Duration::from_secs(10), "user 4 admitted after user 2 paid", |snap| {
        statuses(snap)[3] == "ACTIVE" && positions(snap)[4] == 1
    })
    .await;
    assert_eq!(statuses(&snap), ["EXPIRED", "EXPIRED", "ACTIVE", "ACTIVE", "WAITING"]);
    assert_eq!(positions(&snap)[4], 1);
}

#[tokio::test]
async fn an_active_token_expires_after_its_ttl_and_its_slot_goes_to_the_next_in_line() {
    // Five seconds: enough for the reads before the TTL on a loaded machine.
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1"), ("QUEUE_ACTIVE_TTL_SECONDS", "5")]).await;
    let first = s.active_user(s.uid(1)).await;
    let activated = Instant::now();
    let mut t = vec![first.clone()];
    t.extend(issue_users(&s, 2, 3).await);
    let status = s.token_status(&first).await;
    let exp = support::parse_rfc3339(status["expiresAt"].as_str().expect("an active token has expiresAt"));
    let left = exp - support::now_unix();
    assert!(left > 0.0 && left <= 5.5, "expiresAt = activation + QUEUE_ACTIVE_TTL_SECONDS: {status}");

    // Before the TTL: user 1 in, users 2 and 3 wait.
    let snap = snapshot(&s, &t).await;
    assert_eq!(statuses(&snap), ["ACTIVE", "WAITING", "WAITING"], "positions {:?}", positions(&snap));
    assert_eq!(positions(&snap)[1..], [1, 2]);

    // After it: user 1 is expired and user 2 (not 3) is in.
    let snap = wait_for(&s, &t, 1, Duration::from_secs(20), "user 2 admitted after user 1's TTL", |snap| {
        statuses(snap)[1] == "ACTIVE" && positions(snap)[2] == 1
    })
    .await;
    assert!(activated.elapsed() >= Duration::from_millis(4_500), "the TTL of 5 s ended too early");
    assert_eq!(statuses(&snap), ["EXPIRED", "ACTIVE", "WAITING"]);
    assert_eq!(positions(&snap)[2], 1, "user 3 moved up");
    let reply = s.get("/api/concerts", Some(&first)).await;
    reply.assert_error(401, "TOKEN_EXPIRED", "gated call after the active TTL");

    // A new token for user 1 goes to the back, behind user 3.
    let again = s.issue_token(s.uid(1)).await;
    assert_ne!(TestServer::token_of(&again), first, "an expired user gets a new token");
    assert_eq!(again["status"], "WAITING", "the slot is taken, so the new token waits: {again}");
    assert_eq!(again["position"].as_i64(), Some(2), "new token at the back of the queue: {again}");
}

#[tokio::test]
async fn a_waiting_token_that_is_not_polled_is_dropped_and_those_behind_move_up() {
    // Three seconds: a poll every 200 ms keeps a token even when a loaded machine delays some.
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1"), ("QUEUE_IDLE_TIMEOUT_SECONDS", "3")]).await;
    let active = s.active_user(s.uid(1)).await;
    let w = issue_users(&s, 2, 4).await; // users 2, 3, 4
    let (kept, abandoned) = ([w[0].clone(), w[2].clone()], w[1].clone());

    // Poll users 2 and 4 (never 3, never the active user 1) until user 3 is dropped. User 3's
    // state is read through a booking endpoint (403 while waiting): a poll would keep it.
    let start = Instant::now();
    while s.get("/api/concerts", Some(&abandoned)).await.status == 403 {
        assert!(start.elapsed() < Duration::from_secs(20), "an unpolled token was never dropped");
        for token in &kept {
            assert_eq!(s.status_of(token).await, "WAITING", "a polled waiting token stays");
        }
        sleep_ms(200).await;
    }

    assert!(start.elapsed() >= Duration::from_millis(2_500), "dropped before the idle timeout of 3 s");
    let dropped = s.token_status(&abandoned).await;
    assert_eq!(dropped["status"], "EXPIRED", "an unpolled waiting token is dropped: {dropped}");
    let reply = s.get("/api/concerts", Some(&abandoned)).await;
    reply.assert_error(401, "TOKEN_EXPIRED", "gated call with a dropped token");
    let kept = kept.to_vec();
    let snap = wait_for(&s, &kept, 1, Duration::from_secs(5), "user 4 moved up to 2", |snap| {
        positions(snap) == [1, 2]
    })
    .await;
    assert_eq!(statuses(&snap), ["WAITING", "WAITING"]);
    assert_eq!(s.status_of(&active).await, "ACTIVE", "the idle timeout applies to waiting tokens only");

    // User 3 asks again: a new token at the back.
    let again = s.issue_token(s.uid(3)).await;
    assert_ne!(TestServer::token_of(&again), abandoned, "a dropped user gets a new token");
    assert_eq!(again["position"].as_i64(), Some(3), "behind users 2 and 4: {again}");
}
