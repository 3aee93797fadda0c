//! The live waiting room: `GET /api/token/stream` pushes the token's status as Server-Sent
//! Events and ends once the fan is admitted. Opening a stream counts as one poll; a stream
//! closes itself after half the idle timeout, so only a client that reconnects (as EventSource
//! does) keeps its place. Streams are bounded per token and per instance.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::TestServer;

/// Reads SSE frames until one `event: status` arrives; returns its JSON, or None at the end.
async fn next_status(
    response: &mut reqwest::Response,
    buffer: &mut String,
    limit: Duration,
) -> Option<Value> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if let Some(data) = frame.strip_prefix("event: status\ndata: ") {
                return Some(serde_json::from_str(data.trim()).expect("status events carry JSON"));
            }
            continue;
        }
        let remaining = deadline.checked_duration_since(Instant::now()).expect("no status event in time");
        match tokio::time::timeout(remaining, response.chunk()).await.expect("no status event in time") {
            Ok(Some(bytes)) => buffer.push_str(std::str::from_utf8(&bytes).expect("SSE is UTF-8")),
            Ok(None) => return None,
            Err(error) => panic!("the event stream broke: {error}"),
        }
    }
}

async fn try_open(s: &TestServer, token: &str) -> reqwest::Response {
    s.client.get(s.url("/api/token/stream")).bearer_auth(token).send().await.expect("open the event stream")
}

async fn open(s: &TestServer, token: &str) -> reqwest::Response {
    let response = try_open(s, token).await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("text/event-stream"), "content type {content_type}");
    response
}

/// A client like the browser's EventSource: it reconnects whenever the stream ends while the
/// token is still waiting, and hands back the first event that is not `WAITING` (after which
/// the stream must end).
async fn watch_until_admitted(s: &TestServer, token: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    let mut reconnects = 0;
    loop {
        let mut stream = open(s, token).await;
        let mut buffer = String::new();
        while let Some(event) = next_status(&mut stream, &mut buffer, Duration::from_secs(10)).await {
            if event["status"] != "WAITING" {
                assert!(reconnects > 0, "the stream outlived the idle timeout without a reconnect");
                let end = next_status(&mut stream, &mut buffer, Duration::from_secs(5)).await;
                assert!(end.is_none(), "the stream ends after the news");
                return event;
            }
        }
        reconnects += 1;
        assert!(Instant::now() < deadline, "not admitted within {limit:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fan_who_reconnects_is_told_live_when_admitted_and_the_stream_then_ends() {
    // Streams last 2 s; a reconnect lands well inside the 4 s idle timeout even on a busy machine.
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1"), ("QUEUE_IDLE_TIMEOUT_SECONDS", "4")]).await;
    let (first, second) = (s.uid(1), s.uid(2));
    let first_token = s.active_user(first).await;
    let second_token = TestServer::token_of(&s.issue_token(second).await);

    let mut stream = open(&s, &second_token).await;
    let mut buffer = String::new();
    let waiting = next_status(&mut stream, &mut buffer, Duration::from_secs(5)).await.expect("a first event");
    assert_eq!(waiting["status"], "WAITING", "{waiting}");
    assert_eq!(waiting["position"], 1, "{waiting}");
    drop(stream);

    // Past the idle timeout, the place is kept by the reconnects alone (no GET /api/token).
    let watcher = {
        let (s, token) = (&s, second_token.clone());
        async move { watch_until_admitted(s, &token, Duration::from_secs(30)).await }
    };
    let payer = async {
        tokio::time::sleep(Duration::from_secs(6)).await;
        let seat = s.some_free_seats(&first_token, 1).await.remove(0);
        s.charge(&first_token, first, seat.price).await.ok("charge");
        let held = s.hold(&first_token, first, &seat).await;
        let reservation = held["reservationId"].as_i64().expect("reservationId");
        s.pay(&first_token, reservation, seat.price).await.ok("pay frees the only slot");
    };
    let (admitted, ()) = tokio::join!(watcher, payer);
    assert_eq!(admitted["status"], "ACTIVE", "{admitted}");
    assert_eq!(admitted["position"], 0, "{admitted}");
    assert!(admitted["expiresAt"].is_string(), "{admitted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_alone_does_not_keep_a_waiting_place_past_the_idle_timeout() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1"), ("QUEUE_IDLE_TIMEOUT_SECONDS", "2")]).await;
    let _blocker = s.active_user(s.uid(1)).await;
    let waiting = TestServer::token_of(&s.issue_token(s.uid(2)).await);

    let opened = Instant::now();
    let stream = open(&s, &waiting).await;
    // The stream ends by itself (half the idle timeout); this client does not reconnect.
    let text = tokio::time::timeout(Duration::from_secs(8), stream.text()).await;
    let text = text.expect("a stream ends by itself before long").expect("read the stream");
    assert!(text.contains("event: status\ndata: "), "it told the status: {text:?}");
    assert!(
        text.contains("\nretry: ") || text.starts_with("retry: "),
        "it tells EventSource when to reconnect: {text:?}"
    );
    // Well past the idle timeout counted from the opening (the last sign of life).
    let quiet_until = opened + Duration::from_secs(5);
    tokio::time::sleep(quiet_until.saturating_duration_since(Instant::now())).await;
    assert_eq!(s.status_of(&waiting).await, "EXPIRED", "a stream counts as one poll, not as polling");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_opens_at_most_streams_per_token_streams_and_the_next_is_429_too_many_streams() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1"), ("STREAMS_PER_TOKEN", "2")]).await;
    let _blocker = s.active_user(s.uid(1)).await;
    let waiting = TestServer::token_of(&s.issue_token(s.uid(2)).await);
    let first = open(&s, &waiting).await;
    let _second = open(&s, &waiting).await;

    let third = try_open(&s, &waiting).await;
    assert_eq!(third.status().as_u16(), 429, "the third stream of one token");
    let body: Value = third.json().await.expect("a JSON error body");
    assert_eq!(body["code"], "TOO_MANY_STREAMS", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");

    // Closing one frees its slot (once the server notices, at its next heartbeat at most).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again = try_open(&s, &waiting).await;
        if again.status().as_u16() == 200 {
            break;
        }
        assert_eq!(again.status().as_u16(), 429);
        assert!(Instant::now() < deadline, "a closed stream's slot was not given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_answers_429_streams_full_with_retry_after() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1"), ("STREAMS_PER_INSTANCE", "2")]).await;
    let _blocker = s.active_user(s.uid(1)).await;
    let mut tokens = Vec::new();
    for n in 2..=4 {
        tokens.push(TestServer::token_of(&s.issue_token(s.uid(n)).await));
    }
    let _open = [open(&s, &tokens[0]).await, open(&s, &tokens[1]).await];
    let refused = try_open(&s, &tokens[2]).await;
    assert_eq!(refused.status().as_u16(), 429, "a third stream on an instance capped at two");
    let retry_after = refused.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert!(retry_after.is_some_and(|v| v.parse::<u64>().is_ok()), "Retry-After in seconds");
    let body: Value = refused.json().await.expect("a JSON error body");
    assert_eq!(body["code"], "STREAMS_FULL", "{body}");
    assert_eq!(s.status_of(&tokens[2]).await, "WAITING", "polling still works meanwhile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_with_a_bad_token_is_a_json_401() {
    let s = TestServer::start(&[]).await;
    s.get("/api/token/stream", None).await.assert_error(401, "TOKEN_MISSING", "stream without a token");
    s.get("/api/token/stream", Some("garbage")).await.assert_error(
        401,
        "TOKEN_INVALID",
        "stream with garbage",
    );
}
