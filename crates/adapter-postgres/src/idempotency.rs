//! Idempotency keys and the responses kept for them: the idempotency port, on the
//! `idempotency_keys` table (`migrations/2026-11-23-000001_idempotency`).
//!
//! A claim is exact across instances:
//! - a key never seen (the common case) is claimed by ONE statement, an insert that does nothing
//!   on conflict: of racing inserts of one key, PostgreSQL lets exactly one through and makes
//!   the others wait for its commit and then do nothing;
//! - a key already stored is decided under the row's lock: a transaction locks the row, applies
//!   the domain's [`decide_claim`] and, on `Claim` (a record past its TTL, or a claim whose
//!   lease ran out), rewrites the row as a fresh claim before committing. The lock is taken
//!   `SKIP LOCKED`: a row someone holds locked is a claim being decided or, for as long as it
//!   runs, a keyed write (see [`fence`]), so the answer is `InProgress` at once rather than a
//!   wait. If the row vanished between the two steps (released or purged), the claim starts
//!   over.
//!
//! Every claim gets a number from the `idempotency_claims` sequence. A keyed write runs in one
//! transaction: [`fence`] locks the key's row only if it is still in progress under the
//! write's claim, the effect follows, and [`record`] stores its answer before the commit. So
//! the answer commits with the effect or neither does, and a write whose claim was taken over
//! writes nothing.
//!
//! Records past the TTL are deleted by [`IdempotencyRepository::purge_expired`] in batches
//! until none is left, one instance at a time (the binary calls it once a minute); until then
//! they count as absent.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, SmallInt, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{IdempotencyRepository, StoreError, StoreResult};
use domain::{
    ClaimId, IdempotencyClaim, IdempotencyKey, IdempotencyPolicy, IdempotencyRecord, Receipt, StoredResponse,
    UserId, decide_claim,
};
use time::{Duration, OffsetDateTime};

use crate::PgStore;
use crate::errors::{TxError, db_error};
use crate::housekeeping::Purge;
use crate::models::{corrupt, unsigned};
use crate::pool::{PgPool, TxConn, checkout};
use crate::statement::{bind, prepared};

/// Claims a key nobody has: the `Claim` of [`decide_claim`] for a missing record, unless the
/// user already has as many live keys as they may. Binds: $1 user, $2 key, $3 fingerprint,
/// $4 now, $5 the expiry cutoff, $6 the most live keys.
const INSERT_CLAIM: &str = "\
INSERT INTO idempotency_keys (user_id, key, fingerprint, claimed_at)
SELECT $1, $2, $3, $4
 WHERE (SELECT count(*) FROM idempotency_keys WHERE user_id = $1 AND claimed_at > $5) < $6
ON CONFLICT (user_id, key) DO NOTHING
RETURNING claim";

/// How many keys a user has claimed since the expiry cutoff. Binds: $1 user, $2 cutoff.
const LIVE_KEYS: &str =
    "SELECT count(*) AS live FROM idempotency_keys WHERE user_id = $1 AND claimed_at > $2";

/// The stored record, locked until the claim's transaction ends; nothing if another
/// transaction holds it. Binds: $1 user, $2 key.
const LOCK_RECORD: &str = "\
SELECT fingerprint, status, body, claimed_at FROM idempotency_keys
 WHERE user_id = $1 AND key = $2
   FOR UPDATE SKIP LOCKED";

/// The stored record, unlocked. Binds: $1 user, $2 key.
const READ_RECORD: &str = "\
SELECT fingerprint, status, body, claimed_at FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// Replaces a locked record (past its TTL, or abandoned) with a fresh claim under a new number.
/// Binds: $1 user, $2 key, $3 fingerprint, $4 now.
const RECLAIM: &str = "\
UPDATE idempotency_keys
   SET fingerprint = $3, claimed_at = $4, status = NULL, body = NULL, completed_at = NULL,
       claim = nextval('idempotency_claims')
 WHERE user_id = $1 AND key = $2
RETURNING claim";

/// Stores the response of a claim still in progress. Binds: $1 user, $2 key, $3 status,
/// $4 body, $5 now, $6 claim.
const COMPLETE: &str = "\
UPDATE idempotency_keys SET status = $3, body = $4, completed_at = $5
 WHERE user_id = $1 AND key = $2 AND claim = $6 AND status IS NULL";

/// Drops a claim still in progress. Binds: $1 user, $2 key, $3 claim.
const RELEASE: &str = "\
DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND claim = $3 AND status IS NULL";

/// The fence of a keyed write: locks the key's row, only while it is in progress under the
/// write's claim, until the write's transaction ends. Binds: $1 user, $2 key, $3 claim.
const FENCE: &str = "\
SELECT claim FROM idempotency_keys
 WHERE user_id = $1 AND key = $2 AND claim = $3 AND status IS NULL
   FOR UPDATE";

/// The expired records: one batch at a time, oldest first, skipping rows a claim holds locked
/// (see [`Purge`]).
const PURGE: Purge = Purge {
    // ASCII "frontrow" + 4.
    lock: 0x6672_6f6e_7472_6f04,
    batch: "\
WITH purged AS (
    DELETE FROM idempotency_keys
     WHERE (user_id, key) IN (SELECT user_id, key FROM idempotency_keys
                               WHERE claimed_at <= $1
                               ORDER BY claimed_at
                               LIMIT $2
                                 FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT count(*) AS done FROM purged",
    size: 10_000,
};

/// How often a claim starts over when its row vanishes between the insert and the lock.
const CLAIM_ATTEMPTS: u32 = 5;

/// A claim number, as [`INSERT_CLAIM`], [`RECLAIM`] and [`FENCE`] return it.
#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = BigInt)]
    claim: i64,
}

/// The row of [`LIVE_KEYS`].
#[derive(QueryableByName)]
struct LiveKeys {
    #[diesel(sql_type = BigInt)]
    live: i64,
}

/// Whether `user` may claim a new key now under `policy`.
async fn admits_new_key(
    conn: &mut AsyncPgConnection,
    user: UserId,
    now: OffsetDateTime,
    policy: &IdempotencyPolicy,
) -> Result<bool, TxError> {
    let binds = (bind::<BigInt, _>(user.get()), bind::<Timestamptz, _>(policy.expiry_cutoff(now)));
    let counted: LiveKeys = prepared(LIVE_KEYS, binds).get_result(conn).await?;
    Ok(policy.admits_new_key(unsigned(counted.live)?))
}

/// A row of `idempotency_keys`.
#[derive(QueryableByName)]
struct RecordRow {
    #[diesel(sql_type = Text)]
    fingerprint: String,
    #[diesel(sql_type = Nullable<SmallInt>)]
    status: Option<i16>,
    #[diesel(sql_type = Nullable<Text>)]
    body: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    claimed_at: OffsetDateTime,
}

impl TryFrom<RecordRow> for IdempotencyRecord {
    type Error = StoreError;

    fn try_from(row: RecordRow) -> Result<Self, StoreError> {
        let response = match (row.status, row.body) {
            (Some(status), Some(body)) => {
                let status = u16::try_from(status).map_err(|_| corrupt(format_args!("status {status}")))?;
                Some(StoredResponse { status, body })
            }
            (None, None) => None,
            _ => return Err(corrupt("an idempotency record with half a response")),
        };
        Ok(IdempotencyRecord { fingerprint: row.fingerprint, claimed_at: row.claimed_at, response })
    }
}

/// The claim of a stored key, inside a transaction: lock, decide, rewrite if claimed.
/// `InProgress` while another transaction holds the row; [`TxError::Refused`] when the row is
/// gone (the caller starts over).
async fn claim_stored(
    conn: &mut AsyncPgConnection,
    user: UserId,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: OffsetDateTime,
    policy: &IdempotencyPolicy,
) -> Result<IdempotencyClaim, TxError> {
    let locked: Option<RecordRow> =
        prepared(LOCK_RECORD, (bind::<BigInt, _>(user.get()), bind::<Text, _>(key.as_str())))
            .get_results(conn)
            .await?
            .pop();
    let Some(row) = locked else {
        // Held by another transaction. A record that is answered (or bound to another request)
        // is decided all the same: within its TTL nothing but a purge changes it. Anything that
        // would need a write waits for whoever holds the row: in progress.
        let binds = (bind::<BigInt, _>(user.get()), bind::<Text, _>(key.as_str()));
        let Some(row) = prepared(READ_RECORD, binds).get_results::<RecordRow>(conn).await?.pop() else {
            return Err(TxError::Refused);
        };
        let record = IdempotencyRecord::try_from(row)?;
        let outcome =
            decide_claim(Some(&record), fingerprint, now, policy.ttl, policy.lease).unless_claimed();
        return Ok(outcome.unwrap_or(IdempotencyClaim::InProgress));
    };
    let record = IdempotencyRecord::try_from(row)?;
    if let Some(outcome) =
        decide_claim(Some(&record), fingerprint, now, policy.ttl, policy.lease).unless_claimed()
    {
        return Ok(outcome);
    }
    if record.is_expired_at(now, policy.ttl) && !admits_new_key(conn, user, now, policy).await? {
        return Ok(IdempotencyClaim::TooManyKeys);
    }
    let binds = (
        bind::<BigInt, _>(user.get()),
        bind::<Text, _>(key.as_str()),
        bind::<Text, _>(fingerprint),
        bind::<Timestamptz, _>(now),
    );
    let reclaimed: ClaimRow = prepared(RECLAIM, binds).get_result(conn).await?;
    Ok(IdempotencyClaim::Claimed(ClaimId::new(reclaimed.claim)))
}

/// The whole claim on one connection: the insert of a new key, else the locked decision on the
/// stored one, started over while the row vanishes in between.
async fn claim_on(
    conn: &mut AsyncPgConnection,
    user: UserId,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: OffsetDateTime,
    policy: &IdempotencyPolicy,
) -> StoreResult<IdempotencyClaim> {
    for _ in 0..CLAIM_ATTEMPTS {
        let binds = (
            bind::<BigInt, _>(user.get()),
            bind::<Text, _>(key.as_str()),
            bind::<Text, _>(fingerprint),
            bind::<Timestamptz, _>(now),
            bind::<Timestamptz, _>(policy.expiry_cutoff(now)),
            bind::<BigInt, _>(i64::from(policy.max_keys_per_user)),
        );
        let inserted: Option<ClaimRow> =
            prepared(INSERT_CLAIM, binds).get_results(conn).await.map_err(db_error)?.pop();
        if let Some(inserted) = inserted {
            return Ok(IdempotencyClaim::Claimed(ClaimId::new(inserted.claim)));
        }
        let result = conn
            .transaction::<IdempotencyClaim, TxError, _>(async |conn| {
                claim_stored(conn, user, key, fingerprint, now, policy).await
            })
            .await;
        match result {
            Ok(outcome) => return Ok(outcome),
            // No row: either the insert met the cap, or the row vanished in between (start over).
            Err(TxError::Refused) => {
                if !admits_new_key(conn, user, now, policy).await.map_err(TxError::into_store)? {
                    return Ok(IdempotencyClaim::TooManyKeys);
                }
            }
            Err(TxError::Db(error)) => return Err(db_error(error)),
            Err(TxError::Store(error)) => return Err(error),
        }
    }
    Err(StoreError::Internal(format!(
        "idempotency key claim gave up after {CLAIM_ATTEMPTS} attempts: the row kept vanishing"
    )))
}

/// Stores `response` for `user`'s `key` if it is still in progress under `claim`.
async fn complete_on(
    conn: &mut AsyncPgConnection,
    user: UserId,
    key: &IdempotencyKey,
    claim: ClaimId,
    response: &StoredResponse,
    now: OffsetDateTime,
) -> Result<(), TxError> {
    let status = i16::try_from(response.status)
        .map_err(|_| StoreError::Internal(format!("HTTP status {} out of range", response.status)))?;
    let binds = (
        bind::<BigInt, _>(user.get()),
        bind::<Text, _>(key.as_str()),
        bind::<SmallInt, _>(status),
        bind::<Text, _>(response.body.as_str()),
        bind::<Timestamptz, _>(now),
        bind::<BigInt, _>(claim.get()),
    );
    prepared(COMPLETE, binds).execute(conn).await?;
    Ok(())
}

/// One step of a write on a connection it borrows.
pub(crate) type Step<'c, T> = Pin<Box<dyn Future<Output = Result<T, TxError>> + Send + 'c>>;

/// A write that an idempotency key may guard: without a receipt, `effect` on a pooled
/// connection (its own statement, its own implicit transaction); with one, in ONE transaction
/// that [`fence`]s the claim first and [`record`]s the receipt's answer for the outcome last,
/// so the answer commits with the effect or neither does. `at` is when the answer is recorded.
pub(crate) async fn guarded<T: Send + Sync + 'static>(
    pool: &PgPool,
    receipt: Option<&Receipt<T>>,
    at: OffsetDateTime,
    effect: impl for<'c> FnOnce(&'c mut AsyncPgConnection) -> Step<'c, T> + Send,
) -> Result<T, TxError> {
    let Some(receipt) = receipt else {
        let mut conn = checkout(pool).await?;
        return effect(&mut conn).await;
    };
    let mut tx = TxConn::checkout(pool).await?;
    let result = tx
        .conn()?
        .transaction::<_, TxError, _>(async |conn| {
            fence(conn, receipt).await?;
            let outcome = effect(conn).await?;
            record(conn, receipt, &outcome, at).await?;
            Ok(outcome)
        })
        .await;
    tx.finish();
    result
}

/// The first step of a keyed write's transaction: locks the key's row while it is in progress
/// under the receipt's claim, so no take-over can decide on the key until the write has
/// committed or rolled back; fails with [`StoreError::ClaimSuperseded`] (the transaction rolls
/// back, nothing is written) when the claim is no longer the key's current one.
async fn fence<T>(conn: &mut AsyncPgConnection, receipt: &Receipt<T>) -> Result<(), TxError> {
    let binds = (
        bind::<BigInt, _>(receipt.user.get()),
        bind::<Text, _>(receipt.key.as_str()),
        bind::<BigInt, _>(receipt.claim.get()),
    );
    let fenced = prepared(FENCE, binds).get_results::<ClaimRow>(conn).await?;
    if fenced.is_empty() { Err(TxError::Store(StoreError::ClaimSuperseded)) } else { Ok(()) }
}

/// The last step of a keyed write's transaction: stores the receipt's answer for `outcome`
/// (if the outcome decides it), to commit with the effect.
async fn record<T: 'static>(
    conn: &mut AsyncPgConnection,
    receipt: &Receipt<T>,
    outcome: &T,
    at: OffsetDateTime,
) -> Result<(), TxError> {
    match receipt.answer(outcome) {
        Some(answer) => complete_on(conn, receipt.user, &receipt.key, receipt.claim, &answer, at).await,
        None => Ok(()),
    }
}

#[async_trait]
impl IdempotencyRepository for PgStore {
    async fn claim(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: OffsetDateTime,
        policy: &IdempotencyPolicy,
    ) -> StoreResult<IdempotencyClaim> {
        let mut tx = TxConn::checkout(&self.pool).await?;
        let outcome = claim_on(tx.conn()?, user, key, fingerprint, now, policy).await;
        tx.finish();
        outcome
    }

    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        claim: ClaimId,
        response: &StoredResponse,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut conn = checkout(&self.pool).await?;
        complete_on(&mut conn, user, key, claim, response, now).await.map_err(TxError::into_store)
    }

    async fn release(&self, user: UserId, key: &IdempotencyKey, claim: ClaimId) -> StoreResult<()> {
        let mut conn = checkout(&self.pool).await?;
        let binds =
            (bind::<BigInt, _>(user.get()), bind::<Text, _>(key.as_str()), bind::<BigInt, _>(claim.get()));
        prepared(RELEASE, binds).execute(&mut conn).await.map(drop).map_err(db_error)
    }

    async fn find(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<Option<IdempotencyRecord>> {
        let mut conn = checkout(&self.pool).await?;
        let binds = (bind::<BigInt, _>(user.get()), bind::<Text, _>(key.as_str()));
        let row: Option<RecordRow> =
            prepared(READ_RECORD, binds).get_results(&mut conn).await.map_err(db_error)?.pop();
        row.map(IdempotencyRecord::try_from).transpose()
    }

    /// See [`Purge::run`].
    async fn purge_expired(&self, now: OffsetDateTime, ttl: Duration) -> StoreResult<u64> {
        PURGE.run(&self.pool, now.saturating_sub(ttl)).await
    }
}
