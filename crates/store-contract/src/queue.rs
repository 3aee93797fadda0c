//! Queue checks: one token per user, positions, polls, and admission ticks under the caps.
//!
//! Admission runs at most once per `policy.tick` (1 s by default), so admits that are meant to
//! admit are a tick or more apart. Positions and a poll's `last_seen_at` may show a little late
//! and are read with `eventually`; token statuses and admission reports are checked at once.

use domain::ports::AdmissionReport;
use domain::{Balance, QueuePolicy, QueueToken, TokenStatus};
use time::OffsetDateTime;

use crate::Repositories;
use crate::fixture::{capped, eventually, fresh_value, now, secs, token, uid, uncapped, user};

/// Issues users `from..=to`, one a second from `start`.
pub(crate) async fn users(
    stores: &Repositories,
    from: i64,
    to: i64,
    start: OffsetDateTime,
) -> Vec<QueueToken> {
    let mut tokens = Vec::new();
    for n in from..=to {
        tokens.push(user(stores, n, start + secs(n - from)).await);
    }
    tokens
}

/// The positions of `tokens`, read now.
async fn positions(stores: &Repositories, tokens: &[QueueToken]) -> Vec<u64> {
    let mut positions = Vec::new();
    for token in tokens {
        positions.push(stores.queue.position(token).await.expect("position works"));
    }
    positions
}

/// Waits (about 3 s at most) for the positions of `tokens` to be `expected`; `why` says what
/// they should show.
pub(crate) async fn positions_become(
    stores: &Repositories,
    tokens: &[QueueToken],
    expected: &[u64],
    why: &str,
) {
    eventually(why, || positions(stores, tokens), |got| got.as_slice() == expected).await;
}

/// The stored statuses of `tokens`, read now.
pub(crate) async fn statuses(stores: &Repositories, tokens: &[QueueToken]) -> Vec<TokenStatus> {
    let mut statuses = Vec::new();
    for issued in tokens {
        statuses.push(token(stores, issued.value).await.status);
    }
    statuses
}

/// One admit; it must not fail.
pub(crate) async fn admit(
    stores: &Repositories,
    at: OffsetDateTime,
    policy: &QueuePolicy,
) -> AdmissionReport {
    stores.queue.admit(at, policy).await.expect("admit works")
}

/// An admission report, in the field order.
pub(crate) fn report(admitted: u64, expired: u64, dropped: u64) -> AdmissionReport {
    AdmissionReport { admitted, expired, dropped }
}

use TokenStatus::{Active, Expired, Waiting};

/// `issue` stores the candidate as a `Waiting` token for a new user, who then exists with a
/// zero balance; tickets increase in issue order.
pub async fn issue_creates_the_user_and_a_waiting_token_with_increasing_tickets(stores: Repositories) {
    let now = now();
    assert_eq!(stores.wallet.balance(uid(7)).await, Ok(None), "nobody exists before a token is issued");
    let candidate = fresh_value();
    let issued = stores.queue.issue(uid(7), candidate, now, &QueuePolicy::default()).await;
    let issued = issued.expect("issue works");
    assert_eq!((issued.value, issued.user_id, issued.status), (candidate, uid(7), Waiting), "{issued:?}");
    assert_eq!((issued.issued_at, issued.last_seen_at, issued.expires_at), (now, now, None), "{issued:?}");
    assert_eq!(stores.queue.token(candidate).await, Ok(Some(issued.clone())), "token(value) round trip");
    assert_eq!(stores.wallet.balance(uid(7)).await, Ok(Some(Balance::ZERO)), "the user now exists");

    let mut tickets = vec![issued.ticket];
    tickets.extend(users(&stores, 1, 4, now + secs(1)).await.iter().map(|token| token.ticket));
    assert!(tickets.windows(2).all(|pair| pair[0] < pair[1]), "tickets must increase: {tickets:?}");
    assert_eq!(stores.queue.token(fresh_value()).await, Ok(None), "an unknown value finds no token");
}

/// While a user's token is waiting or active, `issue` returns that same token and stores no
/// new one, whatever candidate it is given.
pub async fn issue_again_returns_the_same_token_while_it_is_waiting_or_active(stores: Repositories) {
    let now = now();
    let first = user(&stores, 1, now).await;
    let behind = user(&stores, 2, now).await;
    let same = |token: &QueueToken| (token.value, token.user_id, token.ticket, token.issued_at);
    let policy = QueuePolicy::default();
    let unused = fresh_value();
    let again = stores.queue.issue(uid(1), unused, now + secs(119), &policy).await.expect("issue works");
    assert_eq!(same(&again), same(&first), "a waiting user asking again keeps their token and place");
    assert_eq!(again.status, Waiting);
    assert_eq!(stores.queue.token(unused).await, Ok(None), "the unused candidate is not stored");
    positions_become(&stores, &[first.clone(), behind], &[1, 2], "nobody moved").await;

    assert_eq!(admit(&stores, now + secs(100), &capped(1, 0)).await, report(1, 0, 0));
    let active = token(&stores, first.value).await;
    let unused = fresh_value();
    let again = stores.queue.issue(uid(1), unused, now + secs(699), &policy).await.expect("issue works");
    assert_eq!(same(&again), same(&first), "an active user asking again keeps their token");
    assert_eq!((again.status, again.expires_at), (Active, active.expires_at), "still active, same expiry");
    assert_eq!(stores.queue.token(unused).await, Ok(None), "the unused candidate is not stored");
}

/// A waiting token's position is the number of waiting tokens ahead of it plus one, and it
/// moves up as tokens ahead are admitted.
pub async fn position_counts_the_waiting_tokens_ahead_plus_one(stores: Repositories) {
    let now = now();
    let tokens = users(&stores, 1, 4, now).await;
    positions_become(&stores, &tokens, &[1, 2, 3, 4], "four waiting tokens").await;
    assert_eq!(admit(&stores, now + secs(10), &capped(1, 0)).await, report(1, 0, 0));
    positions_become(&stores, &tokens[1..], &[1, 2, 3], "the first was admitted").await;
    assert_eq!(admit(&stores, now + secs(11), &capped(0, 1)).await, report(1, 0, 0), "a tick later");
    positions_become(&stores, &tokens[2..], &[1, 2], "the second was admitted").await;
    let late = user(&stores, 5, now + secs(12)).await;
    positions_become(&stores, &[late], &[3], "a newcomer queues behind the waiting two").await;
}

/// `record_poll` records the poll in `last_seen_at`, which keeps a waiting token from being dropped
/// by a tick that drops a silent one issued at the same time.
pub async fn a_recorded_poll_keeps_the_token_from_being_dropped(stores: Repositories) {
    let now = now();
    let polled = user(&stores, 1, now).await;
    let silent = user(&stores, 2, now).await;
    stores.queue.record_poll(polled.value, now + secs(100)).await.expect("record_poll works");
    let polled_at = now + secs(100);
    let recorded = eventually(
        "record_poll records the poll in last_seen_at",
        || token(&stores, polled.value),
        |recorded| recorded.last_seen_at == polled_at,
    )
    .await;
    assert_eq!((recorded.status, recorded.issued_at, recorded.ticket), (Waiting, now, polled.ticket));
    assert_eq!(token(&stores, silent.value).await, silent, "record_poll changes only the polled token");
    assert_eq!(
        admit(&stores, now + secs(150), &uncapped()).await,
        report(1, 0, 1),
        "drop silent, admit polled"
    );
    assert_eq!(statuses(&stores, &[polled, silent]).await, [Active, Expired]);
}

/// Admission is strictly FIFO and never lifts the active count above `max_active`; admitted
/// tokens are active for the TTL.
pub async fn admit_is_fifo_and_stops_at_max_active(stores: Repositories) {
    let now = now();
    let tokens = users(&stores, 1, 5, now).await;
    let tick = now + secs(10);
    assert_eq!(admit(&stores, tick, &capped(3, 0)).await, report(3, 0, 0), "three slots");
    assert_eq!(admit(&stores, tick + secs(1), &capped(3, 0)).await, report(0, 0, 0), "the room is full");
    assert_eq!(statuses(&stores, &tokens).await, [Active, Active, Active, Waiting, Waiting], "oldest first");
    for admitted in &tokens[..3] {
        assert_eq!(
            token(&stores, admitted.value).await.expires_at,
            Some(tick + secs(600)),
            "active for the TTL"
        );
    }
    positions_become(&stores, &tokens[3..], &[1, 2], "the rest keep their order").await;
    assert_eq!(admit(&stores, tick + secs(2), &capped(4, 0)).await, report(1, 0, 0), "one more slot");
    assert_eq!(statuses(&stores, &tokens[3..]).await, [Active, Waiting], "the next in line goes in");
}

/// Admission never admits more than `admit_per_tick` per tick, alone or together with
/// `max_active`.
pub async fn admit_respects_the_per_tick_cap_alone_and_with_max_active(stores: Repositories) {
    let now = now();
    let tokens = users(&stores, 1, 5, now).await;
    let per_tick = capped(0, 2);
    assert_eq!(admit(&stores, now + secs(10), &per_tick).await, report(2, 0, 0), "first tick");
    assert_eq!(statuses(&stores, &tokens).await, [Active, Active, Waiting, Waiting, Waiting]);
    assert_eq!(admit(&stores, now + secs(11), &per_tick).await, report(2, 0, 0), "second tick");
    assert_eq!(admit(&stores, now + secs(12), &per_tick).await, report(1, 0, 0), "third tick");
    assert_eq!(admit(&stores, now + secs(13), &per_tick).await, report(0, 0, 0), "nobody is left");

    let more = users(&stores, 6, 11, now + secs(20)).await;
    let both = capped(7, 2);
    assert_eq!(admit(&stores, now + secs(30), &both).await, report(2, 0, 0), "per-tick cap first");
    assert_eq!(admit(&stores, now + secs(31), &both).await, report(0, 0, 0), "then max_active (7)");
    assert_eq!(statuses(&stores, &more).await, [Active, Active, Waiting, Waiting, Waiting, Waiting]);
}

/// With both caps 0 (no cap) one tick admits every waiting token.
pub async fn admit_without_caps_admits_every_waiting_token(stores: Repositories) {
    let now = now();
    let tokens = users(&stores, 1, 40, now).await;
    assert_eq!(admit(&stores, now + secs(60), &uncapped()).await, report(40, 0, 0), "0 means no cap");
    assert!(statuses(&stores, &tokens).await.iter().all(|status| *status == Active), "everyone is in");
}

/// A tick expires active tokens whose TTL ran out (at the expiry instant, not before) and
/// fills their places from the front of the queue.
pub async fn admit_expires_active_tokens_after_their_ttl_and_refills_their_places(stores: Repositories) {
    let now = now();
    let tokens = users(&stores, 1, 3, now).await;
    let cap = capped(2, 0);
    assert_eq!(admit(&stores, now + secs(5), &cap).await, report(2, 0, 0));
    stores.queue.record_poll(tokens[2].value, now + secs(590)).await.expect("record_poll works");
    assert_eq!(admit(&stores, now + secs(604), &cap).await, report(0, 0, 0), "a second before the TTL ends");
    assert_eq!(admit(&stores, now + secs(605), &cap).await, report(1, 2, 0), "at the TTL's end");
    assert_eq!(statuses(&stores, &tokens).await, [Expired, Expired, Active]);
    let refilled = token(&stores, tokens[2].value).await;
    assert_eq!(refilled.expires_at, Some(now + secs(1_205)), "the refilled place starts a new TTL");
}

/// A tick drops waiting tokens not polled since the idle cutoff before admitting, and counts
/// them.
pub async fn admit_drops_waiting_tokens_idle_past_the_cutoff(stores: Repositories) {
    let now = now();
    let idle = user(&stores, 1, now).await;
    let fresh = user(&stores, 2, now + secs(1)).await;
    let behind = user(&stores, 3, now + secs(2)).await;
    assert_eq!(admit(&stores, now + secs(119), &capped(0, 1)).await, report(1, 0, 0), "not idle yet");
    assert_eq!(token(&stores, idle.value).await.status, Active, "the idle-looking token was in time");

    let dozing = user(&stores, 4, now + secs(119)).await;
    assert_eq!(admit(&stores, now + secs(122), &capped(0, 1)).await, report(1, 0, 2), "two idled out");
    assert_eq!(statuses(&stores, &[fresh, behind, dozing]).await, [Expired, Expired, Active]);
}

/// Once a user's active time ran out, `issue` stores the candidate as a new waiting token at
/// the back of the queue, and the old token is expired.
pub async fn issue_after_the_active_time_ran_out_queues_a_new_token_at_the_back(stores: Repositories) {
    let now = now();
    let first = user(&stores, 1, now).await;
    assert_eq!(admit(&stores, now, &capped(1, 0)).await, report(1, 0, 0));
    let waiting = users(&stores, 2, 3, now + secs(500)).await;
    let later = now + secs(600);
    let candidate = fresh_value();
    let renewed =
        stores.queue.issue(uid(1), candidate, later, &QueuePolicy::default()).await.expect("issue works");
    assert_eq!(
        (renewed.value, renewed.status, renewed.issued_at),
        (candidate, Waiting, later),
        "{renewed:?}"
    );
    assert!(waiting.iter().all(|token| token.ticket < renewed.ticket), "the new token is at the back");
    assert_eq!(token(&stores, first.value).await.status, Expired, "the old token is expired");
    positions_become(&stores, &waiting, &[1, 2], "those waiting keep their places").await;
    positions_become(&stores, &[renewed], &[3], "the returning user waits behind them").await;
}

/// Once a user's waiting token idled out (before any tick noticed), `issue` stores the
/// candidate as a new waiting token at the back, and the old token is expired.
pub async fn issue_after_the_idle_timeout_queues_a_new_token_at_the_back(stores: Repositories) {
    let now = now();
    let abandoned = user(&stores, 1, now).await;
    let behind = user(&stores, 2, now + secs(100)).await;
    let later = now + secs(120);
    let candidate = fresh_value();
    let renewed =
        stores.queue.issue(uid(1), candidate, later, &QueuePolicy::default()).await.expect("issue works");
    assert_eq!((renewed.value, renewed.status), (candidate, Waiting), "a new token: {renewed:?}");
    assert!(renewed.ticket > behind.ticket, "the new token is behind the user who waited");
    assert_eq!(token(&stores, abandoned.value).await.status, Expired, "the abandoned token is expired");
    positions_become(&stores, &[behind, renewed], &[1, 2], "the abandoned place is gone").await;
}
