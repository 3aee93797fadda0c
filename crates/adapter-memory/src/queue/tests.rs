use domain::ports::{AdmissionReport, QueueRepository, StoreError, WalletRepository};
use domain::{Balance, ChargeAmount, QueuePolicy, QueueToken, TokenStatus};
use time::OffsetDateTime;

use crate::MemoryStore;
use crate::testkit::{NOW, issue, issue_at, policy, seconds, token_value, user};

async fn stored(store: &MemoryStore, token: &QueueToken) -> QueueToken {
    store.token(token.value).await.expect("token").expect("token exists")
}

async fn status(store: &MemoryStore, token: &QueueToken) -> TokenStatus {
    stored(store, token).await.status
}

async fn positions(store: &MemoryStore, tokens: &[QueueToken]) -> Vec<u64> {
    let mut positions = Vec::new();
    for token in tokens {
        positions.push(store.position(token).await.expect("position"));
    }
    positions
}

async fn issue_many(store: &MemoryStore, users: std::ops::RangeInclusive<i64>) -> Vec<QueueToken> {
    let mut tokens = Vec::new();
    for n in users {
        tokens.push(issue(store, n).await);
    }
    tokens
}

/// What a payment does to the payer's token.
fn expire_token_of(store: &MemoryStore, n: i64) {
    let expired = store.with_state(|state| {
        state.queue.retire_live_of(user(n));
        Ok(())
    });
    assert_eq!(expired, Ok(()));
}

fn report(admitted: u64, expired: u64, dropped: u64) -> AdmissionReport {
    AdmissionReport { admitted, expired, dropped }
}

async fn admit(store: &MemoryStore, at: OffsetDateTime, policy: &QueuePolicy) -> AdmissionReport {
    store.admit(at, policy).await.expect("admit")
}

#[tokio::test]
async fn issue_stores_a_waiting_token_and_creates_the_user_with_a_zero_balance() {
    let store = MemoryStore::new();
    let token = issue(&store, 7).await;
    let expected = QueueToken {
        value: token_value(7),
        user_id: user(7),
        ticket: 1,
        status: TokenStatus::Waiting,
        issued_at: NOW,
        last_seen_at: NOW,
        expires_at: None,
    };
    assert_eq!(token, expected);
    assert_eq!(store.token(token_value(7)).await, Ok(Some(expected)));
    assert_eq!(store.balance(user(7)).await, Ok(Some(Balance::ZERO)));
}

#[tokio::test]
async fn issue_twice_returns_the_same_token_and_place() {
    let store = MemoryStore::new();
    let first = issue(&store, 1).await;
    issue(&store, 2).await;
    let again = store.issue(user(1), token_value(99), NOW + seconds(5), &QueuePolicy::default()).await;
    assert_eq!(again, Ok(first.clone()));
    assert_eq!(store.position(&first).await, Ok(1));
    assert_eq!(store.token(token_value(99)).await, Ok(None));
}

#[tokio::test]
async fn issue_returns_the_active_token_while_it_is_active() {
    let store = MemoryStore::new();
    let token = issue(&store, 1).await;
    admit(&store, NOW, &policy(0, 0)).await;
    let active = stored(&store, &token).await;
    let again = store.issue(user(1), token_value(99), NOW + seconds(599), &QueuePolicy::default()).await;
    assert_eq!(again, Ok(active));
}

#[tokio::test]
async fn issue_after_the_active_time_ran_out_queues_a_new_token_at_the_back() {
    let store = MemoryStore::new();
    let first = issue(&store, 1).await;
    admit(&store, NOW, &policy(1, 0)).await;
    let others = issue_many(&store, 2..=3).await;
    let later = NOW + seconds(600);
    let renewed = store.issue(user(1), token_value(99), later, &QueuePolicy::default()).await.expect("issue");
    assert_ne!(renewed.value, first.value);
    assert_eq!((renewed.ticket, renewed.status, renewed.issued_at), (4, TokenStatus::Waiting, later));
    assert_eq!(status(&store, &first).await, TokenStatus::Expired);
    assert_eq!(positions(&store, &others).await, [1, 2]);
    assert_eq!(store.position(&renewed).await, Ok(3));
}

#[tokio::test]
async fn issue_after_the_idle_timeout_replaces_the_abandoned_token_before_any_tick() {
    let store = MemoryStore::new();
    let abandoned = issue(&store, 1).await;
    let behind = issue_at(&store, 2, NOW + seconds(100)).await;
    let later = NOW + seconds(120);
    let renewed = store.issue(user(1), token_value(99), later, &QueuePolicy::default()).await.expect("issue");
    assert_eq!(renewed.ticket, 3);
    assert_eq!(status(&store, &abandoned).await, TokenStatus::Expired);
    assert_eq!(positions(&store, &[behind, renewed]).await, [1, 2]);
}

#[tokio::test]
async fn issue_keeps_the_balance_of_a_returning_user() {
    let store = MemoryStore::new();
    let first = issue(&store, 1).await;
    store.credit(user(1), ChargeAmount::new(500).expect("valid"), NOW, None).await.expect("credit");
    expire_token_of(&store, 1);
    let renewed = store.issue(user(1), token_value(99), NOW, &QueuePolicy::default()).await.expect("issue");
    assert_ne!(renewed.value, first.value);
    assert_eq!(store.balance(user(1)).await, Ok(Some(Balance::new(500).expect("valid"))));
}

#[tokio::test]
async fn issue_fails_for_a_token_value_already_in_use_and_changes_nothing() {
    let store = MemoryStore::new();
    let taken = issue(&store, 1).await;
    let clash = store.issue(user(2), taken.value, NOW, &QueuePolicy::default()).await;
    assert!(matches!(clash, Err(StoreError::Internal(_))));
    assert_eq!(store.balance(user(2)).await, Ok(None));
    assert_eq!(stored(&store, &taken).await, taken);
    assert_eq!(issue(&store, 2).await.ticket, 2);
}

#[tokio::test]
async fn tickets_increase_strictly_in_issue_order() {
    let store = MemoryStore::new();
    let tickets: Vec<u64> = issue_many(&store, 1..=5).await.iter().map(|t| t.ticket).collect();
    assert_eq!(tickets, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn token_is_none_for_an_unknown_value() {
    let store = MemoryStore::new();
    issue(&store, 1).await;
    assert_eq!(store.token(token_value(42)).await, Ok(None));
}

#[tokio::test]
async fn position_counts_the_waiting_tokens_ahead_plus_one() {
    let store = MemoryStore::new();
    let tokens = issue_many(&store, 1..=4).await;
    assert_eq!(positions(&store, &tokens).await, [1, 2, 3, 4]);
}

#[tokio::test]
async fn position_skips_tokens_ahead_that_were_admitted_dropped_or_paid() {
    let store = MemoryStore::new();
    let early = issue_many(&store, 1..=3).await;
    let mut tokens = early.clone();
    for n in 4..=7 {
        tokens.push(issue_at(&store, n, NOW + seconds(60)).await);
    }
    assert_eq!(admit(&store, NOW + seconds(60), &policy(1, 0)).await, report(1, 0, 0));
    assert_eq!(positions(&store, &tokens).await, [0, 1, 2, 3, 4, 5, 6]);
    store.record_poll(early[1].value, NOW + seconds(90)).await.expect("record poll");
    assert_eq!(admit(&store, NOW + seconds(120), &policy(1, 0)).await, report(0, 0, 1));
    assert_eq!(positions(&store, &tokens).await, [0, 1, 0, 2, 3, 4, 5]);
    expire_token_of(&store, 5);
    assert_eq!(positions(&store, &tokens).await, [0, 1, 0, 2, 0, 3, 4]);
}

#[tokio::test]
async fn position_of_an_active_expired_or_unknown_token_is_zero() {
    let store = MemoryStore::new();
    let active = issue(&store, 1).await;
    admit(&store, NOW, &policy(0, 0)).await;
    let expired = issue(&store, 2).await;
    expire_token_of(&store, 2);
    let unknown = QueueToken { value: token_value(42), ..active.clone() };
    assert_eq!(positions(&store, &[active, expired, unknown]).await, [0, 0, 0]);
}

#[tokio::test]
async fn a_recorded_poll_keeps_a_waiting_token_from_being_dropped() {
    let store = MemoryStore::new();
    let polled = issue(&store, 1).await;
    let silent = issue(&store, 2).await;
    store.record_poll(polled.value, NOW + seconds(100)).await.expect("record poll");
    assert_eq!(stored(&store, &polled).await.last_seen_at, NOW + seconds(100));
    assert_eq!(admit(&store, NOW + seconds(150), &policy(0, 0)).await, report(1, 0, 1));
    assert_eq!(status(&store, &silent).await, TokenStatus::Expired);
    assert_eq!(status(&store, &polled).await, TokenStatus::Active);
}

#[tokio::test]
async fn recording_a_poll_ignores_active_and_unknown_tokens_and_earlier_instants() {
    let store = MemoryStore::new();
    let active = issue(&store, 1).await;
    admit(&store, NOW, &policy(1, 0)).await;
    let waiting = issue_at(&store, 2, NOW + seconds(10)).await;
    let active_before = stored(&store, &active).await;
    store.record_poll(active.value, NOW + seconds(50)).await.expect("record poll");
    store.record_poll(token_value(42), NOW + seconds(50)).await.expect("record poll");
    store.record_poll(waiting.value, NOW).await.expect("record poll");
    assert_eq!(stored(&store, &active).await, active_before);
    assert_eq!(stored(&store, &waiting).await, waiting);
    assert_eq!(store.token(token_value(42)).await, Ok(None));
}

#[tokio::test]
async fn admit_is_fifo_and_stops_at_max_active() {
    let store = MemoryStore::new();
    let tokens = issue_many(&store, 1..=5).await;
    let cap = policy(3, 0);
    assert_eq!(admit(&store, NOW, &cap).await, report(3, 0, 0));
    assert_eq!(admit(&store, NOW + seconds(1), &cap).await, report(0, 0, 0));
    let mut statuses = Vec::new();
    for token in &tokens {
        statuses.push(status(&store, token).await);
    }
    use TokenStatus::{Active, Waiting};
    assert_eq!(statuses, [Active, Active, Active, Waiting, Waiting]);
    assert_eq!(stored(&store, &tokens[0]).await.expires_at, Some(NOW + seconds(600)));
    assert_eq!(positions(&store, &tokens).await, [0, 0, 0, 1, 2]);
}

#[tokio::test]
async fn admit_respects_the_per_tick_cap() {
    let store = MemoryStore::new();
    let tokens = issue_many(&store, 1..=5).await;
    let per_tick = policy(0, 2);
    assert_eq!(admit(&store, NOW, &per_tick).await, report(2, 0, 0));
    assert_eq!(admit(&store, NOW + seconds(1), &per_tick).await, report(2, 0, 0));
    assert_eq!(admit(&store, NOW + seconds(2), &per_tick).await, report(1, 0, 0));
    assert_eq!(positions(&store, &tokens).await, [0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn admit_without_caps_admits_every_waiting_token() {
    let store = MemoryStore::new();
    issue_many(&store, 1..=40).await;
    assert_eq!(admit(&store, NOW, &policy(0, 0)).await, report(40, 0, 0));
}

#[tokio::test]
async fn admit_expires_active_tokens_after_their_ttl_and_refills_their_places() {
    let store = MemoryStore::new();
    let tokens = issue_many(&store, 1..=3).await;
    let cap = policy(2, 0);
    admit(&store, NOW, &cap).await;
    store.record_poll(tokens[2].value, NOW + seconds(590)).await.expect("record poll");
    assert_eq!(admit(&store, NOW + seconds(599), &cap).await, report(0, 0, 0));
    assert_eq!(admit(&store, NOW + seconds(600), &cap).await, report(1, 2, 0));
    assert_eq!(status(&store, &tokens[0]).await, TokenStatus::Expired);
    assert_eq!(stored(&store, &tokens[2]).await.expires_at, Some(NOW + seconds(1_200)));
}

#[tokio::test]
async fn admit_drops_waiting_tokens_idle_for_the_timeout_before_admitting() {
    let store = MemoryStore::new();
    let idle = issue(&store, 1).await;
    let fresh = issue_at(&store, 2, NOW + seconds(1)).await;
    assert_eq!(admit(&store, NOW + seconds(120), &policy(1, 0)).await, report(1, 0, 1));
    assert_eq!(status(&store, &idle).await, TokenStatus::Expired);
    assert_eq!(status(&store, &fresh).await, TokenStatus::Active);
}

#[tokio::test]
async fn settled_or_dropped_users_get_a_new_place_behind_everyone() {
    let store = MemoryStore::new();
    issue_many(&store, 1..=3).await;
    admit(&store, NOW + seconds(120), &policy(0, 0)).await;
    let tokens = issue_many(&store, 4..=5).await;
    let back = store.issue(user(1), token_value(99), NOW, &QueuePolicy::default()).await.expect("issue");
    assert_eq!(back.ticket, 6);
    assert_eq!(positions(&store, &tokens).await, [1, 2]);
    assert_eq!(store.position(&back).await, Ok(3));
}

#[tokio::test]
async fn the_room_reads_its_counts_and_the_places_freed_per_second_over_the_steps() {
    let store = MemoryStore::new();
    let fresh = store.room().await.expect("room");
    assert_eq!((fresh.waiting, fresh.active, fresh.freed_per_second), (0, 0, None), "nothing yet");
    issue_many(&store, 1..=8).await;
    let short_lived = QueuePolicy { active_ttl: time::Duration::seconds(2), ..policy(4, 2) };
    assert_eq!(admit(&store, NOW, &short_lived).await, report(2, 0, 0));
    let room = store.room().await.expect("room");
    assert_eq!((room.waiting, room.active, room.freed_per_second), (6, 2, None), "one step is no span");
    assert_eq!(room.last_admission_at, Some(NOW));
    assert_eq!(admit(&store, NOW + seconds(1), &short_lived).await, report(2, 0, 0));
    assert_eq!(store.room().await.expect("room").freed_per_second, Some(0.0), "nobody left yet");
    assert_eq!(admit(&store, NOW + seconds(2), &short_lived).await, report(2, 2, 0), "the first two ran out");
    let room = store.room().await.expect("room");
    assert_eq!((room.waiting, room.active), (2, 4));
    assert_eq!(room.freed_per_second, Some(1.0), "two places freed in the 2 s since the first step");
}

#[tokio::test]
async fn forgetting_ended_tokens_keeps_every_position_exact_and_the_tree_narrow() {
    let store = MemoryStore::new();
    let early = issue_many(&store, 1..=200).await;
    let late = issue_many(&store, 201..=300).await;
    assert_eq!(admit(&store, NOW, &policy(200, 0)).await, report(200, 0, 0));
    for token in &late {
        store.record_poll(token.value, NOW + seconds(500)).await.expect("record poll");
    }
    let no_admission = QueuePolicy { tick: seconds(10_000), ..policy(0, 0) };
    assert_eq!(admit(&store, NOW + seconds(600), &no_admission).await, report(0, 200, 0));

    assert_eq!(store.forget_ended(NOW + seconds(600)).await, Ok(0), "they ended at the cutoff itself");
    assert_eq!(store.forget_ended(NOW + seconds(601)).await, Ok(200));
    assert_eq!(positions(&store, &late).await, (1..=100).collect::<Vec<u64>>());
    assert_eq!(store.token(early[0].value).await, Ok(None));
    assert_eq!(store.balance(user(1)).await, Ok(None), "a user with nothing is forgotten with the token");
    let window = store.with_state(|state| Ok(state.queue.ranks.window()));
    assert!(
        window.as_ref().is_ok_and(|&width| width <= 100),
        "the tree covers only the waiting span: {window:?}"
    );

    let back = issue_at(&store, 1, NOW + seconds(601)).await;
    assert_eq!((back.ticket, store.position(&back).await), (301, Ok(101)));
    assert_eq!(store.balance(user(1)).await, Ok(Some(Balance::ZERO)));
}

#[tokio::test]
async fn a_user_who_charged_keeps_their_account_when_their_token_is_forgotten() {
    let store = MemoryStore::new();
    issue(&store, 1).await;
    issue(&store, 2).await;
    let ten = ChargeAmount::new(10).expect("valid charge");
    store.credit(user(1), ten, NOW, None).await.expect("credit");
    expire_token_of(&store, 1);
    expire_token_of(&store, 2);
    assert_eq!(store.forget_ended(NOW + seconds(1)).await, Ok(2));
    assert_eq!(store.balance(user(1)).await.map(|b| b.map(|b| b.won().get())), Ok(Some(10)));
    assert_eq!(store.balance(user(2)).await, Ok(None));
}
