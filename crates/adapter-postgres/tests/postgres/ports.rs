//! A smoke test of each port's SQL against a real database, concurrency included.

use adapter_postgres::PgStore;
use adapter_postgres::testing::TestDatabase;
use domain::ports::{
    AdmissionReport, CatalogueRepository, CreditOutcome, PaymentRepository, QueueRepository,
    ReservationRepository, WalletRepository,
};
use domain::{
    Balance, ChargeAmount, LedgerReason, NewHold, QueuePolicy, ReservationStatus, SeatHold, SettlementPlan,
    TokenStatus,
};

use crate::support::{
    NOW, PRICE, SHOW, approved_hold, demo_catalogue, funded_user, issue_at, seat_id, seconds, seed,
    token_value, user,
};

async fn seeded() -> (TestDatabase, PgStore) {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    seed(&store).await;
    (db, store)
}

fn policy(max_active: u32, admit_per_tick: u32) -> QueuePolicy {
    QueuePolicy { max_active, admit_per_tick, ..QueuePolicy::default() }
}

fn balance(n: i64) -> Balance {
    Balance::new(n).expect("valid balance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_is_seeded_once_even_by_concurrent_instances_and_read_in_order() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let seeds: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.seed_if_empty(&demo_catalogue()).await })
        })
        .collect();
    let mut loaded = 0;
    for task in seeds {
        if task.await.expect("task").expect("seed") {
            loaded += 1;
        }
    }
    assert_eq!(loaded, 1);
    let concerts = store.concerts().await.expect("concerts");
    assert_eq!(concerts.iter().map(|c| c.id.get()).collect::<Vec<_>>(), [1, 2]);
    let first = concerts[0].id;
    let schedules = store.schedules(first).await.expect("schedules");
    assert_eq!(schedules.iter().map(|s| s.id.get()).collect::<Vec<_>>(), [2, 1], "earliest first");
    let seats = store.seats_of_concert(first).await.expect("seats");
    assert_eq!(seats.len(), 100);
    assert!(seats.windows(2).all(|w| (w[0].schedule_id, w[0].number) < (w[1].schedule_id, w[1].number)));
    let seat = store.seat(seat_id(51)).await.expect("seat").expect("exists");
    assert_eq!(
        (seat.schedule_id.get(), seat.name(), seat.starts_at),
        (2, "A1".to_owned(), SHOW - seconds(86_400))
    );
    assert_eq!(store.seat(seat_id(151)).await, Ok(None));
}

/// One hold's SQL: it reads back, refuses a second hold while live, and is replaced once it
/// lapsed. (The race of many holds for one seat is the store contract's, run on this store.)
#[tokio::test]
async fn a_hold_reads_back_refuses_another_while_live_and_is_replaced_once_lapsed() {
    let (_db, store) = seeded().await;
    for n in 1..=3 {
        issue_at(&store, n, NOW).await;
    }
    let hold = approved_hold(&store, 20, 1, NOW).await;
    let first = store.try_hold(&hold, None).await.expect("hold").expect("seat was free");
    assert_eq!(
        (first.status, first.price.get(), first.seat_name.as_str()),
        (ReservationStatus::Held, PRICE, "B10")
    );
    let seat = store.seat(seat_id(20)).await.expect("seat").expect("exists");
    assert_eq!(seat.hold, Some(SeatHold { reservation_id: first.id, until: NOW + seconds(300) }));

    let same_again = NewHold { held_at: NOW + seconds(299), until: NOW + seconds(599), ..hold.clone() };
    assert_eq!(store.try_hold(&same_again, None).await, Ok(None));
    let other_concert = NewHold { concert_id: domain::ConcertId::new(2).expect("id"), ..hold.clone() };
    assert_eq!(store.try_hold(&other_concert, None).await, Ok(None));

    let later = approved_hold(&store, 20, 2, first.expires_at).await;
    let second = store.try_hold(&later, None).await.expect("hold").expect("the first hold lapsed");
    let old = store.reservation(first.id).await.expect("read").expect("exists");
    assert_eq!(old.status, ReservationStatus::Expired);
    assert_eq!(
        store.reservation(second.id).await.expect("read").map(|r| r.status),
        Some(ReservationStatus::Held)
    );

    let too_late =
        NewHold { held_at: SHOW, until: SHOW + seconds(300), ..approved_hold(&store, 21, 3, NOW).await };
    assert_eq!(store.try_hold(&too_late, None).await, Ok(None));
}

#[tokio::test]
async fn release_expired_expires_lapsed_holds_and_frees_their_seats() {
    let (_db, store) = seeded().await;
    issue_at(&store, 1, NOW).await;
    for (offset, seat) in [(0, 20), (10, 21), (20, 22)] {
        let hold = approved_hold(&store, seat, 1, NOW + seconds(offset)).await;
        store.try_hold(&hold, None).await.expect("hold").expect("seat was free");
    }
    assert_eq!(store.release_expired(NOW + seconds(310)).await, Ok(2));
    for (seat, held) in [(20, false), (21, false), (22, true)] {
        let seat = store.seat(seat_id(seat)).await.expect("seat").expect("exists");
        assert_eq!(seat.hold.is_some(), held);
    }
    assert_eq!(store.release_expired(NOW + seconds(310)).await, Ok(0));
    assert_eq!(store.release_expired(NOW + seconds(320)).await, Ok(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credits_write_the_ledger_lose_no_update_and_respect_the_ceiling() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let charge = |n| ChargeAmount::new(n).expect("valid charge");
    assert_eq!(store.credit(user(9), charge(5), NOW, None).await, Ok(CreditOutcome::UnknownUser));
    assert_eq!(store.balance(user(9)).await, Ok(None));
    issue_at(&store, 1, NOW).await;
    assert_eq!(store.balance(user(1)).await, Ok(Some(Balance::ZERO)));
    let tasks: Vec<_> = (1..=100)
        .map(|amount| {
            let store = store.clone();
            tokio::spawn(async move { store.credit(user(1), charge(amount), NOW, None).await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.expect("task"), Ok(CreditOutcome::Credited(_))));
    }
    let expected: i64 = (1..=100).sum();
    assert_eq!(store.balance(user(1)).await, Ok(Some(balance(expected))));
    let ledger = store.ledger(user(1)).await.expect("ledger");
    assert_eq!(ledger.len(), 100);
    let mut running = 0;
    for entry in &ledger {
        running += entry.delta;
        assert_eq!(
            (entry.balance_after.won().get(), entry.reason, entry.at),
            (running, LedgerReason::Charge, NOW)
        );
    }
    let room = 1_000_000_000 - expected;
    for _ in 0..(room / 10_000_000) {
        store.credit(user(1), charge(10_000_000), NOW, None).await.expect("credit");
    }
    let top_up = room % 10_000_000;
    assert_eq!(store.credit(user(1), charge(top_up + 1), NOW, None).await, Ok(CreditOutcome::LimitExceeded));
    assert_eq!(
        store.credit(user(1), charge(top_up), NOW, None).await,
        Ok(CreditOutcome::Credited(balance(1_000_000_000)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_pays_once_atomically_and_a_failed_guard_changes_nothing() {
    let (_db, store) = seeded().await;
    let token = funded_user(&store, 1, PRICE + 5_000).await;
    let other = funded_user(&store, 2, 0).await;
    store.admit(NOW, &policy(0, 0)).await.expect("admit");
    let reservation =
        store.try_hold(&approved_hold(&store, 20, 1, NOW).await, None).await.expect("hold").expect("free");
    let paid_at = NOW + seconds(60);
    let funds = balance(PRICE + 5_000);
    let plan = SettlementPlan::authorize(
        &reservation,
        user(1),
        token.value,
        reservation.price,
        Some(funds),
        paid_at,
    )
    .expect("payable");

    let wrong_amount = SettlementPlan { amount: domain::Won::new(PRICE - 1).expect("won"), ..plan.clone() };
    let too_late = SettlementPlan { paid_at: reservation.expires_at, ..plan.clone() };
    let someone_else = SettlementPlan { user_id: user(2), token: other.value, ..plan.clone() };
    let borrowed_token = SettlementPlan { token: other.value, ..plan.clone() };
    for refused in [wrong_amount, too_late, someone_else, borrowed_token] {
        assert_eq!(store.settle(&refused, None).await, Ok(None));
    }
    assert_eq!(store.balance(user(1)).await, Ok(Some(balance(PRICE + 5_000))));
    assert_eq!(
        store.reservation(reservation.id).await.expect("read").map(|r| r.status),
        Some(ReservationStatus::Held)
    );

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let plan = plan.clone();
            tokio::spawn(async move { store.settle(&plan, None).await })
        })
        .collect();
    let mut payments = Vec::new();
    for task in tasks {
        if let Some(payment) = task.await.expect("task").expect("store works") {
            payments.push(payment);
        }
    }
    assert_eq!(payments.len(), 1);
    assert_eq!(
        (payments[0].amount, payments[0].paid_at, payments[0].user_id),
        (plan.amount, paid_at, user(1))
    );
    assert_eq!(store.balance(user(1)).await, Ok(Some(balance(5_000))));
    let ledger = store.ledger(user(1)).await.expect("ledger");
    let last = ledger.last().expect("entries");
    assert_eq!(
        (last.delta, last.reason, last.balance_after),
        (-PRICE, LedgerReason::Payment(reservation.id), balance(5_000))
    );
    let seat = store.seat(seat_id(20)).await.expect("seat").expect("exists");
    assert!(seat.sold);
    assert_eq!(
        store.reservation(reservation.id).await.expect("read").map(|r| r.status),
        Some(ReservationStatus::Paid)
    );
    assert_eq!(store.token(token.value).await.expect("token").map(|t| t.status), Some(TokenStatus::Expired));
    assert_eq!(store.release_expired(NOW + seconds(3_600)).await, Ok(0));
    let rehold = NewHold {
        held_at: NOW + seconds(3_600),
        until: NOW + seconds(3_900),
        ..approved_hold_unchecked(&store).await
    };
    assert_eq!(store.try_hold(&rehold, None).await, Ok(None), "a sold seat stays sold");
}

/// A hold of seat 20 by user 2 built by hand (the domain would refuse a sold seat).
async fn approved_hold_unchecked(store: &PgStore) -> NewHold {
    let seat = store.seat(seat_id(20)).await.expect("seat").expect("exists");
    NewHold {
        seat_id: seat.id,
        concert_id: seat.concert_id,
        seat_name: seat.name(),
        user_id: user(2),
        held_at: NOW,
        until: NOW + seconds(300),
        max_live_holds: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_stores_a_waiting_token_and_refuses_a_taken_value_without_creating_a_user() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let first = issue_at(&store, 1, NOW).await;
    let stored = store.token(first.value).await.expect("token").expect("exists");
    assert_eq!((stored.ticket, stored.status, stored.expires_at), (1, TokenStatus::Waiting, None));
    let second = issue_at(&store, 2, NOW).await;
    assert_eq!(second.ticket, 2);
    assert_eq!(store.position(&first).await, Ok(1));
    assert_eq!(store.position(&second).await, Ok(2));

    let clash = store.issue(user(3), first.value, NOW, &QueuePolicy::default()).await;
    assert!(clash.is_err());
    assert_eq!(store.balance(user(3)).await, Ok(None), "a failed issue creates nobody");

    store.record_poll(second.value, NOW + seconds(100)).await.expect("record poll");
    store.record_poll(second.value, NOW + seconds(50)).await.expect("record poll");
    let polled = store.token(second.value).await.expect("token").expect("exists");
    assert_eq!(polled.last_seen_at, NOW + seconds(100), "a poll never moves last_seen back");

    let renewed = store.issue(user(1), token_value(99), NOW + seconds(120), &QueuePolicy::default()).await;
    let renewed = renewed.expect("issue");
    assert_eq!(
        (renewed.value, renewed.ticket),
        (token_value(99), 3),
        "an idle token is replaced at the back"
    );
    assert_eq!(store.token(first.value).await.expect("token").map(|t| t.status), Some(TokenStatus::Expired));
    assert_eq!(store.position(&first).await, Ok(0));
    assert_eq!(store.position(&renewed).await, Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_is_fifo_under_both_caps_even_from_concurrent_instances() {
    let db = TestDatabase::create().await;
    let (one, two) = (db.store().await, db.store().await);
    let mut tokens = Vec::new();
    for n in 1..=10 {
        tokens.push(issue_at(&one, n, NOW + seconds(n)).await);
    }
    let cap = policy(5, 2);
    let racing: Vec<_> = [one.clone(), two.clone(), one.clone(), two.clone()]
        .into_iter()
        .map(|store| tokio::spawn(async move { store.admit(NOW + seconds(20), &cap).await }))
        .collect();
    let mut admitted = 0;
    for attempt in racing {
        admitted += attempt.await.expect("task").expect("admit").admitted;
    }
    assert_eq!(admitted, 2, "four racing attempts at one instant make one tick of two");
    for (store, at) in [(&two, 21), (&one, 22), (&two, 23)] {
        admitted += store.admit(NOW + seconds(at), &cap).await.expect("admit").admitted;
    }
    assert_eq!(admitted, 5, "three more ticks of two, capped at five active");
    let mut statuses = Vec::new();
    for token in &tokens {
        statuses.push(one.token(token.value).await.expect("token").expect("exists").status);
    }
    let active = statuses.iter().take_while(|s| **s == TokenStatus::Active).count();
    assert_eq!(active, 5, "the oldest five: {statuses:?}");
    assert_eq!(one.position(&tokens[5]).await, Ok(1));

    // Tokens 6..=10 were last seen at NOW + 6..=10 s; the first five expire 600 s after their
    // ticks (NOW + 20, 21, 22 s).
    let report = two.admit(NOW + seconds(127), &policy(0, 0)).await.expect("admit");
    assert_eq!(report, AdmissionReport { admitted: 3, expired: 0, dropped: 2 });
    let report = two.admit(NOW + seconds(622), &policy(0, 0)).await.expect("admit");
    assert_eq!(report, AdmissionReport { admitted: 0, expired: 5, dropped: 0 });
}
