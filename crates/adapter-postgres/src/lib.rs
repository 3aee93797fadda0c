//! The PostgreSQL store: every repository port of [`domain::ports`] on diesel + diesel-async
//! (pure Rust, no libpq) and a deadpool connection pool, behaving through the ports exactly
//! like the embedded store of `adapter-memory`.
//!
//! How correctness is kept with many instances on one database:
//! - the seat hold is ONE conditional statement (compare-and-set on the seat row feeding the
//!   reservation insert), never `SELECT … FOR UPDATE`: a loser costs about one read;
//! - a credit is one statement (balance update feeding its ledger entry);
//! - a settlement is one statement (a call of the `settle_payment` function) that locks and
//!   checks every guard before it writes anything, taking row locks always in the order
//!   reservation → seat → user → token, so concurrent settlements cannot deadlock;
//! - issuing a token serialises on the user's row, and the admission tick and the catalogue
//!   seed each take a transaction-scoped advisory lock;
//! - a queue position is arithmetic on tickets, served from an in-process snapshot of the
//!   served watermark; every change to it, to the token copies the gate uses and to the
//!   catalogue ([`PgStore::catalogue_epoch`]), is pushed to every instance by `LISTEN/NOTIFY`,
//!   and nothing is trusted while that push is down; polls are buffered in process and written
//!   in batches (see `queue`);
//! - an idempotency key is claimed by one insert, or decided under its row's lock when it is
//!   already stored (see `idempotency`);
//! - the schema's constraints are the second line of defence.
//!
//! With the `testing` feature, [`testing::TestDatabase`] gives each test a fresh migrated
//! database cloned from a template.

mod catalogue;
mod errors;
mod housekeeping;
mod idempotency;
mod migrate;
mod models;
mod payments;
mod pool;
mod queue;
mod reservations;
mod schema;
mod signing_key;
mod statement;
#[cfg(feature = "testing")]
pub mod testing;
mod wallet;

pub use pool::PoolStatus;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::IntoSql;
use diesel_async::RunQueryDsl;
use domain::QueuePolicy;
use domain::ports::{HealthCheck, StoreResult};

use crate::errors::db_error;
use crate::pool::PgPool;
use crate::queue::{QueueRuntime, Worker};

/// Advisory lock key of the admission tick (ASCII "frontrow" + 1).
const ADMIT_LOCK: i64 = 0x6672_6f6e_7472_6f01;
/// Advisory lock key of the catalogue seed (ASCII "frontrow" + 2).
const SEED_LOCK: i64 = 0x6672_6f6e_7472_6f02;

/// Pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections open at once (at least 1).
    pub max_connections: usize,
    /// Longest wait for a connection (for a free pool slot, and again for opening one) before
    /// the call fails with [`domain::StoreError::Unavailable`].
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    /// 16 connections, 2 s.
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(2) }
    }
}

/// Timings of the waiting room's in-process state (see the `queue` module docs). Each
/// [`PgStore::connect`] gets a background task that refreshes the queue snapshot and writes
/// buffered polls; it stops when the last clone of that store is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueTuning {
    /// How often the snapshot of the served watermark and the dropped tickets is refreshed.
    pub snapshot_refresh: Duration,
    /// The oldest snapshot a position is computed from; an older one (its refresher stalled)
    /// is refreshed first, so positions are never stale for long.
    pub snapshot_max_age: Duration,
    /// How often buffered polls (`record_poll`) are written, in one statement.
    pub poll_flush: Duration,
    /// How far a poll must move a token's stored `last_seen_at` to be worth a write (see the
    /// `queue::polls` module docs).
    pub poll_write_granularity: Duration,
    /// How long a token read from the database is trusted without reading it again (see the
    /// `queue::tokens` module docs for what shortens it); zero reads every time.
    pub token_cache: Duration,
    /// How long a waiting token read from the database is trusted while the queue snapshot
    /// still places it as waiting (ignored when `token_cache` is zero).
    pub waiting_token_cache: Duration,
}

impl Default for QueueTuning {
    /// Refresh every 200 ms, serve snapshots up to 1 s old, flush polls every 500 ms when they
    /// move the stored instant by 15 s, trust an active token read for 60 s and a waiting one
    /// for up to 30 s (changes reach both by push long before; these are the safety net).
    fn default() -> Self {
        Self {
            snapshot_refresh: Duration::from_millis(200),
            snapshot_max_age: Duration::from_secs(1),
            poll_flush: Duration::from_millis(500),
            poll_write_granularity: Duration::from_secs(15),
            token_cache: Duration::from_secs(60),
            waiting_token_cache: Duration::from_secs(30),
        }
    }
}

impl QueueTuning {
    /// The defaults with `token_cache`, and the two bounds that must stay small against the
    /// policy's idle timeout shortened to fit it:
    /// - `waiting_token_cache` to at most a quarter of it, so a fan who polls only other
    ///   instances does not look idle here on the strength of an old copy (see the
    ///   `queue::tokens` module docs);
    /// - `poll_write_granularity` to at most an eighth of it, so a stored `last_seen_at` lags a
    ///   fan's last poll by a small share of the timeout (see the `queue::polls` module docs).
    ///
    /// Together they stay well inside the idle timeout: a fan polling only other instances
    /// never looks idle here, and is never dropped for long-unwritten polls.
    pub fn fitted(policy: &QueuePolicy, token_cache: Duration) -> QueueTuning {
        let defaults = QueueTuning::default();
        QueueTuning {
            token_cache,
            waiting_token_cache: defaults.waiting_token_cache.min(policy.idle_share(4)),
            poll_write_granularity: defaults.poll_write_granularity.min(policy.idle_share(8)),
            ..defaults
        }
    }
}

/// The PostgreSQL store. Cheap to clone: clones share one pool, one queue snapshot, one poll
/// buffer and one background task.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    queue: Arc<QueueRuntime>,
    /// Stops the background task when the last clone goes.
    _worker: Arc<Worker>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("max_connections", &status.max_size)
            .field("open", &status.size)
            .field("idle", &status.available)
            .finish()
    }
}

impl PgStore {
    /// Builds the pool, checks that the database answers, runs the embedded migrations and
    /// returns the store. Safe when several instances start at the same moment: migrations run
    /// under an advisory lock, so one instance applies them and the others find nothing to do.
    ///
    /// A database that cannot be reached gives [`domain::StoreError::Unavailable`] within about
    /// `options.acquire_timeout`.
    pub async fn connect(url: &str, options: PgOptions) -> StoreResult<PgStore> {
        Self::connect_with(url, options, QueueTuning::default()).await
    }

    /// [`PgStore::connect`] with the waiting room's timings given. Loads the queue snapshot
    /// before returning, then starts the store's background task on the current tokio runtime.
    pub async fn connect_with(url: &str, options: PgOptions, tuning: QueueTuning) -> StoreResult<PgStore> {
        let pool = pool::build(url, options.max_connections, options.acquire_timeout)?;
        let mut conn = pool::checkout(&pool).await?;
        ping(&mut conn).await?;
        drop(conn);
        let applied = migrate::run(url).await?;
        let queue = Arc::new(QueueRuntime::new(tuning));
        queue.refresh(&pool).await?;
        let worker = Arc::new(queue::spawn_worker(url, pool.clone(), Arc::clone(&queue)));
        tracing::info!(applied, max_connections = options.max_connections, "postgres store ready");
        Ok(PgStore { pool, queue, _worker: worker })
    }
}

impl PgStore {
    /// Whether changes are pushed to this store right now (its listening connection is up and
    /// caught up): while not, it trusts no copy and reads the database for everything.
    pub fn is_listening(&self) -> bool {
        self.queue.is_listening()
    }

    /// How late this store last heard a change pushed to it (a probe's round trip through the
    /// push path, see `queue/listener.rs`); `None` while not listening.
    pub fn notification_lag(&self) -> Option<std::time::Duration> {
        self.queue.notification_lag()
    }

    /// The connection pool's figures.
    pub fn pool_status(&self) -> PoolStatus {
        self.pool.figures()
    }

    /// The catalogue's epoch: a number that moves whenever the catalogue (concerts and
    /// performances) may have changed, through any instance or command, as soon as this store
    /// hears of it (and whenever listening starts again, since a change could have gone unheard);
    /// `None` while not listening. A copy of the catalogue read at one epoch is current while the
    /// epoch stays that one, so an in-process catalogue cache serves nothing from a copy tagged
    /// otherwise, and nothing at all while `None`.
    pub fn catalogue_epoch(&self) -> Option<u64> {
        self.queue.catalogue_epoch()
    }

    /// Whether this store keeps a copy of `token` (tests: tell a copy loaded in the background
    /// from one a read would make).
    #[cfg(feature = "testing")]
    pub async fn keeps_copy_of(&self, token: domain::TokenValue) -> bool {
        self.queue.tokens().contains(token).await
    }
}

/// A cheap round trip.
async fn ping(conn: &mut diesel_async::AsyncPgConnection) -> StoreResult<()> {
    diesel::select(1_i32.into_sql::<diesel::sql_types::Integer>())
        .get_result::<i32>(conn)
        .await
        .map(|_| ())
        .map_err(db_error)
}

#[async_trait]
impl HealthCheck for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = pool::checkout(&self.pool).await?;
        ping(&mut conn).await
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests;

#[cfg(test)]
mod tuning_tests {
    use super::*;

    fn policy(idle_seconds: i64) -> QueuePolicy {
        QueuePolicy { idle_timeout: time::Duration::seconds(idle_seconds), ..QueuePolicy::default() }
    }

    #[test]
    fn a_long_idle_timeout_keeps_the_defaults_but_the_token_cache() {
        let tuning = QueueTuning::fitted(&policy(600), Duration::from_millis(250));
        assert_eq!(tuning, QueueTuning { token_cache: Duration::from_millis(250), ..QueueTuning::default() });
    }

    #[test]
    fn a_short_idle_timeout_shortens_the_waiting_cache_to_a_quarter_and_the_granularity_to_an_eighth() {
        let tuning = QueueTuning::fitted(&policy(40), Duration::from_secs(1));
        assert_eq!(tuning.waiting_token_cache, Duration::from_secs(10));
        assert_eq!(tuning.poll_write_granularity, Duration::from_secs(5));
        assert_eq!(tuning.snapshot_refresh, QueueTuning::default().snapshot_refresh);
    }

    #[test]
    fn a_negative_idle_timeout_gives_zero_bounds() {
        let tuning = QueueTuning::fitted(&policy(-8), Duration::from_secs(1));
        assert_eq!(
            (tuning.waiting_token_cache, tuning.poll_write_granularity),
            (Duration::ZERO, Duration::ZERO)
        );
    }
}
