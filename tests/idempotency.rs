//! `Idempotency-Key` on the three writing POSTs: the same request sent ten times at once with
//! one key takes effect exactly once (one credit, one hold, one payment); a later retry gets the
//! first answer back, marked `Idempotent-Replayed: true`; the key with another body is 422
//! `IDEMPOTENCY_KEY_REUSED`; keys belong to one user; a malformed key is 400. A payment expires
//! its token, yet a retry with that token still reads the payment's answer.

mod support;

use std::sync::Arc;

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use support::TestServer;
use tokio::sync::Barrier;

/// How many identical requests race.
const RACERS: usize = 10;

/// One answer, with the replay marker.
#[derive(Debug, Clone)]
struct Keyed {
    status: u16,
    /// The `Idempotent-Replayed` header, when present.
    replayed: Option<String>,
    text: String,
    json: Value,
}

impl Keyed {
    fn code(&self) -> Option<&str> {
        self.json.get("code").and_then(Value::as_str)
    }

    fn is_replay(&self) -> bool {
        self.replayed.as_deref() == Some("true")
    }

    #[track_caller]
    fn assert_error(&self, status: u16, code: &str, what: &str) {
        assert_eq!((self.status, self.code()), (status, Some(code)), "{what}: {}", self.text);
        assert!(!self.is_replay(), "{what}: an error of the protocol itself is not a replay");
    }
}

/// `POST path` with a JSON body, a bearer token and, when given, an `Idempotency-Key`.
async fn post(s: &TestServer, path: &str, token: &str, key: Option<&str>, body: &Value) -> Keyed {
    post_text(s, path, token, key, &body.to_string()).await
}

/// [`post`] with the body's exact text.
async fn post_text(s: &TestServer, path: &str, token: &str, key: Option<&str>, body: &str) -> Keyed {
    let mut request = s
        .client
        .post(s.url(path))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap_or_else(|error| panic!("POST {path} failed: {error}"));
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("Idempotent-Replayed")
        .map(|value| value.to_str().unwrap_or("<not text>").to_owned());
    let text = response.text().await.expect("read the response body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Keyed { status, replayed, text, json }
}

/// Sends the same request [`RACERS`] times at once (released together by a barrier).
async fn race(s: &Arc<TestServer>, path: &str, token: &str, key: &str, body: &Value) -> Vec<Keyed> {
    let barrier = Arc::new(Barrier::new(RACERS));
    let tasks = (0..RACERS).map(|_| {
        let (s, barrier) = (Arc::clone(s), Arc::clone(&barrier));
        let (path, token, key, body) = (path.to_owned(), token.to_owned(), key.to_owned(), body.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            post(&s, &path, &token, Some(&key), &body).await
        })
    });
    join_all(tasks).await.into_iter().map(|task| task.expect("a racing request panicked")).collect()
}

/// Checks the answers of a race: each is the one answer (2xx, all identical, exactly one of
/// them not a replay: the request that ran) or 409 `IDEMPOTENCY_KEY_IN_PROGRESS`. Returns the
/// answer.
#[track_caller]
fn one_answer(replies: &[Keyed], what: &str) -> Keyed {
    let answers: Vec<&Keyed> = replies.iter().filter(|reply| reply.status == 200).collect();
    let busy = replies
        .iter()
        .filter(|reply| reply.status == 409 && reply.code() == Some("IDEMPOTENCY_KEY_IN_PROGRESS"))
        .count();
    let others: Vec<String> = replies
        .iter()
        .filter(|reply| reply.status != 200 && reply.code() != Some("IDEMPOTENCY_KEY_IN_PROGRESS"))
        .map(|reply| format!("{} {}", reply.status, reply.text))
        .collect();
    assert!(others.is_empty(), "{what}: only the answer or 409 IN_PROGRESS may come back, got {others:?}");
    assert_eq!(answers.len() + busy, RACERS, "{what}: {replies:?}");
    let ran: Vec<&&Keyed> = answers.iter().filter(|reply| !reply.is_replay()).collect();
    assert_eq!(ran.len(), 1, "{what}: exactly one request ran (no replay marker): {answers:?}");
    for answer in &answers {
        assert_eq!(answer.text, ran[0].text, "{what}: every 2xx is the same answer");
    }
    (*ran[0]).clone()
}

/// A retry gets `first` back, byte for byte, marked as a replay.
#[track_caller]
fn assert_replay_of(retry: &Keyed, first: &Keyed, what: &str) {
    assert_eq!((retry.status, retry.text.as_str()), (first.status, first.text.as_str()), "{what}");
    assert!(
        retry.is_replay(),
        "{what}: a replay carries Idempotent-Replayed: true, got {:?}",
        retry.replayed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_charge_sent_ten_times_at_once_with_one_key_credits_once() {
    let s = Arc::new(TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await);
    let (user, other) = (s.uid(1), s.uid(2));
    let token = s.active_user(user).await;
    let other_token = s.active_user(other).await;
    let body = json!({"userId": user, "amount": 7_000});

    let first = one_answer(&race(&s, "/api/charge", &token, "charge-1", &body).await, "racing charges");
    assert_eq!(first.json["currentBalance"], 7_000, "the one charge that ran: {}", first.text);
    assert_eq!(s.balance_of(&token, user).await, 7_000, "credited exactly once");

    let retry = post(&s, "/api/charge", &token, Some("charge-1"), &body).await;
    assert_replay_of(&retry, &first, "a later retry");
    let reused =
        post(&s, "/api/charge", &token, Some("charge-1"), &json!({"userId": user, "amount": 8_000})).await;
    reused.assert_error(422, "IDEMPOTENCY_KEY_REUSED", "the key with another amount");
    // The same JSON written differently is another request: the key is bound to the bytes.
    let respaced = format!(r#"{{ "userId": {user}, "amount": 7000 }}"#);
    assert_ne!(respaced, body.to_string());
    let respaced = post_text(&s, "/api/charge", &token, Some("charge-1"), &respaced).await;
    respaced.assert_error(422, "IDEMPOTENCY_KEY_REUSED", "the same fields in another order");
    assert_eq!(s.balance_of(&token, user).await, 7_000, "neither retry moved money");

    // Keys are per user: another user's same key is a key of its own.
    let theirs =
        post(&s, "/api/charge", &other_token, Some("charge-1"), &json!({"userId": other, "amount": 500}))
            .await;
    assert_eq!((theirs.status, theirs.is_replay()), (200, false), "another user's key: {}", theirs.text);
    assert_eq!(theirs.json["currentBalance"], 500, "{}", theirs.text);
    assert_eq!(s.balance_of(&token, user).await, 7_000, "the first user's balance is untouched");

    // Without a key nothing is deduplicated.
    for expected in [14_000, 21_000] {
        let plain = post(&s, "/api/charge", &token, None, &body).await;
        assert_eq!(
            (plain.status, plain.json["currentBalance"].as_i64()),
            (200, Some(expected)),
            "{}",
            plain.text
        );
        assert!(plain.replayed.is_none(), "a request without a key is never a replay");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_request_is_kept_and_replayed_too() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    let too_much = json!({"userId": user, "amount": 10_000_001});
    let first = post(&s, "/api/charge", &token, Some("refused"), &too_much).await;
    assert_eq!((first.status, first.code(), first.is_replay()), (400, Some("VALIDATION_ERROR"), false));
    let retry = post(&s, "/api/charge", &token, Some("refused"), &too_much).await;
    assert_replay_of(&retry, &first, "a kept 400");
    let forbidden = json!({"userId": s.uid(99), "amount": 1_000});
    let first = post(&s, "/api/charge", &token, Some("forbidden"), &forbidden).await;
    assert_eq!((first.status, first.code()), (403, Some("FORBIDDEN")), "{}", first.text);
    assert_replay_of(
        &post(&s, "/api/charge", &token, Some("forbidden"), &forbidden).await,
        &first,
        "a kept 403",
    );
    assert_eq!(s.balance_of(&token, user).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_key_is_400_and_changes_nothing() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    let body = json!({"userId": user, "amount": 1_000});
    let too_long = "k".repeat(256);
    for key in ["", "two words", too_long.as_str()] {
        let reply = post(&s, "/api/charge", &token, Some(key), &body).await;
        reply.assert_error(400, "VALIDATION_ERROR", &format!("key {key:?}"));
    }
    let non_ascii = s
        .client
        .post(s.url("/api/charge"))
        .bearer_auth(&token)
        .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").expect("header"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(non_ascii.status().as_u16(), 400, "a key outside ASCII");
    let longest = "k".repeat(255);
    let ok = post(&s, "/api/charge", &token, Some(&longest), &body).await;
    assert_eq!(ok.status, 200, "255 characters is a valid key: {}", ok.text);
    assert_eq!(s.balance_of(&token, user).await, 1_000, "only the valid key's charge ran");
    // The token gate comes first: no token is 401 whatever the key.
    let reply = s.client.post(s.url("/api/charge")).header("Idempotency-Key", "two words").json(&body);
    assert_eq!(reply.send().await.expect("send").status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hold_sent_ten_times_at_once_with_one_key_holds_once() {
    let s = Arc::new(TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await);
    let (user, other) = (s.uid(1), s.uid(2));
    let token = s.active_user(user).await;
    let other_token = s.active_user(other).await;
    let seats = s.some_free_seats(&token, 3).await;
    let seat = &seats[0];
    let free_before = s.available_count(&token, seat.concert_id, seat.schedule_id).await;
    let path = format!("/api/{}/reserve-seat", seat.concert_id);
    let body = json!({"seatId": seat.seat_id, "userId": user});

    let first = one_answer(&race(&s, &path, &token, "hold-1", &body).await, "racing holds");
    assert_eq!(first.json["reservationStatus"], "RESERVED", "{}", first.text);
    assert_eq!(first.json["seatId"], seat.seat_id, "{}", first.text);
    let free_after = s.available_count(&token, seat.concert_id, seat.schedule_id).await;
    assert_eq!(free_after, free_before - 1, "exactly one seat was held");
    let plain = post(&s, &path, &token, None, &body).await;
    plain.assert_error(409, "SEAT_UNAVAILABLE", "the seat is under the one hold");

    let retry = post(&s, &path, &token, Some("hold-1"), &body).await;
    assert_replay_of(&retry, &first, "a later retry of the hold");
    let another_seat = json!({"seatId": seats[1].seat_id, "userId": user});
    let reused = post(&s, &path, &token, Some("hold-1"), &another_seat).await;
    reused.assert_error(422, "IDEMPOTENCY_KEY_REUSED", "the key for another seat");
    let theirs =
        post(&s, &path, &other_token, Some("hold-1"), &json!({"seatId": seats[2].seat_id, "userId": other}))
            .await;
    assert_eq!((theirs.status, theirs.is_replay()), (200, false), "another user's same key: {}", theirs.text);
    assert_ne!(theirs.json["reservationId"], first.json["reservationId"]);
    let free_now = s.available_count(&token, seat.concert_id, seat.schedule_id).await;
    assert_eq!(free_now, free_before - 2, "the first user's retries held nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_sent_ten_times_at_once_with_one_key_pays_once_and_its_spent_token_reads_the_answer() {
    const FUNDS: i64 = 1_000_000;
    let s = Arc::new(TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await);
    let user = s.uid(1);
    let token = s.active_user(user).await;
    s.charge(&token, user, FUNDS).await.ok("charge");
    let seats = s.some_free_seats(&token, 2).await;
    let seat = &seats[0];
    let held = s.hold(&token, user, seat).await;
    let reservation = held["reservationId"].as_i64().expect("reservationId");
    let body = json!({"reservationId": reservation, "paymentAmount": seat.price});

    let first = one_answer(&race(&s, "/api/pay", &token, "pay-1", &body).await, "racing payments");
    assert_eq!(first.json["reservationId"], reservation, "{}", first.text);
    assert_eq!(first.json["paymentAmount"], seat.price, "{}", first.text);

    // The payment expired the token, but the client's retry still learns that it paid.
    let retry = post(&s, "/api/pay", &token, Some("pay-1"), &body).await;
    assert_replay_of(&retry, &first, "a retry with the token the payment expired");
    // That token can do nothing else: no key, another key, or the key for another request.
    let other_body = json!({"reservationId": reservation, "paymentAmount": seat.price + 1});
    for (key, body, what) in [
        (None, &body, "no key"),
        (Some("pay-2"), &body, "a new key"),
        (Some("pay-1"), &other_body, "the key with another body"),
    ] {
        let refused = post(&s, "/api/pay", &token, key, body).await;
        refused.assert_error(401, "TOKEN_EXPIRED", &format!("the spent token with {what}"));
    }

    let fresh = s.active_user(user).await;
    assert_eq!(s.balance_of(&fresh, user).await, FUNDS - seat.price, "the price was taken exactly once");
    let free = s.free_seats(&fresh, seat.concert_id, seat.schedule_id).await;
    assert!(free.iter().all(|f| f.seat_id != seat.seat_id), "the seat is sold");
    assert_replay_of(
        &post(&s, "/api/pay", &fresh, Some("pay-1"), &body).await,
        &first,
        "a retry with a new token",
    );
    let reused = post(&s, "/api/pay", &fresh, Some("pay-1"), &other_body).await;
    reused.assert_error(422, "IDEMPOTENCY_KEY_REUSED", "the key with another amount");
    let again = post(&s, "/api/pay", &fresh, Some("pay-2"), &body).await;
    again.assert_error(409, "RESERVATION_NOT_PAYABLE", "a new key runs the payment again, which is refused");
    assert_eq!(s.balance_of(&fresh, user).await, FUNDS - seat.price, "no retry moved money");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_charge_whose_client_vanished_is_credited_once_and_its_retry_gets_the_answer() {
    const FANS: i64 = 8;
    const AMOUNT: i64 = 4_000;
    let s = Arc::new(TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await);
    let fans = (1..=FANS).map(|n| {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let user = s.uid(n);
            let token = s.active_user(user).await;
            let body = json!({"userId": user, "amount": AMOUNT});
            // Vanish at different moments: before the handler starts, while it runs, after.
            let linger = Duration::from_micros(u64::try_from(n).unwrap_or(1) * 500);
            let key = [("Idempotency-Key", "vanished")];
            s.send_and_vanish("/api/charge", &token, &key, &body.to_string(), linger).await;
            // Retry until the first attempt is no longer in progress (it never stays so).
            let deadline = Instant::now() + Duration::from_secs(10);
            let retry = loop {
                let retry = post(&s, "/api/charge", &token, Some("vanished"), &body).await;
                if retry.code() != Some("IDEMPOTENCY_KEY_IN_PROGRESS") || Instant::now() > deadline {
                    break retry;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert_eq!(retry.status, 200, "the retry is answered: {}", retry.text);
            assert_eq!(retry.json["currentBalance"], AMOUNT, "the answer of the one charge: {}", retry.text);
            assert_eq!(s.balance_of(&token, user).await, AMOUNT, "credited exactly once");
            retry.is_replay()
        })
    });
    let replays = join_all(fans).await.into_iter().map(|fan| fan.expect("fan task")).filter(|r| *r).count();
    // A vanished request ran to its end (its retry is a replay), unless the connection was cut
    // before the server had read it (then the retry ran it). Either way the money moved once.
    assert!(replays > 0, "the server should finish keyed requests whose clients vanished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_past_the_key_cap_gets_429_for_a_new_key_while_old_keys_still_answer() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0"), ("IDEMPOTENCY_KEYS_PER_USER", "3")]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    let body = json!({"userId": user, "amount": 1_000});
    let mut answers = Vec::new();
    for key in ["cap-1", "cap-2", "cap-3"] {
        let answer = post(&s, "/api/charge", &token, Some(key), &body).await;
        assert_eq!((answer.status, answer.is_replay()), (200, false), "{key}: {}", answer.text);
        answers.push(answer);
    }
    let refused = post(&s, "/api/charge", &token, Some("cap-4"), &body).await;
    assert_eq!((refused.status, refused.code()), (429, Some("TOO_MANY_KEYS")), "{}", refused.text);
    assert_eq!(s.balance_of(&token, user).await, 3_000, "the refused key moved no money");
    let retry = post(&s, "/api/charge", &token, Some("cap-1"), &body).await;
    assert_replay_of(&retry, &answers[0], "a retry with a key the user already has");
    let plain = post(&s, "/api/charge", &token, None, &body).await;
    assert_eq!((plain.status, plain.json["currentBalance"].as_i64()), (200, Some(4_000)), "no key: no cap");
}
