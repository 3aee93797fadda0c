//! Concerts, performances and seats: the catalogue port.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{CatalogueRepository, StoreError, StoreResult};
use domain::{Concert, ConcertId, NewConcert, Schedule, ScheduleId, Seat, SeatId};

use crate::errors::{TxError, db_error};
use crate::models::{ConcertRow, NewSeatRow, ScheduleRow, SeatRow, convert_all};
use crate::pool::{TxConn, checkout};
use crate::schema::{concerts, schedules, seats};
use crate::{PgStore, SEED_LOCK};

#[async_trait]
impl CatalogueRepository for PgStore {
    async fn concerts(&self) -> StoreResult<Vec<Concert>> {
        let mut conn = checkout(&self.pool).await?;
        let rows = concerts::table
            .select(ConcertRow::as_select())
            .order(concerts::id)
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        convert_all(rows)
    }

    async fn concert(&self, id: ConcertId) -> StoreResult<Option<Concert>> {
        let mut conn = checkout(&self.pool).await?;
        let row = concerts::table
            .find(id.get())
            .select(ConcertRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(Concert::try_from).transpose()
    }

    async fn schedules(&self, concert: ConcertId) -> StoreResult<Vec<Schedule>> {
        let mut conn = checkout(&self.pool).await?;
        let rows = schedules::table
            .filter(schedules::concert_id.eq(concert.get()))
            .select(ScheduleRow::as_select())
            .order((schedules::starts_at, schedules::id))
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        convert_all(rows)
    }

    async fn seats_of_schedule(&self, schedule: ScheduleId) -> StoreResult<Vec<Seat>> {
        let mut conn = checkout(&self.pool).await?;
        let rows = seats::table
            .filter(seats::schedule_id.eq(schedule.get()))
            .select(SeatRow::as_select())
            .order(seats::number)
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        convert_all(rows)
    }

    async fn seats_of_concert(&self, concert: ConcertId) -> StoreResult<Vec<Seat>> {
        let mut conn = checkout(&self.pool).await?;
        let rows = seats::table
            .filter(seats::concert_id.eq(concert.get()))
            .select(SeatRow::as_select())
            .order((seats::schedule_id, seats::number))
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        convert_all(rows)
    }

    async fn seat(&self, id: SeatId) -> StoreResult<Option<Seat>> {
        let mut conn = checkout(&self.pool).await?;
        let row = seats::table
            .find(id.get())
            .select(SeatRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(Seat::try_from).transpose()
    }

    /// One transaction under an advisory lock, so instances starting together load at most
    /// once; a failure (say a duplicate seat number) loads nothing.
    async fn seed_if_empty(&self, catalogue: &[NewConcert]) -> StoreResult<bool> {
        let mut tx = TxConn::checkout(&self.pool).await?;
        let result = tx
            .conn()?
            .transaction::<bool, TxError, _>(async |conn| {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<BigInt, _>(SEED_LOCK)
                    .execute(conn)
                    .await?;
                let loaded: bool = diesel::select(diesel::dsl::exists(concerts::table.select(concerts::id)))
                    .get_result(conn)
                    .await?;
                if loaded {
                    return Ok(false);
                }
                for concert in catalogue {
                    load(conn, concert).await?;
                }
                Ok(true)
            })
            .await;
        tx.finish();
        match result {
            Ok(loaded) => {
                tracing::info!(loaded, concerts = catalogue.len(), "catalogue seed");
                Ok(loaded)
            }
            Err(TxError::Db(error)) => Err(db_error(error)),
            Err(TxError::Store(error)) => Err(error),
            Err(TxError::Refused) => Err(StoreError::Internal("the catalogue seed was refused".into())),
        }
    }
}

/// Inserts one concert with its performances, one statement per performance for its seats.
async fn load(conn: &mut AsyncPgConnection, concert: &NewConcert) -> Result<(), TxError> {
    let concert_id: i64 = diesel::insert_into(concerts::table)
        .values((
            concerts::title.eq(&concert.title),
            concerts::artist.eq(&concert.artist),
            concerts::venue.eq(&concert.venue),
        ))
        .returning(concerts::id)
        .get_result(conn)
        .await?;
    for schedule in &concert.schedules {
        let schedule_id: i64 = diesel::insert_into(schedules::table)
            .values((schedules::concert_id.eq(concert_id), schedules::starts_at.eq(schedule.starts_at)))
            .returning(schedules::id)
            .get_result(conn)
            .await?;
        if schedule.seats.is_empty() {
            continue;
        }
        let rows: Vec<NewSeatRow<'_>> = schedule
            .seats
            .iter()
            .map(|seat| NewSeatRow {
                schedule_id,
                concert_id,
                starts_at: schedule.starts_at,
                number: i16::from(seat.number.get()),
                zone: &seat.zone,
                price: seat.price.get(),
            })
            .collect();
        diesel::insert_into(seats::table).values(&rows).execute(conn).await?;
    }
    Ok(())
}
