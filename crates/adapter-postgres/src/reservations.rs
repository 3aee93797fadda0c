//! Holds and their lifecycle: the reservation port.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::{ReservationRepository, StoreError, StoreResult};
use domain::{Booking, NewHold, Payment, PaymentId, Receipt, Reservation, ReservationId, UserId};
use time::OffsetDateTime;

use crate::PgStore;
use crate::errors::{TxError, db_error};
use crate::idempotency::guarded;
use crate::models::{ReservationRow, id, unsigned, won};
use crate::pool::checkout;
use crate::schema::reservations;
use crate::statement::{bind, prepared};

/// The compare-and-set hold, with the per-user limit, in ONE statement: the `hold_seat`
/// function (migration `2026-12-02-000002_hold_limit_per_user`, whose comments say what it
/// checks and writes; `2026-12-02-000011_box_office_edits` has its current form). Binds: $1 seat,
/// $2 concert, $3 held_at, $4 until, $5 user, $6 seat name, $7 most live holds (0 = no limit).
const TRY_HOLD: &str = "\
SELECT id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at
  FROM hold_seat($1, $2, $3, $4, $5, $6, $7)";

/// How many of a user's holds are live at an instant. Binds: $1 user, $2 at.
const LIVE_HOLDS: &str = "\
SELECT count(*) AS live FROM reservations WHERE user_id = $1 AND status = 'HELD' AND expires_at > $2";

/// The row of [`LIVE_HOLDS`].
#[derive(QueryableByName)]
struct LiveHolds {
    #[diesel(sql_type = BigInt)]
    live: i64,
}

/// The compare-and-set of an early release, in one statement: the reservation is rewritten as
/// released only while it is the user's, `HELD` and unexpired at the decision instant, and its
/// seat is cleared only while that reservation still holds it. A payment locks the same
/// reservation row first (`settle_payment`), so of a release and a payment one waits for the
/// other, and the second re-checks the guard against the first's row and matches nothing.
/// Binds: $1 reservation, $2 user, $3 at.
const RELEASE: &str = "\
WITH released AS (
    UPDATE reservations SET status = 'RELEASED'
     WHERE id = $1 AND user_id = $2 AND status = 'HELD' AND expires_at > $3
 RETURNING id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at
), freed AS (
    UPDATE seats s SET held_by = NULL, held_until = NULL
      FROM released r
     WHERE s.id = r.seat_id AND s.held_by = r.id AND NOT s.sold
)
SELECT * FROM released";

/// A fan's bookings: their held and paid reservations, newest first, each with its payment.
/// Binds: $1 user, $2 limit.
const BOOKINGS: &str = "\
SELECT r.id, r.user_id, r.seat_id, r.concert_id, r.seat_name, r.price, r.status, r.reserved_at,
       r.expires_at, p.id AS payment_id, p.amount AS paid_amount, p.paid_at
  FROM reservations r LEFT JOIN payments p ON p.reservation_id = r.id
 WHERE r.user_id = $1 AND r.status IN ('HELD', 'PAID')
 ORDER BY r.id DESC
 LIMIT $2";

/// A row of [`BOOKINGS`].
#[derive(QueryableByName)]
struct BookingRow {
    #[diesel(embed)]
    reservation: ReservationRow,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    payment_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    paid_amount: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
    paid_at: Option<OffsetDateTime>,
}

impl TryFrom<BookingRow> for Booking {
    type Error = StoreError;

    fn try_from(row: BookingRow) -> Result<Self, StoreError> {
        let reservation = Reservation::try_from(row.reservation)?;
        let payment = match (row.payment_id, row.paid_amount, row.paid_at) {
            (Some(payment), Some(amount), Some(paid_at)) => Some(Payment {
                id: id(PaymentId::new, payment)?,
                reservation_id: reservation.id,
                user_id: reservation.user_id,
                amount: won(amount)?,
                paid_at,
            }),
            _ => None,
        };
        Ok(Booking { reservation, payment })
    }
}

/// The sweep: expires lapsed holds (skipping any a settlement is working on; the next sweep
/// gets them) and clears them from their seats. Bind: $1 now.
const RELEASE_EXPIRED: &str = "\
WITH expired AS (
    UPDATE reservations SET status = 'EXPIRED'
     WHERE id IN (SELECT id FROM reservations
                   WHERE status = 'HELD' AND expires_at <= $1
                   FOR UPDATE SKIP LOCKED)
 RETURNING id, seat_id
), freed AS (
    UPDATE seats s SET held_by = NULL, held_until = NULL
      FROM expired e
     WHERE s.id = e.seat_id AND s.held_by = e.id AND NOT s.sold
)
SELECT count(*) AS released FROM expired";

/// The row count of [`RELEASE_EXPIRED`].
#[derive(QueryableByName)]
struct Released {
    #[diesel(sql_type = BigInt)]
    released: i64,
}

/// The compare-and-set on `conn`: [`TRY_HOLD`].
async fn try_hold_on(conn: &mut AsyncPgConnection, hold: &NewHold) -> Result<Option<Reservation>, TxError> {
    let binds = (
        bind::<BigInt, _>(hold.seat_id.get()),
        bind::<BigInt, _>(hold.concert_id.get()),
        bind::<Timestamptz, _>(hold.held_at),
        bind::<Timestamptz, _>(hold.until),
        bind::<BigInt, _>(hold.user_id.get()),
        bind::<Text, _>(hold.seat_name.as_str()),
        bind::<Integer, _>(i32::try_from(hold.max_live_holds).unwrap_or(i32::MAX)),
    );
    let row: Option<ReservationRow> =
        prepared(TRY_HOLD, binds).get_result(conn).await.optional().map_err(|error| match error {
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => TxError::Store(
                StoreError::Internal(format!("cannot hold a seat for unknown user {}", hold.user_id)),
            ),
            other => TxError::Db(other),
        })?;
    Ok(row.map(Reservation::try_from).transpose()?)
}

#[async_trait]
impl ReservationRepository for PgStore {
    async fn try_hold(
        &self,
        hold: &NewHold,
        receipt: Option<Receipt<Option<Reservation>>>,
    ) -> StoreResult<Option<Reservation>> {
        // The step owns its copy of the hold: it may run inside a transaction's closure.
        let owned = hold.clone();
        let take = guarded(&self.pool, receipt.as_ref(), hold.held_at, move |conn| {
            Box::pin(async move { try_hold_on(conn, &owned).await })
        });
        let reservation = take.await.map_err(TxError::into_store)?;
        tracing::debug!(seat = hold.seat_id.get(), won = reservation.is_some(), "try_hold");
        Ok(reservation)
    }

    async fn reservation(&self, id: ReservationId) -> StoreResult<Option<Reservation>> {
        let mut conn = checkout(&self.pool).await?;
        let row = reservations::table
            .find(id.get())
            .select(ReservationRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(Reservation::try_from).transpose()
    }

    async fn live_holds(&self, user: UserId, at: OffsetDateTime) -> StoreResult<u64> {
        let mut conn = checkout(&self.pool).await?;
        let binds = (bind::<BigInt, _>(user.get()), bind::<Timestamptz, _>(at));
        let counted: LiveHolds = prepared(LIVE_HOLDS, binds).get_result(&mut conn).await.map_err(db_error)?;
        unsigned(counted.live)
    }

    async fn release(
        &self,
        id: ReservationId,
        user: UserId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Reservation>> {
        let mut conn = checkout(&self.pool).await?;
        let binds = (bind::<BigInt, _>(id.get()), bind::<BigInt, _>(user.get()), bind::<Timestamptz, _>(at));
        let row: Option<ReservationRow> =
            prepared(RELEASE, binds).get_result(&mut conn).await.optional().map_err(db_error)?;
        let released = row.map(Reservation::try_from).transpose()?;
        tracing::debug!(reservation = id.get(), released = released.is_some(), "release");
        Ok(released)
    }

    async fn bookings(&self, user: UserId, limit: u32) -> StoreResult<Vec<Booking>> {
        let mut conn = checkout(&self.pool).await?;
        let binds = (bind::<BigInt, _>(user.get()), bind::<BigInt, _>(i64::from(limit)));
        let rows: Vec<BookingRow> = prepared(BOOKINGS, binds).load(&mut conn).await.map_err(db_error)?;
        rows.into_iter().map(Booking::try_from).collect()
    }

    async fn release_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let mut conn = checkout(&self.pool).await?;
        let released: Released = prepared(RELEASE_EXPIRED, bind::<Timestamptz, _>(now))
            .get_result(&mut conn)
            .await
            .map_err(db_error)?;
        unsigned(released.released)
    }
}
