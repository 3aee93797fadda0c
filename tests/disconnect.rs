//! A client that vanishes mid-request must never leave half-done work: a payment whose
//! connection is dropped right after the request was sent either happened completely (money
//! taken once, seat sold, token expired) or not at all, and the server keeps serving.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use support::{Seat, TestServer};

const FANS: i64 = 24;
const CHARGED: i64 = 1_000_000;

/// Whether `user`'s money was taken (read with a token of their own, active by then).
async fn paid_already(s: &TestServer, user: i64) -> bool {
    let token = s.active_user(user).await;
    s.balance_of(&token, user).await != CHARGED
}

/// Waits (bounded) until at least one fan's vanished payment has landed; says how many had.
async fn until_a_vanished_payment_landed(s: &TestServer, fans: &[(i64, i64, Seat)]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut landed = 0;
        for (user, _, _) in fans {
            landed += usize::from(paid_already(s, *user).await);
        }
        if landed > 0 {
            return landed;
        }
        assert!(Instant::now() < deadline, "no payment whose client vanished landed within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pays `reservation` again with a token of `user`'s own, taking a new one when the vanished
/// payment spent the one in hand meanwhile; returns an active token of theirs and the answer.
async fn pay_again(s: &TestServer, user: i64, reservation: i64, price: i64) -> (String, support::Reply) {
    for _ in 0..5 {
        let token = s.active_user(user).await;
        let reply = s.pay(&token, reservation, price).await;
        if reply.code() != Some("TOKEN_EXPIRED") {
            return (s.active_user(user).await, reply);
        }
    }
    panic!("user {user}'s tokens kept expiring under their payment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_whose_client_vanished_is_all_or_nothing_and_the_server_keeps_serving() {
    let s = Arc::new(TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await);
    let first = s.active_user(s.uid(1)).await;
    let seats = s.some_free_seats(&first, FANS as usize).await;

    let fans = (1..=FANS).zip(seats).map(|(n, seat)| {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let user = s.uid(n);
            let token = s.active_user(user).await;
            s.charge(&token, user, CHARGED).await.ok("charge");
            let held = s.hold(&token, user, &seat).await;
            let reservation = held["reservationId"].as_i64().expect("reservationId");
            let body = json!({"reservationId": reservation, "paymentAmount": seat.price}).to_string();
            // Vanish at different moments: before the handler starts, while it runs, after.
            let linger = Duration::from_micros(u64::try_from(n).unwrap_or(1) * 400);
            s.send_and_vanish("/api/pay", &token, &[], &body, linger).await;
            (user, reservation, seat)
        })
    });
    let fans: Vec<_> = join_all(fans).await.into_iter().map(|r| r.expect("fan task")).collect();
    let paid_by_vanished = until_a_vanished_payment_landed(&s, &fans).await;

    // Whatever each vanished payment did, and whenever it finishes, paying again ends with the
    // price taken exactly once: the retry pays, or finds the reservation paid already.
    for (user, reservation, seat) in &fans {
        let (user, reservation) = (*user, *reservation);
        let (token, retry) = pay_again(&s, user, reservation, seat.price).await;
        if retry.status != 200 {
            retry.assert_error(409, "RESERVATION_NOT_PAYABLE", "paying again after the vanished payment");
        }
        assert_eq!(s.balance_of(&token, user).await, CHARGED - seat.price, "the price is taken exactly once");
        let free = s.free_seats(&token, seat.concert_id, seat.schedule_id).await;
        assert!(free.iter().all(|f| f.seat_id != seat.seat_id), "a paid seat is never free again");
    }
    assert!(paid_by_vanished > 0, "the server finished at least one payment whose client vanished");

    let probes = (0..50).map(|_| {
        let s = Arc::clone(&s);
        tokio::spawn(async move { s.get("/ready", None).await.status })
    });
    let statuses: Vec<u16> = join_all(probes).await.into_iter().map(|r| r.expect("probe task")).collect();
    assert!(statuses.iter().all(|&status| status == 200), "the server keeps serving: {statuses:?}");
}
