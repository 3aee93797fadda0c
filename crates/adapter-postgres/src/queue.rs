//! The waiting room: the queue port.
//!
//! **Tickets and the watermark.** Tickets come from the `queue_tickets` sequence (issue order
//! across every instance). Admission is FIFO, so `queue_state.admitted_through` (the highest
//! ticket ever admitted) is a served watermark, and every ticket above it either still waits
//! or is recorded in `queue_drops` (dropped for idling, retired by a new issue, expired by a
//! payment; the row is written by the statement that retires the token). So a waiting token's
//! position is `ticket - admitted_through - (drops between them)`, at least 1: arithmetic and
//! a binary search on an in-process [`snapshot`], never a scan and never a query.
//!
//! **The snapshot** is refreshed every 200 ms by the store's background task ([`runtime`]),
//! incrementally: the rows of `queue_drops` carry the writing transaction's id, and a refresh
//! reads only those at or above the previous read's snapshot xmin, so an idle refresh is one
//! single-row read. Writes of this instance (an admission, a retirement) are applied to it at
//! once; other instances' show up within a refresh (so a token copy read before another
//! instance admitted or dropped it may show its old place for that long; a fresh read shows
//! the new status, and positions of non-waiting tokens are 0). A position is never computed
//! from a snapshot older than 1 s (it is refreshed inline first), so a dead refresher cannot
//! serve stale positions.
//!
//! **Known inexactness**, both rare and transient: a ticket drawn by an issue whose
//! transaction never committed leaves a gap that counts as one place ahead for the tokens
//! behind it until the watermark passes it; and an issue whose ticket was drawn before an
//! admission's snapshot but committed after it leaves a waiting token at or below the
//! watermark (it is admitted first at the next step and meanwhile reported at position 1,
//! while the tokens behind it do not count it).
//!
//! **Polls** (`touch`) cost no write: they are kept in process ([`touches`]) and written in
//! one statement every 500 ms by the background task; `token()` shows a buffered poll at
//! once. An admission attempt writes this instance's buffer before it drops idle tokens;
//! other instances' polls reach the database within their next flush, which is negligible
//! against an idle timeout of minutes (a fan silent for the whole timeout but one flush
//! interval could be dropped a flush interval early).
//!
//! **Issue** holds the user's row lock, so concurrent issues for one user queue behind each
//! other and all return the one token, and no ticket is spent on a losing insert.

mod admission;
mod runtime;
mod snapshot;
mod touches;

use std::time::Instant;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz, Uuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{AdmissionReport, QueueRepository, StoreError, StoreResult};
use domain::{QueuePolicy, QueueToken, TokenState, TokenStatus, TokenValue, UserId};
use time::OffsetDateTime;

use self::runtime::unsigned;
pub(crate) use self::runtime::{QueueRuntime, Worker, spawn_worker};
use self::snapshot::Place;
use crate::PgStore;
use crate::errors::{TxError, db_error};
use crate::models::{TokenRow, token_status_text};
use crate::pool::{TxConn, checkout};
use crate::schema::{queue_tokens, users};
use crate::statement::{bind, prepared};

const WAITING: &str = token_status_text(TokenStatus::Waiting);

/// Creates the user with a zero balance unless they exist. Binds: $1 user, $2 now.
const OPEN_ACCOUNT: &str =
    "INSERT INTO users (id, balance, created_at) VALUES ($1, 0, $2) ON CONFLICT (id) DO NOTHING";

/// Retires a token the clock says has expired, recording its ticket as gone if it is above the
/// watermark (a waiting token: active ones are all at or below it). Returns the recorded
/// ticket. Bind: $1 token.
const RETIRE: &str = "\
WITH retired AS (
    UPDATE queue_tokens SET status = 'EXPIRED'
     WHERE token = $1 AND status <> 'EXPIRED'
 RETURNING ticket
)
INSERT INTO queue_drops (ticket)
SELECT retired.ticket FROM retired, queue_state
 WHERE retired.ticket > queue_state.admitted_through
ON CONFLICT (ticket) DO NOTHING
RETURNING ticket";

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

/// A ticket [`RETIRE`] recorded.
#[derive(QueryableByName)]
struct Recorded {
    #[diesel(sql_type = BigInt)]
    ticket: i64,
}

/// The user's token stored as waiting or active, if any. The status test is a literal, not a
/// bind: a cached generic plan with a bound status cannot use the partial index
/// `one_live_token_per_user` and scanned the whole table on every issue.
async fn live_token(conn: &mut AsyncPgConnection, user: UserId) -> Result<Option<QueueToken>, TxError> {
    let row = queue_tokens::table
        .filter(queue_tokens::user_id.eq(user.get()))
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("status <> 'EXPIRED'"))
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
/// `candidate` unless a live token appeared meanwhile. Also returns the ticket recorded as gone
/// when an abandoned waiting token was retired.
async fn issue_in(
    conn: &mut AsyncPgConnection,
    user: UserId,
    candidate: TokenValue,
    now: OffsetDateTime,
    policy: &QueuePolicy,
) -> Result<(QueueToken, Option<u64>), TxError> {
    prepared(OPEN_ACCOUNT, (bind::<BigInt, _>(user.get()), bind::<Timestamptz, _>(now)))
        .execute(conn)
        .await?;
    users::table.find(user.get()).select(users::id).for_update().first::<i64>(conn).await?;

    let mut gone = None;
    if let Some(current) = live_token(conn, user).await? {
        if is_live(&current, now, policy) {
            return Ok((current, None));
        }
        let recorded: Vec<Recorded> =
            prepared(RETIRE, bind::<Uuid, _>(current.value.as_uuid())).get_results(conn).await?;
        gone = recorded.into_iter().next().map(|row| unsigned(row.ticket)).transpose()?;
    }

    let enqueue =
        (bind::<Uuid, _>(candidate.as_uuid()), bind::<BigInt, _>(user.get()), bind::<Timestamptz, _>(now));
    let stored: Option<TokenRow> = prepared(ENQUEUE, enqueue).get_result(conn).await.optional()?;
    if let Some(row) = stored {
        return Ok((QueueToken::try_from(row)?, gone));
    }
    let taken: bool = diesel::select(diesel::dsl::exists(queue_tokens::table.find(candidate.as_uuid())))
        .get_result(conn)
        .await?;
    if taken {
        return Err(StoreError::Internal("a freshly minted token value is already in use".into()).into());
    }
    let current = live_token(conn, user).await?;
    let current =
        current.ok_or_else(|| StoreError::Internal("a concurrent token issue left no live token".into()))?;
    Ok((current, gone))
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

impl PgStore {
    /// Whether a token at or below the watermark is still stored as waiting (a straggler).
    async fn still_waiting(&self, value: TokenValue) -> StoreResult<bool> {
        let mut conn = checkout(&self.pool).await?;
        let status: Option<String> = queue_tokens::table
            .find(value.as_uuid())
            .select(queue_tokens::status)
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(status.as_deref() == Some(WAITING))
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
                return Ok(self.overlay(live));
            }
        }
        let mut tx = TxConn::checkout(&self.pool).await?;
        let result = tx
            .conn()?
            .transaction::<(QueueToken, Option<u64>), TxError, _>(async |conn| {
                issue_in(conn, user, candidate, now, policy).await
            })
            .await;
        tx.finish();
        let (token, gone) = outcome(result)?;
        self.note_gone(gone);
        tracing::debug!(user = user.get(), ticket = token.ticket, retired = ?gone, "issue");
        Ok(self.overlay(token))
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
        drop(conn);
        Ok(row.map(QueueToken::try_from).transpose()?.map(|token| self.overlay(token)))
    }

    async fn position(&self, token: &QueueToken) -> StoreResult<u64> {
        // Tokens never go back to waiting, so one read as anything else is not waiting now.
        if token.status != TokenStatus::Waiting {
            return Ok(0);
        }
        match self.queue.place(&self.pool, token.ticket).await? {
            Place::Waiting(position) => Ok(position),
            Place::Gone => Ok(0),
            Place::Served => Ok(u64::from(self.still_waiting(token.value).await?)),
        }
    }

    async fn touch(&self, value: TokenValue, now: OffsetDateTime) -> StoreResult<()> {
        self.queue.touches().record(value.as_uuid(), now);
        Ok(())
    }

    async fn admit(&self, now: OffsetDateTime, policy: &QueuePolicy) -> StoreResult<AdmissionReport> {
        let started = Instant::now();
        let flushed = self.queue.flush(&self.pool).await?;
        let attempt = admission::attempt(&self.pool, now, policy).await?;
        self.queue.snapshot_mut().advance(attempt.admitted_through, attempt.gone.iter().copied());
        let report = attempt.report;
        if attempt.stepped || report != AdmissionReport::default() {
            tracing::debug!(
                admitted = report.admitted,
                expired = report.expired,
                dropped = report.dropped,
                stepped = attempt.stepped,
                admitted_through = attempt.admitted_through,
                polls_flushed = flushed,
                elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "admission attempt"
            );
        }
        Ok(report)
    }

    async fn admission_rate(&self) -> StoreResult<Option<f64>> {
        Ok(self.queue.snapshot().rate())
    }
}

impl PgStore {
    /// Applies tickets this instance just recorded as gone to its snapshot, so its own
    /// positions reflect its own writes at once.
    pub(crate) fn note_gone(&self, gone: impl IntoIterator<Item = u64>) {
        self.queue.snapshot_mut().advance(0, gone);
    }

    /// Shows a buffered poll of a waiting token as its `last_seen_at`.
    fn overlay(&self, mut token: QueueToken) -> QueueToken {
        if token.status == TokenStatus::Waiting
            && let Some(seen) = self.queue.touches().latest(token.value.as_uuid())
        {
            token.last_seen_at = token.last_seen_at.max(seen);
        }
        token
    }
}
