//! The settlement unit of work: the payment port.
//!
//! ONE statement, one round trip: a call of the `settle_payment` function (migration
//! `2026-11-24-000001_settle_in_one_round_trip`, whose comments say exactly what it checks and
//! writes). A statement runs in an implicit transaction of its own, so no BEGIN/COMMIT is sent
//! and the settlement commits whole or not at all, even if the caller vanishes mid-way. A keyed
//! settlement (with a `Receipt`) runs the same statement inside a transaction that first fences
//! the key's claim and last records the answer (`crate::idempotency::guarded`).
//!
//! Each guard restates what the decision relied on, so a change since then (another payment,
//! the hold lapsing or being replaced, the balance being spent, the token being spent or running
//! out) matches no row; the function then writes nothing and the port answers `None`. Row locks
//! are taken in the order reservation → seat → user → token, the same in every settlement, so
//! concurrent settlements queue instead of deadlocking.
//!
//! How a refusal is told apart: the function returns `payment_id` NULL when a guard fails
//! (having checked every guard before writing anything), and a unique violation (the payment row
//! of a reservation that already has one; the reservation guard makes it unreachable, the
//! constraint stays as the second line of defence) aborts the statement, which rolls back
//! everything it did; both are `Ok(None)`. Any other error is the store's.

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Timestamptz, Uuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::{PaymentRepository, StoreResult};
use domain::{
    Cancellation, Payment, PaymentId, Receipt, Refund, RefundPlan, ReservationId, ScheduleId, SettlementPlan,
    UserId,
};
use time::OffsetDateTime;

use crate::errors::{TxError, db_error, is_unique_violation};
use crate::idempotency::guarded;
use crate::models::{balance, id, unsigned, won};
use crate::pool::checkout;
use crate::statement::{bind, prepared};
use crate::{PgStore, SEED_LOCK};

/// The whole settlement. Binds: $1 reservation, $2 user, $3 seat, $4 amount, $5 token,
/// $6 paid_at.
const SETTLE: &str = "SELECT payment_id, gone AS left_queue FROM settle_payment($1, $2, $3, $4, $5, $6)";

/// A settlement that landed.
struct Settled {
    /// The payment it made.
    payment: Payment,
    /// The retired token's ticket, when it was above the watermark and so recorded in
    /// `queue_drops` as having left the queue (the function's `gone` output).
    left_queue: Option<i64>,
}

/// What [`SETTLE`] returns: always one row.
#[derive(QueryableByName)]
struct SettleRow {
    /// The new payment's id; NULL when a guard failed and nothing was written.
    #[diesel(sql_type = Nullable<BigInt>)]
    payment_id: Option<i64>,
    /// The retired token's ticket, when it was above the watermark and so recorded as having
    /// left the queue.
    #[diesel(sql_type = Nullable<BigInt>)]
    left_queue: Option<i64>,
}

/// The settlement on `conn`: the row of a settlement that landed, `None` when a guard refused
/// it, [`TxError::Refused`] when a unique index did (the statement, and any transaction around
/// it, is aborted: nothing was written).
async fn settle_on(conn: &mut AsyncPgConnection, plan: &SettlementPlan) -> Result<Option<Settled>, TxError> {
    let binds = (
        bind::<BigInt, _>(plan.reservation_id.get()),
        bind::<BigInt, _>(plan.user_id.get()),
        bind::<BigInt, _>(plan.seat_id.get()),
        bind::<BigInt, _>(plan.amount.get()),
        bind::<Uuid, _>(plan.token.as_uuid()),
        bind::<Timestamptz, _>(plan.paid_at),
    );
    match prepared(SETTLE, binds).get_result::<SettleRow>(conn).await {
        Ok(SettleRow { payment_id: Some(raw), left_queue }) => {
            let payment = Payment {
                id: id(PaymentId::new, raw)?,
                reservation_id: plan.reservation_id,
                user_id: plan.user_id,
                amount: plan.amount,
                paid_at: plan.paid_at,
            };
            Ok(Some(Settled { payment, left_queue }))
        }
        Ok(SettleRow { payment_id: None, .. }) => Ok(None),
        Err(error) if is_unique_violation(&error) => Err(TxError::Refused),
        Err(error) => Err(TxError::Db(error)),
    }
}

#[async_trait]
impl PaymentRepository for PgStore {
    async fn settle(
        &self,
        plan: &SettlementPlan,
        receipt: Option<Receipt<Option<Payment>>>,
    ) -> StoreResult<Option<Payment>> {
        // The receipt answers for the payment; the step owns its copy of the plan, as it may run
        // inside a transaction's closure.
        let receipt = receipt.map(|receipt| {
            receipt.before(|settled: &Option<Settled>| Some(settled.as_ref().map(|s| s.payment.clone())))
        });
        let owned = plan.clone();
        let settle = guarded(&self.pool, receipt.as_ref(), plan.paid_at, move |conn| {
            Box::pin(async move { settle_on(conn, &owned).await })
        });
        let result = settle.await;
        // Paid, refused or failed, this instance's copy of the token may now be stale (spent
        // here, or by the payment that won a race, maybe on another instance): the next read of
        // it, the pay use case's check after a refusal included, must ask the database.
        self.queue.tokens().leave_tombstone(plan.token).await;
        let settled = match result {
            Ok(settled) => settled,
            Err(TxError::Refused) => None,
            Err(error) => return Err(error.into_store()),
        };
        let payment = match settled {
            Some(settled) => {
                self.note_left_queue(settled.left_queue.map(unsigned).transpose()?);
                Some(settled.payment)
            }
            None => None,
        };
        tracing::debug!(reservation = plan.reservation_id.get(), paid = payment.is_some(), "settle");
        Ok(payment)
    }

    async fn payment_for(&self, reservation: ReservationId) -> StoreResult<Option<Payment>> {
        self.one_payment(PAYMENT_FOR, reservation.get()).await
    }

    async fn payment(&self, payment: PaymentId) -> StoreResult<Option<Payment>> {
        self.one_payment(PAYMENT_BY_ID, payment.get()).await
    }

    async fn refund(&self, plan: &RefundPlan) -> StoreResult<Option<Refund>> {
        let mut conn = checkout(&self.pool).await?;
        let binds = (
            bind::<BigInt, _>(plan.payment_id.get()),
            bind::<BigInt, _>(plan.reservation_id.get()),
            bind::<BigInt, _>(plan.user_id.get()),
            bind::<BigInt, _>(plan.seat_id.get()),
            bind::<BigInt, _>(plan.amount.get()),
            bind::<Timestamptz, _>(plan.refunded_at),
        );
        let row: RefundRow = prepared(REFUND, binds).get_result(&mut conn).await.map_err(db_error)?;
        tracing::debug!(payment = plan.payment_id.get(), refunded = row.balance_after.is_some(), "refund");
        row.balance_after
            .map(|after| {
                Ok(Refund {
                    payment_id: plan.payment_id,
                    reservation_id: plan.reservation_id,
                    user_id: plan.user_id,
                    amount: plan.amount,
                    balance_after: balance(after)?,
                    refunded_at: plan.refunded_at,
                })
            })
            .transpose()
    }

    /// First one atomic statement, `withdraw_performance` (migration
    /// `2026-12-02-000011_box_office_edits`): after it nothing of the performance can be held or
    /// paid for. Run again, it ends the holds that landed meanwhile; then every sale is refunded
    /// by the single refund's statement, one per sale in seat order, so no transaction holds two
    /// buyers' rows at once and a cancellation never deadlocks with a payment, a refund or
    /// another cancellation. A refund refused was made meanwhile (a concurrent refund) or would
    /// pass the balance ceiling (counted). If this stops half-way, the performance is cancelled
    /// and nothing of it can be bought; asking again refunds what is left.
    async fn cancel_performance(
        &self,
        schedule: ScheduleId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Cancellation>> {
        let mut conn = checkout(&self.pool).await?;
        let withdraw = || {
            let binds =
                (bind::<BigInt, _>(schedule.get()), bind::<Timestamptz, _>(at), bind::<BigInt, _>(SEED_LOCK));
            prepared(WITHDRAW, binds)
        };
        let withdrawn: WithdrawRow = withdraw().get_result(&mut conn).await.map_err(db_error)?;
        let Some(cancelled_at) = withdrawn.cancelled_at else { return Ok(None) };
        // Again: it keeps the first instant, and ends the holds that landed while it ran.
        withdraw().execute(&mut conn).await.map_err(db_error)?;
        let sales: Vec<SaleRow> = prepared(SALES_LEFT, bind::<BigInt, _>(schedule.get()))
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        let mut cancellation =
            Cancellation { schedule_id: schedule, cancelled_at, refunds: 0, refunded: 0, unrefunded: 0 };
        for sale in sales {
            let binds = (
                bind::<BigInt, _>(sale.payment_id),
                bind::<BigInt, _>(sale.reservation_id),
                bind::<BigInt, _>(sale.user_id),
                bind::<BigInt, _>(sale.seat_id),
                bind::<BigInt, _>(sale.amount),
                bind::<Timestamptz, _>(at),
            );
            let refunded: RefundRow =
                prepared(REFUND, binds).get_result(&mut conn).await.map_err(db_error)?;
            if refunded.balance_after.is_some() {
                cancellation.refunds += 1;
                cancellation.refunded = cancellation.refunded.saturating_add(sale.amount);
                continue;
            }
            let still: Vec<SaleRow> = prepared(STILL_PAID, bind::<BigInt, _>(sale.reservation_id))
                .load(&mut conn)
                .await
                .map_err(db_error)?;
            cancellation.unrefunded += u64::from(!still.is_empty());
        }
        tracing::info!(
            schedule = schedule.get(),
            refunds = cancellation.refunds,
            unrefunded = cancellation.unrefunded,
            "performance cancelled"
        );
        Ok(Some(cancellation))
    }
}

/// Step one of a cancellation. Binds: $1 schedule, $2 at, $3 the catalogue's advisory lock.
const WITHDRAW: &str = "SELECT cancelled_at FROM withdraw_performance($1, $2, $3)";

/// The row of [`WITHDRAW`]: NULL for an unknown performance.
#[derive(QueryableByName)]
struct WithdrawRow {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    cancelled_at: Option<OffsetDateTime>,
}

/// The sales of a withdrawn performance not refunded yet, in seat order. Bind: $1 schedule.
const SALES_LEFT: &str = "\
SELECT p.id AS payment_id, r.id AS reservation_id, r.user_id, r.seat_id, p.amount
  FROM seats s
  JOIN reservations r ON r.seat_id = s.id AND r.status = 'PAID'
  JOIN payments p ON p.reservation_id = r.id
 WHERE s.schedule_id = $1 AND s.withdrawn
 ORDER BY s.number";

/// The sale of one reservation if it is still paid. Bind: $1 reservation.
const STILL_PAID: &str = "\
SELECT p.id AS payment_id, r.id AS reservation_id, r.user_id, r.seat_id, p.amount
  FROM reservations r JOIN payments p ON p.reservation_id = r.id
 WHERE r.id = $1 AND r.status = 'PAID'";

/// A row of [`SALES_LEFT`] and [`STILL_PAID`].
#[derive(QueryableByName)]
struct SaleRow {
    #[diesel(sql_type = BigInt)]
    payment_id: i64,
    #[diesel(sql_type = BigInt)]
    reservation_id: i64,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = BigInt)]
    seat_id: i64,
    #[diesel(sql_type = BigInt)]
    amount: i64,
}

/// The refund's unit of work in one statement (migration `2026-12-02-000009_refunds`). Binds:
/// $1 payment, $2 reservation, $3 user, $4 seat, $5 amount, $6 at.
const REFUND: &str = "SELECT balance_after FROM refund_payment($1, $2, $3, $4, $5, $6)";

/// The row of [`REFUND`]: NULL when a guard failed.
#[derive(QueryableByName)]
struct RefundRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    balance_after: Option<i64>,
}

/// One payment by id. Bind: $1 payment.
const PAYMENT_BY_ID: &str = "SELECT id, reservation_id, user_id, amount, paid_at FROM payments WHERE id = $1";

impl PgStore {
    /// The one payment `sql` finds for the id `key`, if any.
    async fn one_payment(&self, sql: &'static str, key: i64) -> StoreResult<Option<Payment>> {
        let mut conn = checkout(&self.pool).await?;
        let row: Option<PaymentRow> =
            prepared(sql, bind::<BigInt, _>(key)).get_results(&mut conn).await.map_err(db_error)?.pop();
        row.map(|row| {
            Ok(Payment {
                id: id(PaymentId::new, row.id)?,
                reservation_id: id(ReservationId::new, row.reservation_id)?,
                user_id: id(UserId::new, row.user_id)?,
                amount: won(row.amount)?,
                paid_at: row.paid_at,
            })
        })
        .transpose()
    }
}

/// The payment of one reservation. Bind: $1 reservation.
const PAYMENT_FOR: &str =
    "SELECT id, reservation_id, user_id, amount, paid_at FROM payments WHERE reservation_id = $1";

/// A row of [`PAYMENT_FOR`].
#[derive(QueryableByName)]
struct PaymentRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    reservation_id: i64,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = BigInt)]
    amount: i64,
    #[diesel(sql_type = Timestamptz)]
    paid_at: OffsetDateTime,
}
