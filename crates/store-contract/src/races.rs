//! Race checks: many tasks on the multi-threaded runtime hit one seat, one balance, one
//! reservation or one user at once, released together by a barrier. Each must give the exact
//! answer on every run.

use std::future::Future;
use std::sync::Arc;

use domain::{
    CreditOutcome, HoldPolicy, LedgerReason, NewHold, Payment, QueuePolicy, QueueToken, Reservation,
    ReservationStatus, SeatHold, SettlementPlan, TokenValue,
};
use time::Duration;
use tokio::sync::Barrier;

use crate::Repositories;
use crate::fixture::{
    admit_everyone, approved, balance, balance_of, charge, fresh_value, funded, hold, now, plan, reservation,
    seat, seat_of, secs, seeded, uid, user,
};
use crate::queue::positions_become;

/// Runs `count` copies of `work` (given 1..=count) on spawned tasks that start together, and
/// returns their results in order.
pub(crate) async fn all_at_once<T, F, Fut>(count: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(i64) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(count));
    let tasks: Vec<_> = (1..=count)
        .map(|n| {
            let barrier = Arc::clone(&barrier);
            let work = work(i64::try_from(n).expect("small counts"));
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(count);
    for task in tasks {
        results.push(task.await.expect("a racing task must not panic"));
    }
    results
}

/// Issues users `from..=to` (a batch of them at a time, to keep setup quick on any store).
async fn issue_users(stores: &Repositories, from: i64, to: i64, at: time::OffsetDateTime) {
    let mut next = from;
    while next <= to {
        let batch: Vec<_> = (next..=to.min(next + 24))
            .map(|n| {
                let stores = stores.clone();
                tokio::spawn(async move { user(&stores, n, at).await })
            })
            .collect();
        for task in batch {
            task.await.expect("issuing a setup user must not panic");
        }
        next += 25;
    }
}

/// Of 1,000 concurrent holds of one free seat by 1,000 users at the same instant, exactly one
/// wins with a held reservation, the seat is held by it, and no loser is left with a
/// reservation of any kind. This is the store-level statement of the one-seat race; the
/// black-box tests race over HTTP (tests/race.rs) and across instances (tests/instances.rs).
pub async fn a_thousand_concurrent_holds_of_one_seat_have_exactly_one_winner(stores: Repositories) {
    let world = seeded(&stores).await;
    issue_users(&stores, 1, 1_000, world.now).await;
    let target = seat_of(&stores, &world.early, 25).await;
    let template = approved(&target, 1, world.now);
    let results = all_at_once(1_000, |n| {
        let stores = stores.clone();
        let attempt = NewHold { user_id: uid(n), ..template.clone() };
        async move { stores.reservations.try_hold(&attempt, None).await }
    })
    .await;
    let winners: Vec<Reservation> =
        results.into_iter().filter_map(|result| result.expect("try_hold works under contention")).collect();
    assert_eq!(winners.len(), 1, "exactly one of 1,000 racing holds must win: {winners:?}");
    let winner = &winners[0];
    assert_eq!(winner.status, ReservationStatus::Held, "the winner holds the seat: {winner:?}");
    let after = seat(&stores, target.id).await;
    assert_eq!(after.hold, Some(SeatHold { reservation_id: winner.id, until: winner.expires_at }), "winner");
    assert_eq!(reservation(&stores, winner.id).await, *winner, "the winning reservation is stored");
    for n in (1..=1_000).filter(|&n| uid(n) != winner.user_id) {
        let left = stores.reservations.bookings(uid(n), 10).await.expect("bookings work");
        assert!(left.is_empty(), "loser {n} was left with a reservation: {left:?}");
    }
}

/// 200 concurrent credits of one user lose no update: the balance is the exact sum and the
/// ledger has 200 charge entries, summing to it, each with the balance right after it.
pub async fn two_hundred_concurrent_credits_lose_no_update(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let outcomes = all_at_once(200, |amount| {
        let stores = stores.clone();
        async move { stores.wallet.credit(uid(1), charge(amount), now, None).await }
    })
    .await;
    for outcome in outcomes {
        assert!(matches!(outcome, Ok(CreditOutcome::Credited(_))), "every credit succeeds: {outcome:?}");
    }
    let total: i64 = (1..=200).sum();
    assert_eq!(balance_of(&stores, uid(1)).await, balance(total), "no credit may be lost");
    let ledger = stores.wallet.ledger(uid(1)).await.expect("ledger works");
    assert_eq!(ledger.len(), 200, "one ledger entry per credit");
    assert!(ledger.iter().all(|entry| entry.reason == LedgerReason::Charge && entry.user_id == uid(1)));
    assert_eq!(ledger.iter().map(|entry| entry.delta).sum::<i64>(), total, "the ledger sums to the balance");
    let mut deltas: Vec<i64> = ledger.iter().map(|entry| entry.delta).collect();
    deltas.sort_unstable();
    assert_eq!(deltas, (1..=200).collect::<Vec<i64>>(), "each credit's amount appears once");
    let mut running = 0;
    for entry in &ledger {
        running += entry.delta;
        assert_eq!(
            entry.balance_after.won().get(),
            running,
            "oldest first, each entry's balance_after is the running sum: {entry:?}"
        );
    }
}

/// Of 50 concurrent settles of one reservation, exactly one pays: one debit, one payment
/// ledger entry, the seat sold, the reservation paid.
pub async fn fifty_concurrent_settles_of_one_reservation_pay_once(stores: Repositories) {
    let world = seeded(&stores).await;
    let payer = funded(&stores, 1, 1_000_000, world.now).await;
    admit_everyone(&stores, world.now).await;
    let held = hold(&stores, &seat_of(&stores, &world.early, 5).await, 1, world.now).await;
    let paying = plan(&held, &payer, world.now + secs(30));
    let results = all_at_once(50, |_| {
        let stores = stores.clone();
        let paying = paying.clone();
        async move { stores.payments.settle(&paying, None).await }
    })
    .await;
    let payments: Vec<Payment> =
        results.into_iter().filter_map(|result| result.expect("settle works under contention")).collect();
    assert_eq!(payments.len(), 1, "exactly one of 50 racing settles must pay: {payments:?}");
    assert_eq!(payments[0].reservation_id, held.id);
    let price = held.price.get();
    assert_eq!(balance_of(&stores, uid(1)).await, balance(1_000_000 - price), "debited exactly once");
    let ledger = stores.wallet.ledger(uid(1)).await.expect("ledger works");
    let paid_entries: Vec<_> = ledger.iter().filter(|entry| entry.reason != LedgerReason::Charge).collect();
    assert_eq!(ledger.len(), 2, "one charge and one payment: {ledger:?}");
    assert_eq!(paid_entries.len(), 1, "{ledger:?}");
    assert_eq!((paid_entries[0].reason, paid_entries[0].delta), (LedgerReason::Payment(held.id), -price));
    assert!(seat(&stores, held.seat_id).await.sold, "the seat is sold");
    assert_eq!(
        reservation(&stores, held.id).await.status,
        ReservationStatus::Paid,
        "the reservation is paid"
    );
}

/// One fan with one token pays two seats at once, on 20 fans at a time: for each fan exactly one
/// settlement lands, because paying spends the token. The balance covers both seats, so only
/// the token decides. The loser leaves everything untouched: its reservation still `Held`, its
/// seat unsold and still held by it, one debit and one payment entry only, the token expired.
pub async fn two_concurrent_settles_by_one_token_pay_once_and_the_loser_changes_nothing(
    stores: Repositories,
) {
    let world = seeded(&stores).await;
    let funds = 200_000;
    let mut fans = Vec::new();
    for fan in 1..=20i64 {
        fans.push(funded(&stores, fan, funds, world.now).await);
    }
    admit_everyone(&stores, world.now).await;
    let mut plans = Vec::new();
    for (fan, token) in (1..=20u8).zip(&fans) {
        for number in [2 * fan - 1, 2 * fan] {
            let held =
                hold(&stores, &seat_of(&stores, &world.early, number).await, i64::from(fan), world.now).await;
            plans.push((plan(&held, token, world.now + secs(30)), held));
        }
    }
    let results = all_at_once(plans.len(), |n| {
        let stores = stores.clone();
        let (paying, _) = plans[usize::try_from(n - 1).expect("small")].clone();
        async move { stores.payments.settle(&paying, None).await.expect("settle works under contention") }
    })
    .await;
    for (index, token) in fans.iter().enumerate() {
        let pair = [&plans[2 * index], &plans[2 * index + 1]];
        let outcomes = [&results[2 * index], &results[2 * index + 1]];
        let fan = token.user_id;
        let won: Vec<usize> = (0..2).filter(|&i| outcomes[i].is_some()).collect();
        assert_eq!(won.len(), 1, "fan {fan}: exactly one of two payments with one token lands: {outcomes:?}");
        let (winner, loser) = (pair[won[0]], pair[1 - won[0]]);
        let price = winner.1.price.get();
        assert_eq!(balance_of(&stores, fan).await, balance(funds - price), "fan {fan}: debited once");
        let ledger = stores.wallet.ledger(fan).await.expect("ledger works");
        let reasons: Vec<_> = ledger.iter().map(|entry| entry.reason).collect();
        assert_eq!(reasons, [LedgerReason::Charge, LedgerReason::Payment(winner.1.id)], "fan {fan}");
        assert!(seat(&stores, winner.1.seat_id).await.sold, "fan {fan}: the paid seat is sold");
        assert_eq!(
            reservation(&stores, loser.1.id).await,
            loser.1,
            "fan {fan}: the loser's hold is untouched"
        );
        let unsold = seat(&stores, loser.1.seat_id).await;
        assert!(!unsold.sold, "fan {fan}: the loser's seat is not sold: {unsold:?}");
        let kept = SeatHold { reservation_id: loser.1.id, until: loser.1.expires_at };
        assert_eq!(unsold.hold, Some(kept), "fan {fan}: the loser's seat keeps its hold");
        let spent = stores.queue.token(token.value).await.expect("token works").map(|t| t.status);
        assert_eq!(spent, Some(domain::TokenStatus::Expired), "fan {fan}: the token is spent");
    }
}

/// A payment decided just before a short hold lapses races a hold by another user just after
/// it lapses, on 50 seats at once. For each seat exactly one wins: either the payer paid (money
/// taken once, seat sold, their reservation paid) or the other user holds the seat (the payer's
/// money untouched, seat unsold). Never both, never neither, never money without the seat.
pub async fn payment_racing_hold_expiry_never_lets_both_win(stores: Repositories) {
    let world = seeded(&stores).await;
    let funds = 100_000;
    let short = HoldPolicy { hold_for: Duration::seconds(2), ..HoldPolicy::default() };
    let mut pairs: Vec<(SettlementPlan, NewHold, Reservation)> = Vec::new();
    let mut payers = Vec::new();
    for number in 1..=50i64 {
        payers.push(funded(&stores, number, funds, world.now).await);
        user(&stores, number + 100, world.now).await;
    }
    admit_everyone(&stores, world.now).await;
    for (number, token) in (1..=50u8).zip(&payers) {
        let payer = i64::from(number);
        let rival = payer + 100;
        let free = seat_of(&stores, &world.early, number).await;
        let new_hold = short.hold(&free, free.concert_id, uid(payer), world.now).expect("the seat is free");
        let held = stores.reservations.try_hold(&new_hold, None).await.expect("try_hold works");
        let held = held.expect("the payer's short hold must succeed");
        let lapsed = seat(&stores, free.id).await;
        let after_expiry = held.expires_at + Duration::milliseconds(1);
        let rehold = HoldPolicy::default()
            .hold(&lapsed, lapsed.concert_id, uid(rival), after_expiry)
            .expect("the domain sees the seat free once the short hold lapsed");
        pairs.push((plan(&held, token, held.expires_at - Duration::milliseconds(1)), rehold, held));
    }
    let results = all_at_once(100, |n| {
        let stores = stores.clone();
        let (paying, rehold, _) = pairs[usize::try_from((n - 1) / 2).expect("small")].clone();
        async move {
            if n % 2 == 1 {
                (stores.payments.settle(&paying, None).await.expect("settle works").map(|p| p.id.get()), None)
            } else {
                (None, stores.reservations.try_hold(&rehold, None).await.expect("try_hold works"))
            }
        }
    })
    .await;
    let (mut paid_count, mut reheld_count) = (0, 0);
    for (index, (paying, rehold, held)) in pairs.iter().enumerate() {
        let paid = results[2 * index].0.is_some();
        let reheld = results[2 * index + 1].1.clone();
        let after = seat(&stores, paying.seat_id).await;
        let payer_balance = balance_of(&stores, paying.user_id).await;
        let payer_ledger = stores.wallet.ledger(paying.user_id).await.expect("ledger works");
        let payer_reservation = reservation(&stores, held.id).await;
        let rival_ledger = stores.wallet.ledger(rehold.user_id).await.expect("ledger works");
        assert!(rival_ledger.is_empty(), "the rival never pays: {rival_ledger:?}");
        let seat_name = &held.seat_name;
        match (paid, reheld) {
            (true, None) => {
                paid_count += 1;
                assert!(after.sold, "seat {seat_name}: paid, so it must be sold: {after:?}");
                assert_eq!(payer_balance, balance(funds - held.price.get()), "seat {seat_name}: one debit");
                assert_eq!(
                    payer_ledger.len(),
                    2,
                    "seat {seat_name}: a charge and a payment: {payer_ledger:?}"
                );
                assert_eq!(payer_ledger[1].reason, LedgerReason::Payment(held.id), "seat {seat_name}");
                assert_eq!(payer_reservation.status, ReservationStatus::Paid, "seat {seat_name}");
            }
            (false, Some(rival)) => {
                reheld_count += 1;
                assert!(!after.sold, "seat {seat_name}: re-held, so it must not be sold: {after:?}");
                let expected = SeatHold { reservation_id: rival.id, until: rival.expires_at };
                assert_eq!(after.hold, Some(expected), "seat {seat_name}: held by the rival");
                assert_eq!(payer_balance, balance(funds), "seat {seat_name}: the payer's money is untouched");
                assert_eq!(payer_ledger.len(), 1, "seat {seat_name}: no payment entry: {payer_ledger:?}");
                assert_ne!(payer_reservation.status, ReservationStatus::Paid, "seat {seat_name}: not paid");
                assert_eq!(reservation(&stores, rival.id).await, rival, "seat {seat_name}: rival's hold");
            }
            (true, Some(rival)) => panic!("seat {seat_name}: both the payment and the re-hold {rival:?} won"),
            (false, None) => panic!("seat {seat_name}: neither the payment nor the re-hold won"),
        }
    }
    eprintln!("payment vs expiry: {paid_count} paid, {reheld_count} re-held, of 50 seats");
}

/// 20 concurrent `issue`s for one new user, each with its own candidate, all return the same
/// token, and only that one is stored.
pub async fn twenty_concurrent_issues_for_one_user_return_one_token(stores: Repositories) {
    let now = now();
    let candidates: Vec<TokenValue> = (0..20).map(|_| fresh_value()).collect();
    let tokens = all_at_once(20, |n| {
        let stores = stores.clone();
        let candidate = candidates[usize::try_from(n - 1).expect("small")];
        async move { stores.queue.issue(uid(1), candidate, now, &QueuePolicy::default()).await }
    })
    .await;
    let tokens: Vec<QueueToken> =
        tokens.into_iter().map(|t| t.expect("issue works under contention")).collect();
    let winner = tokens[0].clone();
    assert!(tokens.iter().all(|token| token.value == winner.value), "one token for one user: {tokens:?}");
    assert!(candidates.contains(&winner.value), "the token is one of the candidates");
    for candidate in candidates.iter().filter(|candidate| **candidate != winner.value) {
        assert_eq!(stores.queue.token(*candidate).await, Ok(None), "a losing candidate is not stored");
    }
    let next = user(&stores, 2, now).await;
    assert_eq!(
        next.ticket,
        winner.ticket + 1,
        "the next user queues right behind: the losers spent no ticket"
    );
    let places = [winner, next];
    positions_become(&stores, &places, &[1, 2], "the user waits once, at the front, and the next behind")
        .await;
}

/// 100 concurrent `issue`s for 100 new users get distinct tickets, and their positions are
/// exactly 1..=100 in ticket order.
pub async fn a_hundred_concurrent_issues_get_distinct_tickets_and_positions(stores: Repositories) {
    let now = now();
    let tokens = all_at_once(100, |n| {
        let stores = stores.clone();
        async move { user(&stores, n, now).await }
    })
    .await;
    let mut tokens = tokens;
    tokens.sort_by_key(|token| token.ticket);
    let mut tickets: Vec<u64> = tokens.iter().map(|token| token.ticket).collect();
    tickets.dedup();
    assert_eq!(tickets.len(), 100, "every user gets a ticket of their own");
    let expected: Vec<u64> = (1..=100).collect();
    positions_become(&stores, &tokens, &expected, "positions follow the tickets").await;
}
