//! The whole story of one fan, end to end over HTTP: waiting room, catalogue, hold, charge, pay,
//! and the token expiring afterwards.

mod support;

use support::{TestServer, now_unix, parse_rfc3339, today_utc};

#[tokio::test]
async fn a_fan_queues_holds_a_seat_charges_and_pays_and_then_must_queue_again() {
    let s = TestServer::start(&[]).await;
    let user = s.uid(1);

    // Waiting room: issue, then poll until admitted.
    let issued = s.issue_token(user).await;
    let token = TestServer::token_of(&issued);
    let again = s.issue_token(user).await;
    assert_eq!(TestServer::token_of(&again), token, "asking twice must return the same token");
    let active = s.wait_until_active(&token).await;
    assert_eq!(active["userId"].as_i64(), Some(user), "status of the wrong user: {active}");
    assert_eq!(active["token"].as_str(), Some(token.as_str()), "status echoes the token: {active}");
    assert_eq!(active["position"].as_i64(), Some(0), "an active token has position 0: {active}");
    let token_expiry = parse_rfc3339(active["expiresAt"].as_str().expect("active token has expiresAt"));
    assert!(token_expiry > now_unix() + 60.0, "active token should live ~600 s: {active}");
    let still_same = s.issue_token(user).await;
    assert_eq!(TestServer::token_of(&still_same), token, "an active user asking again keeps the token");
    assert_eq!(still_same["status"], "ACTIVE", "re-issue of an active token reports ACTIVE: {still_same}");

    // Catalogue: concerts, dates, seats.
    let concerts = s.get("/api/concerts", Some(&token)).await;
    let concerts = concerts.ok("GET /api/concerts").as_array().expect("concerts array").clone();
    assert!(!concerts.is_empty(), "the demo catalogue has concerts");
    for c in &concerts {
        assert!(c["concertId"].is_i64(), "concertId is an integer: {c}");
        assert!(c["title"].as_str().is_some_and(|t| !t.is_empty()), "a concert has a title: {c}");
    }
    let concert_id = concerts[0]["concertId"].as_i64().expect("concertId");
    let dates = s.dates(&token, concert_id).await;
    assert!(!dates.is_empty(), "the first demo concert has upcoming dates");
    let today = today_utc();
    for d in &dates {
        let day = d["concertDate"].as_str().expect("concertDate is a string");
        assert!(day.len() >= 10 && day[..10] >= *today, "available dates are not in the past: {d}");
        let free = d["availableSeats"].as_i64().expect("availableSeats is an integer");
        assert!((1..=50).contains(&free), "a listed date has 1..=50 free seats: {d}");
        assert!(d["scheduleId"].is_i64(), "scheduleId is an integer: {d}");
    }
    let schedule_id = dates[0]["scheduleId"].as_i64().expect("scheduleId");
    let free_before = dates[0]["availableSeats"].as_i64().expect("availableSeats");
    let seats = s.seats(&token, concert_id, schedule_id).await;
    assert_eq!(seats.len() as i64, free_before, "available-seats agrees with availableSeats");
    for seat in &seats {
        assert!(seat["zone"].as_str().is_some_and(|z| !z.is_empty()), "a seat has a zone: {seat}");
        assert!(seat["price"].as_i64().is_some_and(|p| p > 0), "a seat has a positive price: {seat}");
    }
    let seat = support::seat_from_json(concert_id, schedule_id, &seats[0]);

    // Hold the seat.
    let before_hold = now_unix();
    let held = s.hold(&token, user, &seat).await;
    let reservation_id = held["reservationId"].as_i64().expect("reservationId");
    assert_eq!(held["seatName"].as_str(), Some(seat.seat_name.as_str()), "hold names the seat: {held}");
    let reserved_at = parse_rfc3339(held["reservationTime"].as_str().expect("reservationTime"));
    let hold_expires = parse_rfc3339(held["expiresAt"].as_str().expect("expiresAt of the hold"));
    assert!(
        (reserved_at - before_hold).abs() < 30.0,
        "reservationTime must be the real UTC time (got {reserved_at}, now {before_hold}): {held}"
    );
    assert!(hold_expires > reserved_at, "a hold expires after it was made: {held}");
    assert!(
        (hold_expires - reserved_at - 300.0).abs() <= 2.0,
        "a hold lasts SEAT_HOLD_SECONDS (default 300): {held}"
    );
    let free_now = s.free_seats(&token, concert_id, schedule_id).await;
    assert!(!free_now.iter().any(|x| x.seat_id == seat.seat_id), "a held seat is not free");
    assert_eq!(s.available_count(&token, concert_id, schedule_id).await, free_before - 1);

    // Money in.
    let charged = s.charge(&token, user, 200_000).await;
    let charged = charged.ok("POST /api/charge");
    assert_eq!(charged["userId"].as_i64(), Some(user), "charge answers the user: {charged}");
    assert_eq!(charged["currentBalance"].as_i64(), Some(200_000), "a new user starts at 0: {charged}");
    assert_eq!(s.balance_of(&token, user).await, 200_000);

    // Pay.
    let paid = s.pay(&token, reservation_id, seat.price).await;
    let paid = paid.ok("POST /api/pay").clone();
    assert!(paid["paymentId"].is_i64(), "paymentId is an integer: {paid}");
    assert_eq!(paid["reservationId"].as_i64(), Some(reservation_id), "payment names the reservation: {paid}");
    assert_eq!(paid["paymentAmount"].as_i64(), Some(seat.price), "payment amount is the price: {paid}");
    let paid_at = parse_rfc3339(paid["paymentTime"].as_str().expect("paymentTime"));
    assert!((paid_at - now_unix()).abs() < 30.0, "paymentTime must be the real UTC time: {paid}");

    // The token is spent.
    let after = s.token_status(&token).await;
    assert_eq!(after["status"], "EXPIRED", "paying expires the queue token: {after}");
    s.balance(&token, user).await.assert_error(401, "TOKEN_EXPIRED", "gated call with a spent token");

    // Queue again: a new token, and the money and the seat are as left.
    let reissued = s.issue_token(user).await;
    let new_token = TestServer::token_of(&reissued);
    assert_ne!(new_token, token, "after expiry the user gets a NEW token");
    s.wait_until_active(&new_token).await;
    assert_eq!(s.balance_of(&new_token, user).await, 200_000 - seat.price, "payment took the price");
    let free_after = s.free_seats(&new_token, concert_id, schedule_id).await;
    assert!(!free_after.iter().any(|x| x.seat_id == seat.seat_id), "a sold seat is never free again");
    s.reserve(&new_token, concert_id, seat.seat_id, user).await.assert_error(
        409,
        "SEAT_UNAVAILABLE",
        "holding a sold seat",
    );
}

#[tokio::test]
async fn asking_for_a_token_twice_while_waiting_returns_the_same_token_and_place() {
    let s = TestServer::start(&[("QUEUE_MAX_ACTIVE", "1")]).await;
    let blocker = s.active_user(s.uid(1)).await;
    let first = s.issue_token(s.uid(2)).await;
    let token = TestServer::token_of(&first);
    let third = TestServer::token_of(&s.issue_token(s.uid(3)).await);
    let status = s.token_status(&token).await;
    assert_eq!(status["status"], "WAITING", "the cap of 1 is taken, so user 2 waits: {status}");
    assert_eq!(status["position"].as_i64(), Some(1), "first in line: {status}");
    assert!(status["expiresAt"].is_null(), "a waiting token has no expiresAt: {status}");

    let again = s.issue_token(s.uid(2)).await;
    assert_eq!(TestServer::token_of(&again), token, "asking again while waiting returns the same token");
    assert_eq!(again["status"], "WAITING", "still waiting: {again}");
    assert_eq!(again["position"].as_i64(), Some(1), "asking again never moves you to the back: {again}");
    let behind = s.token_status(&third).await;
    assert_eq!(behind["position"].as_i64(), Some(2), "user 3 stays behind user 2: {behind}");
    assert_eq!(s.status_of(&blocker).await, "ACTIVE");
}
