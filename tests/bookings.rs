//! A fan's bookings over HTTP: listing what they hold and bought, and giving a hold back. The
//! fan's story runs on the store `make test` picks; the release story runs on three PostgreSQL
//! instances, because a seat given back through one must be on sale through every other at
//! once. (The second needs PostgreSQL; `make test` starts it.)

mod support;

use std::sync::Arc;

use adapter_postgres::testing::TestDatabase;
use serde_json::Value;
use support::{Seat, TestServer};

/// The reservation ids of one list of `GET /api/reservations`.
fn ids(bookings: &Value, list: &str) -> Vec<i64> {
    let entries = bookings[list].as_array().unwrap_or_else(|| panic!("{list} is an array: {bookings}"));
    entries.iter().map(|entry| entry["reservationId"].as_i64().expect("reservationId")).collect()
}

#[tokio::test]
async fn a_fan_holds_two_seats_gives_one_back_holds_another_pays_and_sees_it_all_in_their_bookings() {
    let s = TestServer::start(&[]).await;
    let (fan, other) = (s.uid(1), s.uid(2));
    let token = s.active_user(fan).await;
    let seats = s.some_free_seats(&token, 3).await;

    let empty = s.bookings(&token).await;
    assert_eq!((ids(empty.ok("bookings"), "held"), ids(empty.ok("bookings"), "bought")), (vec![], vec![]));

    let first = s.hold(&token, fan, &seats[0]).await["reservationId"].as_i64().expect("id");
    let second = s.hold(&token, fan, &seats[1]).await["reservationId"].as_i64().expect("id");
    let listed = s.bookings(&token).await;
    let listed = listed.ok("bookings after two holds");
    assert_eq!(ids(listed, "held"), vec![second, first], "both holds, newest first: {listed}");
    let held = &listed["held"][0];
    assert_eq!(held["reservationStatus"], "RESERVED", "{held}");
    assert_eq!(held["seatId"].as_i64(), Some(seats[1].seat_id), "{held}");
    assert_eq!(held["concertId"].as_i64(), Some(seats[1].concert_id), "{held}");
    assert!(held["expiresAt"].is_string(), "a hold shows when it lapses: {held}");

    // Someone else can neither release nor see the fan's hold.
    let stranger = s.active_user(other).await;
    s.release(&stranger, second).await.assert_error(404, "NOT_FOUND", "someone else's release");
    let theirs = s.bookings(&stranger).await;
    assert_eq!(ids(theirs.ok("stranger's bookings"), "held"), Vec::<i64>::new());

    let released = s.release(&token, second).await;
    let released = released.ok("DELETE a live hold").clone();
    assert_eq!(released["reservationStatus"], "RELEASED", "{released}");
    let again = s.release(&token, second).await;
    assert_eq!(again.ok("a retried release").clone(), released, "a retry answers as the first time");
    s.hold(&stranger, other, &seats[1]).await;
    s.release(&token, 0).await.assert_error(404, "NOT_FOUND", "an id that names nothing");

    let third = s.hold(&token, fan, &seats[2]).await["reservationId"].as_i64().expect("id");
    assert_eq!(ids(s.bookings(&token).await.ok("bookings"), "held"), vec![third, first]);

    s.charge(&token, fan, seats[0].price).await.ok("charge");
    let paid = s.pay(&token, first, seats[0].price).await;
    let payment_id = paid.ok("pay")["paymentId"].as_i64().expect("paymentId");
    // Paying spent the token; the fan still sees their bookings with it.
    let after = s.bookings(&token).await;
    let after = after.ok("bookings with the token paying spent");
    assert_eq!(ids(after, "held"), vec![third], "{after}");
    assert_eq!(ids(after, "bought"), vec![first], "{after}");
    let bought = &after["bought"][0];
    assert_eq!(bought["reservationStatus"], "PAID", "{bought}");
    assert_eq!(bought["paymentId"].as_i64(), Some(payment_id), "{bought}");
    assert_eq!(bought["amount"].as_i64(), Some(seats[0].price), "{bought}");
    assert!(bought["paidAt"].is_string(), "{bought}");
    s.release(&token, first).await.assert_error(409, "RESERVATION_PAID", "releasing a paid seat");

    s.get("/api/reservations", None).await.assert_error(401, "TOKEN_MISSING", "no token");
    s.get("/api/reservations", Some("made-up")).await.assert_error(401, "TOKEN_INVALID", "a made-up token");
}

/// One round of the release story: its seat, and the instances in the order they act.
struct Round<'a> {
    seat: &'a Seat,
    first: &'a TestServer,
    second: &'a TestServer,
    third: &'a TestServer,
}

#[tokio::test]
async fn seats_given_back_through_one_instance_are_on_sale_through_every_other_at_once() {
    let db = TestDatabase::create().await;
    let common = [("DATABASE_MAX_CONNECTIONS", "6")];
    let seeding: Vec<_> = common.iter().copied().chain([("SEED_DEMO", "1")]).collect();
    let rest: Vec<_> = common.iter().copied().chain([("SEED_DEMO", "0")]).collect();
    let first = TestServer::start_on(db.url(), &seeding).await;
    let (second, third) =
        tokio::join!(TestServer::start_on(db.url(), &rest), TestServer::start_on(db.url(), &rest));
    let servers = [Arc::new(first), Arc::new(second), Arc::new(third)];
    let (a, b) = (servers[0].uid(1), servers[0].uid(2));
    let token_a = servers[0].active_user(a).await;
    let token_b = servers[1].active_user(b).await;
    let seats = servers[2].some_free_seats(&token_b, 10).await;

    for (n, seat) in seats.iter().enumerate() {
        let r = &Round {
            seat,
            first: &servers[n % 3],
            second: &servers[(n + 1) % 3],
            third: &servers[(n + 2) % 3],
        };
        // Every instance has the seat in memory, free, from a seat list.
        for server in [r.first, r.second, r.third] {
            server.free_seats(&token_b, r.seat.concert_id, r.seat.schedule_id).await;
        }
        let held = r.first.hold(&token_a, a, r.seat).await["reservationId"].as_i64().expect("id");
        // The second instance learns the seat is held, and remembers it so.
        let listed = r.second.free_seats(&token_b, r.seat.concert_id, r.seat.schedule_id).await;
        assert!(listed.iter().all(|free| free.seat_id != r.seat.seat_id), "round {n}: listed as held");
        r.second.reserve(&token_b, r.seat.concert_id, r.seat.seat_id, b).await.assert_error(
            409,
            "SEAT_UNAVAILABLE",
            "a seat held through another instance",
        );
        r.first.release(&token_a, held).await.ok("release through the first instance");
        let taken = r.second.reserve(&token_b, r.seat.concert_id, r.seat.seat_id, b).await;
        let taken_id = taken.ok("a hold at once through the second instance")["reservationId"].as_i64();
        r.third.reserve(&token_a, r.seat.concert_id, r.seat.seat_id, a).await.assert_error(
            409,
            "SEAT_UNAVAILABLE",
            "a seat held through another instance",
        );
        r.third.release(&token_b, taken_id.expect("id")).await.ok("release through the third instance");
        r.first.hold(&token_a, a, r.seat).await;
        let mine = r.second.bookings(&token_a).await;
        assert_eq!(ids(mine.ok("bookings"), "held").len(), 1, "round {n}: one hold left: {}", mine.text);
        let last = ids(mine.ok("bookings"), "held")[0];
        r.third.release(&token_a, last).await.ok("release the round's last hold");
    }
}
