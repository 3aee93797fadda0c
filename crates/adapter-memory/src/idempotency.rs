//! Idempotency keys and the responses kept for them: the idempotency port.

use std::collections::HashMap;

use async_trait::async_trait;
use domain::ports::{IdempotencyRepository, StoreError, StoreResult};
use domain::{
    ClaimId, IdempotencyClaim, IdempotencyKey, IdempotencyPolicy, IdempotencyRecord, Receipt, StoredResponse,
    UserId, decide_claim,
};
use time::{Duration, OffsetDateTime};

use crate::{MemoryStore, State};

/// Every user's keys, by user, so a user's live keys are counted (and capped) without a scan.
/// A claim reads, decides and writes under the store's one lock, so it is atomic however many
/// requests race for a key; a user with no key has no entry.
#[derive(Debug, Default)]
pub(crate) struct Idempotency {
    records: HashMap<UserId, HashMap<IdempotencyKey, Entry>>,
    /// The last claim id handed out; ids are never reused.
    last_claim: i64,
}

/// A record and the claim it is currently held under.
#[derive(Debug, Clone)]
struct Entry {
    claim: ClaimId,
    record: IdempotencyRecord,
}

impl Idempotency {
    fn claim(
        &mut self,
        user: UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: OffsetDateTime,
        policy: &IdempotencyPolicy,
    ) -> StoreResult<IdempotencyClaim> {
        let keys = self.records.entry(user).or_default();
        let existing = keys.get(key).map(|entry| &entry.record);
        let new_key = existing.is_none_or(|record| record.is_expired_at(now, policy.ttl));
        let decision = decide_claim(existing, fingerprint, now, policy.ttl, policy.lease);
        if let Some(outcome) = decision.unless_claimed() {
            return Ok(outcome);
        }
        if new_key {
            // The user's expired keys go first; only live ones count against the cap.
            keys.retain(|_, entry| !entry.record.is_expired_at(now, policy.ttl));
            if !policy.admits_new_key(u64::try_from(keys.len()).unwrap_or(u64::MAX)) {
                if keys.is_empty() {
                    self.records.remove(&user);
                }
                return Ok(IdempotencyClaim::TooManyKeys);
            }
        }
        self.last_claim = self
            .last_claim
            .checked_add(1)
            .ok_or_else(|| StoreError::Internal("the in-memory store ran out of claim ids".into()))?;
        let claim = ClaimId::new(self.last_claim);
        let entry = Entry { claim, record: IdempotencyRecord::claimed(fingerprint, now) };
        self.records.entry(user).or_default().insert(key.clone(), entry);
        Ok(IdempotencyClaim::Claimed(claim))
    }

    /// The record of `user`'s `key`, if it is still in progress under `claim`.
    fn in_progress(
        &mut self,
        user: UserId,
        key: &IdempotencyKey,
        claim: ClaimId,
    ) -> Option<&mut IdempotencyRecord> {
        self.records
            .get_mut(&user)
            .and_then(|keys| keys.get_mut(key))
            .filter(|entry| entry.claim == claim && entry.record.response.is_none())
            .map(|entry| &mut entry.record)
    }

    fn complete(&mut self, user: UserId, key: &IdempotencyKey, claim: ClaimId, response: &StoredResponse) {
        if let Some(record) = self.in_progress(user, key, claim) {
            record.response = Some(response.clone());
        }
    }

    fn release(&mut self, user: UserId, key: &IdempotencyKey, claim: ClaimId) {
        if self.in_progress(user, key, claim).is_some()
            && let Some(keys) = self.records.get_mut(&user)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.records.remove(&user);
            }
        }
    }

    /// Whether any record of `user` is kept, expired or not.
    pub(crate) fn any_of(&self, user: UserId) -> bool {
        self.records.contains_key(&user)
    }

    fn find(&self, user: UserId, key: &IdempotencyKey) -> Option<IdempotencyRecord> {
        self.records.get(&user).and_then(|keys| keys.get(key)).map(|entry| entry.record.clone())
    }

    fn purge_expired(&mut self, now: OffsetDateTime, ttl: Duration) -> u64 {
        let mut purged = 0_u64;
        self.records.retain(|_, keys| {
            let before = keys.len();
            keys.retain(|_, entry| !entry.record.is_expired_at(now, ttl));
            purged = purged.saturating_add(u64::try_from(before - keys.len()).unwrap_or(u64::MAX));
            !keys.is_empty()
        });
        purged
    }
}

impl State {
    /// A write guarded by an idempotency key, as one atomic step under the store's lock: the
    /// claim is checked first (a superseded claim writes nothing), then `effect` runs, then the
    /// answer `receipt` gives for its outcome is recorded. Without a receipt, just `effect`.
    pub(crate) fn keyed<T: 'static>(
        &mut self,
        receipt: Option<&Receipt<T>>,
        effect: impl FnOnce(&mut State) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let Some(receipt) = receipt else { return effect(self) };
        if self.idempotency.in_progress(receipt.user, &receipt.key, receipt.claim).is_none() {
            return Err(StoreError::ClaimSuperseded);
        }
        let outcome = effect(self)?;
        if let Some(answer) = receipt.answer(&outcome) {
            self.idempotency.complete(receipt.user, &receipt.key, receipt.claim, &answer);
        }
        Ok(outcome)
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
        policy: &IdempotencyPolicy,
    ) -> StoreResult<IdempotencyClaim> {
        self.with_state(|state| state.idempotency.claim(user, key, fingerprint, now, policy))
    }

    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        claim: ClaimId,
        response: &StoredResponse,
        _now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.with_state(|state| {
            state.idempotency.complete(user, key, claim, response);
            Ok(())
        })
    }

    async fn release(&self, user: UserId, key: &IdempotencyKey, claim: ClaimId) -> StoreResult<()> {
        self.with_state(|state| {
            state.idempotency.release(user, key, claim);
            Ok(())
        })
    }

    async fn find(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<Option<IdempotencyRecord>> {
        self.with_state(|state| Ok(state.idempotency.find(user, key)))
    }

    async fn purge_expired(&self, now: OffsetDateTime, ttl: Duration) -> StoreResult<u64> {
        self.with_state(|state| Ok(state.idempotency.purge_expired(now, ttl)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{NOW, seconds, user};
    use domain::idempotency::RESPONSE_TTL;

    fn key(text: &str) -> IdempotencyKey {
        IdempotencyKey::parse(text).expect("valid key")
    }

    fn response() -> StoredResponse {
        StoredResponse { status: 201, body: "{}".into() }
    }

    async fn claim(store: &MemoryStore, n: i64, fingerprint: &str, now: OffsetDateTime) -> IdempotencyClaim {
        store.claim(user(n), &key("k"), fingerprint, now, &IdempotencyPolicy::default()).await.expect("claim")
    }

    #[tokio::test]
    async fn a_completed_claim_is_replayed_and_its_response_never_overwritten() {
        let store = MemoryStore::new();
        let IdempotencyClaim::Claimed(id) = claim(&store, 1, "a", NOW).await else { panic!("claimed") };
        assert_eq!(claim(&store, 1, "a", NOW).await, IdempotencyClaim::InProgress);
        store.complete(user(1), &key("k"), id, &response(), NOW).await.expect("complete");
        let other = StoredResponse { status: 500, body: "late".into() };
        store.complete(user(1), &key("k"), id, &other, NOW).await.expect("complete again");
        store.release(user(1), &key("k"), id).await.expect("release");
        assert_eq!(claim(&store, 1, "a", NOW).await, IdempotencyClaim::Replay(response()));
    }

    #[tokio::test]
    async fn claim_ids_are_never_reused_even_after_a_release() {
        let store = MemoryStore::new();
        let first = claim(&store, 1, "a", NOW).await;
        let IdempotencyClaim::Claimed(id) = first else { panic!("claimed") };
        store.release(user(1), &key("k"), id).await.expect("release");
        assert_ne!(claim(&store, 1, "a", NOW).await, first);
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
