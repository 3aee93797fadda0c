//! Holds that are not paid in time: the seat is free again, someone else can hold it, and the
//! first holder can no longer pay.

mod support;

use std::time::{Duration, Instant};

use support::{TestServer, parse_rfc3339, sleep_ms};

#[tokio::test]
async fn an_unpaid_hold_is_released_after_the_hold_time_and_can_no_longer_be_paid() {
    let s = TestServer::start(&[("SEAT_HOLD_SECONDS", "2")]).await;
    let (first, second) = (s.uid(1), s.uid(2));
    let first_token = s.active_user(first).await;
    let second_token = s.active_user(second).await;

    let seat = s.some_free_seats(&first_token, 1).await.remove(0);
    let count_before = s.available_count(&first_token, seat.concert_id, seat.schedule_id).await;
    let held_at = Instant::now();
    let held = s.hold(&first_token, first, &seat).await;
    let reservation = held["reservationId"].as_i64().expect("reservationId");
    let made = parse_rfc3339(held["reservationTime"].as_str().expect("reservationTime"));
    let expires = parse_rfc3339(held["expiresAt"].as_str().expect("expiresAt"));
    assert!(
        (expires - made - 2.0).abs() <= 1.0,
        "expiresAt = reservationTime + SEAT_HOLD_SECONDS (2): {held}"
    );

    let is_free = |seats: &[support::Seat]| seats.iter().any(|x| x.seat_id == seat.seat_id);
    assert!(
        !is_free(&s.free_seats(&second_token, seat.concert_id, seat.schedule_id).await),
        "held, not free"
    );
    let reply = s.reserve(&second_token, seat.concert_id, seat.seat_id, second).await;
    reply.assert_error(409, "SEAT_UNAVAILABLE", "holding a seat under a live hold");
    assert_eq!(s.available_count(&first_token, seat.concert_id, seat.schedule_id).await, count_before - 1);

    // Wait for the release, bounded; it must not come (much) before the hold time.
    let deadline = held_at + Duration::from_secs(8);
    loop {
        let free = is_free(&s.free_seats(&second_token, seat.concert_id, seat.schedule_id).await);
        if free {
            break;
        }
        assert!(Instant::now() < deadline, "the seat was not free again within 8 s of a 2 s hold");
        sleep_ms(100).await;
    }
    let released_after = held_at.elapsed();
    assert!(released_after >= Duration::from_millis(1500), "released too early: {released_after:?}");
    assert_eq!(s.available_count(&first_token, seat.concert_id, seat.schedule_id).await, count_before);

    // Someone else can hold it now.
    let taken = s.hold(&second_token, second, &seat).await;
    assert_ne!(taken["reservationId"].as_i64(), Some(reservation), "a new hold is a new reservation");

    // The first holder's token is still active (no payment happened), but the hold is gone.
    assert_eq!(s.status_of(&first_token).await, "ACTIVE");
    let reply = s.pay(&first_token, reservation, seat.price).await;
    reply.assert_error(
        409,
        "RESERVATION_EXPIRED",
        "paying an expired hold with no balance (state before money)",
    );
    s.charge(&first_token, first, seat.price).await.ok("charge the price");
    let reply = s.pay(&first_token, reservation, seat.price).await;
    reply.assert_error(409, "RESERVATION_EXPIRED", "paying an expired hold");
    assert_eq!(s.balance_of(&first_token, first).await, seat.price, "no money moved");
    assert_eq!(s.status_of(&first_token).await, "ACTIVE", "a failed payment keeps the token");

    // The second holder can pay their hold.
    s.charge(&second_token, second, seat.price).await.ok("charge");
    let taken_id = taken["reservationId"].as_i64().expect("reservationId");
    s.pay(&second_token, taken_id, seat.price).await.ok("the live hold is payable");
}

#[tokio::test]
async fn a_hold_that_expired_is_not_payable_even_if_no_one_else_took_the_seat() {
    let s = TestServer::start(&[("SEAT_HOLD_SECONDS", "1")]).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    let (seat, reservation) = s.held_seat(&token, user).await;
    s.charge(&token, user, seat.price).await.ok("charge");
    sleep_ms(1_600).await;
    let reply = s.pay(&token, reservation, seat.price).await;
    reply.assert_error(409, "RESERVATION_EXPIRED", "expiry is decided by the clock, not by a sweeper");
    assert_eq!(s.balance_of(&token, user).await, seat.price, "no money moved");
    let again = s.hold(&token, user, &seat).await;
    let again_id = again["reservationId"].as_i64().expect("reservationId");
    s.pay(&token, again_id, seat.price).await.ok("a fresh hold of the same seat is payable");
}
