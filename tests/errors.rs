//! The contract's error table (docs/api.md) and the edge cases it decides, one test each. Every test starts its
//! own server so the tests are independent.

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::TestServer;

/// A server and one active user (user 1).
async fn with_active_user() -> (TestServer, String, i64) {
    let s = TestServer::start(&[]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    (s, token, user)
}

#[tokio::test]
async fn a_missing_or_non_bearer_authorization_is_401_token_missing() {
    let s = TestServer::start(&[]).await;
    s.get("/api/concerts", None).await.assert_error(401, "TOKEN_MISSING", "no Authorization");
    let body = json!({ "userId": 1, "amount": 100 });
    s.post("/api/charge", None, &body).await.assert_error(401, "TOKEN_MISSING", "charge, no header");
    let basic = s.client.get(s.url("/api/concerts")).header("Authorization", "Basic xyz");
    s.send(basic).await.assert_error(401, "TOKEN_MISSING", "Basic scheme");
}

#[tokio::test]
async fn an_unknown_or_malformed_bearer_token_is_401_token_invalid() {
    let s = TestServer::start(&[]).await;
    s.get("/api/concerts", Some("garbage")).await.assert_error(401, "TOKEN_INVALID", "Bearer garbage");
    let uuid = support::random_uuid();
    s.get("/api/concerts", Some(&uuid)).await.assert_error(401, "TOKEN_INVALID", "Bearer <random uuid>");
    s.get("/api/token", Some(&uuid)).await.assert_error(401, "TOKEN_INVALID", "status of an unknown token");
}

#[tokio::test]
async fn the_token_gate_comes_before_body_validation() {
    let s = TestServer::start(&[]).await;
    let reply = s.post_raw("/api/charge", None, "{not json").await;
    reply.assert_error(401, "TOKEN_MISSING", "malformed body without a token");
}

#[tokio::test]
async fn a_waiting_token_is_403_queue_not_active_with_its_position() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1")]).await;
    let _blocker = s.active_user(s.uid(1)).await;
    let waiting = TestServer::token_of(&s.issue_token(s.uid(2)).await);
    let reply = s.get("/api/concerts", Some(&waiting)).await;
    reply.assert_error(403, "QUEUE_NOT_ACTIVE", "gated call while waiting");
    assert_eq!(
        reply.json["position"].as_i64(),
        Some(1),
        "QUEUE_NOT_ACTIVE carries the position: {}",
        reply.text
    );
    let reply = s.charge(&waiting, s.uid(2), 100).await;
    reply.assert_error(403, "QUEUE_NOT_ACTIVE", "charge while waiting");
}

#[tokio::test]
async fn the_token_of_another_user_is_403_forbidden() {
    let s = TestServer::start(&[]).await;
    let (a, b) = (s.uid(1), s.uid(2));
    let token_a = s.active_user(a).await;
    let _token_b = s.active_user(b).await;
    s.charge(&token_a, b, 100).await.assert_error(403, "FORBIDDEN", "charge for another user");
    s.balance(&token_a, b).await.assert_error(403, "FORBIDDEN", "balance of another user");
    let seat = s.some_free_seats(&token_a, 1).await.remove(0);
    let reply = s.reserve(&token_a, seat.concert_id, seat.seat_id, b).await;
    reply.assert_error(403, "FORBIDDEN", "hold for another user");
    assert_eq!(s.balance_of(&token_a, a).await, 0, "nothing was charged to anyone");
}

#[tokio::test]
async fn malformed_or_incomplete_bodies_are_400() {
    let (s, token, user) = with_active_user().await;
    let cases = [
        "{not json".to_owned(),
        String::new(),
        format!(r#"{{"userId": {user}}}"#),
        r#"{"amount": 100}"#.to_owned(),
        format!(r#"{{"userId": "{user}", "amount": 100}}"#),
    ];
    for body in &cases {
        let reply = s.post_raw("/api/charge", Some(&token), body).await;
        reply.assert_error(400, "VALIDATION_ERROR", &format!("charge with body {body:?}"));
    }
    let reply = s.post_raw("/api/pay", Some(&token), r#"{"reservationId": 1}"#).await;
    reply.assert_error(400, "VALIDATION_ERROR", "pay without paymentAmount");
    let seat = s.some_free_seats(&token, 1).await.remove(0);
    let path = format!("/api/{}/reserve-seat", seat.concert_id);
    let reply = s.post(&path, Some(&token), &json!({ "seatId": seat.seat_id })).await;
    reply.assert_error(400, "VALIDATION_ERROR", "hold without userId (never taken from the token)");
    assert_eq!(s.balance_of(&token, user).await, 0);
}

#[tokio::test]
async fn amounts_and_ids_must_be_json_integers() {
    let (s, token, user) = with_active_user().await;
    for amount in ["1.5", "\"100\"", "null", "1e30", "true"] {
        let body = format!(r#"{{"userId": {user}, "amount": {amount}}}"#);
        let reply = s.post_raw("/api/charge", Some(&token), &body).await;
        reply.assert_error(400, "VALIDATION_ERROR", &format!("charge amount {amount}"));
    }
    let body = format!(r#"{{"userId": {user}.5, "amount": 100}}"#);
    s.post_raw("/api/charge", Some(&token), &body).await.assert_error(
        400,
        "VALIDATION_ERROR",
        "float userId",
    );
    let (_seat, reservation) = s.held_seat(&token, user).await;
    let body = format!(r#"{{"reservationId": {reservation}, "paymentAmount": "1000"}}"#);
    s.post_raw("/api/pay", Some(&token), &body).await.assert_error(
        400,
        "VALIDATION_ERROR",
        "string paymentAmount",
    );
    assert_eq!(s.balance_of(&token, user).await, 0, "no rejected charge changed the balance");
}

#[tokio::test]
async fn charge_amounts_outside_1_to_10_million_are_400() {
    let (s, token, user) = with_active_user().await;
    for amount in [0, -5, 10_000_001] {
        s.charge(&token, user, amount).await.assert_error(
            400,
            "VALIDATION_ERROR",
            &format!("charge {amount}"),
        );
    }
    assert_eq!(s.balance_of(&token, user).await, 0);
    let top = s.charge(&token, user, 10_000_000).await;
    assert_eq!(top.ok("charge of exactly 10,000,000")["currentBalance"].as_i64(), Some(10_000_000));
    let one = s.charge(&token, user, 1).await;
    assert_eq!(one.ok("charge of 1")["currentBalance"].as_i64(), Some(10_000_001));
}

#[tokio::test]
async fn balance_without_a_user_id_is_400() {
    let (s, token, _user) = with_active_user().await;
    let reply = s.get("/api/balance", Some(&token)).await;
    reply.assert_error(400, "VALIDATION_ERROR", "GET /api/balance without userId");
    let reply = s.get("/api/balance?userId=abc", Some(&token)).await;
    reply.assert_error(400, "VALIDATION_ERROR", "GET /api/balance?userId=abc");
}

#[tokio::test]
async fn unknown_and_non_numeric_concerts_are_404() {
    let (s, token, _user) = with_active_user().await;
    for path in [
        "/api/999999/available-dates",
        "/api/999999/available-seats?scheduleId=1",
        "/api/abc/available-dates",
    ] {
        s.get(path, Some(&token)).await.assert_error(404, "NOT_FOUND", path);
    }
    let reply =
        s.post("/api/999999/reserve-seat", Some(&token), &json!({ "seatId": 1, "userId": s.uid(1) })).await;
    reply.assert_error(404, "NOT_FOUND", "hold at an unknown concert");
}

#[tokio::test]
async fn impossible_dates_are_400_and_dates_without_a_performance_are_404() {
    let (s, token, _user) = with_active_user().await;
    let concert = s.concert_ids(&token).await[0];
    for date in ["2024-02-30", "tomorrow", "2024-13-01"] {
        let path = format!("/api/{concert}/available-seats?date={date}");
        s.get(&path, Some(&token)).await.assert_error(400, "VALIDATION_ERROR", &path);
    }
    let dates = s.dates(&token, concert).await;
    let taken: Vec<&str> = dates.iter().filter_map(|d| d["concertDate"].as_str()).map(|d| &d[..10]).collect();
    let free_day = ["2098-06-15", "2098-06-16"].into_iter().find(|d| !taken.contains(d)).expect("a free day");
    let path = format!("/api/{concert}/available-seats?date={free_day}");
    s.get(&path, Some(&token)).await.assert_error(404, "NOT_FOUND", "a real date with no performance");
}

#[tokio::test]
async fn a_date_with_two_performances_needs_a_schedule_id() {
    let (s, token, _user) = with_active_user().await;
    let mut found = None;
    for concert in s.concert_ids(&token).await {
        let mut by_day: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for d in s.dates(&token, concert).await {
            let day = d["concertDate"].as_str().expect("concertDate")[..10].to_owned();
            by_day.entry(day).or_default().push(d["scheduleId"].as_i64().expect("scheduleId"));
        }
        let single = by_day.iter().find(|(_, ids)| ids.len() == 1).map(|(d, ids)| (d.clone(), ids[0]));
        if let Some((day, ids)) = by_day.into_iter().find(|(_, ids)| ids.len() >= 2) {
            found = Some((concert, day, ids, single));
            break;
        }
    }
    let (concert, day, ids, single) = found.expect("the demo catalogue has a date with two performances");
    let path = format!("/api/{concert}/available-seats?date={day}");
    s.get(&path, Some(&token)).await.assert_error(
        400,
        "VALIDATION_ERROR",
        "ambiguous date without scheduleId",
    );
    for id in ids {
        assert!(!s.seats(&token, concert, id).await.is_empty(), "each performance lists its seats");
    }
    if let Some((day, schedule)) = single {
        let by_date = s.get(&format!("/api/{concert}/available-seats?date={day}"), Some(&token)).await;
        let ids = |list: &[Value]| -> Vec<i64> {
            let mut ids: Vec<i64> = list.iter().filter_map(|x| x["seatId"].as_i64()).collect();
            ids.sort_unstable();
            ids
        };
        let by_date = by_date.ok("?date= of a single-performance day").as_array().expect("array").clone();
        let by_schedule = s.seats(&token, concert, schedule).await;
        assert!(!by_date.is_empty(), "?date= of a single-performance day lists its seats");
        assert_eq!(ids(&by_date), ids(&by_schedule), "?date= lists the same seats as ?scheduleId=");
    }
}

#[tokio::test]
async fn a_seat_of_another_concert_or_an_unknown_seat_is_404() {
    let (s, token, user) = with_active_user().await;
    let concerts = s.concert_ids(&token).await;
    assert!(concerts.len() >= 2, "the demo catalogue has several concerts");
    let (a, b) = (concerts[0], concerts[1]);
    let schedule_b = s.dates(&token, b).await[0]["scheduleId"].as_i64().expect("scheduleId");
    let seat_b = s.free_seats(&token, b, schedule_b).await.remove(0);
    s.reserve(&token, a, seat_b.seat_id, user).await.assert_error(
        404,
        "NOT_FOUND",
        "seat of another concert",
    );
    s.reserve(&token, a, 99_999_999, user).await.assert_error(404, "NOT_FOUND", "unknown seat");
    let still_free = s.free_seats(&token, b, schedule_b).await;
    assert!(still_free.iter().any(|x| x.seat_id == seat_b.seat_id), "the other concert's seat was not held");
}

#[tokio::test]
async fn holding_a_seat_under_a_live_hold_is_409_even_for_the_holder() {
    let (s, token, user) = with_active_user().await;
    let other = s.uid(2);
    let other_token = s.active_user(other).await;
    let (seat, _) = s.held_seat(&token, user).await;
    let reply = s.reserve(&other_token, seat.concert_id, seat.seat_id, other).await;
    reply.assert_error(409, "SEAT_UNAVAILABLE", "seat held by someone else");
    let reply = s.reserve(&token, seat.concert_id, seat.seat_id, user).await;
    reply.assert_error(409, "SEAT_UNAVAILABLE", "seat held by yourself");
    let second = s.some_free_seats(&token, 1).await.remove(0);
    s.hold(&token, user, &second).await; // several seats at once are allowed
}

#[tokio::test]
async fn paying_someone_elses_or_an_unknown_reservation_is_404() {
    let (s, token, user) = with_active_user().await;
    let other = s.uid(2);
    let other_token = s.active_user(other).await;
    let (seat, reservation) = s.held_seat(&token, user).await;
    s.charge(&other_token, other, 1_000_000).await.ok("charge");
    s.pay(&other_token, reservation, seat.price).await.assert_error(
        404,
        "NOT_FOUND",
        "someone else's reservation",
    );
    s.pay(&other_token, 99_999_999, seat.price).await.assert_error(404, "NOT_FOUND", "unknown reservation");
    assert_eq!(s.balance_of(&other_token, other).await, 1_000_000, "no money moved");
    assert_eq!(s.status_of(&other_token).await, "ACTIVE", "a failed payment keeps the token");
}

#[tokio::test]
async fn a_wrong_amount_is_422_mismatch_and_is_checked_before_the_balance() {
    let (s, token, user) = with_active_user().await;
    let (seat, reservation) = s.held_seat(&token, user).await;
    let reply = s.pay(&token, reservation, seat.price + 1).await;
    reply.assert_error(422, "PAYMENT_AMOUNT_MISMATCH", "wrong amount with a zero balance");
    s.charge(&token, user, seat.price * 3).await.ok("charge");
    let reply = s.pay(&token, reservation, seat.price - 1).await;
    reply.assert_error(422, "PAYMENT_AMOUNT_MISMATCH", "wrong amount with enough balance");
    assert_eq!(s.balance_of(&token, user).await, seat.price * 3, "no money moved");
}

#[tokio::test]
async fn not_enough_balance_is_422_and_leaves_everything_as_it_was() {
    let (s, token, user) = with_active_user().await;
    let (seat, reservation) = s.held_seat(&token, user).await;
    s.charge(&token, user, seat.price - 1).await.ok("charge one won short");
    s.pay(&token, reservation, seat.price).await.assert_error(422, "INSUFFICIENT_BALANCE", "one won short");
    assert_eq!(s.balance_of(&token, user).await, seat.price - 1, "no money moved");
    assert_eq!(s.status_of(&token).await, "ACTIVE", "a failed payment keeps the token");
    let free = s.free_seats(&token, seat.concert_id, seat.schedule_id).await;
    assert!(!free.iter().any(|x| x.seat_id == seat.seat_id), "the hold is still in place");
    s.charge(&token, user, 1).await.ok("top up");
    s.pay(&token, reservation, seat.price).await.ok("the same hold is still payable");
}

#[tokio::test]
async fn paying_a_paid_reservation_is_409_not_payable() {
    let (s, token, user) = with_active_user().await;
    let (seat, reservation) = s.held_seat(&token, user).await;
    s.charge(&token, user, seat.price * 2).await.ok("charge");
    s.pay(&token, reservation, seat.price).await.ok("first payment");
    let fresh = TestServer::token_of(&s.issue_token(user).await);
    assert_ne!(fresh, token, "paying expired the token, so a new one is issued");
    s.wait_until_active(&fresh).await;
    let reply = s.pay(&fresh, reservation, seat.price).await;
    reply.assert_error(409, "RESERVATION_NOT_PAYABLE", "second payment of the same reservation");
    assert_eq!(s.balance_of(&fresh, user).await, seat.price, "the price was taken once");
}

#[tokio::test]
async fn charging_beyond_one_billion_is_422_balance_limit_exceeded() {
    let (s, token, user) = with_active_user().await;
    for i in 1..=100_i64 {
        let reply = s.charge(&token, user, 10_000_000).await;
        assert_eq!(reply.ok("charge 10,000,000")["currentBalance"].as_i64(), Some(i * 10_000_000));
    }
    s.charge(&token, user, 1).await.assert_error(422, "BALANCE_LIMIT_EXCEEDED", "one won above the ceiling");
    assert_eq!(s.balance_of(&token, user).await, 1_000_000_000, "the ceiling is reachable, not passable");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let s = TestServer::start(&[]).await;
    let reply = s.get("/no-such-route", None).await;
    assert_eq!(reply.status, 404, "unknown route: {}", reply.text);
    reply.assert_error_body("unknown route");
    let token = TestServer::token_of(&s.issue_token(s.uid(1)).await);
    let reply = s.send(s.client.delete(s.url("/api/token")).bearer_auth(&token)).await;
    assert_eq!(reply.status, 405, "DELETE /api/token: {}", reply.text);
    reply.assert_error_body("wrong method");
    let reply = s.send(s.client.put(s.url("/api/token")).json(&json!({ "userId": 1 }))).await;
    assert_eq!(reply.status, 405, "PUT /api/token: {}", reply.text);
    reply.assert_error_body("wrong method");
}

#[tokio::test]
async fn health_readiness_metrics_and_docs_need_no_token() {
    let s = TestServer::start(&[]).await;
    for path in ["/health", "/ready"] {
        let reply = s.get(path, None).await;
        assert!(reply.is_success(), "{path} without a token: {} {}", reply.status, reply.text);
    }
    let metrics = s.get("/metrics", None).await;
    assert!(metrics.is_success(), "/metrics: {} {}", metrics.status, metrics.text);
    assert!(metrics.content_type.starts_with("text/plain"), "Prometheus text: {:?}", metrics.content_type);
    assert!(metrics.text.contains("# TYPE"), "Prometheus exposition format: {}", metrics.text);
    let spec = s.get("/api-docs/openapi.json", None).await;
    let spec = spec.ok("/api-docs/openapi.json");
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with('3')), "an OpenAPI 3 document: {spec}");
    for path in ["/api/token", "/api/charge", "/api/balance", "/api/pay"] {
        assert!(spec["paths"].get(path).is_some(), "the OpenAPI document describes {path}");
    }
    let docs = s.get("/docs", None).await; // redirects are followed
    assert!(docs.is_success(), "/docs: {} {}", docs.status, docs.text);
    assert!(docs.content_type.starts_with("text/html"), "/docs is a browsable page: {:?}", docs.content_type);
}
