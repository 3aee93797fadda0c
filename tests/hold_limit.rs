//! One fan cannot hold a whole show: at most `MAX_HOLDS_PER_USER` live holds per user (default
//! 4), exact even when the fan fires twenty holds at once; the rest are 409
//! `HOLD_LIMIT_REACHED`, and those seats stay free for everyone else.

mod support;

use futures::future::join_all;
use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_fan_firing_twenty_holds_at_once_gets_exactly_the_limit() {
    let server = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0")]).await;
    let (fan, other) = (server.uid(1), server.uid(2));
    let token = server.active_user(fan).await;
    let seats = server.some_free_seats(&token, 20).await;
    assert_eq!(seats.len(), 20, "twenty free seats to try");
    let answers =
        join_all(seats.iter().map(|seat| server.reserve(&token, seat.concert_id, seat.seat_id, fan))).await;
    let held = answers.iter().filter(|answer| answer.status == 200).count();
    assert_eq!(held, 4, "exactly the default limit of holds lands");
    for answer in answers.iter().filter(|answer| answer.status != 200) {
        answer.assert_error(409, "HOLD_LIMIT_REACHED", "a hold beyond the limit");
    }

    let refused: Vec<_> = seats.iter().zip(&answers).filter(|(_, answer)| answer.status != 200).collect();
    let other_token = server.active_user(other).await;
    let (seat, _) = refused[0];
    let theirs = server.reserve(&other_token, seat.concert_id, seat.seat_id, other).await;
    assert_eq!(theirs.status, 200, "a seat the fan was refused stays free for others: {}", theirs.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_limit_of_zero_lets_a_fan_hold_as_many_seats_as_they_like() {
    let server = TestServer::start(&[("QUEUE_MAX_ACTIVE", "0"), ("MAX_HOLDS_PER_USER", "0")]).await;
    let fan = server.uid(1);
    let token = server.active_user(fan).await;
    let seats = server.some_free_seats(&token, 10).await;
    let answers =
        join_all(seats.iter().map(|seat| server.reserve(&token, seat.concert_id, seat.seat_id, fan))).await;
    assert!(answers.iter().all(|answer| answer.status == 200), "every hold lands without a limit");
}
