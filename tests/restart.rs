//! On PostgreSQL, state outlives the process: after a restart every balance, hold, sale and
//! token is still there. (Needs PostgreSQL; `make test` starts it.)

mod support;

use adapter_postgres::testing::TestDatabase;
use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_server_keeps_balances_holds_sales_and_tokens() {
    let db = TestDatabase::create().await;
    let first = TestServer::start_on(db.url(), &[]).await;
    let (buyer, holder) = (first.uid(1), first.uid(2));
    let buyer_token = first.active_user(buyer).await;
    let holder_token = first.active_user(holder).await;
    let seats = first.some_free_seats(&buyer_token, 2).await;
    let (sold, held) = (&seats[0], &seats[1]);

    first.charge(&buyer_token, buyer, 500_000).await.ok("charge");
    let bought = first.hold(&buyer_token, buyer, sold).await;
    let reservation = bought["reservationId"].as_i64().expect("reservationId");
    first.pay(&buyer_token, reservation, sold.price).await.ok("pay");
    let hold = first.hold(&holder_token, holder, held).await;
    let held_reservation = hold["reservationId"].as_i64().expect("reservationId");
    drop(first);

    let second = TestServer::start_on(db.url(), &[]).await;
    assert_eq!(second.status_of(&holder_token).await, "ACTIVE", "an active token survives a restart");
    assert_eq!(second.status_of(&buyer_token).await, "EXPIRED", "a paid token stays expired");
    let concerts = second.concert_ids(&holder_token).await.len();
    assert_eq!(concerts, 3, "the demo catalogue is loaded once, not again at restart");

    let free = second.free_seats(&holder_token, held.concert_id, held.schedule_id).await;
    assert!(free.iter().all(|seat| seat.seat_id != held.seat_id), "the hold survives");
    let free = second.free_seats(&holder_token, sold.concert_id, sold.schedule_id).await;
    assert!(free.iter().all(|seat| seat.seat_id != sold.seat_id), "the sale survives");

    let buyer_again = second.active_user(buyer).await;
    assert_ne!(buyer_again, buyer_token, "an expired token is replaced by a new one");
    assert_eq!(second.balance_of(&buyer_again, buyer).await, 500_000 - sold.price, "the balance survives");
    second.pay(&buyer_again, reservation, sold.price).await.assert_error(
        409,
        "RESERVATION_NOT_PAYABLE",
        "the payment survives",
    );

    second.charge(&holder_token, holder, held.price).await.ok("charge the holder");
    second.pay(&holder_token, held_reservation, held.price).await.ok("the holder still owns the hold");
}
