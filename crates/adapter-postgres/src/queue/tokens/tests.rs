use super::*;
use domain::UserId;
use time::macros::datetime;

fn token(status: TokenStatus, ticket: u64) -> QueueToken {
    let at = datetime!(2030-01-01 12:00 UTC);
    QueueToken {
        value: TokenValue::from_uuid(Uuid::from_u128(7)),
        user_id: UserId::new(5).expect("valid id"),
        ticket,
        status,
        issued_at: at,
        last_seen_at: at,
        expires_at: (status == TokenStatus::Active).then_some(at + time::Duration::minutes(10)),
    }
}

/// A cache whose store has been listening since before the test.
fn cache(ttl: Duration, waiting_ttl: Duration) -> TokenCache {
    let listening = Arc::new(Since::new());
    listening.set(Instant::now());
    TokenCache::new(ttl, waiting_ttl, listening)
}

fn waiting_place(_: u64) -> Option<Place> {
    Some(Place::Waiting(3))
}

async fn cached(
    cache: &TokenCache,
    token: &QueueToken,
    place: fn(u64) -> Option<Place>,
) -> Option<QueueToken> {
    match cache.get(token.value, place).await {
        Lookup::Hit(copy) => Some(copy),
        Lookup::Miss(_) => None,
    }
}

#[tokio::test]
async fn a_copy_is_served_within_the_ttl_and_read_again_after_it() {
    let cache = cache(Duration::from_millis(80), Duration::from_millis(80));
    let active = token(TokenStatus::Active, 3);
    cache.remember(&active, Instant::now(), StoreCopy::IfNoEntry).await;
    assert_eq!(cached(&cache, &active, waiting_place).await, Some(active.clone()));
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(cached(&cache, &active, waiting_place).await, None);
}

#[tokio::test]
async fn a_waiting_copy_is_read_again_once_the_snapshot_no_longer_places_it_as_waiting() {
    let cache = cache(Duration::from_secs(60), Duration::from_secs(60));
    let waiting = token(TokenStatus::Waiting, 3);
    cache.remember(&waiting, Instant::now(), StoreCopy::IfNoEntry).await;
    assert_eq!(cached(&cache, &waiting, waiting_place).await, Some(waiting.clone()));
    assert_eq!(cached(&cache, &waiting, |_| Some(Place::UnderWatermark)).await, None, "admitted since");
    cache.remember(&waiting, Instant::now(), StoreCopy::IfNoEntry).await;
    assert_eq!(cached(&cache, &waiting, |_| Some(Place::LeftQueue)).await, None, "dropped since");
    cache.remember(&waiting, Instant::now(), StoreCopy::IfNoEntry).await;
    assert_eq!(cached(&cache, &waiting, |_| None).await, None, "snapshot too old to tell");
}

#[tokio::test]
async fn a_payment_tombstone_is_never_overwritten_by_a_copy_read_before_it() {
    let cache = cache(Duration::from_secs(60), Duration::from_secs(60));
    let active = token(TokenStatus::Active, 3);
    cache.leave_tombstone(active.value).await;
    cache.remember(&active, Instant::now(), StoreCopy::IfNoEntry).await;
    assert!(matches!(cache.get(active.value, waiting_place).await, Lookup::Miss(StoreCopy::Overwrite)));
    let expired = token(TokenStatus::Expired, 3);
    cache.remember(&expired, Instant::now(), StoreCopy::Overwrite).await;
    assert_eq!(cached(&cache, &expired, waiting_place).await, Some(expired.clone()));
}

#[tokio::test]
async fn a_poll_moves_the_last_seen_instant_of_a_waiting_copy_forward_only() {
    let cache = cache(Duration::from_secs(60), Duration::from_secs(60));
    let waiting = token(TokenStatus::Waiting, 3);
    cache.remember(&waiting, Instant::now(), StoreCopy::IfNoEntry).await;
    let later = waiting.last_seen_at + time::Duration::seconds(30);
    cache.record_poll(waiting.value, later).await;
    cache.record_poll(waiting.value, waiting.last_seen_at).await;
    let copy = cached(&cache, &waiting, waiting_place).await.expect("cached");
    assert_eq!(copy.last_seen_at, later);
}

#[tokio::test]
async fn a_fresh_read_replaces_an_outdated_copy_but_never_a_tombstone() {
    let cache = cache(Duration::from_secs(60), Duration::from_secs(60));
    let waiting = token(TokenStatus::Waiting, 3);
    let active = token(TokenStatus::Active, 3);
    cache.remember(&waiting, Instant::now(), StoreCopy::IfNoEntry).await;
    cache.remember(&active, Instant::now(), StoreCopy::UnlessTombstone).await;
    assert_eq!(cached(&cache, &active, waiting_place).await, Some(active.clone()));
    cache.leave_tombstone(active.value).await;
    cache.remember(&active, Instant::now(), StoreCopy::UnlessTombstone).await;
    assert!(matches!(cache.get(active.value, waiting_place).await, Lookup::Miss(StoreCopy::Overwrite)));
}

#[tokio::test]
async fn a_zero_ttl_turns_the_cache_off() {
    let cache = cache(Duration::ZERO, Duration::from_secs(60));
    let active = token(TokenStatus::Active, 3);
    assert!(matches!(cache.get(active.value, waiting_place).await, Lookup::Miss(StoreCopy::Never)));
    cache.remember(&active, Instant::now(), StoreCopy::Never).await;
    assert_eq!(cached(&cache, &active, waiting_place).await, None);
}

#[tokio::test]
async fn nothing_is_served_or_stored_while_not_listening_nor_read_before_listening_restarted() {
    let cache = cache(Duration::from_secs(60), Duration::from_secs(60));
    let active = token(TokenStatus::Active, 3);
    let sent_before_the_break = Instant::now();
    cache.remember(&active, sent_before_the_break, StoreCopy::IfNoEntry).await;
    assert_eq!(cached(&cache, &active, waiting_place).await, Some(active.clone()));
    cache.listening.clear();
    assert!(matches!(cache.get(active.value, waiting_place).await, Lookup::Miss(StoreCopy::Never)));
    cache.remember(&active, Instant::now(), StoreCopy::IfNoEntry).await;
    cache.clear();
    cache.listening.set(Instant::now());
    cache.remember(&active, sent_before_the_break, StoreCopy::IfNoEntry).await;
    assert_eq!(cached(&cache, &active, waiting_place).await, None, "read before listening restarted");
    cache.remember(&active, Instant::now(), StoreCopy::IfNoEntry).await;
    assert_eq!(cached(&cache, &active, waiting_place).await, Some(active.clone()));
}

#[tokio::test]
async fn deleted_tokens_drop_the_copies_of_ended_tokens_only() {
    let cache = cache(Duration::from_secs(60), Duration::from_secs(60));
    let ended = token(TokenStatus::Expired, 3);
    let live =
        QueueToken { value: TokenValue::from_uuid(Uuid::from_u128(8)), ..token(TokenStatus::Active, 4) };
    cache.remember(&ended, Instant::now(), StoreCopy::IfNoEntry).await;
    cache.remember(&live, Instant::now(), StoreCopy::IfNoEntry).await;
    cache.forget_ended();
    assert_eq!(cached(&cache, &ended, waiting_place).await, None);
    assert_eq!(cached(&cache, &live, waiting_place).await, Some(live.clone()));
}

#[tokio::test]
async fn a_copy_read_before_listening_restarted_is_not_served_even_if_stored_after_it() {
    let cache = cache(Duration::from_secs(60), Duration::from_secs(60));
    let active = token(TokenStatus::Active, 3);
    let sent = Instant::now();
    // Listening restarted after the read was sent, and the copy landed after the clear.
    cache.listening.set(sent + Duration::from_millis(1));
    let copy = Entry::Read { token: active.clone(), at: sent };
    cache.update(active.value, |_| Op::Put(copy)).await;
    assert!(matches!(cache.get(active.value, waiting_place).await, Lookup::Miss(_)));
}

#[tokio::test]
async fn an_ended_copy_read_before_tokens_were_deleted_is_not_served() {
    let cache = cache(Duration::from_secs(60), Duration::from_secs(60));
    let ended = token(TokenStatus::Expired, 3);
    let sent = Instant::now();
    cache.forgotten.set(sent + Duration::from_millis(1));
    let copy = Entry::Read { token: ended.clone(), at: sent };
    cache.update(ended.value, |_| Op::Put(copy)).await;
    assert_eq!(cached(&cache, &ended, waiting_place).await, None, "maybe deleted since");
    cache.remember(&ended, sent + Duration::from_millis(2), StoreCopy::UnlessTombstone).await;
    assert_eq!(cached(&cache, &ended, waiting_place).await, Some(ended.clone()), "read after the deletion");
}
