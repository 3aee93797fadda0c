//! A client that is slow to send its request body is the client's fault, not an outage: it gets
//! 408 `REQUEST_TIMEOUT` (JSON) once `CLIENT_BODY_TIMEOUT_MS` has passed, the connection is
//! closed, and the server's metrics show a 408, never a 503.

mod support;

use std::time::Duration;

use support::TestServer;
use support::wire::RawReply;

/// The body deadline these tests run with, far below the 10 s request deadline.
const BODY_TIMEOUT_MS: &str = "1000";
/// How long the answer may take at most: the body deadline plus slack for a loaded machine,
/// still well below `REQUEST_TIMEOUT_MS`.
const ANSWER_WITHIN: Duration = Duration::from_secs(6);
const HEAD: &str = "POST /api/token HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100";

/// The 100 bytes [`HEAD`] announces: user 1's token request, padded with spaces.
fn body() -> String {
    let body = format!("{{\"userId\": 1{}}}", " ".repeat(87));
    assert_eq!(body.len(), 100);
    body
}

/// Asserts a JSON 408 `REQUEST_TIMEOUT` that closes the connection.
#[track_caller]
fn assert_request_timeout(reply: &RawReply, what: &str) {
    assert_eq!(reply.status, 408, "{what}: status; body {}", reply.text);
    assert!(
        reply.header("content-type").is_some_and(|value| value.starts_with("application/json")),
        "{what}: a JSON body; headers {:?}",
        reply.headers
    );
    assert_eq!(reply.json["code"], "REQUEST_TIMEOUT", "{what}: code; body {}", reply.text);
    assert!(reply.json["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: message; {}", reply.text);
    assert_eq!(reply.header("connection"), Some("close"), "{what}: the connection is closed");
    assert!(
        reply.elapsed >= Duration::from_millis(900),
        "{what}: not before the deadline: {:?}",
        reply.elapsed
    );
}

/// The Prometheus counters: a slow client is counted as a 408 and never as a 503.
async fn assert_counted_as_client_fault(s: &TestServer) {
    let metrics = s.get("/metrics", None).await.text;
    assert!(metrics.contains("status=\"408\""), "the 408 is counted:\n{metrics}");
    assert!(!metrics.contains("status=\"503\""), "nothing is counted as unavailable:\n{metrics}");
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_408_request_timeout_within_the_body_deadline() {
    let s = TestServer::start(&[("CLIENT_BODY_TIMEOUT_MS", BODY_TIMEOUT_MS)]).await;
    let reply = s.raw_exchange(HEAD, &[(Duration::ZERO, b"{")], ANSWER_WITHIN).await;
    assert_request_timeout(&reply, "1 byte of 100");
    assert_counted_as_client_fault(&s).await;
    assert_eq!(s.get("/ready", None).await.status, 200, "the service stays ready");
}

#[tokio::test]
async fn a_body_trickled_in_slower_than_the_body_deadline_is_408_request_timeout() {
    let s = TestServer::start(&[("CLIENT_BODY_TIMEOUT_MS", BODY_TIMEOUT_MS)]).await;
    // 100 bytes, 5 every 200 ms: each byte arrives, the whole body would take 4 s.
    let body = body();
    let parts: Vec<(Duration, &[u8])> =
        body.as_bytes().chunks(5).map(|chunk| (Duration::from_millis(200), chunk)).collect();
    let reply = s.raw_exchange(HEAD, &parts, ANSWER_WITHIN).await;
    assert_request_timeout(&reply, "a trickled body");
    assert_counted_as_client_fault(&s).await;
}

#[tokio::test]
async fn a_whole_body_sent_in_time_is_served() {
    let s = TestServer::start(&[("CLIENT_BODY_TIMEOUT_MS", BODY_TIMEOUT_MS)]).await;
    let body = body();
    let parts: Vec<(Duration, &[u8])> =
        vec![(Duration::ZERO, &body.as_bytes()[..50]), (Duration::from_millis(100), &body.as_bytes()[50..])];
    let reply = s.raw_exchange(HEAD, &parts, ANSWER_WITHIN).await;
    assert_eq!(reply.status, 200, "a body in two parts, in time; body {}", reply.text);
    assert_eq!(reply.json["userId"], 1, "{}", reply.text);
}
