//! Idempotency checks: claiming a key, replaying its response, refusing it for another request,
//! taking over an abandoned claim, forgetting a key after its TTL, releasing a failed claim,
//! keeping keys per user, and exactly one winner among racing claims.

use domain::idempotency::{CLAIM_LEASE, RESPONSE_TTL};
use domain::{
    ClaimId, IdempotencyClaim, IdempotencyKey, IdempotencyPolicy, IdempotencyRecord, StoredResponse, UserId,
};
use time::OffsetDateTime;

use crate::Repositories;
use crate::fixture::{now, secs, uid, user};
use crate::races::all_at_once;

/// A valid key.
pub(crate) fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).expect("keys in the suite are valid")
}

/// The response the suite stores.
fn ok_response() -> StoredResponse {
    StoredResponse { status: 200, body: r#"{"userId":1,"currentBalance":100000}"#.into() }
}

/// Claims `key` for user `n` with `fingerprint` at `at`, with the service's TTL and lease.
pub(crate) async fn claim(
    stores: &Repositories,
    n: i64,
    key_text: &str,
    fingerprint: &str,
    at: OffsetDateTime,
) -> IdempotencyClaim {
    stores
        .idempotency
        .claim(uid(n), &key(key_text), fingerprint, at, &IdempotencyPolicy::default())
        .await
        .expect("claim works")
}

/// The claim a claim outcome carries; fails the check for any other outcome.
pub(crate) fn claimed(outcome: IdempotencyClaim) -> ClaimId {
    match outcome {
        IdempotencyClaim::Claimed(claim) => claim,
        other => panic!("expected the key to be claimed, got {other:?}"),
    }
}

/// Claims user `n`'s `key` and completes that claim with `response` at `at`.
async fn claim_and_complete(
    stores: &Repositories,
    n: i64,
    key_text: &str,
    response: &StoredResponse,
    at: OffsetDateTime,
) {
    let claim = claimed(claim(stores, n, key_text, "fp-a", at).await);
    complete(stores, n, key_text, claim, response, at).await;
}

/// Completes user `n`'s `key`, claimed as `claim`, with `response` at `at`.
async fn complete(
    stores: &Repositories,
    n: i64,
    key_text: &str,
    claim: ClaimId,
    response: &StoredResponse,
    at: OffsetDateTime,
) {
    stores.idempotency.complete(uid(n), &key(key_text), claim, response, at).await.expect("complete works");
}

/// What is stored for user `n`'s `key`.
pub(crate) async fn find(stores: &Repositories, n: i64, key_text: &str) -> Option<IdempotencyRecord> {
    stores.idempotency.find(uid(n), &key(key_text)).await.expect("find works")
}

/// A new key is claimed; the same request again is in progress until the claim completes, then
/// replayed with the stored status and body, for as long as the TTL lasts.
pub async fn a_new_key_is_claimed_once_and_its_completed_response_is_replayed(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    assert_eq!(find(&stores, 1, "k1").await, None, "nothing is stored for a key never used");
    let first = claimed(claim(&stores, 1, "k1", "fp-a", now).await);
    assert_eq!(
        find(&stores, 1, "k1").await,
        Some(IdempotencyRecord { fingerprint: "fp-a".into(), claimed_at: now, response: None }),
        "a claim is stored in progress, since the claim's instant"
    );
    assert_eq!(
        claim(&stores, 1, "k1", "fp-a", now + secs(1)).await,
        IdempotencyClaim::InProgress,
        "the same request while the first runs"
    );
    complete(&stores, 1, "k1", first, &ok_response(), now + secs(2)).await;
    let replay = IdempotencyClaim::Replay(ok_response());
    assert_eq!(claim(&stores, 1, "k1", "fp-a", now + secs(3)).await, replay, "the same request once done");
    let late = now + RESPONSE_TTL - secs(1);
    assert_eq!(
        claim(&stores, 1, "k1", "fp-a", late).await,
        replay,
        "still replayed just before the TTL ends"
    );
    let stored = find(&stores, 1, "k1").await.expect("the completed record is stored");
    assert_eq!((stored.claimed_at, stored.response), (now, Some(ok_response())), "replays rewrite nothing");
}

/// Error responses are kept and replayed like any other (status and body exactly).
pub async fn a_stored_error_response_is_replayed_exactly(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let first = claimed(claim(&stores, 1, "k1", "fp-a", now).await);
    let refusal = StoredResponse {
        status: 422,
        body: "{\"code\":\"INSUFFICIENT_BALANCE\",\"message\":\"ünïcode ✓ \\\"quoted\\\"\"}".into(),
    };
    complete(&stores, 1, "k1", first, &refusal, now).await;
    assert_eq!(claim(&stores, 1, "k1", "fp-a", now + secs(1)).await, IdempotencyClaim::Replay(refusal));
}

/// A key used for another request (another fingerprint) is `Reused`, whether the first request
/// is still running or done; nothing about the first changes.
pub async fn a_key_used_for_another_request_is_reused(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let first = claimed(claim(&stores, 1, "k1", "fp-a", now).await);
    assert_eq!(claim(&stores, 1, "k1", "fp-b", now).await, IdempotencyClaim::Reused, "while the first runs");
    complete(&stores, 1, "k1", first, &ok_response(), now + secs(1)).await;
    assert_eq!(
        claim(&stores, 1, "k1", "fp-b", now + secs(2)).await,
        IdempotencyClaim::Reused,
        "once it is done"
    );
    let after_lease = now + CLAIM_LEASE + secs(1);
    assert_eq!(
        claim(&stores, 1, "k1", "fp-b", after_lease).await,
        IdempotencyClaim::Reused,
        "whatever the lease"
    );
    let stored = find(&stores, 1, "k1").await.expect("the first record stays");
    assert_eq!((stored.fingerprint.as_str(), stored.response), ("fp-a", Some(ok_response())));
}

/// A claim left in progress (its instance died) is claimed again by the same request once its
/// lease has run out, and the new claim is in progress from then on.
pub async fn an_abandoned_claim_is_claimed_again_once_its_lease_runs_out(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let first = claimed(claim(&stores, 1, "k1", "fp-a", now).await);
    let within = now + CLAIM_LEASE - secs(1);
    assert_eq!(
        claim(&stores, 1, "k1", "fp-a", within).await,
        IdempotencyClaim::InProgress,
        "within the lease"
    );
    let expired = now + CLAIM_LEASE;
    let takeover = claimed(claim(&stores, 1, "k1", "fp-a", expired).await);
    assert_ne!(takeover, first, "the take-over holds a claim of its own");
    assert_eq!(
        find(&stores, 1, "k1").await,
        Some(IdempotencyRecord { fingerprint: "fp-a".into(), claimed_at: expired, response: None }),
        "the take-over is a fresh claim"
    );
    assert_eq!(
        claim(&stores, 1, "k1", "fp-a", expired + secs(1)).await,
        IdempotencyClaim::InProgress,
        "the take-over has a lease of its own"
    );
}

/// A record older than the TTL counts as absent: the key is claimed anew, even for another
/// request, and the old response is gone.
pub async fn a_record_past_the_ttl_is_claimed_anew(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    claim_and_complete(&stores, 1, "k1", &ok_response(), now).await;
    let later = now + RESPONSE_TTL;
    claimed(claim(&stores, 1, "k1", "fp-b", later).await);
    assert_eq!(
        find(&stores, 1, "k1").await,
        Some(IdempotencyRecord { fingerprint: "fp-b".into(), claimed_at: later, response: None }),
        "the new claim replaced the old record"
    );
    assert_eq!(
        claim(&stores, 1, "k1", "fp-b", later).await,
        IdempotencyClaim::InProgress,
        "the new claim runs"
    );
    assert_eq!(
        claim(&stores, 1, "k1", "fp-a", later).await,
        IdempotencyClaim::Reused,
        "the old request is gone"
    );
}

/// `release` deletes a claim in progress (a retry runs again) but never a completed one;
/// `complete` keeps the first response and never creates a record.
pub async fn release_frees_a_running_claim_and_complete_keeps_the_first_response(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let first = claimed(claim(&stores, 1, "k1", "fp-a", now).await);
    stores.idempotency.release(uid(1), &key("k1"), first).await.expect("release works");
    assert_eq!(find(&stores, 1, "k1").await, None, "a released claim is gone");
    let second_claim = claimed(claim(&stores, 1, "k1", "fp-b", now).await);
    assert_ne!(second_claim, first, "a claim id is never handed out twice");
    complete(&stores, 1, "k1", first, &ok_response(), now).await;
    stores.idempotency.release(uid(1), &key("k1"), first).await.expect("release works");
    assert_eq!(
        claim(&stores, 1, "k1", "fp-b", now).await,
        IdempotencyClaim::InProgress,
        "an old claim neither completes nor releases the key's current claim"
    );

    complete(&stores, 1, "k1", second_claim, &ok_response(), now).await;
    let second = StoredResponse { status: 201, body: "{}".into() };
    complete(&stores, 1, "k1", second_claim, &second, now + secs(1)).await;
    stores.idempotency.release(uid(1), &key("k1"), second_claim).await.expect("release works");
    assert_eq!(
        claim(&stores, 1, "k1", "fp-b", now + secs(2)).await,
        IdempotencyClaim::Replay(ok_response()),
        "neither a second completion nor a release touches a completed record"
    );

    complete(&stores, 1, "k2", first, &ok_response(), now).await;
    stores.idempotency.release(uid(1), &key("k2"), first).await.expect("release of a missing key works");
    assert_eq!(find(&stores, 1, "k2").await, None, "completing a key never claimed stores nothing");
}

/// Keys belong to one user: another user's same key is a key of its own.
pub async fn keys_are_scoped_per_user(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    user(&stores, 2, now).await;
    let one = claimed(claim(&stores, 1, "shared", "fp-a", now).await);
    let two = claimed(claim(&stores, 2, "shared", "fp-b", now).await);
    complete(&stores, 1, "shared", one, &ok_response(), now).await;
    assert_eq!(
        claim(&stores, 2, "shared", "fp-b", now).await,
        IdempotencyClaim::InProgress,
        "user 1's completion is not user 2's"
    );
    stores.idempotency.release(uid(2), &key("shared"), two).await.expect("release works");
    assert_eq!(
        claim(&stores, 1, "shared", "fp-a", now).await,
        IdempotencyClaim::Replay(ok_response()),
        "user 2's release is not user 1's"
    );
}

/// `purge_expired` deletes exactly the records claimed a TTL or more ago, finished or not.
pub async fn purge_expired_deletes_only_records_past_the_ttl(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let old = now - RESPONSE_TTL;
    claim_and_complete(&stores, 1, "old-done", &ok_response(), old).await;
    claim(&stores, 1, "old-running", "fp", old - secs(5)).await;
    claim(&stores, 1, "young", "fp", old + secs(1)).await;
    let purged = stores.idempotency.purge_expired(now, RESPONSE_TTL).await.expect("purge works");
    assert_eq!(purged, 2, "the two records claimed 24 h or more ago");
    assert_eq!(find(&stores, 1, "old-done").await, None);
    assert_eq!(find(&stores, 1, "old-running").await, None);
    assert!(find(&stores, 1, "young").await.is_some(), "a record inside the TTL stays");
    assert_eq!(stores.idempotency.purge_expired(now, RESPONSE_TTL).await, Ok(0), "nothing left to purge");
}

/// Of ten concurrent claims of one new key with one request, exactly one is `Claimed` and the
/// other nine are `InProgress`; once it completes, ten more concurrent claims all replay.
pub async fn ten_concurrent_claims_of_a_new_key_have_exactly_one_winner(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let outcomes = race(&stores, uid(1), "k1", now).await;
    let (winners, running) = tally(&outcomes);
    assert_eq!((winners.len(), running), (1, 9), "one claim, nine in progress: {outcomes:?}");

    complete(&stores, 1, "k1", winners[0], &ok_response(), now).await;
    let outcomes = race(&stores, uid(1), "k1", now + secs(1)).await;
    assert!(
        outcomes.iter().all(|outcome| *outcome == IdempotencyClaim::Replay(ok_response())),
        "every claim after completion replays: {outcomes:?}"
    );
}

/// Of ten concurrent claims of a stored key that may be taken over (its record is past the
/// TTL), exactly one is `Claimed`: the take-over is decided under the record's lock.
pub async fn ten_concurrent_claims_of_an_expired_key_have_exactly_one_winner(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    let old = now - RESPONSE_TTL - secs(1);
    let first = claimed(claim(&stores, 1, "k1", "fp-race", old).await);
    complete(&stores, 1, "k1", first, &ok_response(), old).await;
    let outcomes = race(&stores, uid(1), "k1", now).await;
    let (winners, running) = tally(&outcomes);
    assert_eq!((winners.len(), running), (1, 9), "one take-over, nine in progress: {outcomes:?}");
}

/// The claims among `outcomes`, and how many were in progress.
fn tally(outcomes: &[IdempotencyClaim]) -> (Vec<ClaimId>, usize) {
    let winners = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            IdempotencyClaim::Claimed(claim) => Some(*claim),
            _ => None,
        })
        .collect();
    (winners, outcomes.iter().filter(|outcome| **outcome == IdempotencyClaim::InProgress).count())
}

/// A user has at most `max_keys_per_user` live keys: a new key beyond them is `TooManyKeys`
/// and stores nothing, their existing keys still answer, another user is not affected, and
/// once the oldest key is past the TTL a new one is claimed again.
pub async fn a_new_key_beyond_the_users_cap_is_refused_until_the_oldest_expires(stores: Repositories) {
    let now = now();
    user(&stores, 1, now).await;
    user(&stores, 2, now).await;
    let policy = IdempotencyPolicy { max_keys_per_user: 3, ..IdempotencyPolicy::default() };
    let claim_with = |n: i64, key_text: &'static str, at: OffsetDateTime| {
        let stores = stores.clone();
        async move {
            stores.idempotency.claim(uid(n), &key(key_text), "fp-a", at, &policy).await.expect("claim works")
        }
    };
    for (offset, key_text) in [(0, "k1"), (1, "k2"), (2, "k3")] {
        claimed(claim_with(1, key_text, now + secs(offset)).await);
    }
    assert_eq!(claim_with(1, "k4", now + secs(10)).await, IdempotencyClaim::TooManyKeys, "a fourth key");
    assert_eq!(find(&stores, 1, "k4").await, None, "a refused key stores nothing");
    assert_eq!(claim_with(1, "k1", now + secs(10)).await, IdempotencyClaim::InProgress, "an existing key");
    claimed(claim_with(2, "k4", now + secs(10)).await);
    claimed(claim_with(1, "k4", now + RESPONSE_TTL).await);
}

/// Ten claims of `user`'s `key` with one fingerprint, all at once.
async fn race(
    stores: &Repositories,
    user: UserId,
    key_text: &'static str,
    at: OffsetDateTime,
) -> Vec<IdempotencyClaim> {
    all_at_once(10, |_| {
        let stores = stores.clone();
        async move {
            stores
                .idempotency
                .claim(user, &key(key_text), "fp-race", at, &IdempotencyPolicy::default())
                .await
                .expect("claim works under contention")
        }
    })
    .await
}
