//! The fans' page without a browser: `/` and its files are served by the binary itself, with
//! a content security policy that keeps every script and style on this origin, to anyone (no
//! token); and the whole seat map the page draws moves FREE -> HELD -> SOLD as a seat is held
//! and paid for.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::TestServer;

const FILES: [(&str, &str); 8] = [
    ("/", "text/html"),
    ("/app.css", "text/css"),
    ("/app.js", "text/javascript"),
    ("/api.js", "text/javascript"),
    ("/i18n.js", "text/javascript"),
    ("/lists.js", "text/javascript"),
    ("/seatmap.js", "text/javascript"),
    ("/waiting.js", "text/javascript"),
];

#[tokio::test]
async fn the_page_and_its_files_are_served_to_anyone_with_a_same_origin_policy() {
    let server = TestServer::start(&[]).await;
    for (path, media_type) in FILES {
        let response = server.client.get(server.url(path)).send().await.expect("GET the file");
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        assert!(header("content-type").starts_with(media_type), "{path}: {}", header("content-type"));
        assert_eq!(header("content-security-policy"), "default-src 'self'", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        let body = response.text().await.expect("read the file");
        assert!(!body.is_empty(), "{path} is empty");
        // Works offline: nothing is fetched from anywhere but this server.
        assert!(!body.contains("http://") && !body.contains("https://"), "{path} names another origin");
    }
    let page = server.get("/", None).await.text;
    for (path, _) in &FILES[1..3] {
        assert!(page.contains(&format!("\"{path}\"")), "the page should load {path}");
    }
}

#[tokio::test]
async fn every_error_code_of_the_contract_has_a_sentence_in_korean_and_in_english() {
    let server = TestServer::start(&[]).await;
    let words = server.get("/i18n.js", None).await.text;
    let codes: BTreeSet<String> =
        support::contract::error_codes().into_iter().map(|(_, code)| code).collect();
    assert!(codes.len() >= 25, "the error table should list the contract's codes: {codes:?}");
    for code in codes {
        let key = format!("\"err.{code}\":");
        assert_eq!(words.matches(&key).count(), 2, "{code} needs one sentence per language in i18n.js");
    }
}

#[tokio::test]
async fn a_page_file_answers_other_methods_with_405_like_the_api() {
    let server = TestServer::start(&[]).await;
    let reply = server.post("/", None, &serde_json::json!({})).await;
    reply.assert_error(405, "METHOD_NOT_ALLOWED", "POST /");
}

/// The state of `seat_id` in `GET /api/performances/{schedule_id}/seats`.
async fn state_of(server: &TestServer, token: &str, schedule_id: i64, seat_id: i64) -> String {
    let reply = server.get(&format!("/api/performances/{schedule_id}/seats"), Some(token)).await;
    let map = reply.ok("GET the performance's seats").as_array().expect("the map is an array").clone();
    assert_eq!(map.len(), 50, "the whole map, not only free seats: {}", reply.text);
    let numbers: Vec<i64> = map.iter().map(|s| s["seatNumber"].as_i64().expect("seatNumber")).collect();
    assert_eq!(numbers, (1..=50).collect::<Vec<_>>(), "seats in number order");
    let seat = map.iter().find(|s| s["seatId"].as_i64() == Some(seat_id)).expect("the seat is on the map");
    for field in ["seatName", "zone"] {
        assert!(seat[field].is_string(), "{field} is a string: {seat}");
    }
    assert!(seat["price"].is_i64(), "price is an integer: {seat}");
    seat["state"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("state is a string: {seat}"))
}

#[tokio::test]
async fn the_fans_seat_map_shows_a_seat_free_then_held_then_sold() {
    let server = TestServer::start(&[]).await;
    let (buyer, watcher) = (server.uid(1), server.uid(2));
    let buyer_token = server.active_user(buyer).await;
    let watcher_token = server.active_user(watcher).await;
    let seat = server.some_free_seats(&buyer_token, 1).await.remove(0);
    assert_eq!(state_of(&server, &watcher_token, seat.schedule_id, seat.seat_id).await, "FREE");

    let held: Value = server.hold(&buyer_token, buyer, &seat).await;
    assert_eq!(state_of(&server, &watcher_token, seat.schedule_id, seat.seat_id).await, "HELD");

    server.charge(&buyer_token, buyer, seat.price).await.ok("charge");
    let reservation_id = held["reservationId"].as_i64().expect("reservationId");
    server.pay(&buyer_token, reservation_id, seat.price).await.ok("pay");
    assert_eq!(state_of(&server, &watcher_token, seat.schedule_id, seat.seat_id).await, "SOLD");
}

#[tokio::test]
async fn the_fans_seat_map_needs_an_active_token_and_a_real_performance() {
    let server = TestServer::start(&[]).await;
    server.get("/api/performances/1/seats", None).await.assert_error(401, "TOKEN_MISSING", "no token");
    let token = server.active_user(server.uid(1)).await;
    let reply = server.get("/api/performances/999999/seats", Some(&token)).await;
    reply.assert_error(404, "NOT_FOUND", "an unknown performance");
}
