//! Concerts, performances and seats: the catalogue port.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{CatalogueRepository, StoreResult};
use domain::{
    Concert, ConcertId, ImportOutcome, NewConcert, NewSchedule, PerformanceSales, Schedule, ScheduleId, Seat,
    SeatEdit, SeatId,
};
use time::OffsetDateTime;

use crate::errors::{TxError, db_error};
use crate::models::{ConcertRow, NewSeatRow, ScheduleRow, SeatRow, convert_all, id, unsigned};
use crate::pool::{TxConn, checkout};
use crate::schema::{concerts, schedules, seats};
use crate::statement::{bind, prepared};
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
            .filter(schedules::concert_id.eq(concert.get()).and(schedules::cancelled_at.is_null()))
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
            .filter(seats::schedule_id.eq(schedule.get()).and(seats::withdrawn.eq(false)))
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
            .filter(seats::concert_id.eq(concert.get()).and(seats::withdrawn.eq(false)))
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
            .filter(seats::withdrawn.eq(false))
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
                lock_catalogue(conn).await?;
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
        let loaded = result.map_err(TxError::into_store)?;
        tracing::info!(loaded, concerts = catalogue.len(), "catalogue seed");
        Ok(loaded)
    }

    /// One statement: seats counted per performance, payments per performance of their seat.
    async fn sales(&self, at: OffsetDateTime) -> StoreResult<Vec<PerformanceSales>> {
        let mut conn = checkout(&self.pool).await?;
        let rows: Vec<SalesRow> =
            prepared(SALES, bind::<Timestamptz, _>(at)).load(&mut conn).await.map_err(db_error)?;
        rows.into_iter().map(PerformanceSales::try_from).collect()
    }

    /// The edit's compare-and-set, in one statement: the row changes only while it is on the
    /// map, unsold and under no live hold at `at`. A hold or a payment updates the same row, so
    /// of an edit and a hold one waits for the other, and the second re-checks its guard
    /// against the first's row.
    async fn edit_seat(&self, seat: SeatId, edit: SeatEdit, at: OffsetDateTime) -> StoreResult<Option<Seat>> {
        let mut conn = checkout(&self.pool).await?;
        let editable = seats::table
            .find(seat.get())
            .filter(seats::withdrawn.eq(false).and(seats::sold.eq(false)))
            .filter(seats::held_until.is_null().or(seats::held_until.le(at)));
        let edited = match edit {
            SeatEdit::Reprice(price) => {
                diesel::update(editable)
                    .set(seats::price.eq(price.get()))
                    .returning(SeatRow::as_returning())
                    .get_result(&mut conn)
                    .await
            }
            SeatEdit::Withdraw => {
                // A lapsed hold goes with it: a payment still in flight for it (decided before
                // the hold lapsed) must find the seat no longer held, and be refused.
                let unheld = (seats::held_by.eq(None::<i64>), seats::held_until.eq(None::<OffsetDateTime>));
                diesel::update(editable)
                    .set((seats::withdrawn.eq(true), unheld))
                    .returning(SeatRow::as_returning())
                    .get_result(&mut conn)
                    .await
            }
        };
        edited.optional().map_err(db_error)?.map(Seat::try_from).transpose()
    }

    /// One transaction under the seed's advisory lock (imports and seeds queue behind each
    /// other): every known performance's seats are compared first, then everything is written.
    async fn import(&self, catalogue: &[NewConcert]) -> StoreResult<ImportOutcome> {
        let mut tx = TxConn::checkout(&self.pool).await?;
        let result = tx
            .conn()?
            .transaction::<ImportOutcome, TxError, _>(async |conn| {
                lock_catalogue(conn).await?;
                let mut known = Vec::with_capacity(catalogue.len());
                for concert in catalogue {
                    let id: Option<i64> = concerts::table
                        .filter(concerts::key.eq(&concert.key))
                        .select(concerts::id)
                        .first(conn)
                        .await
                        .optional()?;
                    if let Some(id) = id {
                        for schedule in &concert.schedules {
                            if !same_seats(conn, id, schedule).await? {
                                return Ok(ImportOutcome::SeatsDiffer {
                                    concert: concert.key.clone(),
                                    starts_at: schedule.starts_at,
                                });
                            }
                        }
                    }
                    known.push(id);
                }
                let (mut concerts_added, mut performances_added) = (0, 0);
                for (concert, id) in catalogue.iter().zip(known) {
                    let Some(id) = id else {
                        load(conn, concert).await?;
                        concerts_added += 1;
                        continue;
                    };
                    diesel::update(concerts::table.find(id))
                        .set((
                            concerts::title.eq(&concert.title),
                            concerts::artist.eq(&concert.artist),
                            concerts::venue.eq(&concert.venue),
                        ))
                        .execute(conn)
                        .await?;
                    for schedule in &concert.schedules {
                        if update_on_sale(conn, id, schedule).await? == 0 {
                            add_schedule(conn, id, schedule).await?;
                            performances_added += 1;
                        }
                    }
                }
                Ok(ImportOutcome::Imported { concerts_added, performances_added })
            })
            .await;
        tx.finish();
        let outcome = result.map_err(TxError::into_store)?;
        tracing::info!(?outcome, concerts = catalogue.len(), "catalogue import");
        Ok(outcome)
    }
}

/// Every performance's sale at an instant: seats, live holds, sold seats, and its seats'
/// payments (refunded or not) with their money. Bind: $1 at.
const SALES: &str = "\
WITH counted AS (
    SELECT sc.id AS schedule_id, sc.concert_id, sc.starts_at, sc.on_sale_at, sc.cancelled_at,
           count(s.id) FILTER (WHERE s.sold OR NOT s.withdrawn) AS seats,
           count(s.id) FILTER (WHERE NOT s.withdrawn AND NOT s.sold AND s.held_until > $1) AS held,
           count(s.id) FILTER (WHERE s.sold) AS sold
      FROM schedules sc LEFT JOIN seats s ON s.schedule_id = sc.id
     GROUP BY sc.id
), paid AS (
    SELECT s.schedule_id, count(*) AS payments, count(p.refunded_at) AS refunds,
           COALESCE(sum(p.amount) FILTER (WHERE p.refunded_at IS NULL), 0)::bigint AS revenue,
           COALESCE(sum(p.amount) FILTER (WHERE p.refunded_at IS NOT NULL), 0)::bigint AS refunded
      FROM payments p JOIN reservations r ON r.id = p.reservation_id JOIN seats s ON s.id = r.seat_id
     GROUP BY s.schedule_id
)
SELECT c.schedule_id, c.concert_id, c.starts_at, c.on_sale_at, c.cancelled_at, c.seats, c.held, c.sold,
       COALESCE(p.payments, 0) AS payments, COALESCE(p.refunds, 0) AS refunds,
       COALESCE(p.revenue, 0) AS revenue, COALESCE(p.refunded, 0) AS refunded
  FROM counted c LEFT JOIN paid p ON p.schedule_id = c.schedule_id
 ORDER BY c.schedule_id";

/// A row of [`SALES`].
#[derive(QueryableByName)]
struct SalesRow {
    #[diesel(sql_type = BigInt)]
    schedule_id: i64,
    #[diesel(sql_type = BigInt)]
    concert_id: i64,
    #[diesel(sql_type = Timestamptz)]
    starts_at: OffsetDateTime,
    #[diesel(sql_type = Timestamptz)]
    on_sale_at: OffsetDateTime,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    cancelled_at: Option<OffsetDateTime>,
    #[diesel(sql_type = BigInt)]
    seats: i64,
    #[diesel(sql_type = BigInt)]
    held: i64,
    #[diesel(sql_type = BigInt)]
    sold: i64,
    #[diesel(sql_type = BigInt)]
    payments: i64,
    #[diesel(sql_type = BigInt)]
    refunds: i64,
    #[diesel(sql_type = BigInt)]
    revenue: i64,
    #[diesel(sql_type = BigInt)]
    refunded: i64,
}

impl TryFrom<SalesRow> for PerformanceSales {
    type Error = domain::StoreError;

    fn try_from(row: SalesRow) -> Result<Self, Self::Error> {
        Ok(PerformanceSales {
            schedule_id: Some(id(ScheduleId::new, row.schedule_id)?),
            concert_id: Some(id(ConcertId::new, row.concert_id)?),
            starts_at: Some(row.starts_at),
            on_sale_at: Some(row.on_sale_at),
            cancelled_at: row.cancelled_at,
            seats: unsigned(row.seats)?,
            held: unsigned(row.held)?,
            sold: unsigned(row.sold)?,
            payments: unsigned(row.payments)?,
            refunds: unsigned(row.refunds)?,
            revenue: row.revenue,
            refunded: row.refunded,
        })
    }
}

/// Takes the catalogue's transaction-scoped advisory lock: seeds and imports, from any number of
/// instances and commands, queue behind each other.
async fn lock_catalogue(conn: &mut AsyncPgConnection) -> Result<(), TxError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)").bind::<BigInt, _>(SEED_LOCK).execute(conn).await?;
    Ok(())
}

/// Whether the performance of concert `concert` starting when `schedule` does has the seats of
/// `schedule` (numbers, zones, prices) on its map; true when there is no such performance yet,
/// or it was cancelled (it keeps its start, so the import leaves it as it is).
async fn same_seats(
    conn: &mut AsyncPgConnection,
    concert: i64,
    schedule: &NewSchedule,
) -> Result<bool, TxError> {
    let stored: Vec<(i16, String, i64)> = seats::table
        .filter(seats::concert_id.eq(concert).and(seats::starts_at.eq(schedule.starts_at)))
        .filter(seats::withdrawn.eq(false))
        .select((seats::number, seats::zone, seats::price))
        .order(seats::number)
        .load(conn)
        .await?;
    if stored.is_empty() {
        // No seat on the map: a new performance, a cancelled one (left alone), or one whose
        // seats were all taken off it (then the file must have none either).
        let live: Option<Option<OffsetDateTime>> = schedules::table
            .filter(schedules::concert_id.eq(concert).and(schedules::starts_at.eq(schedule.starts_at)))
            .select(schedules::cancelled_at)
            .first(conn)
            .await
            .optional()?;
        return Ok(!matches!(live, Some(None)) || schedule.seats.is_empty());
    }
    let mut wanted: Vec<(i16, &str, i64)> = schedule
        .seats
        .iter()
        .map(|seat| (i16::from(seat.number.get()), seat.zone.as_str(), seat.price.get()))
        .collect();
    wanted.sort_unstable();
    Ok(stored.len() == wanted.len()
        && stored.iter().zip(wanted).all(|(have, want)| (have.0, have.1.as_str(), have.2) == want))
}

/// Moves the on-sale instant of the concert's performance starting when `schedule` does, and of
/// its seats; says how many performances it found (0 or 1).
async fn update_on_sale(
    conn: &mut AsyncPgConnection,
    concert: i64,
    schedule: &NewSchedule,
) -> Result<usize, TxError> {
    let found = schedules::table
        .filter(schedules::concert_id.eq(concert).and(schedules::starts_at.eq(schedule.starts_at)));
    let ids: Vec<i64> = diesel::update(found)
        .set(schedules::on_sale_at.eq(schedule.on_sale_at))
        .returning(schedules::id)
        .get_results(conn)
        .await?;
    if !ids.is_empty() {
        diesel::update(seats::table.filter(seats::schedule_id.eq_any(&ids)))
            .set(seats::on_sale_at.eq(schedule.on_sale_at))
            .execute(conn)
            .await?;
    }
    Ok(ids.len())
}

/// Inserts one concert with its performances.
async fn load(conn: &mut AsyncPgConnection, concert: &NewConcert) -> Result<(), TxError> {
    let concert_id: i64 = diesel::insert_into(concerts::table)
        .values((
            concerts::title.eq(&concert.title),
            concerts::artist.eq(&concert.artist),
            concerts::venue.eq(&concert.venue),
            concerts::key.eq(&concert.key),
        ))
        .returning(concerts::id)
        .get_result(conn)
        .await?;
    for schedule in &concert.schedules {
        add_schedule(conn, concert_id, schedule).await?;
    }
    Ok(())
}

/// Inserts one performance of a loaded concert, and its seats in one statement.
async fn add_schedule(
    conn: &mut AsyncPgConnection,
    concert_id: i64,
    schedule: &NewSchedule,
) -> Result<(), TxError> {
    let schedule_id: i64 = diesel::insert_into(schedules::table)
        .values((
            schedules::concert_id.eq(concert_id),
            schedules::starts_at.eq(schedule.starts_at),
            schedules::on_sale_at.eq(schedule.on_sale_at),
        ))
        .returning(schedules::id)
        .get_result(conn)
        .await?;
    if schedule.seats.is_empty() {
        return Ok(());
    }
    let rows: Vec<NewSeatRow<'_>> = schedule
        .seats
        .iter()
        .map(|seat| NewSeatRow {
            schedule_id,
            concert_id,
            starts_at: schedule.starts_at,
            on_sale_at: schedule.on_sale_at,
            number: i16::from(seat.number.get()),
            zone: &seat.zone,
            price: seat.price.get(),
        })
        .collect();
    diesel::insert_into(seats::table).values(&rows).execute(conn).await?;
    Ok(())
}
