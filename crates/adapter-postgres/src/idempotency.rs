//! Idempotency keys and the responses kept for them: the idempotency port, on the
//! `idempotency_keys` table (`migrations/2026-11-23-000001_idempotency`).
//!
//! A claim is exact across instances:
//! - a key never seen (the common case) is claimed by ONE statement, an insert that does nothing
//!   on conflict: of racing inserts of one key, PostgreSQL lets exactly one through and makes
//!   the others wait for its commit and then do nothing;
//! - a key already stored is decided under the row's lock: a transaction reads the row
//!   `FOR UPDATE`, applies the domain's [`decide_claim`] and, on `Claimed` (a record past its
//!   TTL, or a claim whose lease ran out), rewrites the row as a fresh claim before committing.
//!   Racing claims of a stored key queue on the row lock, and each decides on what the previous
//!   one committed. If the row vanished between the two steps (released or purged), the claim
//!   starts over.
//!
//! Records past the TTL are deleted by [`IdempotencyRepository::purge_expired`] in batches
//! (the binary calls it once a minute); until then they count as absent.

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, SmallInt, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{IdempotencyRepository, StoreError, StoreResult};
use domain::{IdempotencyClaim, IdempotencyKey, IdempotencyRecord, StoredResponse, UserId, decide_claim};
use time::{Duration, OffsetDateTime};

use crate::PgStore;
use crate::errors::{TxError, db_error};
use crate::models::{corrupt, count};
use crate::pool::{TxConn, checkout};
use crate::statement::{bind, prepared};

/// Claims a key nobody has: the `Claimed` of [`decide_claim`] for a missing record.
/// Binds: $1 user, $2 key, $3 fingerprint, $4 now.
const INSERT_CLAIM: &str = "\
INSERT INTO idempotency_keys (user_id, key, fingerprint, claimed_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, key) DO NOTHING";

/// The stored record, locked until the claim's transaction ends. Binds: $1 user, $2 key.
const LOCK_RECORD: &str = "\
SELECT fingerprint, status, body, claimed_at FROM idempotency_keys
 WHERE user_id = $1 AND key = $2
   FOR UPDATE";

/// The stored record, unlocked. Binds: $1 user, $2 key.
const READ_RECORD: &str = "\
SELECT fingerprint, status, body, claimed_at FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// Replaces a locked record (past its TTL, or abandoned) with a fresh claim.
/// Binds: $1 user, $2 key, $3 fingerprint, $4 now.
const RECLAIM: &str = "\
UPDATE idempotency_keys
   SET fingerprint = $3, claimed_at = $4, status = NULL, body = NULL, completed_at = NULL
 WHERE user_id = $1 AND key = $2";

/// Stores the response of a claim still in progress. Binds: $1 user, $2 key, $3 status,
/// $4 body, $5 now.
const COMPLETE: &str = "\
UPDATE idempotency_keys SET status = $3, body = $4, completed_at = $5
 WHERE user_id = $1 AND key = $2 AND status IS NULL";

/// Drops a claim still in progress. Binds: $1 user, $2 key.
const RELEASE: &str = "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status IS NULL";

/// Deletes one batch of records claimed at or before the cutoff, oldest first, skipping rows a
/// claim holds locked. Binds: $1 cutoff, $2 batch size.
const PURGE: &str = "\
DELETE FROM idempotency_keys
 WHERE (user_id, key) IN (SELECT user_id, key FROM idempotency_keys
                           WHERE claimed_at <= $1
                           ORDER BY claimed_at
                           LIMIT $2
                             FOR UPDATE SKIP LOCKED)";

/// Most records one purge deletes (a purge a minute keeps up with 14 million keys a day).
const PURGE_BATCH: i64 = 10_000;

/// How often a claim starts over when its row vanishes between the insert and the lock.
const CLAIM_ATTEMPTS: u32 = 5;

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
/// [`TxError::Refused`] when the row is gone (the caller starts over).
async fn claim_stored(
    conn: &mut AsyncPgConnection,
    user: UserId,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: OffsetDateTime,
    (ttl, lease): (Duration, Duration),
) -> Result<IdempotencyClaim, TxError> {
    let locked: Option<RecordRow> =
        prepared(LOCK_RECORD, (bind::<BigInt, _>(user.get()), bind::<Text, _>(key.as_str())))
            .get_results(conn)
            .await?
            .pop();
    let Some(row) = locked else { return Err(TxError::Refused) };
    let record = IdempotencyRecord::try_from(row)?;
    let outcome = decide_claim(Some(&record), fingerprint, now, ttl, lease);
    if outcome == IdempotencyClaim::Claimed {
        let binds = (
            bind::<BigInt, _>(user.get()),
            bind::<Text, _>(key.as_str()),
            bind::<Text, _>(fingerprint),
            bind::<Timestamptz, _>(now),
        );
        prepared(RECLAIM, binds).execute(conn).await?;
    }
    Ok(outcome)
}

/// The whole claim on one connection: the insert of a new key, else the locked decision on the
/// stored one, started over while the row vanishes in between.
async fn claim_on(
    conn: &mut AsyncPgConnection,
    user: UserId,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: OffsetDateTime,
    limits: (Duration, Duration),
) -> StoreResult<IdempotencyClaim> {
    for _ in 0..CLAIM_ATTEMPTS {
        let binds = (
            bind::<BigInt, _>(user.get()),
            bind::<Text, _>(key.as_str()),
            bind::<Text, _>(fingerprint),
            bind::<Timestamptz, _>(now),
        );
        if prepared(INSERT_CLAIM, binds).execute(conn).await.map_err(db_error)? == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let result = conn
            .transaction::<IdempotencyClaim, TxError, _>(async |conn| {
                claim_stored(conn, user, key, fingerprint, now, limits).await
            })
            .await;
        match result {
            Ok(outcome) => return Ok(outcome),
            Err(TxError::Refused) => {}
            Err(TxError::Db(error)) => return Err(db_error(error)),
            Err(TxError::Store(error)) => return Err(error),
        }
    }
    Err(StoreError::Internal(format!(
        "idempotency key claim gave up after {CLAIM_ATTEMPTS} attempts: the row kept vanishing"
    )))
}

#[async_trait]
impl IdempotencyRepository for PgStore {
    async fn claim(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: OffsetDateTime,
        ttl: Duration,
        lease: Duration,
    ) -> StoreResult<IdempotencyClaim> {
        let mut tx = TxConn::checkout(&self.pool).await?;
        let outcome = claim_on(tx.conn()?, user, key, fingerprint, now, (ttl, lease)).await;
        tx.finish();
        outcome
    }

    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        response: &StoredResponse,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let status = i16::try_from(response.status)
            .map_err(|_| StoreError::Internal(format!("HTTP status {} out of range", response.status)))?;
        let mut conn = checkout(&self.pool).await?;
        let binds = (
            bind::<BigInt, _>(user.get()),
            bind::<Text, _>(key.as_str()),
            bind::<SmallInt, _>(status),
            bind::<Text, _>(response.body.as_str()),
            bind::<Timestamptz, _>(now),
        );
        prepared(COMPLETE, binds).execute(&mut conn).await.map(drop).map_err(db_error)
    }

    async fn release(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<()> {
        let mut conn = checkout(&self.pool).await?;
        let binds = (bind::<BigInt, _>(user.get()), bind::<Text, _>(key.as_str()));
        prepared(RELEASE, binds).execute(&mut conn).await.map(drop).map_err(db_error)
    }

    async fn find(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<Option<IdempotencyRecord>> {
        let mut conn = checkout(&self.pool).await?;
        let binds = (bind::<BigInt, _>(user.get()), bind::<Text, _>(key.as_str()));
        let row: Option<RecordRow> =
            prepared(READ_RECORD, binds).get_results(&mut conn).await.map_err(db_error)?.pop();
        row.map(IdempotencyRecord::try_from).transpose()
    }

    async fn purge_expired(&self, now: OffsetDateTime, ttl: Duration) -> StoreResult<u64> {
        let mut conn = checkout(&self.pool).await?;
        let binds = (bind::<Timestamptz, _>(now - ttl), bind::<BigInt, _>(PURGE_BATCH));
        let purged = prepared(PURGE, binds).execute(&mut conn).await.map_err(db_error)?;
        Ok(count(purged))
    }
}
