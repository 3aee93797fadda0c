//! The order checks run in, where two faults meet in one request: token gate (401/403), input
//! (400), permission (403), existence (404), state (409), money (422). The answer names the
//! first fault, so a client fixes its faults in a predictable order.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn a_waiting_token_with_a_bad_body_is_403_queue_not_active_not_400() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1")]).await;
    let _blocker = s.active_user(s.uid(1)).await;
    let waiting = TestServer::token_of(&s.issue_token(s.uid(2)).await);
    let reply = s.post_raw("/api/charge", Some(&waiting), "{not json").await;
    reply.assert_error(403, "QUEUE_NOT_ACTIVE", "malformed charge while waiting");
    let reply = s.post("/api/pay", Some(&waiting), &json!({ "reservationId": 1, "paymentAmount": -5 })).await;
    reply.assert_error(403, "QUEUE_NOT_ACTIVE", "negative payment while waiting");
    let reply = s.post("/api/1/reserve-seat", Some(&waiting), &json!({ "userId": s.uid(2) })).await;
    reply.assert_error(403, "QUEUE_NOT_ACTIVE", "hold without a seat id while waiting");
}

#[tokio::test]
async fn a_payment_amount_of_zero_or_less_is_400_before_the_reservation_is_looked_up() {
    let s = TestServer::start(&[]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    for amount in [0, -1, i64::MIN] {
        let reply = s.pay(&token, 99_999_999, amount).await;
        reply.assert_error(
            400,
            "VALIDATION_ERROR",
            &format!("paymentAmount {amount} for an unknown reservation"),
        );
    }
    assert_eq!(s.status_of(&token).await, "ACTIVE", "a refused payment keeps the token");
}

#[tokio::test]
async fn an_expired_hold_paid_with_the_wrong_amount_is_409_expired_not_422() {
    let s = TestServer::start(&[("SEAT_HOLD_SECONDS", "1")]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    let (seat, reservation) = s.held_seat(&token, user).await;
    s.charge(&token, user, seat.price * 2).await.ok("enough money for either amount");
    // The hold has lapsed once its seat is free again (seats are decided by the clock).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s
        .free_seats(&token, seat.concert_id, seat.schedule_id)
        .await
        .iter()
        .any(|x| x.seat_id == seat.seat_id)
    {
        assert!(Instant::now() < deadline, "a one-second hold never lapsed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = s.pay(&token, reservation, seat.price + 1).await;
    reply.assert_error(409, "RESERVATION_EXPIRED", "a lapsed hold with the wrong amount");
    let reply = s.pay(&token, reservation, seat.price).await;
    reply.assert_error(409, "RESERVATION_EXPIRED", "a lapsed hold with the right amount");
    assert_eq!(s.balance_of(&token, user).await, seat.price * 2, "no money moved");
}
