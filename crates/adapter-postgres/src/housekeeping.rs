//! Deleting what the service no longer needs (expired idempotency records, tokens past their
//! retention), so no table grows with the traffic it has ever seen.
//!
//! Each kind is deleted in batches until a batch comes back short, each batch a short
//! transaction of its own under a transaction-scoped advisory lock: one instance purges a kind
//! at a time (the others find the lock taken and leave it to that one), a purge never holds
//! locks for long, and a dropped purge frees its lock with its connection. However fast rows
//! arrive, one call deletes all that were due.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Timestamptz};
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::ports::StoreResult;
use time::OffsetDateTime;

use crate::errors::TxError;
use crate::models::unsigned;
use crate::pool::{PgPool, TxConn};
use crate::statement::{bind, prepared};

/// One kind of row to delete.
pub(crate) struct Purge {
    /// The advisory lock its purger holds per batch.
    pub(crate) lock: i64,
    /// Deletes one batch of rows due before a cutoff and counts them as `done`. Binds: $1 the
    /// cutoff, $2 the batch size.
    pub(crate) batch: &'static str,
    /// Most rows one batch deletes.
    pub(crate) size: i64,
}

/// Takes a lock for the transaction if no other instance holds it. Bind: $1 the key.
const TRY_LOCK: &str = "SELECT pg_try_advisory_xact_lock($1) AS locked";

/// The row of [`TRY_LOCK`].
#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// The row of a batch statement.
#[derive(QueryableByName)]
struct Done {
    #[diesel(sql_type = BigInt)]
    done: i64,
}

impl Purge {
    /// Deletes every row due before `cutoff`, batch after batch; says how many. Returns early
    /// (with what it deleted so far) when another instance holds the lock.
    pub(crate) async fn run(&self, pool: &PgPool, cutoff: OffsetDateTime) -> StoreResult<u64> {
        let mut purged = 0_u64;
        loop {
            let mut tx = TxConn::checkout(pool).await?;
            let batch = tx
                .conn()?
                .transaction::<Option<u64>, TxError, _>(async |conn| {
                    let lock: Locked =
                        prepared(TRY_LOCK, bind::<BigInt, _>(self.lock)).get_result(conn).await?;
                    if !lock.locked {
                        return Ok(None);
                    }
                    let binds = (bind::<Timestamptz, _>(cutoff), bind::<BigInt, _>(self.size));
                    let done: Done = prepared(self.batch, binds).get_result(conn).await?;
                    Ok(Some(unsigned(done.done)?))
                })
                .await;
            tx.finish();
            match batch.map_err(TxError::into_store)? {
                None => return Ok(purged),
                Some(deleted) => {
                    purged = purged.saturating_add(deleted);
                    if deleted < self.size.unsigned_abs() {
                        return Ok(purged);
                    }
                }
            }
        }
    }
}
