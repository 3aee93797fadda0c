//! Figure 1: many fans, one seat. Each strategy takes the seat and writes the reservation the
//! way a careful engineer would with that kind of lock; exactly one attempt may win. A reader
//! on a session of its own lists the seat's performance throughout, as fans keep doing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::driver::{Driven, drive};
use super::sessions::{Session, connect};
use super::setup::{RaceSeat, Study};
use super::{Attempt, Role, Samples, StudyResult};

/// A seat-hold strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatStrategy {
    /// `SELECT … FOR UPDATE`, then the write, in one transaction.
    Pessimistic,
    /// Read the version, write only if it is unchanged; losers just lose (no retry).
    Optimistic,
    /// The product's hold: the `hold_seat` function's conditional `UPDATE … WHERE free`.
    Conditional,
    /// `pg_advisory_xact_lock` on the seat id, then read and write.
    Advisory,
    /// `SELECT … FOR UPDATE SKIP LOCKED`: whoever finds the row locked gives up at once.
    SkipLocked,
}

/// The seat is free: unsold, on the map, and any hold lapsed.
macro_rules! free {
    () => {
        "NOT sold AND NOT withdrawn AND (held_until IS NULL OR held_until <= now())"
    };
}

/// Pessimistic read. Bind: $1 seat.
const LOCK_SEAT: &str = concat!("SELECT ", free!(), " FROM seats WHERE id = $1 FOR UPDATE");
/// Plain read (after an advisory lock). Bind: $1 seat.
const READ_SEAT: &str = concat!("SELECT ", free!(), " FROM seats WHERE id = $1");
/// Optimistic read. Bind: $1 seat.
const READ_VERSION: &str = concat!("SELECT ", free!(), ", version FROM seats WHERE id = $1");
/// Advisory lock on the seat id, released at commit. Bind: $1 seat.
const ADVISORY: &str = "SELECT pg_advisory_xact_lock($1)";
/// Lock the row only if nobody has it. Bind: $1 seat.
const SKIP_LOCKED: &str =
    concat!("SELECT id FROM seats WHERE id = $1 AND ", free!(), " FOR UPDATE SKIP LOCKED");

/// The write after a lock: the seat points at a new reservation, which is inserted in the same
/// statement (one round trip, as the product does). Binds: $1 seat, $2 user.
const TAKE: &str = "\
WITH seat AS (
    UPDATE seats SET held_by = nextval(pg_get_serial_sequence('reservations', 'id')),
                     held_until = now() + interval '300 seconds', version = version + 1
     WHERE id = $1
 RETURNING id, held_by, concert_id, price
)
INSERT INTO reservations (id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at)
SELECT held_by, $2, id, concert_id, 'A1', price, 'HELD', now(), now() + interval '300 seconds' FROM seat
RETURNING id";

/// The optimistic write: [`TAKE`] only while the version read is current. Binds: $1 seat,
/// $2 user, $3 version read.
const TAKE_VERSIONED: &str = "\
WITH seat AS (
    UPDATE seats SET held_by = nextval(pg_get_serial_sequence('reservations', 'id')),
                     held_until = now() + interval '300 seconds', version = version + 1
     WHERE id = $1 AND version = $3
 RETURNING id, held_by, concert_id, price
)
INSERT INTO reservations (id, user_id, seat_id, concert_id, seat_name, price, status, reserved_at, expires_at)
SELECT held_by, $2, id, concert_id, 'A1', price, 'HELD', now(), now() + interval '300 seconds' FROM seat
RETURNING id";

/// The product's hold, as `crates/adapter-postgres/src/reservations.rs` sends it (`TRY_HOLD`),
/// with the instants from the server clock and the default `MAX_HOLDS_PER_USER` (4).
/// Binds: $1 seat, $2 concert, $3 user.
const HOLD_SEAT: &str =
    "SELECT id FROM hold_seat($1, $2, now(), now() + interval '300 seconds', $3, 'A1', 4)";

/// The product's seat list of a performance (`seats_of_schedule`). Bind: $1 performance.
const SEAT_LIST: &str = "\
SELECT id, schedule_id, concert_id, starts_at, on_sale_at, number, zone, price, sold, held_by,
       held_until, withdrawn
  FROM seats WHERE schedule_id = $1 AND NOT withdrawn ORDER BY number";

impl SeatStrategy {
    /// In the report's order.
    pub const ALL: [SeatStrategy; 5] = [
        SeatStrategy::Pessimistic,
        SeatStrategy::Optimistic,
        SeatStrategy::Conditional,
        SeatStrategy::Advisory,
        SeatStrategy::SkipLocked,
    ];

    /// The report's name.
    pub fn name(self) -> &'static str {
        match self {
            SeatStrategy::Pessimistic => "pessimistic: SELECT … FOR UPDATE, then UPDATE",
            SeatStrategy::Optimistic => "optimistic: version column, no retry",
            SeatStrategy::Conditional => "conditional UPDATE … WHERE free (frontrow's hold_seat)",
            SeatStrategy::Advisory => "advisory lock per seat",
            SeatStrategy::SkipLocked => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// Every strategy here must produce exactly one winner.
    pub fn role(self) -> Role {
        Role::Qualifying
    }

    fn statements(self) -> &'static [&'static str] {
        match self {
            SeatStrategy::Pessimistic => &[LOCK_SEAT, TAKE],
            SeatStrategy::Optimistic => &[READ_VERSION, TAKE_VERSIONED],
            SeatStrategy::Conditional => &[HOLD_SEAT],
            SeatStrategy::Advisory => &[ADVISORY, READ_SEAT, TAKE],
            SeatStrategy::SkipLocked => &[SKIP_LOCKED, TAKE],
        }
    }

    /// One attempt by `user` on `seat`.
    async fn attempt(self, session: &mut Session, seat: RaceSeat, user: i64) -> StudyResult<Attempt> {
        let id = seat.seat;
        let won = match self {
            SeatStrategy::Conditional => {
                let hold = session.statement(HOLD_SEAT)?;
                session.client.query_opt(&hold, &[&id, &seat.concert, &user]).await?.is_some()
            }
            SeatStrategy::Pessimistic => {
                let (lock, take) = (session.statement(LOCK_SEAT)?, session.statement(TAKE)?);
                let tx = session.client.transaction().await?;
                let free: bool = tx.query_one(&lock, &[&id]).await?.try_get(0)?;
                let won = free && tx.execute(&take, &[&id, &user]).await? == 1;
                tx.commit().await?;
                won
            }
            SeatStrategy::Advisory => {
                let (lock, read, take) =
                    (session.statement(ADVISORY)?, session.statement(READ_SEAT)?, session.statement(TAKE)?);
                let tx = session.client.transaction().await?;
                tx.query_one(&lock, &[&id]).await?;
                let free: bool = tx.query_one(&read, &[&id]).await?.try_get(0)?;
                let won = free && tx.execute(&take, &[&id, &user]).await? == 1;
                tx.commit().await?;
                won
            }
            SeatStrategy::Optimistic => {
                let (read, take) = (session.statement(READ_VERSION)?, session.statement(TAKE_VERSIONED)?);
                let tx = session.client.transaction().await?;
                let row = tx.query_one(&read, &[&id]).await?;
                let (free, version): (bool, i64) = (row.try_get(0)?, row.try_get(1)?);
                let won = free && tx.execute(&take, &[&id, &user, &version]).await? == 1;
                tx.commit().await?;
                won
            }
            SeatStrategy::SkipLocked => {
                let (lock, take) = (session.statement(SKIP_LOCKED)?, session.statement(TAKE)?);
                let tx = session.client.transaction().await?;
                let locked = tx.query_opt(&lock, &[&id]).await?.is_some();
                let won = locked && tx.execute(&take, &[&id, &user]).await? == 1;
                tx.commit().await?;
                won
            }
        };
        Ok(Attempt::outcome(won))
    }
}

/// One race's outcome.
#[derive(Debug, Clone)]
pub struct SeatRun {
    /// The clients' totals.
    pub driven: Driven,
    /// Reservations on the seat afterwards (must be 1).
    pub reservations: i64,
    /// The seat list's latency, sampled during the race.
    pub list: Samples,
}

impl SeatRun {
    /// Exactly one winner, as the clients saw it and as the database holds it, and no error.
    pub fn correct(&self) -> bool {
        self.driven.won == 1 && self.reservations == 1 && self.driven.errors == 0
    }
}

/// Races `attempts` fresh fans over `clients` clients for a fresh seat with `strategy`.
pub async fn race(
    study: &mut Study,
    strategy: SeatStrategy,
    attempts: usize,
    clients: usize,
    cap: Duration,
) -> StudyResult<SeatRun> {
    let seat = study.race_seat().await?;
    let first_user = study.fresh_users(attempts, 0).await?;
    study.sessions.prepare(strategy.statements()).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = reader(study.url.clone(), seat.schedule, Arc::clone(&stop));
    // A few quiet samples first, as the reference study listed seats throughout its race.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let driven = drive(&study.sessions, clients, attempts, cap, move |i, mut session| async move {
        let user = first_user + i64::try_from(i).unwrap_or(0);
        let outcome = strategy.attempt(&mut session, seat, user).await;
        (session, outcome)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let list =
        tokio::task::spawn_blocking(move || reader.join()).await?.map_err(|_| "the reader panicked")??;
    let driven = driven?;
    let reservations: i64 = study
        .admin
        .query_one("SELECT count(*) FROM reservations WHERE seat_id = $1", &[&seat.seat])
        .await?
        .try_get(0)?;
    Ok(SeatRun { driven, reservations, list })
}

/// Lists `schedule`'s seats one query at a time (1 ms apart) until told to stop, on a thread,
/// runtime and session of its own, so that a sample waits for PostgreSQL, never behind the
/// clients' tasks.
fn reader(
    url: String,
    schedule: i64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<StudyResult<Samples>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let client = connect(&url).await?;
            let list = client.prepare(SEAT_LIST).await?;
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                client.query(&list, &[&schedule]).await?;
                samples.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(Samples::new(samples))
        })
    })
}
