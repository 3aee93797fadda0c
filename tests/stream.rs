//! The live waiting room: `GET /api/token/stream` pushes the token's status as Server-Sent
//! Events, keeps a watched place alive, and ends once the fan is admitted.

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

async fn open(s: &TestServer, token: &str) -> reqwest::Response {
    let response = s
        .client
        .get(s.url("/api/token/stream"))
        .bearer_auth(token)
        .send()
        .await
        .expect("open the event stream");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("text/event-stream"), "content type {content_type}");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fan_is_told_live_when_admitted_and_the_stream_then_ends() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1"), ("QUEUE_IDLE_TIMEOUT_SECONDS", "2")]).await;
    let (first, second) = (s.uid(1), s.uid(2));
    let first_token = s.active_user(first).await;
    let second_token = TestServer::token_of(&s.issue_token(second).await);

    let mut stream = open(&s, &second_token).await;
    let mut buffer = String::new();
    let waiting = next_status(&mut stream, &mut buffer, Duration::from_secs(5)).await.expect("a first event");
    assert_eq!(waiting["status"], "WAITING", "{waiting}");
    assert_eq!(waiting["position"], 1, "{waiting}");

    // Watching the stream counts as polling: past the idle timeout the place is still kept.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.status_of(&second_token).await, "WAITING", "a watched place is not dropped as idle");

    let seat = s.some_free_seats(&first_token, 1).await.remove(0);
    s.charge(&first_token, first, seat.price).await.ok("charge");
    let held = s.hold(&first_token, first, &seat).await;
    let reservation = held["reservationId"].as_i64().expect("reservationId");
    s.pay(&first_token, reservation, seat.price).await.ok("pay frees the only slot");

    let admitted = loop {
        let event =
            next_status(&mut stream, &mut buffer, Duration::from_secs(10)).await.expect("more events");
        if event["status"] != "WAITING" {
            break event;
        }
    };
    assert_eq!(admitted["status"], "ACTIVE", "{admitted}");
    assert_eq!(admitted["position"], 0, "{admitted}");
    assert!(admitted["expiresAt"].is_string(), "{admitted}");
    assert!(next_status(&mut stream, &mut buffer, Duration::from_secs(5)).await.is_none(), "the stream ends");
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
