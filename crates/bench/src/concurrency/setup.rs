//! The study's database: a fresh copy of the migrated schema, the connection budget, and fresh
//! seats and users for every run, so that no run sees another's rows.

use tokio_postgres::Client;

use super::StudyResult;
use super::sessions::{Sessions, connect};

/// The study's own columns, in its own database only (the product has no version columns):
/// the optimistic strategies compare and bump them.
const STUDY_COLUMNS: &str = "\
ALTER TABLE seats ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 0";

/// How many connections a client may still open: the server's limit, less those reserved for
/// superusers and those open now.
const FREE_CONNECTIONS: &str = "\
SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
       - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int";

/// Sessions beside the clients': the seat-list reader's.
const READER_SESSIONS: usize = 1;

/// The fresh database and what has been handed out of it.
pub struct Study {
    /// The database's URL.
    pub url: String,
    /// The admin session: fixtures and checks, never timed.
    pub admin: Client,
    /// The clients' sessions.
    pub sessions: Sessions,
    next_schedule: i64,
    schedules: i64,
    next_user: i64,
}

/// A seat for one race.
#[derive(Debug, Clone, Copy)]
pub struct RaceSeat {
    /// `seats.id`.
    pub seat: i64,
    /// Its concert.
    pub concert: i64,
    /// Its performance (the seat list the reader samples).
    pub schedule: i64,
}

impl Study {
    /// Fills the database at `url` with `schedules` performances (50 seats each: one per race,
    /// one per 50 paying fans) and opens up to `wanted` client sessions, leaving `spare`
    /// connections for everyone else on the server; refuses when fewer than `least` are free.
    pub async fn open(
        url: &str,
        schedules: i64,
        wanted: usize,
        least: usize,
        spare: usize,
    ) -> StudyResult<Self> {
        let admin = connect(url).await?;
        let free: i32 = admin.query_one(FREE_CONNECTIONS, &[]).await?.try_get(0)?;
        let free = usize::try_from(free).unwrap_or(0);
        let usable = free.saturating_sub(spare + READER_SESSIONS);
        if usable < least {
            return Err(format!(
                "PostgreSQL has {free} free connections; the study needs {least} client sessions, \
                 the reader's and {spare} left for others (CONCURRENCY_SPARE_CONNECTIONS): close \
                 other clients or raise max_connections"
            )
            .into());
        }
        crate::db::fill_catalogue(&admin, schedules).await?;
        admin.batch_execute(STUDY_COLUMNS).await?;
        let sessions = Sessions::open(url, wanted.min(usable)).await?;
        Ok(Self { url: url.to_owned(), admin, sessions, next_schedule: 1, schedules, next_user: 1 })
    }

    /// Seat 1 of a performance nobody has used.
    pub async fn race_seat(&mut self) -> StudyResult<RaceSeat> {
        let schedule = self.fresh_schedules(1)?;
        let row = self
            .admin
            .query_one("SELECT id, concert_id FROM seats WHERE schedule_id = $1 AND number = 1", &[&schedule])
            .await?;
        Ok(RaceSeat { seat: row.try_get(0)?, concert: row.try_get(1)?, schedule })
    }

    /// The first of `count` performances nobody has used.
    pub fn fresh_schedules(&mut self, count: i64) -> StudyResult<i64> {
        let first = self.next_schedule;
        self.next_schedule += count;
        if self.next_schedule > self.schedules + 1 {
            return Err(format!("the study ran out of performances ({} filled)", self.schedules).into());
        }
        Ok(first)
    }

    /// Creates `count` users holding `balance` each (with the ledger entry that explains it,
    /// so every user's ledger sums to their balance); returns the first id.
    pub async fn fresh_users(&mut self, count: usize, balance: i64) -> StudyResult<i64> {
        let first = self.next_user;
        let last = first + i64::try_from(count)? - 1;
        self.next_user = last + 1;
        self.admin
            .execute(
                "INSERT INTO users (id, balance, created_at) SELECT g, $3, now() FROM generate_series($1::bigint, $2::bigint) g",
                &[&first, &last, &balance],
            )
            .await?;
        if balance > 0 {
            self.admin
                .execute(
                    "INSERT INTO ledger_entries (user_id, delta, reason, balance_after, at)
                     SELECT g, $3, 'CHARGE', $3, now() FROM generate_series($1::bigint, $2::bigint) g",
                    &[&first, &last, &balance],
                )
                .await?;
        }
        Ok(first)
    }
}
