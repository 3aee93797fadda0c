//! A client that vanishes mid-request must never leave half-done work: a payment whose
//! connection is dropped right after the request was sent either happened completely (money
//! taken once, seat sold, token expired) or not at all, and the server keeps serving.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use support::TestServer;

const FANS: i64 = 24;
const CHARGED: i64 = 1_000_000;

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
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut paid_by_vanished = 0;
    for (user, reservation, seat) in fans {
        // A fresh token: the old one is expired if (and only if) the payment went through.
        let token = s.active_user(user).await;
        let before = s.balance_of(&token, user).await;
        let retry = s.pay(&token, reservation, seat.price).await;
        let after = s.balance_of(&token, user).await;
        if before == CHARGED {
            assert!(retry.is_success(), "an unpaid hold must still be payable: {}", retry.text);
            assert_eq!(after, CHARGED - seat.price, "the retry takes the money exactly once");
        } else {
            paid_by_vanished += 1;
            assert_eq!(before, CHARGED - seat.price, "the vanished payment took exactly the price");
            retry.assert_error(409, "RESERVATION_NOT_PAYABLE", "paying again after the vanished payment");
            assert_eq!(after, before, "a refused retry takes nothing");
        }
        let free = s.free_seats(&token, seat.concert_id, seat.schedule_id).await;
        assert!(free.iter().all(|f| f.seat_id != seat.seat_id), "a paid seat is never free again");
    }
    assert!(paid_by_vanished > 0, "the server should finish at least some payments whose clients vanished");

    let probes = (0..50).map(|_| {
        let s = Arc::clone(&s);
        tokio::spawn(async move { s.get("/ready", None).await.status })
    });
    let statuses: Vec<u16> = join_all(probes).await.into_iter().map(|r| r.expect("probe task")).collect();
    assert!(statuses.iter().all(|&status| status == 200), "the server keeps serving: {statuses:?}");
}
