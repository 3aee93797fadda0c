//! The benchmark's database: a fresh migrated one per run, the catalogue filled in bulk by SQL,
//! the waiting room watched, and the audit after the booking flow.

use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::BenchResult;

/// Concerts in the benchmark catalogue (the concert list's length).
pub const CONCERTS: i64 = 10;
/// Performances of concert 1, the one the races and the catalogue reads use (the demo's
/// concert 1 has three too): the HTTP races on performance 1 (seats 1 and 2), the raw-SQL races
/// on performance 2; performance 3 stays untouched. The booking flow uses the performances
/// after these, which belong to concerts 2 to [`CONCERTS`].
pub const CONCERT_ONE_SCHEDULES: i64 = 3;
/// Seats per performance (README).
pub const SEATS_PER_SCHEDULE: i64 = 50;

/// Opens a plain connection (no TLS: local server) and drives it on a task.
pub async fn connect(url: &str) -> BenchResult<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("bench: a PostgreSQL connection ended: {error}");
        }
    });
    Ok(client)
}

/// Fills an empty catalogue: [`CONCERTS`] concerts; `schedules` performances a month or more
/// ahead, the first [`CONCERT_ONE_SCHEDULES`] of concert 1 and the others spread over concerts
/// 2 to [`CONCERTS`] by [`concert_of`]; 50 seats each, priced
/// like the demo catalogue (A VIP 150,000, B–C R 120,000, D–E S 90,000).
pub async fn fill_catalogue(db: &Client, schedules: i64) -> BenchResult<()> {
    db.batch_execute(&format!(
        "INSERT INTO concerts (id, title, artist, venue)
           SELECT g, 'Bench concert ' || g, 'Artist ' || g, 'Hall ' || g FROM generate_series(1, {CONCERTS}) g;
         SELECT setval(pg_get_serial_sequence('concerts', 'id'), {CONCERTS});
         INSERT INTO schedules (id, concert_id, starts_at, on_sale_at)
           SELECT g, CASE WHEN g <= {CONCERT_ONE_SCHEDULES} THEN 1 ELSE 2 + (g % ({CONCERTS} - 1)) END,
                  date_trunc('hour', now()) + interval '30 days' + g * interval '3 hours',
                  now() - interval '1 day'
             FROM generate_series(1, {schedules}) g;
         SELECT setval(pg_get_serial_sequence('schedules', 'id'), {schedules});
         INSERT INTO seats (schedule_id, concert_id, starts_at, on_sale_at, number, zone, price)
           SELECT s.id, s.concert_id, s.starts_at, s.on_sale_at, n,
                  CASE WHEN n <= 10 THEN 'VIP' WHEN n <= 30 THEN 'R' ELSE 'S' END,
                  CASE WHEN n <= 10 THEN 150000 WHEN n <= 30 THEN 120000 ELSE 90000 END
             FROM schedules s CROSS JOIN generate_series(1, {SEATS_PER_SCHEDULE}) n
            ORDER BY s.id, n;
         ANALYZE concerts; ANALYZE schedules; ANALYZE seats;"
    ))
    .await?;
    Ok(())
}

/// The concert of performance `schedule` as [`fill_catalogue`] assigns it.
pub fn concert_of(schedule: i64) -> i64 {
    if schedule <= CONCERT_ONE_SCHEDULES { 1 } else { 2 + schedule % (CONCERTS - 1) }
}

/// A seat as the races need it.
#[derive(Debug, Clone)]
pub struct RaceSeat {
    /// `seats.id`.
    pub seat_id: i64,
    /// Its concert.
    pub concert_id: i64,
    /// Its performance.
    pub schedule_id: i64,
    /// `A1`… (what the reservation row records).
    pub name: String,
    /// Whole won.
    pub price: i64,
}

/// Seat `number` of performance `schedule_id`.
pub async fn seat(db: &Client, schedule_id: i64, number: i16) -> BenchResult<RaceSeat> {
    let row = db
        .query_one(
            "SELECT id, concert_id, price FROM seats WHERE schedule_id = $1 AND number = $2",
            &[&schedule_id, &number],
        )
        .await?;
    let row_letter = char::from(b'A' + u8::try_from((number - 1) / 10)?);
    Ok(RaceSeat {
        seat_id: row.try_get(0)?,
        concert_id: row.try_get(1)?,
        schedule_id,
        name: format!("{row_letter}{}", (number - 1) % 10 + 1),
        price: row.try_get(2)?,
    })
}

/// A seat as a fan of the wait-estimate scenario buys it.
#[derive(Debug, Clone, Copy)]
pub struct SaleSeat {
    /// `seats.id`.
    pub seat_id: i64,
    /// Its concert (the hold's path).
    pub concert_id: i64,
    /// Whole won (the payment's amount).
    pub price: i64,
}

/// The first `n` seats of the catalogue, one per fan, so that no two fans want the same seat.
pub async fn first_seats(db: &Client, n: usize) -> BenchResult<Vec<SaleSeat>> {
    let rows = db
        .query("SELECT id, concert_id, price FROM seats ORDER BY id LIMIT $1", &[&i64::try_from(n)?])
        .await?;
    if rows.len() < n {
        return Err(format!("the catalogue has {} seats, {n} are needed", rows.len()).into());
    }
    rows.iter()
        .map(|row| {
            Ok(SaleSeat { seat_id: row.try_get(0)?, concert_id: row.try_get(1)?, price: row.try_get(2)? })
        })
        .collect()
}

/// Waits until no token is waiting (the admission tick let everyone in), at most `limit`.
pub async fn wait_all_active(db: &Client, limit: Duration) -> BenchResult<Duration> {
    let started = Instant::now();
    loop {
        let waiting: i64 = db
            .query_one("SELECT count(*) FROM queue_tokens WHERE status = 'WAITING'", &[])
            .await?
            .try_get(0)?;
        if waiting == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(format!("{waiting} tokens still waiting after {limit:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Holds on one seat (race check: exactly one reservation).
pub async fn reservations_on(db: &Client, seat_id: i64) -> BenchResult<i64> {
    Ok(db.query_one("SELECT count(*) FROM reservations WHERE seat_id = $1", &[&seat_id]).await?.try_get(0)?)
}

/// Tables PostgreSQL read sequentially during the run, more than `rows` rows in all and more
/// than `per_scan` per scan: (table, scans, rows read). A hot path that scans a growing table
/// slows down as it grows; small tables (the catalogue's schedules) are scanned by design.
pub async fn sequential_scans(db: &Client, rows: i64, per_scan: i64) -> BenchResult<Vec<(String, i64, i64)>> {
    let found = db
        .query(
            "SELECT relname::text, seq_scan, seq_tup_read FROM pg_stat_user_tables
              WHERE seq_tup_read > $1 AND seq_tup_read > $2 * seq_scan ORDER BY seq_tup_read DESC",
            &[&rows, &per_scan],
        )
        .await?;
    found.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))).collect()
}

/// The audit after the booking flow: every figure must agree.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// Seats with more than one paid reservation (must be 0).
    pub seats_sold_twice: i64,
    /// Seats marked sold.
    pub sold_seats: i64,
    /// Reservations in status PAID.
    pub paid_reservations: i64,
    /// Payment rows.
    pub payments: i64,
    /// Users whose ledger does not sum to their balance (must be 0).
    pub ledger_mismatches: i64,
    /// Users checked.
    pub users: i64,
    /// Sum of payments equals the sum of PAYMENT ledger debits.
    pub money_matches: bool,
    /// Sold seats whose seat row does not point at a PAID reservation of that seat (must be 0).
    pub sold_without_sale: i64,
    /// Payments refunded.
    pub refunds: i64,
    /// Sum of refunded payments equals the sum of REFUND ledger credits.
    pub refunds_match: bool,
    /// Reservations given back by their holders.
    pub releases: i64,
}

impl Audit {
    /// True when nothing was sold twice, the ledger sums to every balance, payments less
    /// refunds, sold seats and paid reservations are the same number, and payments, refunds and
    /// releases are what clients saw.
    pub fn passed(&self, seen: Seen) -> bool {
        self.seats_sold_twice == 0
            && self.ledger_mismatches == 0
            && self.sold_without_sale == 0
            && self.money_matches
            && self.refunds_match
            && self.sold_seats == self.payments - self.refunds
            && self.paid_reservations == self.payments - self.refunds
            && (self.payments, self.refunds, self.releases) == (seen.payments, seen.refunds, seen.releases)
    }
}

/// What the booking flow's clients were told succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Payments answered 200.
    pub payments: i64,
    /// Refunds answered 200.
    pub refunds: i64,
    /// Releases answered 200.
    pub releases: i64,
}

/// Runs the audit queries.
pub async fn audit(db: &Client) -> BenchResult<Audit> {
    let count = async |sql: &str| -> BenchResult<i64> { Ok(db.query_one(sql, &[]).await?.try_get(0)?) };
    Ok(Audit {
        seats_sold_twice: count(
            "SELECT count(*) FROM (SELECT seat_id FROM reservations WHERE status = 'PAID'
                                    GROUP BY seat_id HAVING count(*) > 1) twice",
        )
        .await?,
        sold_seats: count("SELECT count(*) FROM seats WHERE sold").await?,
        paid_reservations: count("SELECT count(*) FROM reservations WHERE status = 'PAID'").await?,
        payments: count("SELECT count(*) FROM payments").await?,
        ledger_mismatches: count(
            "SELECT count(*) FROM users u
               LEFT JOIN (SELECT user_id, sum(delta) AS total FROM ledger_entries GROUP BY user_id) l
                 ON l.user_id = u.id
              WHERE u.balance <> COALESCE(l.total, 0)",
        )
        .await?,
        users: count("SELECT count(*) FROM users").await?,
        money_matches: count(
            "SELECT count(*) FROM (SELECT
                 (SELECT COALESCE(sum(amount), 0) FROM payments) AS paid,
                 (SELECT COALESCE(-sum(delta), 0) FROM ledger_entries WHERE reason = 'PAYMENT') AS debited) m
              WHERE paid = debited",
        )
        .await?
            == 1,
        refunds: count("SELECT count(*) FROM payments WHERE refunded_at IS NOT NULL").await?,
        refunds_match: count(
            "SELECT count(*) FROM (SELECT
                 (SELECT COALESCE(sum(amount), 0) FROM payments WHERE refunded_at IS NOT NULL) AS back,
                 (SELECT COALESCE(sum(delta), 0) FROM ledger_entries WHERE reason = 'REFUND') AS credited) m
              WHERE back = credited",
        )
        .await?
            == 1,
        releases: count("SELECT count(*) FROM reservations WHERE status = 'RELEASED'").await?,
        sold_without_sale: count(
            "SELECT count(*) FROM seats s
              WHERE s.sold AND NOT EXISTS (SELECT 1 FROM reservations r
                                            WHERE r.seat_id = s.id AND r.status = 'PAID')",
        )
        .await?,
    })
}
