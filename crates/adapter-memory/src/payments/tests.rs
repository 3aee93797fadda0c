use std::sync::Arc;

use domain::ports::{
    CatalogueRepository, PaymentRepository, QueueRepository, ReservationRepository, WalletRepository,
};
use domain::{
    Balance, LedgerEntry, LedgerReason, Payment, PaymentId, QueuePolicy, QueueToken, Reservation,
    ReservationStatus, Seat, SettlementPlan, TokenStatus,
};

use crate::MemoryStore;
use crate::testkit::{
    NOW, PRICE, approved_hold, funded_user, issue, reservation_id, seat_id, seconds, seeded, token_value,
    user, won,
};

/// Everything a settlement may touch, for one user, seat and reservation.
#[derive(Debug, PartialEq)]
struct Snapshot {
    balance: Option<Balance>,
    ledger: Vec<LedgerEntry>,
    seat: Option<Seat>,
    reservation: Option<Reservation>,
    token: Option<QueueToken>,
    payments: usize,
}

async fn snapshot(store: &MemoryStore, plan: &SettlementPlan, token: &QueueToken) -> Snapshot {
    Snapshot {
        balance: store.balance(plan.user_id).await.expect("balance"),
        ledger: store.ledger(plan.user_id).await.expect("ledger"),
        seat: store.seat(plan.seat_id).await.expect("seat"),
        reservation: store.reservation(plan.reservation_id).await.expect("reservation"),
        token: store.token(token.value).await.expect("token"),
        payments: store.with_state(|state| Ok(state.payments.len())).expect("payments"),
    }
}

/// User 1 with `funds`, an active token, and a hold on seat `seat` taken at `NOW`.
struct Scene {
    store: MemoryStore,
    token: QueueToken,
    reservation: Reservation,
}

async fn scene(funds: i64, seat: i64) -> Scene {
    let store = seeded().await;
    let token = funded_user(&store, 1, funds).await;
    store.admit(NOW, &QueuePolicy::default()).await.expect("admit");
    let token = store.token(token.value).await.expect("token").expect("token exists");
    assert_eq!(token.status, TokenStatus::Active);
    let reservation = hold(&store, seat, 1).await;
    Scene { store, token, reservation }
}

async fn hold(store: &MemoryStore, seat: i64, holder: i64) -> Reservation {
    let hold = approved_hold(store, seat, holder, NOW).await;
    store.try_hold(&hold, None).await.expect("hold").expect("seat was free")
}

/// The plan the domain approves a minute into the hold, with the holder's token (user `n`'s
/// token has value `n`, see `testkit::issue`).
async fn plan_for(store: &MemoryStore, reservation: &Reservation) -> SettlementPlan {
    let balance = store.balance(reservation.user_id).await.expect("balance").expect("user exists");
    let at = NOW + seconds(60);
    let token = token_value(u128::try_from(reservation.user_id.get()).expect("positive user"));
    SettlementPlan::authorize(reservation, reservation.user_id, token, reservation.price, Some(balance), at)
        .expect("payable")
}

/// Asserts that settling `plan` fails and leaves everything as it was.
async fn assert_refused_without_change(scene: &Scene, plan: &SettlementPlan) {
    let before = snapshot(&scene.store, plan, &scene.token).await;
    assert_eq!(scene.store.settle(plan, None).await, Ok(None));
    assert_eq!(snapshot(&scene.store, plan, &scene.token).await, before);
}

#[tokio::test]
async fn settle_takes_the_money_sells_the_seat_confirms_the_reservation_and_expires_the_token() {
    let scene = scene(100_000, 20).await;
    let plan = plan_for(&scene.store, &scene.reservation).await;
    let payment = scene.store.settle(&plan, None).await.expect("settle").expect("all guards pass");
    let expected = Payment {
        id: PaymentId::new(1).expect("valid id"),
        reservation_id: scene.reservation.id,
        user_id: user(1),
        amount: won(PRICE),
        paid_at: plan.paid_at,
    };
    assert_eq!(payment, expected);
    let after = snapshot(&scene.store, &plan, &scene.token).await;
    assert_eq!(after.balance, Some(Balance::new(100_000 - PRICE).expect("valid")));
    assert!(after.seat.as_ref().is_some_and(|seat| seat.sold));
    assert_eq!(after.reservation.map(|r| r.status), Some(ReservationStatus::Paid));
    assert_eq!(after.token.map(|t| t.status), Some(TokenStatus::Expired));
    assert_eq!(after.payments, 1);
}

#[tokio::test]
async fn settle_writes_a_payment_entry_so_the_ledger_still_sums_to_the_balance() {
    let scene = scene(100_000, 20).await;
    let plan = plan_for(&scene.store, &scene.reservation).await;
    scene.store.settle(&plan, None).await.expect("settle").expect("all guards pass");
    let ledger = scene.store.ledger(user(1)).await.expect("ledger");
    let last = ledger.last().expect("two entries");
    assert_eq!(ledger.len(), 2);
    assert_eq!(last.delta, -PRICE);
    assert_eq!(last.reason, LedgerReason::Payment(scene.reservation.id));
    assert_eq!(last.at, plan.paid_at);
    let balance = scene.store.balance(user(1)).await.expect("balance").expect("user exists");
    assert_eq!(ledger.iter().map(|e| e.delta).sum::<i64>(), balance.won().get());
    assert_eq!(last.balance_after, balance);
}

#[tokio::test]
async fn a_sold_seat_cannot_be_held_again_even_after_the_hold_time() {
    let scene = scene(100_000, 20).await;
    let plan = plan_for(&scene.store, &scene.reservation).await;
    scene.store.settle(&plan, None).await.expect("settle").expect("all guards pass");
    let seat = scene.store.seat(seat_id(20)).await.expect("seat").expect("exists");
    assert!(!seat.is_free_at(NOW + seconds(3_600)));
    assert_eq!(scene.store.release_expired(NOW + seconds(3_600)).await, Ok(0));
}

#[tokio::test]
async fn settle_fails_for_an_unknown_reservation_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let plan = SettlementPlan {
        reservation_id: reservation_id(99),
        ..plan_for(&scene.store, &scene.reservation).await
    };
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_fails_for_someone_elses_reservation_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    funded_user(&scene.store, 2, 100_000).await;
    let plan = SettlementPlan { user_id: user(2), ..plan_for(&scene.store, &scene.reservation).await };
    assert_refused_without_change(&scene, &plan).await;
    assert_eq!(scene.store.balance(user(2)).await, Ok(Some(Balance::new(100_000).expect("valid"))));
}

#[tokio::test]
async fn settle_fails_for_a_seat_other_than_the_reserved_one_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let plan = SettlementPlan { seat_id: seat_id(21), ..plan_for(&scene.store, &scene.reservation).await };
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_fails_for_an_amount_other_than_the_price_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let plan = SettlementPlan { amount: won(PRICE - 1), ..plan_for(&scene.store, &scene.reservation).await };
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_fails_once_the_hold_has_lapsed_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let plan = SettlementPlan {
        paid_at: scene.reservation.expires_at,
        ..plan_for(&scene.store, &scene.reservation).await
    };
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_fails_for_a_reservation_the_sweeper_expired_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let plan = plan_for(&scene.store, &scene.reservation).await;
    assert_eq!(scene.store.release_expired(scene.reservation.expires_at).await, Ok(1));
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_fails_when_another_hold_took_the_seat_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let plan = plan_for(&scene.store, &scene.reservation).await;
    issue(&scene.store, 2).await;
    let later = approved_hold(&scene.store, 20, 2, scene.reservation.expires_at).await;
    scene.store.try_hold(&later, None).await.expect("hold").expect("first hold lapsed");
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_fails_when_the_balance_was_spent_meanwhile_and_changes_nothing() {
    let scene = scene(PRICE + 10_000, 20).await;
    let second = hold(&scene.store, 21, 1).await;
    let first_plan = plan_for(&scene.store, &scene.reservation).await;
    let second_plan = plan_for(&scene.store, &second).await;
    scene.store.settle(&first_plan, None).await.expect("settle").expect("first payment passes");
    assert_refused_without_change(&scene, &second_plan).await;
    assert_eq!(scene.store.balance(user(1)).await, Ok(Some(Balance::new(10_000).expect("valid"))));
}

#[tokio::test]
async fn settle_of_a_paid_reservation_fails_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let plan = plan_for(&scene.store, &scene.reservation).await;
    scene.store.settle(&plan, None).await.expect("settle").expect("first payment passes");
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_fails_for_a_payer_who_is_not_a_user_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let stranger = hold(&scene.store, 22, 9).await;
    let plan = SettlementPlan {
        reservation_id: stranger.id,
        user_id: user(9),
        token: token_value(9),
        seat_id: stranger.seat_id,
        amount: stranger.price,
        paid_at: NOW + seconds(60),
    };
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_expires_only_the_presented_token_and_leaves_other_users_tokens_alone() {
    let scene = scene(100_000, 20).await;
    let other = issue(&scene.store, 2).await;
    let plan = plan_for(&scene.store, &scene.reservation).await;
    scene.store.settle(&plan, None).await.expect("settle").expect("all guards pass");
    let status = |token: Option<QueueToken>| token.map(|t| t.status);
    assert_eq!(
        status(scene.store.token(scene.token.value).await.expect("token")),
        Some(TokenStatus::Expired)
    );
    assert_eq!(status(scene.store.token(other.value).await.expect("token")), Some(TokenStatus::Waiting));
    assert_eq!(scene.store.position(&other).await, Ok(1));
}

#[tokio::test]
async fn settle_fails_for_a_token_that_is_still_waiting_and_changes_nothing() {
    let store = seeded().await;
    let waiting = funded_user(&store, 1, 100_000).await;
    let reservation = hold(&store, 20, 1).await;
    let scene = Scene { store, token: waiting, reservation };
    let plan = plan_for(&scene.store, &scene.reservation).await;
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_fails_once_the_token_ran_out_and_changes_nothing() {
    let store = seeded().await;
    let token = funded_user(&store, 1, 100_000).await;
    let short = QueuePolicy { active_ttl: seconds(30), ..QueuePolicy::default() };
    store.admit(NOW, &short).await.expect("admit");
    let reservation = hold(&store, 20, 1).await;
    let scene = Scene { store, token, reservation };
    let plan = plan_for(&scene.store, &scene.reservation).await;
    assert!(plan.paid_at < scene.reservation.expires_at, "the hold is still live; only the token ran out");
    assert_refused_without_change(&scene, &plan).await;
}

#[tokio::test]
async fn settle_fails_with_another_users_active_token_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let stranger = issue(&scene.store, 2).await;
    scene.store.admit(NOW + seconds(1), &QueuePolicy::default()).await.expect("admit");
    let borrowed =
        SettlementPlan { token: stranger.value, ..plan_for(&scene.store, &scene.reservation).await };
    assert_refused_without_change(&scene, &borrowed).await;
    let status = scene.store.token(stranger.value).await.expect("token").map(|t| t.status);
    assert_eq!(status, Some(TokenStatus::Active), "the borrowed token is not spent");
}

#[tokio::test]
async fn settle_fails_with_a_token_another_payment_spent_and_changes_nothing() {
    let scene = scene(100_000, 20).await;
    let second = hold(&scene.store, 21, 1).await;
    let spent = plan_for(&scene.store, &scene.reservation).await;
    scene
        .store
        .settle(&plan_for(&scene.store, &second).await, None)
        .await
        .expect("settle")
        .expect("first payment");
    assert_refused_without_change(&scene, &spent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_settles_of_one_reservation_pay_once_and_debit_once() {
    let scene = scene(100_000, 20).await;
    let plan = plan_for(&scene.store, &scene.reservation).await;
    let store = Arc::new(scene.store);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            let plan = plan.clone();
            tokio::spawn(async move { store.settle(&plan, None).await })
        })
        .collect();
    let mut payments = 0;
    for task in tasks {
        if task.await.expect("task").expect("store works").is_some() {
            payments += 1;
        }
    }
    assert_eq!(payments, 1);
    assert_eq!(store.with_state(|state| Ok(state.payments.len())), Ok(1));
    assert_eq!(store.balance(user(1)).await, Ok(Some(Balance::new(100_000 - PRICE).expect("valid"))));
    let debits = store.ledger(user(1)).await.expect("ledger").iter().filter(|e| e.delta < 0).count();
    assert_eq!(debits, 1);
}
