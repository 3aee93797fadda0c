//! The settlement unit of work: the payment port.
//!
//! One transaction of guarded statements. Each guard restates what the decision relied on, so
//! a change since then (another payment, the hold lapsing or being replaced, the balance being
//! spent) matches no row; the transaction then rolls back and the port answers `None`. Row
//! locks are taken in the order reservation → seat → user → token, the same in every
//! settlement, so concurrent settlements queue instead of deadlocking.

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{PaymentRepository, StoreResult};
use domain::{Payment, PaymentId, SettlementPlan};

use crate::PgStore;
use crate::errors::{TxError, db_error, is_unique_violation};
use crate::models::{corrupt, id};
use crate::pool::TxConn;
use crate::statement::{bind, prepared};

/// Step 1: confirms the reservation, still held by the payer for this seat at this price and
/// unexpired at the decision instant. Binds: $1 reservation, $2 user, $3 seat, $4 amount,
/// $5 paid_at.
const CONFIRM: &str = "\
UPDATE reservations SET status = 'PAID'
 WHERE id = $1 AND user_id = $2 AND seat_id = $3 AND price = $4
   AND status = 'HELD' AND expires_at > $5";

/// Step 2: sells the seat, still held by this reservation. The seat keeps its last hold (which
/// reservation bought it), as the embedded store does; `sold` alone says it is taken.
/// Binds: $1 seat, $2 reservation.
const SELL: &str = "UPDATE seats SET sold = TRUE WHERE id = $1 AND held_by = $2 AND NOT sold";

/// Step 3: the debit, never below zero, feeding its ledger entry.
/// Binds: $1 user, $2 amount, $3 reservation, $4 paid_at.
const DEBIT: &str = "\
WITH u AS (
    UPDATE users SET balance = balance - $2
     WHERE id = $1 AND balance >= $2
 RETURNING balance
)
INSERT INTO ledger_entries (user_id, delta, reason, reservation_id, balance_after, at)
SELECT $1, -$2, 'PAYMENT', $3, balance, $4 FROM u";

/// Step 4: the payment row (one per reservation: a unique index).
/// Binds: $1 reservation, $2 user, $3 amount, $4 paid_at.
const RECORD: &str = "\
INSERT INTO payments (reservation_id, user_id, amount, paid_at) VALUES ($1, $2, $3, $4)
RETURNING id";

/// Step 5: the payer's live queue token expires. A token above the queue's watermark was
/// still waiting (a payer's new token, issued after the paying one ran out), so its ticket is
/// recorded as gone for the position arithmetic (see `queue`). Bind: $1 user.
const RETIRE_TOKEN: &str = "\
WITH retired AS (
    UPDATE queue_tokens SET status = 'EXPIRED'
     WHERE user_id = $1 AND status <> 'EXPIRED'
 RETURNING ticket
)
INSERT INTO queue_drops (ticket)
SELECT retired.ticket FROM retired, queue_state
 WHERE retired.ticket > queue_state.admitted_through
ON CONFLICT (ticket) DO NOTHING
RETURNING ticket";

/// What [`RECORD`] returns.
#[derive(QueryableByName)]
struct Recorded {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// What [`RETIRE_TOKEN`] returns: a ticket recorded as gone.
#[derive(QueryableByName)]
struct Gone {
    #[diesel(sql_type = BigInt)]
    ticket: i64,
}

/// A settled payment, and the queue ticket its token retirement recorded as gone.
struct Settled {
    payment: Payment,
    gone: Vec<u64>,
}

/// Fails the settlement (rolling everything back) unless a guarded statement changed a row.
fn guard(affected: usize) -> Result<(), TxError> {
    if affected == 0 { Err(TxError::Refused) } else { Ok(()) }
}

async fn settle_in(conn: &mut AsyncPgConnection, plan: &SettlementPlan) -> Result<Settled, TxError> {
    let (reservation, user, seat) = (plan.reservation_id.get(), plan.user_id.get(), plan.seat_id.get());
    let amount = plan.amount.get();
    let confirm = (
        bind::<BigInt, _>(reservation),
        bind::<BigInt, _>(user),
        bind::<BigInt, _>(seat),
        bind::<BigInt, _>(amount),
        bind::<Timestamptz, _>(plan.paid_at),
    );
    guard(prepared(CONFIRM, confirm).execute(conn).await?)?;
    guard(prepared(SELL, (bind::<BigInt, _>(seat), bind::<BigInt, _>(reservation))).execute(conn).await?)?;
    let debit = (
        bind::<BigInt, _>(user),
        bind::<BigInt, _>(amount),
        bind::<BigInt, _>(reservation),
        bind::<Timestamptz, _>(plan.paid_at),
    );
    guard(prepared(DEBIT, debit).execute(conn).await?)?;
    let record = (
        bind::<BigInt, _>(reservation),
        bind::<BigInt, _>(user),
        bind::<BigInt, _>(amount),
        bind::<Timestamptz, _>(plan.paid_at),
    );
    let recorded: Recorded = prepared(RECORD, record)
        .get_result(conn)
        .await
        .map_err(|error| if is_unique_violation(&error) { TxError::Refused } else { TxError::Db(error) })?;
    let gone: Vec<Gone> = prepared(RETIRE_TOKEN, bind::<BigInt, _>(user)).get_results(conn).await?;
    let gone =
        gone.into_iter().map(|row| u64::try_from(row.ticket).map_err(corrupt)).collect::<Result<_, _>>()?;

    let payment = Payment {
        id: id(PaymentId::new, recorded.id)?,
        reservation_id: plan.reservation_id,
        user_id: plan.user_id,
        amount: plan.amount,
        paid_at: plan.paid_at,
    };
    Ok(Settled { payment, gone })
}

#[async_trait]
impl PaymentRepository for PgStore {
    async fn settle(&self, plan: &SettlementPlan) -> StoreResult<Option<Payment>> {
        let mut tx = TxConn::checkout(&self.pool).await?;
        let result =
            tx.conn()?.transaction::<Settled, TxError, _>(async |conn| settle_in(conn, plan).await).await;
        tx.finish();
        let outcome = match result {
            Ok(Settled { payment, gone }) => {
                self.note_gone(gone);
                Ok(Some(payment))
            }
            Err(TxError::Refused) => Ok(None),
            Err(TxError::Db(error)) => Err(db_error(error)),
            Err(TxError::Store(error)) => Err(error),
        };
        tracing::debug!(
            reservation = plan.reservation_id.get(),
            paid = matches!(outcome, Ok(Some(_))),
            "settle"
        );
        outcome
    }
}
