//! The waiting room: the queue port.
//!
//! Tickets come from the `queue_tickets` sequence (issue order across every instance). A new
//! token is issued while holding the user's row lock, so concurrent issues for one user queue
//! behind each other and all return the one token, and no ticket is spent on a losing insert.
//! The admission tick runs under a transaction-scoped advisory lock, so ticks of several
//! instances never interleave and both caps hold service-wide.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz, Uuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{AdmissionReport, QueueRepository, StoreError, StoreResult};
use domain::{QueuePolicy, QueueToken, TokenState, TokenStatus, TokenValue, UserId};
use time::OffsetDateTime;

use crate::errors::{TxError, db_error};
use crate::models::{TokenRow, count, token_status_text};
use crate::pool::{TxConn, checkout};
use crate::schema::{queue_tokens, users};
use crate::statement::{bind, prepared};
use crate::{ADMIT_LOCK, PgStore};

const ACTIVE: &str = token_status_text(TokenStatus::Active);
const EXPIRED: &str = token_status_text(TokenStatus::Expired);

/// Creates the user with a zero balance unless they exist. Binds: $1 user, $2 now.
const OPEN_ACCOUNT: &str =
    "INSERT INTO users (id, balance, created_at) VALUES ($1, 0, $2) ON CONFLICT (id) DO NOTHING";

/// Retires a token the clock says has expired. Bind: $1 token.
const RETIRE: &str = "UPDATE queue_tokens SET status = 'EXPIRED' WHERE token = $1 AND status <> 'EXPIRED'";

/// Stores a new waiting token unless its value is taken; the ticket defaults to the next value
/// of the sequence, drawn only when a row is inserted. The conflict target is the
/// one-live-token-per-user index (a second line of defence: the user's row lock already keeps
/// two live tokens from being attempted). Binds: $1 token, $2 user, $3 now.
const ENQUEUE: &str = "\
INSERT INTO queue_tokens (token, user_id, status, issued_at, last_seen_at, expires_at)
SELECT $1, $2, 'WAITING', $3, $3, NULL
 WHERE NOT EXISTS (SELECT 1 FROM queue_tokens WHERE token = $1)
ON CONFLICT (user_id) WHERE status <> 'EXPIRED' DO NOTHING
RETURNING token, user_id, ticket, status, issued_at, last_seen_at, expires_at";

/// Waiting tokens ahead plus one, for a token stored as waiting; no row otherwise. The range
/// count is served by the partial index `waiting_by_ticket`. Bind: $1 token.
const POSITION: &str = "\
SELECT (SELECT count(*) FROM queue_tokens ahead
         WHERE ahead.status = 'WAITING' AND ahead.ticket < me.ticket) + 1 AS position
  FROM queue_tokens me
 WHERE me.token = $1 AND me.status = 'WAITING'";

/// Records a poll of a waiting token; never moves `last_seen_at` back. Binds: $1 token, $2 now.
const TOUCH: &str = "\
UPDATE queue_tokens SET last_seen_at = $2
 WHERE token = $1 AND status = 'WAITING' AND last_seen_at < $2";

/// Serialises admission ticks across instances until the transaction ends. Bind: $1 key.
const ADMIT_LOCK_SQL: &str = "SELECT pg_advisory_xact_lock($1)";

/// Expires active tokens whose time ran out. Bind: $1 now.
const EXPIRE_ACTIVE: &str =
    "UPDATE queue_tokens SET status = 'EXPIRED' WHERE status = 'ACTIVE' AND expires_at <= $1";

/// Drops waiting tokens not polled since the cutoff. Bind: $1 cutoff.
const DROP_IDLE: &str =
    "UPDATE queue_tokens SET status = 'EXPIRED' WHERE status = 'WAITING' AND last_seen_at <= $1";

/// Activates the oldest waiting tokens. Binds: $1 until, $2 how many.
const ACTIVATE: &str = "\
UPDATE queue_tokens SET status = 'ACTIVE', expires_at = $1
 WHERE status = 'WAITING'
   AND token IN (SELECT token FROM queue_tokens WHERE status = 'WAITING' ORDER BY ticket LIMIT $2)";

/// What [`POSITION`] returns.
#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = BigInt)]
    position: i64,
}

/// The user's token stored as waiting or active, if any.
async fn live_token(conn: &mut AsyncPgConnection, user: UserId) -> Result<Option<QueueToken>, TxError> {
    let row = queue_tokens::table
        .filter(queue_tokens::user_id.eq(user.get()))
        .filter(queue_tokens::status.ne(EXPIRED))
        .select(TokenRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(QueueToken::try_from).transpose()?)
}

/// Whether the clock still finds `token` waiting or active at `now`.
fn is_live(token: &QueueToken, now: OffsetDateTime, policy: &QueuePolicy) -> bool {
    match token.state_at(now, policy) {
        TokenState::Waiting | TokenState::Active { .. } => true,
        TokenState::Expired => false,
    }
}

/// The transactional part of `issue`: creates the user, locks their row, and queues
/// `candidate` unless a live token appeared meanwhile.
async fn issue_in(
    conn: &mut AsyncPgConnection,
    user: UserId,
    candidate: TokenValue,
    now: OffsetDateTime,
    policy: &QueuePolicy,
) -> Result<QueueToken, TxError> {
    prepared(OPEN_ACCOUNT, (bind::<BigInt, _>(user.get()), bind::<Timestamptz, _>(now)))
        .execute(conn)
        .await?;
    users::table.find(user.get()).select(users::id).for_update().first::<i64>(conn).await?;

    if let Some(current) = live_token(conn, user).await? {
        if is_live(&current, now, policy) {
            return Ok(current);
        }
        prepared(RETIRE, bind::<Uuid, _>(current.value.as_uuid())).execute(conn).await?;
    }

    let enqueue =
        (bind::<Uuid, _>(candidate.as_uuid()), bind::<BigInt, _>(user.get()), bind::<Timestamptz, _>(now));
    let stored: Option<TokenRow> = prepared(ENQUEUE, enqueue).get_result(conn).await.optional()?;
    if let Some(row) = stored {
        return Ok(QueueToken::try_from(row)?);
    }
    let taken: bool = diesel::select(diesel::dsl::exists(queue_tokens::table.find(candidate.as_uuid())))
        .get_result(conn)
        .await?;
    if taken {
        return Err(StoreError::Internal("a freshly minted token value is already in use".into()).into());
    }
    live_token(conn, user)
        .await?
        .ok_or_else(|| StoreError::Internal("a concurrent token issue left no live token".into()).into())
}

/// One admission tick inside its transaction.
async fn admit_in(
    conn: &mut AsyncPgConnection,
    now: OffsetDateTime,
    policy: &QueuePolicy,
) -> Result<AdmissionReport, TxError> {
    prepared(ADMIT_LOCK_SQL, bind::<BigInt, _>(ADMIT_LOCK)).execute(conn).await?;
    let expired = prepared(EXPIRE_ACTIVE, bind::<Timestamptz, _>(now)).execute(conn).await?;
    let dropped = prepared(DROP_IDLE, bind::<Timestamptz, _>(policy.idle_cutoff(now))).execute(conn).await?;
    let active: i64 =
        queue_tokens::table.filter(queue_tokens::status.eq(ACTIVE)).count().get_result(conn).await?;
    let slots = policy.admission_slots(u64::try_from(active).unwrap_or(0));
    let admitted = if slots == 0 {
        0
    } else {
        let activate = (
            bind::<Timestamptz, _>(policy.active_until(now)),
            bind::<BigInt, _>(i64::try_from(slots).unwrap_or(i64::MAX)),
        );
        prepared(ACTIVATE, activate).execute(conn).await?
    };
    Ok(AdmissionReport { admitted: count(admitted), expired: count(expired), dropped: count(dropped) })
}

/// Maps the end of a queue transaction to the port's result.
fn outcome<T>(result: Result<T, TxError>) -> StoreResult<T> {
    match result {
        Ok(value) => Ok(value),
        Err(TxError::Db(error)) => Err(db_error(error)),
        Err(TxError::Store(error)) => Err(error),
        Err(TxError::Refused) => Err(StoreError::Internal("a queue transaction was refused".into())),
    }
}

#[async_trait]
impl QueueRepository for PgStore {
    async fn issue(
        &self,
        user: UserId,
        candidate: TokenValue,
        now: OffsetDateTime,
        policy: &QueuePolicy,
    ) -> StoreResult<QueueToken> {
        // Fast path, no write: asking again while the token is live returns it.
        {
            let mut conn = checkout(&self.pool).await?;
            let current = outcome(live_token(&mut conn, user).await)?;
            if let Some(live) = current.filter(|token| is_live(token, now, policy)) {
                return Ok(live);
            }
        }
        let mut tx = TxConn::checkout(&self.pool).await?;
        let result = tx
            .conn()?
            .transaction::<QueueToken, TxError, _>(async |conn| {
                issue_in(conn, user, candidate, now, policy).await
            })
            .await;
        tx.finish();
        let token = outcome(result)?;
        tracing::debug!(user = user.get(), ticket = token.ticket, "issue");
        Ok(token)
    }

    async fn token(&self, value: TokenValue) -> StoreResult<Option<QueueToken>> {
        let mut conn = checkout(&self.pool).await?;
        let row = queue_tokens::table
            .find(value.as_uuid())
            .select(TokenRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(QueueToken::try_from).transpose()
    }

    async fn position(&self, token: &QueueToken) -> StoreResult<u64> {
        let mut conn = checkout(&self.pool).await?;
        let position: Option<Position> = prepared(POSITION, bind::<Uuid, _>(token.value.as_uuid()))
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        match position {
            None => Ok(0),
            Some(Position { position }) => {
                u64::try_from(position).map_err(|_| StoreError::Internal("negative queue position".into()))
            }
        }
    }

    async fn touch(&self, value: TokenValue, now: OffsetDateTime) -> StoreResult<()> {
        let mut conn = checkout(&self.pool).await?;
        prepared(TOUCH, (bind::<Uuid, _>(value.as_uuid()), bind::<Timestamptz, _>(now)))
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    async fn admit(&self, now: OffsetDateTime, policy: &QueuePolicy) -> StoreResult<AdmissionReport> {
        let mut tx = TxConn::checkout(&self.pool).await?;
        let result = tx
            .conn()?
            .transaction::<AdmissionReport, TxError, _>(async |conn| admit_in(conn, now, policy).await)
            .await;
        tx.finish();
        let report = outcome(result)?;
        tracing::debug!(
            admitted = report.admitted,
            expired = report.expired,
            dropped = report.dropped,
            "admission tick"
        );
        Ok(report)
    }
}
