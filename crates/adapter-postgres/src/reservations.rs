//! Holds and their lifecycle: the reservation port.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{ReservationRepository, StoreError, StoreResult};
use domain::{NewHold, Receipt, Reservation, ReservationId};
use time::OffsetDateTime;

use crate::PgStore;
use crate::errors::{TxError, db_error};
use crate::idempotency::{fence, record};
use crate::models::{ReservationRow, unsigned};
use crate::pool::{TxConn, checkout};
use crate::schema::reservations;
use crate::statement::{bind, prepared};

/// The compare-and-set hold, in ONE statement and without row locking ahead of the write:
/// - `previous` reads the seat's current hold (the statement's snapshot);
/// - `seat` takes the seat only if it belongs to the concert, is unsold, its show has not
///   started and its previous hold lapsed at or before the decision instant; the new
///   reservation id comes from the reservations sequence, so the seat and the reservation
///   point at each other. Of racing holds, PostgreSQL lets exactly one update the row; the
///   others re-check the guard against the winner's row and match nothing;
/// - `lapsed` rewrites the previous, lapsed reservation as expired (tidying only, as the clock
///   already says it is). `SKIP LOCKED`: if a settlement is working on that row, it is left to
///   the sweeper rather than waited for, so a hold never waits on a payment (and the two can
///   never deadlock; that settlement fails its seat guard anyway);
/// - the insert writes the reservation, only when `seat` returned a row.
///
/// Binds: $1 seat, $2 concert, $3 held_at, $4 until, $5 user, $6 seat name, $7 price.
const TRY_HOLD: &str = "\
WITH previous AS (
    SELECT held_by FROM seats WHERE id = $1
), seat AS (
    UPDATE seats
       SET held_by = nextval(pg_get_serial_sequence('reservations', 'id')), held_until = $4
     WHERE id = $1 AND concert_id = $2 AND NOT sold AND starts_at > $3
       AND (held_until IS NULL OR held_until <= $3)
 RETURNING id, held_by, concert_id
), lapsed AS (
    UPDATE reservations SET status = 'EXPIRED'
     WHERE id IN (SELECT r.id FROM reservations r
                   WHERE r.id = (SELECT held_by FROM previous)
                     AND r.status = 'HELD' AND r.expires_at <= $3
                     AND EXISTS (SELECT 1 FROM seat)
                     FOR UPDATE OF r SKIP LOCKED)
)
INSERT INTO reservations (id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at)
SELECT held_by, $5, id, concert_id, $6, $7, 'HELD', $3, $4 FROM seat
RETURNING id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at";

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
        bind::<BigInt, _>(hold.price.get()),
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
        let reservation = match receipt {
            None => {
                let mut conn = checkout(&self.pool).await?;
                try_hold_on(&mut conn, hold).await
            }
            Some(receipt) => {
                let mut tx = TxConn::checkout(&self.pool).await?;
                let result = tx
                    .conn()?
                    .transaction::<_, TxError, _>(async |conn| {
                        fence(conn, &receipt).await?;
                        let outcome = try_hold_on(conn, hold).await?;
                        record(conn, &receipt, &outcome, hold.held_at).await?;
                        Ok(outcome)
                    })
                    .await;
                tx.finish();
                result
            }
        }
        .map_err(TxError::into_store)?;
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

    async fn release_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let mut conn = checkout(&self.pool).await?;
        let released: Released = prepared(RELEASE_EXPIRED, bind::<Timestamptz, _>(now))
            .get_result(&mut conn)
            .await
            .map_err(db_error)?;
        unsigned(released.released)
    }
}
