//! Forgetting: `forget_ended` drops the tokens that ended before a cutoff and the users they
//! leave with nothing, keeps everything else (money, bookings, keys, live places), and works
//! through any backlog in one call.

use domain::{QueuePolicy, TokenStatus};

use crate::Repositories;
use crate::fixture::{admit_everyone, balance, funded, hold, seat_of, secs, seeded, uid, uncapped, user};
use crate::idempotency::claim;
use crate::races::all_at_once;

/// A tick of a day: after one admission step, attempts only expire and drop for a day.
fn no_admission() -> QueuePolicy {
    QueuePolicy { tick: secs(86_400), ..uncapped() }
}

/// Takes the day's admission step before anyone waits, so later attempts admit nobody.
async fn admit_nobody_after(stores: &Repositories, at: time::OffsetDateTime) {
    let report = stores.queue.admit(at, &no_admission()).await.expect("admit works");
    assert_eq!(report.admitted, 0, "nobody was waiting yet");
}

/// Four admitted fans whose tokens ran out: one charged money, one held a seat, one claimed an
/// idempotency key, one did nothing. Only the last is forgotten whole; the tokens of all four
/// go, and the fan still waiting keeps their token and place.
pub async fn forget_ended_drops_ended_tokens_and_the_users_left_with_nothing(stores: Repositories) {
    let world = seeded(&stores).await;
    let now = world.now;
    let charged = funded(&stores, 1, 1_000, now).await;
    let holder = user(&stores, 2, now).await;
    hold(&stores, &seat_of(&stores, &world.early, 1).await, 2, now).await;
    let idle = user(&stores, 3, now).await;
    let keyed = user(&stores, 4, now).await;
    claim(&stores, 4, "key-of-four", "fingerprint", now).await;
    admit_everyone(&stores, now).await;
    let waiting = user(&stores, 5, now + secs(590)).await;
    let report = stores.queue.admit(now + secs(600), &no_admission()).await.expect("admit works");
    assert_eq!(report.expired, 4, "every admitted token ran out at its expiry");

    assert_eq!(stores.queue.forget_ended(now + secs(600)).await, Ok(0), "they ended at the cutoff itself");
    assert_eq!(stores.queue.forget_ended(now + secs(601)).await, Ok(4));
    for gone in [&charged, &holder, &idle, &keyed] {
        assert_eq!(stores.queue.token(gone.value).await, Ok(None), "user {} token", gone.user_id);
        assert_eq!(stores.queue.fresh_token(gone.value).await, Ok(None), "user {} token", gone.user_id);
    }
    assert_eq!(stores.wallet.balance(uid(1)).await, Ok(Some(balance(1_000))), "money is kept");
    assert_eq!(stores.wallet.balance(uid(2)).await, Ok(Some(balance(0))), "a seat holder is kept");
    assert_eq!(stores.wallet.balance(uid(3)).await, Ok(None), "nothing to keep: forgotten");
    assert_eq!(stores.wallet.balance(uid(4)).await, Ok(Some(balance(0))), "a key holder is kept");
    let still = stores.queue.fresh_token(waiting.value).await.expect("read works");
    assert_eq!(still.map(|token| token.status), Some(TokenStatus::Waiting));
    assert_eq!(stores.queue.position(&waiting).await, Ok(1));
    assert_eq!(stores.queue.forget_ended(now + secs(601)).await, Ok(0), "nothing left to forget");
}

/// A forgotten fan who comes back is a new fan: created anew with a zero balance, and queued
/// behind everyone.
pub async fn a_forgotten_fan_who_comes_back_is_created_anew_behind_everyone(stores: Repositories) {
    let world = seeded(&stores).await;
    let now = world.now;
    admit_nobody_after(&stores, now).await;
    let first = user(&stores, 1, now).await;
    let ahead = user(&stores, 2, now + secs(100)).await;
    stores.queue.admit(now + secs(200), &no_admission()).await.expect("admit works");
    assert_eq!(stores.queue.forget_ended(now + secs(200)).await, Ok(1), "user 1 was last seen at {now}");
    assert_eq!(stores.wallet.balance(uid(1)).await, Ok(None));

    let back = user(&stores, 1, now + secs(201)).await;
    assert_ne!(back.value, first.value);
    assert!(back.ticket > ahead.ticket, "behind everyone: {} after {}", back.ticket, ahead.ticket);
    assert_eq!(back.status, TokenStatus::Waiting);
    assert_eq!(stores.queue.position(&back).await, Ok(2));
    assert_eq!(stores.wallet.balance(uid(1)).await, Ok(Some(balance(0))));
}

/// Eleven thousand abandoned places (more than any store's batch) are all forgotten by one
/// call, and so are their users.
pub async fn forget_ended_works_through_a_backlog_larger_than_a_batch_in_one_call(stores: Repositories) {
    const FANS: i64 = 11_000;
    let world = seeded(&stores).await;
    let now = world.now;
    admit_nobody_after(&stores, now).await;
    for chunk in 0..FANS / 100 {
        all_at_once(100, |n| {
            let stores = stores.clone();
            async move { user(&stores, chunk * 100 + n, now).await }
        })
        .await;
    }
    let report = stores.queue.admit(now + secs(120), &no_admission()).await.expect("admit works");
    assert_eq!(report.dropped, FANS.unsigned_abs(), "every place was abandoned");
    assert_eq!(stores.queue.forget_ended(now + secs(121)).await, Ok(FANS.unsigned_abs()));
    for n in [1, FANS / 2, FANS] {
        assert_eq!(stores.wallet.balance(uid(n)).await, Ok(None), "user {n}");
    }
}
