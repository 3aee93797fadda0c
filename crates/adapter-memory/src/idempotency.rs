//! Idempotency keys and the responses kept for them: the idempotency port.

use std::collections::HashMap;

use async_trait::async_trait;
use domain::ports::{IdempotencyRepository, StoreResult};
use domain::{IdempotencyClaim, IdempotencyKey, IdempotencyRecord, StoredResponse, UserId, decide_claim};
use time::{Duration, OffsetDateTime};

use crate::MemoryStore;

/// Every user's keys. A claim reads, decides and writes under the store's one lock, so it is
/// atomic however many requests race for a key.
#[derive(Debug, Default)]
pub(crate) struct Idempotency {
    records: HashMap<(UserId, IdempotencyKey), IdempotencyRecord>,
}

impl Idempotency {
    fn claim(
        &mut self,
        user: UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: OffsetDateTime,
        ttl: Duration,
        lease: Duration,
    ) -> IdempotencyClaim {
        let slot = (user, key.clone());
        let outcome = decide_claim(self.records.get(&slot), fingerprint, now, ttl, lease);
        if outcome == IdempotencyClaim::Claimed {
            self.records.insert(slot, IdempotencyRecord::claimed(fingerprint, now));
        }
        outcome
    }

    fn complete(&mut self, user: UserId, key: &IdempotencyKey, response: &StoredResponse) {
        if let Some(record) = self.records.get_mut(&(user, key.clone()))
            && record.response.is_none()
        {
            record.response = Some(response.clone());
        }
    }

    fn release(&mut self, user: UserId, key: &IdempotencyKey) {
        let slot = (user, key.clone());
        if self.records.get(&slot).is_some_and(|record| record.response.is_none()) {
            self.records.remove(&slot);
        }
    }

    fn purge_expired(&mut self, now: OffsetDateTime, ttl: Duration) -> u64 {
        let before = self.records.len();
        self.records.retain(|_, record| !record.is_expired_at(now, ttl));
        u64::try_from(before - self.records.len()).unwrap_or(u64::MAX)
    }
}

#[async_trait]
impl IdempotencyRepository for MemoryStore {
    async fn claim(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: OffsetDateTime,
        ttl: Duration,
        lease: Duration,
    ) -> StoreResult<IdempotencyClaim> {
        self.with_state(|state| Ok(state.idempotency.claim(user, key, fingerprint, now, ttl, lease)))
    }

    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        response: &StoredResponse,
        _now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.with_state(|state| {
            state.idempotency.complete(user, key, response);
            Ok(())
        })
    }

    async fn release(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<()> {
        self.with_state(|state| {
            state.idempotency.release(user, key);
            Ok(())
        })
    }

    async fn find(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<Option<IdempotencyRecord>> {
        self.with_state(|state| Ok(state.idempotency.records.get(&(user, key.clone())).cloned()))
    }

    async fn purge_expired(&self, now: OffsetDateTime, ttl: Duration) -> StoreResult<u64> {
        self.with_state(|state| Ok(state.idempotency.purge_expired(now, ttl)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{NOW, seconds, user};
    use domain::idempotency::{CLAIM_LEASE, RESPONSE_TTL};

    fn key(text: &str) -> IdempotencyKey {
        IdempotencyKey::parse(text).expect("valid key")
    }

    fn response() -> StoredResponse {
        StoredResponse { status: 201, body: "{}".into() }
    }

    async fn claim(store: &MemoryStore, n: i64, fingerprint: &str, now: OffsetDateTime) -> IdempotencyClaim {
        store.claim(user(n), &key("k"), fingerprint, now, RESPONSE_TTL, CLAIM_LEASE).await.expect("claim")
    }

    #[tokio::test]
    async fn a_completed_claim_is_replayed_and_its_response_never_overwritten() {
        let store = MemoryStore::new();
        assert_eq!(claim(&store, 1, "a", NOW).await, IdempotencyClaim::Claimed);
        assert_eq!(claim(&store, 1, "a", NOW).await, IdempotencyClaim::InProgress);
        store.complete(user(1), &key("k"), &response(), NOW).await.expect("complete");
        let other = StoredResponse { status: 500, body: "late".into() };
        store.complete(user(1), &key("k"), &other, NOW).await.expect("complete again");
        store.release(user(1), &key("k")).await.expect("release");
        assert_eq!(claim(&store, 1, "a", NOW).await, IdempotencyClaim::Replay(response()));
    }

    #[tokio::test]
    async fn purge_removes_only_records_past_the_ttl() {
        let store = MemoryStore::new();
        claim(&store, 1, "a", NOW).await;
        claim(&store, 2, "a", NOW + seconds(10)).await;
        assert_eq!(store.purge_expired(NOW + RESPONSE_TTL, RESPONSE_TTL).await, Ok(1));
        assert_eq!(store.find(user(1), &key("k")).await, Ok(None));
        assert!(store.find(user(2), &key("k")).await.expect("find").is_some());
    }
}
