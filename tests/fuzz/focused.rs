//! Focused cases of the strictness decisions documented in docs/api.md: content types, integers
//! past 64 bits, the body size limit, bodies that are not objects, invalid UTF-8, unknown
//! fields and invented methods.

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::json;

use crate::metric_methods;
use crate::support::{Reply, TestServer};

/// POST with a raw body and the given headers.
async fn post_with(
    s: &TestServer,
    path: &str,
    token: &str,
    content_type: Option<&[u8]>,
    body: Vec<u8>,
) -> Reply {
    let mut req = s.client.post(s.url(path)).bearer_auth(token).body(body);
    if let Some(content_type) = content_type {
        let value = HeaderValue::from_bytes(content_type).expect("a header value");
        req = req.header(reqwest::header::CONTENT_TYPE, value);
    }
    s.send(req).await
}

async fn active() -> (TestServer, String, i64) {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    (s, token, user)
}

#[tokio::test]
async fn a_wrong_content_type_is_400() {
    let (s, token, user) = active().await;
    let body = json!({ "userId": user, "amount": 100 }).to_string();
    for content_type in [
        &b"text/plain"[..],
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=x",
        b"application/xml",
        b"text/json",
        b"",
        b"application/js\xc3\xb6n",
    ] {
        let reply = post_with(&s, "/api/charge", &token, Some(content_type), body.clone().into_bytes()).await;
        let what = format!("Content-Type {:?}", String::from_utf8_lossy(content_type));
        reply.assert_error(400, "VALIDATION_ERROR", &what);
    }
    assert_eq!(s.balance_of(&token, user).await, 0, "no refused charge went through");
    for content_type in
        [&b"application/json; charset=utf-8"[..], b"Application/JSON", b"application/merge-patch+json"]
    {
        let reply = post_with(&s, "/api/charge", &token, Some(content_type), body.clone().into_bytes()).await;
        reply.ok(&format!("JSON as {:?}", String::from_utf8_lossy(content_type)));
    }
    let reply = post_with(&s, "/api/charge", &token, None, body.into_bytes()).await;
    reply.ok("no Content-Type at all");
    assert_eq!(s.balance_of(&token, user).await, 400);
}

#[tokio::test]
async fn integers_past_64_bits_are_400() {
    let (s, token, user) = active().await;
    for (user_id, amount) in [
        (user.to_string(), "9223372036854775808"),
        (user.to_string(), "-9223372036854775809"),
        (user.to_string(), "18446744073709551616"),
        ("9223372036854775808".to_owned(), "100"),
        ("-9223372036854775809".to_owned(), "100"),
    ] {
        let body = format!(r#"{{"userId": {user_id}, "amount": {amount}}}"#);
        let reply = s.post_raw("/api/charge", Some(&token), &body).await;
        reply.assert_error(400, "VALIDATION_ERROR", &body);
    }
    for body in [r#"{"userId": 9223372036854775808}"#, r#"{"userId": -9223372036854775809}"#] {
        s.post_raw("/api/token", None, body).await.assert_error(400, "VALIDATION_ERROR", body);
    }
    let reply = s.get("/api/balance?userId=9223372036854775808", Some(&token)).await;
    reply.assert_error(400, "VALIDATION_ERROR", "?userId past i64");
    let reply = s.get("/api/1/available-seats?scheduleId=99999999999999999999", Some(&token)).await;
    reply.assert_error(400, "VALIDATION_ERROR", "?scheduleId past i64");
    let reply = s.get("/api/99999999999999999999/available-dates", Some(&token)).await;
    reply.assert_error(404, "NOT_FOUND", "a path id past i64 names nothing");
    assert_eq!(s.balance_of(&token, user).await, 0);
}

#[tokio::test]
async fn a_body_over_16_kib_is_413_json() {
    let (s, token, user) = active().await;
    let padded = |size: usize| {
        let body = json!({ "userId": user, "amount": 100 }).to_string();
        let pad = size - body.len();
        format!("{{{}{}", " ".repeat(pad), &body[1..])
    };
    let exact = padded(16 * 1024);
    assert_eq!(exact.len(), 16 * 1024);
    s.post_raw("/api/charge", Some(&token), &exact).await.ok("a body of exactly 16 KiB");
    for size in [16 * 1024 + 1, 100 * 1024] {
        let reply = s.post_raw("/api/charge", Some(&token), &padded(size)).await;
        reply.assert_error(413, "PAYLOAD_TOO_LARGE", &format!("a body of {size} bytes"));
        let reply = s.post_raw("/api/charge", None, &padded(size)).await;
        reply.assert_error(413, "PAYLOAD_TOO_LARGE", &format!("{size} bytes without a token"));
    }
    assert_eq!(s.balance_of(&token, user).await, 100, "only the 16 KiB charge went through");
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_400() {
    let (s, token, user) = active().await;
    for body in [
        format!("[{user}, 100]"),
        format!(r#"[{{"userId": {user}, "amount": 100}}]"#),
        "null".into(),
        "100".into(),
    ] {
        let reply = s.post_raw("/api/charge", Some(&token), &body).await;
        reply.assert_error(400, "VALIDATION_ERROR", &body);
    }
    assert_eq!(s.balance_of(&token, user).await, 0, "no array was taken for a charge");
}

#[tokio::test]
async fn invalid_utf8_anywhere_in_a_body_is_400() {
    let (s, token, user) = active().await;
    let mut body = format!(r#"{{"userId": {user}, "amount": 100, "note": "caf"#).into_bytes();
    body.extend_from_slice(b"\xe9\"}");
    let reply = post_with(&s, "/api/charge", &token, Some(b"application/json"), body).await;
    reply.assert_error(400, "VALIDATION_ERROR", "Latin-1 in an unknown field");
    let body = b"{\"userId\": 1\xff, \"amount\": 100}".to_vec();
    let reply = post_with(&s, "/api/charge", &token, Some(b"application/json"), body).await;
    reply.assert_error(400, "VALIDATION_ERROR", "a stray byte");
    assert_eq!(s.balance_of(&token, user).await, 0);
}

#[tokio::test]
async fn unknown_json_fields_are_ignored() {
    let (s, token, user) = active().await;
    let body = json!({ "userId": user, "amount": 100, "currency": "KRW", "note": "세뱃돈 🎁", "nested": {"a": [1]} });
    let reply = s.post("/api/charge", Some(&token), &body).await;
    assert_eq!(reply.ok("a charge with unknown fields")["currentBalance"].as_i64(), Some(100));
}

#[tokio::test]
async fn invented_methods_are_405_json_and_leave_the_metrics_labels_alone() {
    let s = TestServer::start(&[]).await;
    for (i, (path, status, code)) in [
        ("/api/concerts", 405, "METHOD_NOT_ALLOWED"),
        ("/health", 405, "METHOD_NOT_ALLOWED"),
        ("/no-such-route", 404, "NOT_FOUND"),
    ]
    .into_iter()
    .enumerate()
    {
        let method = Method::from_bytes(format!("FUZZ{i}X").as_bytes()).expect("a method");
        let reply = s.send(s.client.request(method, s.url(path))).await;
        reply.assert_error(status, code, path);
    }
    let reply = s.send(s.client.request(Method::DELETE, s.url("/api/concerts"))).await;
    reply.assert_error(405, "METHOD_NOT_ALLOWED", "DELETE /api/concerts");
    let methods = metric_methods(&s).await;
    assert!(methods.contains("DELETE"), "standard methods are still counted: {methods:?}");
    assert!(!methods.iter().any(|m| m.starts_with("FUZZ")), "invented methods became labels: {methods:?}");
}
