//! Concurrency: many fans grabbing one seat at the same instant, and money under concurrent
//! requests.

mod support;

use std::sync::Arc;

use futures::future::join_all;
use support::TestServer;
use support::race::{all_at_once, the_one_winner};

/// Issues tokens for test users `1..=n` concurrently and waits until all are ACTIVE.
async fn active_users(s: &Arc<TestServer>, n: i64) -> Vec<(i64, String)> {
    let tasks = (1..=n).map(|i| {
        let s = Arc::clone(s);
        tokio::spawn(async move {
            let user = s.uid(i);
            (user, s.active_user(user).await)
        })
    });
    join_all(tasks).await.into_iter().map(|r| r.expect("token task panicked")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_fans_holding_one_seat_at_once_get_exactly_one_hold() {
    let s = Arc::new(TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await);
    let users = active_users(&s, 200).await;
    let seat = s.some_free_seats(&users[0].1, 1).await.remove(0);

    let replies = all_at_once(users.len(), |i| {
        let (s, (user, token), seat) = (Arc::clone(&s), users[i].clone(), seat.clone());
        async move { s.reserve(&token, seat.concert_id, seat.seat_id, user).await }
    })
    .await;

    let w = the_one_winner(&replies, "200 fans on one instance");

    // The seat is not free, and the winner (whoever it is) can pay it.
    let free = s.free_seats(&users[0].1, seat.concert_id, seat.schedule_id).await;
    assert!(!free.iter().any(|x| x.seat_id == seat.seat_id), "the held seat is not free");
    let (winner, token) = &users[w];
    s.charge(token, *winner, seat.price).await.ok("charge");
    let reservation = replies[w].json["reservationId"].as_i64().expect("reservationId");
    s.pay(token, reservation, seat.price).await.ok("the winner pays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_charges_of_one_user_all_count() {
    let s = Arc::new(TestServer::start(&[]).await);
    let user = s.uid(1);
    let token = s.active_user(user).await;
    let replies = all_at_once(50, |_| {
        let (s, token) = (Arc::clone(&s), token.clone());
        async move { s.charge(&token, user, 1_000).await }
    })
    .await;
    for r in &replies {
        r.ok("concurrent charge");
    }
    let mut seen: Vec<i64> = replies.iter().filter_map(|r| r.json["currentBalance"].as_i64()).collect();
    seen.sort_unstable();
    let expected: Vec<i64> = (1..=50).map(|i| i * 1_000).collect();
    assert_eq!(seen, expected, "each charge saw its own balance: no lost update");
    assert_eq!(s.balance_of(&token, user).await, 50_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paying_one_reservation_concurrently_takes_the_money_once() {
    let s = Arc::new(TestServer::start(&[]).await);
    let user = s.uid(1);
    let token = s.active_user(user).await;
    let seat = s.some_free_seats(&token, 1).await.remove(0);
    let held = s.hold(&token, user, &seat).await;
    let reservation = held["reservationId"].as_i64().expect("reservationId");
    s.charge(&token, user, seat.price * 10).await.ok("charge");

    let price = seat.price;
    let replies = all_at_once(20, |_| {
        let (s, token) = (Arc::clone(&s), token.clone());
        async move { s.pay(&token, reservation, price).await }
    })
    .await;
    let paid = replies.iter().filter(|r| r.is_success()).count();
    assert_eq!(paid, 1, "exactly one payment succeeds");
    for r in replies.iter().filter(|r| !r.is_success()) {
        let expected = (r.status == 409 && r.code() == Some("RESERVATION_NOT_PAYABLE"))
            || (r.status == 401 && r.code() == Some("TOKEN_EXPIRED"));
        assert!(
            expected,
            "a losing payment is 409 NOT_PAYABLE or 401 TOKEN_EXPIRED, got {} {}",
            r.status, r.text
        );
    }
    let fresh = TestServer::token_of(&s.issue_token(user).await);
    s.wait_until_active(&fresh).await;
    assert_eq!(s.balance_of(&fresh, user).await, seat.price * 9, "the price was taken exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fan_paying_two_holds_at_once_with_one_token_pays_once_and_the_other_is_token_expired() {
    let s = Arc::new(TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await);
    let fans = active_users(&s, 10).await;
    let seats = s.some_free_seats(&fans[0].1, 2 * fans.len()).await;
    let mut payments = Vec::new();
    for (i, (user, token)) in fans.iter().enumerate() {
        let pair = [&seats[2 * i], &seats[2 * i + 1]];
        s.charge(token, *user, pair[0].price + pair[1].price).await.ok("charge for both seats");
        for seat in pair {
            let held = s.hold(token, *user, seat).await;
            let reservation = held["reservationId"].as_i64().expect("reservationId");
            payments.push((*user, token.clone(), reservation, seat.clone()));
        }
    }

    let replies = all_at_once(payments.len(), |i| {
        let (s, (_, token, reservation, seat)) = (Arc::clone(&s), payments[i].clone());
        async move { s.pay(&token, reservation, seat.price).await }
    })
    .await;
    for (i, (user, ..)) in fans.iter().enumerate() {
        let pair = [&replies[2 * i], &replies[2 * i + 1]];
        let paid: Vec<usize> = (0..2).filter(|&k| pair[k].is_success()).collect();
        assert_eq!(paid.len(), 1, "fan {user}: one token pays once: {} / {}", pair[0].text, pair[1].text);
        let lost = pair[1 - paid[0]];
        lost.assert_error(
            401,
            "TOKEN_EXPIRED",
            &format!("fan {user}: the payment that lost to its own token"),
        );
        let fresh = TestServer::token_of(&s.issue_token(*user).await);
        s.wait_until_active(&fresh).await;
        let kept = &payments[2 * i + 1 - paid[0]].3;
        assert_eq!(
            s.balance_of(&fresh, *user).await,
            kept.price,
            "fan {user}: only the paid seat was charged"
        );
        let free = s.free_seats(&fresh, kept.concert_id, kept.schedule_id).await;
        assert!(free.iter().all(|f| f.seat_id != kept.seat_id), "fan {user}: the unpaid seat stays held");
        s.pay(&fresh, payments[2 * i + 1 - paid[0]].2, kept.price)
            .await
            .ok("the other hold pays with a new token");
    }
}
