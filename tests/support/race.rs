//! Races over HTTP: requests released together, and the verdict on a one-seat race.

use std::future::Future;
use std::sync::Arc;

use futures::future::join_all;
use tokio::sync::Barrier;

use super::Reply;

/// Runs `n` requests concurrently: every task waits at one barrier, then sends.
pub async fn all_at_once<F, Fut>(n: usize, request: F) -> Vec<Reply>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks = (0..n).map(|i| {
        let barrier = Arc::clone(&barrier);
        let fut = request(i);
        tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        })
    });
    join_all(tasks).await.into_iter().map(|r| r.expect("request task panicked")).collect()
}

/// The index of the one hold that won a race for one seat: exactly one reply is a success, a
/// RESERVED hold, and every other one is 409 `SEAT_UNAVAILABLE` (`where_` names the race).
pub fn the_one_winner(replies: &[Reply], where_: &str) -> usize {
    let winners: Vec<usize> = (0..replies.len()).filter(|&i| replies[i].is_success()).collect();
    let texts: Vec<&str> = winners.iter().map(|&i| replies[i].text.as_str()).collect();
    assert_eq!(winners.len(), 1, "{where_}: exactly one hold must win; winners: {texts:?}");
    let lost = |r: &Reply| r.status == 409 && r.code() == Some("SEAT_UNAVAILABLE");
    let others: Vec<String> = replies
        .iter()
        .filter(|r| !r.is_success() && !lost(r))
        .map(|r| format!("{} {}", r.status, r.text))
        .take(5)
        .collect();
    assert!(others.is_empty(), "{where_}: every loser gets 409 SEAT_UNAVAILABLE, got e.g. {others:?}");
    let winner = &replies[winners[0]];
    assert_eq!(
        winner.json["reservationStatus"], "RESERVED",
        "{where_}: the winner holds it: {}",
        winner.text
    );
    winners[0]
}
