//! The waiting room: the queue port.
//!
//! **Tickets and the watermark.** Tickets come from the `queue_tickets` sequence (issue order
//! across every instance). Admission is FIFO, so `queue_state.admitted_through` is a served
//! watermark: every ticket at or below it was admitted or has left the queue (each admission
//! step raises it to the highest ticket admitted, and over the tickets that left before the
//! oldest waiting one, so it moves even while a full room admits nobody), and every ticket
//! above it either still waits or is recorded in `queue_drops` (dropped for idling, retired by
//! a new issue, expired by a payment; the row is written by the statement that retires the
//! token). So a waiting token's position is `ticket - admitted_through - (drops between
//! them)`, at least 1: arithmetic and a binary search on an in-process [`snapshot`], never a
//! scan and never a query.
//!
//! **The snapshot** is refreshed every 200 ms by the store's background task ([`runtime`]),
//! incrementally: the rows of `queue_drops` carry the writing transaction's id, and a refresh
//! reads only those at or above the previous read's snapshot xmin, so an idle refresh is one
//! single-row read. Writes of this instance (an admission, a retirement) are applied to it at
//! once; other instances' are pushed ([`listener`]: the refresh runs as soon as PostgreSQL
//! delivers the notification of their commit). A position is never computed from a snapshot
//! older than 1 s, nor, while this store is not listening, from one older than the request (it
//! is refreshed inline first), so neither a dead refresher nor a lost listener can serve stale
//! positions.
//!
//! **Known inexactness**, both rare and transient: a ticket drawn by an issue whose
//! transaction never committed leaves a gap that counts as one place ahead for the tokens
//! behind it until the watermark passes it; and an issue whose ticket was drawn before an
//! admission's snapshot but committed after it leaves a waiting token at or below the
//! watermark (it is admitted first at the next step and meanwhile reported at position 1,
//! while the tokens behind it do not count it).
//!
//! **Polls** (`record_poll`) cost no write: they are kept in process ([`polls`]) and written in
//! one statement every 500 ms by the background task, each only once it moves the stored
//! instant by the poll-write granularity (15 s by default); `token()` shows a buffered poll at once.
//! An admission attempt first writes every poll of this instance whose stored instant could
//! get its token dropped, so it never drops a fan this instance saw polling; other instances'
//! polls reach the database within a granularity and a flush, which is small against an idle
//! timeout of minutes (a fan polling only other instances, silent for the whole timeout but
//! that much, could be dropped that much early).
//!
//! **Tokens** read by `token()` (the gate, polls) are kept in process ([`tokens`]), so most
//! requests of an admitted fan and most polls cost no round trip; how changes reach those
//! copies is described there and in [`listener`].
//!
//! **Issue** is one statement, the function `issue_queue_token` (see [`ISSUE`]): concurrent
//! issues for one user queue behind each other (on the new user's uncommitted row, or on an
//! existing user's row lock) and all return the one token, and no ticket is spent on a losing
//! insert. A returning fan whose token is live costs one read and no write.

mod admission;
mod listener;
mod polls;
mod runtime;
mod snapshot;
mod tokens;

use std::time::Instant;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Nullable, Timestamptz, Uuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::{AdmissionReport, QueueRepository, StoreError, StoreResult};
use domain::{QueueControls, QueuePolicy, QueueToken, RoomReading, TokenStatus, TokenValue, UserId};
use time::OffsetDateTime;

pub(crate) use self::runtime::{QueueRuntime, Worker, spawn_worker};
use self::snapshot::Place;
use self::tokens::{Lookup, StoreCopy};
use crate::PgStore;
use crate::errors::db_error;
use crate::housekeeping::Purge;
use crate::models::{TokenRow, token_status_text, unsigned};
use crate::pool::checkout;
use crate::schema::queue_tokens;
use crate::statement::{bind, prepared};

const WAITING: &str = token_status_text(TokenStatus::Waiting);

/// Issues a token in one round trip: `issue_queue_token` (migration
/// `2026-11-24-000002_issue_in_one_round_trip`, whose header explains how it keeps one live token
/// per user) creates the user with a zero balance if new, returns their token if the clock still
/// finds it live, and otherwise retires the expired one and queues the candidate. One statement,
/// so no BEGIN/COMMIT: it commits whole or not at all. Binds: $1 user, $2 candidate, $3 now,
/// $4 idle cutoff. The function tests statuses as literals, never as binds: a cached generic
/// plan with a bound status cannot use the partial index `one_live_token_per_user` and scanned
/// the whole table on every issue.
/// `was_active` is the user's active token as the statement began (its snapshot does not see
/// the function's writes): if the function retired it, this instance's copy of it ends at once.
const ISSUE: &str = "\
SELECT token, user_id, ticket, status, issued_at, last_seen_at, expires_at, gone AS left_queue,
       (SELECT t.token FROM queue_tokens t WHERE t.user_id = $1 AND t.status = 'ACTIVE') AS was_active
  FROM issue_queue_token($1, $2, $3, $4)";

/// What [`ISSUE`] returns: the user's token, the ticket recorded as having left the queue (the
/// function's `gone` output) when an expired token above the watermark was retired to make
/// room for it, and the user's token that was active before.
#[derive(QueryableByName)]
struct Issued {
    #[diesel(embed)]
    token: TokenRow,
    #[diesel(sql_type = Nullable<BigInt>)]
    left_queue: Option<i64>,
    #[diesel(sql_type = Nullable<Uuid>)]
    was_active: Option<uuid::Uuid>,
}

/// Runs [`ISSUE`]. The clock is the caller's: PostgreSQL's own `now()` decides nothing; the
/// function applies the rule of `QueueToken::state_at` to `now` and the policy's idle cutoff. Dropped
/// mid-way (a vanished client), the statement still ends as one transaction on the server and
/// the connection stays usable.
async fn issue_in(
    conn: &mut AsyncPgConnection,
    user: UserId,
    candidate: TokenValue,
    now: OffsetDateTime,
    policy: &QueuePolicy,
) -> Result<(QueueToken, Option<u64>, Option<TokenValue>), Retry> {
    let binds = (
        bind::<BigInt, _>(user.get()),
        bind::<Uuid, _>(candidate.as_uuid()),
        bind::<Timestamptz, _>(now),
        bind::<Timestamptz, _>(policy.idle_cutoff(now)),
    );
    let issued: Issued = prepared(ISSUE, binds).get_result(conn).await.map_err(issue_error)?;
    let left_queue = issued.left_queue.map(unsigned).transpose()?;
    let token = QueueToken::try_from(issued.token)?;
    let retired = issued.was_active.map(TokenValue::from_uuid).filter(|was| *was != token.value);
    Ok((token, left_queue, retired))
}

/// How an issue failed: worth running once more, or not.
enum Retry {
    /// The token's insert found its user deleted by [`FORGET`] after the function saw them.
    UserForgotten,
    /// Anything else.
    Fail(StoreError),
}

impl Retry {
    fn into_store(self) -> StoreError {
        match self {
            Self::UserForgotten => StoreError::Internal("a user was forgotten twice during one issue".into()),
            Self::Fail(error) => error,
        }
    }
}

impl From<StoreError> for Retry {
    fn from(error: StoreError) -> Self {
        Self::Fail(error)
    }
}

/// A candidate that is already stored (a random UUID that repeated: a bug, not a conflict to
/// resolve) is refused by the function with a unique violation naming the primary key, as the
/// insert itself would refuse it; other failures as any statement's.
fn issue_error(error: DieselError) -> Retry {
    match &error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("queue_tokens_pkey") =>
        {
            Retry::Fail(StoreError::Internal("a freshly minted token value is already in use".into()))
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => Retry::UserForgotten,
        _ => Retry::Fail(db_error(error)),
    }
}

/// The box office's controls as stored.
const CONTROLS: &str = "SELECT paused, max_active, admit_per_tick FROM queue_state";

/// Stores the controls. Binds: $1 paused, $2 max active, $3 admit per tick (NULL: the setting).
const SET_CONTROLS: &str = "UPDATE queue_state SET paused = $1, max_active = $2, admit_per_tick = $3";

/// Tokens past their retention and the users they leave with nothing: batches of the function
/// `forget_ended_tokens` (migration `2026-12-02-000003_forget_ended_tokens`).
const FORGET: Purge = Purge {
    // ASCII "frontrow" + 5.
    lock: 0x6672_6f6e_7472_6f05,
    batch: "SELECT forget_ended_tokens($1, $2) AS done",
    size: 5_000,
};

impl PgStore {
    /// Reads a token from the database and stores the copy as `store_copy` says.
    async fn read_token(&self, value: TokenValue, store_copy: StoreCopy) -> StoreResult<Option<QueueToken>> {
        let asked = Instant::now();
        let mut conn = checkout(&self.pool).await?;
        let row = queue_tokens::table
            .find(value.as_uuid())
            .select(TokenRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        drop(conn);
        let token = row.map(QueueToken::try_from).transpose()?;
        if let Some(token) = &token {
            self.queue.tokens().remember(token, asked, store_copy).await;
        }
        Ok(token.map(|token| self.overlay(token)))
    }

    /// Whether a token at or below the watermark is still stored as waiting (its issue
    /// committed after an admission passed its ticket; see the module docs).
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
        let mut conn = checkout(&self.pool).await?;
        let (token, left_queue, retired) = match issue_in(&mut conn, user, candidate, now, policy).await {
            // The user was forgotten between the function's two inserts (see `FORGET`): once
            // more, and they are created anew.
            Err(Retry::UserForgotten) => issue_in(&mut conn, user, candidate, now, policy).await,
            other => other,
        }
        .map_err(Retry::into_store)?;
        drop(conn);
        self.note_left_queue(left_queue);
        if let Some(retired) = retired {
            self.queue.tokens().leave_tombstone(retired).await;
        }
        tracing::debug!(user = user.get(), ticket = token.ticket, retired = ?left_queue, "issue");
        Ok(self.overlay(token))
    }

    async fn token(&self, value: TokenValue) -> StoreResult<Option<QueueToken>> {
        let store_copy = match self.queue.tokens().get(value, |ticket| self.queue.fresh_place(ticket)).await {
            Lookup::Hit(token) => return Ok(Some(self.overlay(token))),
            Lookup::Miss(store_copy) => store_copy,
        };
        self.read_token(value, store_copy).await
    }

    async fn fresh_token(&self, value: TokenValue) -> StoreResult<Option<QueueToken>> {
        self.read_token(value, StoreCopy::UnlessTombstone).await
    }

    async fn position(&self, token: &QueueToken) -> StoreResult<u64> {
        // Tokens never go back to waiting, so one read as anything else is not waiting now.
        if token.status != TokenStatus::Waiting {
            return Ok(0);
        }
        match self.queue.place(&self.pool, token.ticket).await? {
            Place::Waiting(position) => Ok(position),
            Place::LeftQueue => Ok(0),
            Place::UnderWatermark => Ok(u64::from(self.still_waiting(token.value).await?)),
        }
    }

    async fn record_poll(&self, value: TokenValue, now: OffsetDateTime) -> StoreResult<()> {
        self.queue.polls().record(value.as_uuid(), now);
        self.queue.tokens().record_poll(value, now).await;
        Ok(())
    }

    async fn admit(&self, now: OffsetDateTime, policy: &QueuePolicy) -> StoreResult<AdmissionReport> {
        let started = Instant::now();
        let flushed = self.queue.flush(&self.pool, self.queue.before_drops(policy.idle_cutoff(now))).await?;
        let attempt = admission::attempt(&self.pool, now, policy).await?;
        self.queue.snapshot_mut().advance(attempt.admitted_through, attempt.left_queue.iter().copied());
        for ended in &attempt.ended {
            self.queue.tokens().leave_tombstone(*ended).await;
        }
        let report = attempt.report;
        if attempt.admission_step_ran || report != AdmissionReport::default() {
            tracing::debug!(
                admitted = report.admitted,
                expired = report.expired,
                dropped = report.dropped,
                admission_step_ran = attempt.admission_step_ran,
                admitted_through = attempt.admitted_through,
                polls_flushed = flushed,
                elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "admission attempt"
            );
        }
        Ok(report)
    }

    async fn controls(&self) -> StoreResult<QueueControls> {
        let mut conn = checkout(&self.pool).await?;
        let row: admission::ControlsRow =
            prepared(CONTROLS, ()).get_result(&mut conn).await.map_err(db_error)?;
        row.controls()
    }

    async fn set_controls(&self, controls: QueueControls) -> StoreResult<()> {
        let mut conn = checkout(&self.pool).await?;
        let cap = |value: Option<u32>| value.map(|cap| i32::try_from(cap).unwrap_or(i32::MAX));
        let binds = (
            bind::<diesel::sql_types::Bool, _>(controls.paused),
            bind::<Nullable<diesel::sql_types::Integer>, _>(cap(controls.max_active)),
            bind::<Nullable<diesel::sql_types::Integer>, _>(cap(controls.admit_per_tick)),
        );
        prepared(SET_CONTROLS, binds).execute(&mut conn).await.map_err(db_error)?;
        tracing::info!(paused = controls.paused, max_active = ?controls.max_active, admit_per_tick = ?controls.admit_per_tick, "queue controls set");
        Ok(())
    }

    /// From the snapshot positions come from (the controls move with it: a change to them is
    /// pushed like a moved queue).
    async fn room(&self) -> StoreResult<RoomReading> {
        Ok(self.queue.snapshot().room())
    }

    /// See [`Purge::run`]. Forgotten tokens were expired, so no copy of them can let a fan in.
    async fn forget_ended(&self, cutoff: OffsetDateTime) -> StoreResult<u64> {
        FORGET.run(&self.pool, cutoff).await
    }
}

impl PgStore {
    /// Applies tickets this instance just recorded as having left the queue to its snapshot,
    /// so its own
    /// positions reflect its own writes at once.
    pub(crate) fn note_left_queue(&self, tickets: impl IntoIterator<Item = u64>) {
        self.queue.snapshot_mut().advance(0, tickets);
    }

    /// Shows a buffered poll of a waiting token as its `last_seen_at`.
    fn overlay(&self, mut token: QueueToken) -> QueueToken {
        if token.status == TokenStatus::Waiting
            && let Some(seen) = self.queue.polls().latest(token.value.as_uuid())
        {
            token.last_seen_at = token.last_seen_at.max(seen);
        }
        token
    }
}
