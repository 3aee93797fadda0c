//! Holds and their lifecycle: the reservation port.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::{ReservationRepository, StoreError, StoreResult};
use domain::{NewHold, Receipt, Reservation, ReservationId, UserId};
use time::OffsetDateTime;

use crate::PgStore;
use crate::errors::{TxError, db_error};
use crate::idempotency::guarded;
use crate::models::{ReservationRow, unsigned};
use crate::pool::checkout;
use crate::schema::reservations;
use crate::statement::{bind, prepared};

/// The compare-and-set hold, with the per-user limit, in ONE statement: the `hold_seat`
/// function (migration `2026-12-02-000002_hold_limit_per_user`, whose comments say what it
/// checks and writes). Binds: $1 seat, $2 concert, $3 held_at, $4 until, $5 user, $6 seat name,
/// $7 price, $8 most live holds (0 = no limit).
const TRY_HOLD: &str = "\
SELECT id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at
  FROM hold_seat($1, $2, $3, $4, $5, $6, $7, $8)";

/// How many of a user's holds are live at an instant. Binds: $1 user, $2 at.
const LIVE_HOLDS: &str = "\
SELECT count(*) AS live FROM reservations WHERE user_id = $1 AND status = 'HELD' AND expires_at > $2";

/// The row of [`LIVE_HOLDS`].
#[derive(QueryableByName)]
struct LiveHolds {
    #[diesel(sql_type = BigInt)]
    live: i64,
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
        bind::<BigInt, _>(hold.price.get()),
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

    async fn release_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let mut conn = checkout(&self.pool).await?;
        let released: Released = prepared(RELEASE_EXPIRED, bind::<Timestamptz, _>(now))
            .get_result(&mut conn)
            .await
            .map_err(db_error)?;
        unsigned(released.released)
    }
}
