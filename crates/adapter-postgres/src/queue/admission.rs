//! One admission attempt: one transaction under the admission advisory lock, so attempts of
//! all instances never interleave and both caps hold service-wide. A crashed instance's lock
//! dies with its session, so the others carry on at their next attempt.
//!
//! Every attempt expires active tokens past their TTL and drops idle waiting tokens (recording
//! the drops above the watermark). The admission step itself runs only when
//! `QueuePolicy::admission_due` says a tick has passed since the last one anywhere in the
//! service (`queue_state.last_admission_at`); it then activates the oldest waiting tokens and
//! raises the watermark, in one statement.

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{AdmissionReport, StoreError, StoreResult};
use domain::{QueueControls, QueuePolicy, TokenValue};
use time::OffsetDateTime;

use crate::errors::{TxError, db_error};
use crate::models::unsigned;
use crate::pool::{PgPool, TxConn};
use crate::schema::queue_tokens;
use crate::statement::{bind, prepared};

/// Serialises admission attempts across instances until the transaction ends. Bind: $1 key.
const LOCK: &str = "SELECT pg_advisory_xact_lock($1)";

/// The shared state the attempt decides on (only admitters write it, under the lock).
const READ_STATE: &str =
    "SELECT last_admission_at, admitted_through, paused, max_active, admit_per_tick FROM queue_state";

/// Expires active tokens whose time ran out; returns them, so this instance's copies of them
/// end at once (the others hear of it). Bind: $1 now.
const EXPIRE_ACTIVE: &str = "\
UPDATE queue_tokens SET status = 'EXPIRED' WHERE status = 'ACTIVE' AND expires_at <= $1 RETURNING token";

/// What [`EXPIRE_ACTIVE`] returns.
#[derive(QueryableByName)]
struct Ended {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    token: uuid::Uuid,
}

/// Drops waiting tokens not polled since the cutoff and records those above the watermark.
/// Binds: $1 cutoff, $2 watermark.
const DROP_IDLE: &str = "\
WITH dropped AS (
    UPDATE queue_tokens SET status = 'EXPIRED'
     WHERE status = 'WAITING' AND last_seen_at <= $1
 RETURNING ticket
), recorded AS (
    INSERT INTO queue_drops (ticket)
    SELECT ticket FROM dropped WHERE ticket > $2
    ON CONFLICT (ticket) DO NOTHING
)
SELECT (SELECT count(*) FROM dropped) AS dropped,
       ARRAY(SELECT ticket FROM dropped WHERE ticket > $2) AS left_queue";

/// The admission step: activates the oldest waiting tokens and records the step, the new
/// watermark and the admission count. Binds: $1 active until, $2 how many, $3 now.
///
/// The watermark rises to the highest ticket admitted, and also over tickets that have all
/// left the queue: to just below the oldest token waiting at the statement's start, or, when
/// nobody waits, to the newest drop. Otherwise a full room that fans keep joining and leaving (no
/// admission moving the watermark) would record every one of them in `queue_drops` and in
/// every instance's snapshot, for as long as the room stays full.
const ADMIT: &str = "\
WITH admitted AS (
    UPDATE queue_tokens SET status = 'ACTIVE', expires_at = $1
     WHERE status = 'WAITING'
       AND token IN (SELECT token FROM queue_tokens WHERE status = 'WAITING' ORDER BY ticket LIMIT $2)
 RETURNING ticket
), totals AS (
    SELECT count(*) AS admitted, max(ticket) AS highest FROM admitted
), passed AS (
    SELECT COALESCE((SELECT min(ticket) - 1 FROM queue_tokens WHERE status = 'WAITING'),
                    (SELECT max(ticket) FROM queue_drops),
                    0) AS through
)
UPDATE queue_state
   SET last_admission_at = $3,
       admitted_through = GREATEST(admitted_through, COALESCE(totals.highest, 0), passed.through),
       admitted_total = admitted_total + totals.admitted
  FROM totals, passed
RETURNING totals.admitted, queue_state.admitted_through";

/// Forgets the drops the watermark has passed. Bind: $1 watermark.
const PRUNE: &str = "DELETE FROM queue_drops WHERE ticket <= $1";

/// What [`READ_STATE`] returns.
#[derive(QueryableByName)]
struct StateRow {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_admission_at: Option<OffsetDateTime>,
    #[diesel(sql_type = BigInt)]
    admitted_through: i64,
    #[diesel(embed)]
    controls: ControlsRow,
}

/// The box office's controls as `queue_state` stores them.
#[derive(QueryableByName)]
pub(crate) struct ControlsRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    paused: bool,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    max_active: Option<i32>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    admit_per_tick: Option<i32>,
}

impl ControlsRow {
    /// The stored controls as the domain's.
    pub(crate) fn controls(&self) -> Result<QueueControls, StoreError> {
        let cap = |raw: Option<i32>| {
            raw.map(|raw| domain::controls::cap(i64::from(raw)).map_err(crate::models::corrupt)).transpose()
        };
        Ok(QueueControls {
            paused: self.paused,
            max_active: cap(self.max_active)?,
            admit_per_tick: cap(self.admit_per_tick)?,
        })
    }
}

/// What [`DROP_IDLE`] returns.
#[derive(QueryableByName)]
struct DropRow {
    #[diesel(sql_type = BigInt)]
    dropped: i64,
    #[diesel(sql_type = Array<BigInt>)]
    left_queue: Vec<i64>,
}

/// What [`ADMIT`] returns.
#[derive(QueryableByName)]
struct AdmitRow {
    #[diesel(sql_type = BigInt)]
    admitted: i64,
    #[diesel(sql_type = BigInt)]
    admitted_through: i64,
}

/// What an attempt did, and what the local snapshot learns from it.
#[derive(Debug)]
pub(crate) struct Attempt {
    /// The port's report.
    pub(crate) report: AdmissionReport,
    /// Whether the admission step ran: a tick was due and admission was not paused (it may
    /// still have admitted nobody).
    pub(crate) admission_step_ran: bool,
    /// The watermark after the attempt.
    pub(crate) admitted_through: u64,
    /// Tickets dropped above the watermark the attempt started from.
    pub(crate) left_queue: Vec<u64>,
    /// Active tokens the attempt expired.
    pub(crate) ended: Vec<TokenValue>,
}

/// Runs one attempt in its own transaction.
pub(crate) async fn attempt(
    pool: &PgPool,
    now: OffsetDateTime,
    policy: &QueuePolicy,
) -> StoreResult<Attempt> {
    let mut tx = TxConn::checkout(pool).await?;
    let result =
        tx.conn()?.transaction::<Attempt, TxError, _>(async |conn| attempt_in(conn, now, policy).await).await;
    tx.finish();
    match result {
        Ok(attempt) => Ok(attempt),
        Err(TxError::Db(error)) => Err(db_error(error)),
        Err(TxError::Store(error)) => Err(error),
        Err(TxError::Refused) => Err(StoreError::Internal("an admission attempt was refused".into())),
    }
}

async fn attempt_in(
    conn: &mut AsyncPgConnection,
    now: OffsetDateTime,
    policy: &QueuePolicy,
) -> Result<Attempt, TxError> {
    prepared(LOCK, bind::<BigInt, _>(crate::ADMIT_LOCK)).execute(conn).await?;
    let state: Option<StateRow> = prepared(READ_STATE, ()).get_result(conn).await.optional()?;
    let state = state.ok_or_else(|| StoreError::Internal("the queue_state row is missing".into()))?;
    let watermark = unsigned(state.admitted_through)?;

    let ended: Vec<Ended> = prepared(EXPIRE_ACTIVE, bind::<Timestamptz, _>(now)).load(conn).await?;
    let drop_binds =
        (bind::<Timestamptz, _>(policy.idle_cutoff(now)), bind::<BigInt, _>(state.admitted_through));
    let drops: DropRow = prepared(DROP_IDLE, drop_binds).get_result(conn).await?;
    let left_queue = drops.left_queue.into_iter().map(unsigned).collect::<Result<Vec<_>, _>>()?;
    let mut attempt = Attempt {
        report: AdmissionReport {
            admitted: 0,
            expired: crate::models::count(ended.len()),
            dropped: unsigned(drops.dropped)?,
        },
        admission_step_ran: false,
        admitted_through: watermark,
        left_queue,
        ended: ended.into_iter().map(|ended| TokenValue::from_uuid(ended.token)).collect(),
    };
    let Some(governed) = state.controls.controls()?.govern(policy) else { return Ok(attempt) };
    let policy = &governed;
    if !policy.admission_due(state.last_admission_at, now) {
        return Ok(attempt);
    }

    // A literal status (not a bind) lets the plan use the partial index `active_by_expiry`.
    let active: i64 = queue_tokens::table
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("status = 'ACTIVE'"))
        .count()
        .get_result(conn)
        .await?;
    let slots = policy.admission_slots(u64::try_from(active).unwrap_or(0));
    let admit_binds = (
        bind::<Timestamptz, _>(policy.active_until(now)),
        bind::<BigInt, _>(i64::try_from(slots).unwrap_or(i64::MAX)),
        bind::<Timestamptz, _>(now),
    );
    let admitted: AdmitRow = prepared(ADMIT, admit_binds).get_result(conn).await?;
    let raised = unsigned(admitted.admitted_through)?;
    if raised > watermark {
        prepared(PRUNE, bind::<BigInt, _>(admitted.admitted_through)).execute(conn).await?;
    }
    attempt.report.admitted = unsigned(admitted.admitted)?;
    attempt.admission_step_ran = true;
    attempt.admitted_through = raised;
    Ok(attempt)
}
