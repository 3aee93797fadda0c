//! The waiting room's in-process state, shared by the clones of one store: the snapshot, the
//! poll buffer, the token copies, and the background tasks: one refreshes the snapshot and
//! writes the polls, one listens for changes (see the `listener` module).
//!
//! Kept in one file although it runs past 400 lines: the state and every path that changes it
//! (refresh, apply a pushed change, trust and stop trusting) share one set of locks, whose
//! order is easiest to check when they are read together.
//!
//! When the watermark moves, the background refresh also reads the tokens the move admitted
//! and keeps copies of them ([`QueueRuntime::refresh`]): an admitted fan's first request, the
//! one every fan of a same-seat race makes, then costs no read of its token. It is one query
//! per admission step for each instance instead of one per admitted fan.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Nullable, Timestamptz, Uuid};
use diesel_async::RunQueryDsl;
use domain::ports::{StoreError, StoreResult};
use domain::{Occupancy, QueueToken};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::QueueTuning;
use crate::errors::db_error;
use crate::models::{TokenRow, convert_all, unsigned};
use crate::pool::{PgPool, checkout};
use crate::queue::admission::ControlsRow;
use crate::queue::listener::{self, CatalogueEpoch, Change, Since};
use crate::queue::polls::{InFlight, PollBuffer, PollsToWrite};
use crate::queue::snapshot::{Observed, Place, Snapshot};
use crate::queue::tokens::{StoreCopy, TokenCache};
use crate::statement::{bind, prepared};

/// The watermark, the admission counter, the controls, the last admission step, the active
/// count, the newest ticket, this read's snapshot xmin (the xid the next refresh reads drops
/// from), and the dropped tickets above the watermark written at or after the previous read's
/// xmin: one statement, one snapshot, so they agree. Idle, it reads one row, counts the active tokens in their partial index (at most the
/// cap), looks the newest ticket up in its index, and finds nothing in the `xid` index.
/// Bind: $1 the xid the previous refresh returned.
const REFRESH: &str = "\
SELECT s.admitted_through,
       s.admitted_total,
       s.paused,
       s.max_active,
       s.admit_per_tick,
       s.last_admission_at,
       (SELECT count(*) FROM queue_tokens WHERE status = 'ACTIVE') AS active,
       COALESCE((SELECT max(ticket) FROM queue_tokens), 0) AS newest,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS drops_from_xid,
       ARRAY(SELECT d.ticket FROM queue_drops d
              WHERE d.xid >= $1 AND d.ticket > s.admitted_through) AS drops
  FROM queue_state s";

/// Writes a batch of polls; never moves `last_seen_at` back, touches only waiting tokens, and
/// skips rows the batch would not change. Binds: $1 tokens, $2 instants (same order).
const FLUSH: &str = "\
UPDATE queue_tokens t SET last_seen_at = v.seen
  FROM unnest($1::uuid[], $2::timestamptz[]) AS v(token, seen)
 WHERE t.token = v.token AND t.status = 'WAITING' AND t.last_seen_at < v.seen";

/// The tokens an admission step admitted, to keep copies of. Binds: $1 the watermark before the
/// step (exclusive), $2 after it (inclusive).
const ADMITTED: &str = "\
SELECT token, user_id, ticket, status, issued_at, last_seen_at, expires_at
  FROM queue_tokens
 WHERE ticket > $1 AND ticket <= $2 AND status = 'ACTIVE'";

/// Most tickets whose admitted tokens one refresh reads; a longer move (the first refresh
/// after a start or a reconnection) reads only the newest ones, and older fans' tokens are
/// read on their first request.
const ADMITTED_SPAN: u64 = 50_000;

/// Most polls written by one statement (a bigger batch is split).
const FLUSH_CHUNK: usize = 20_000;

/// What [`REFRESH`] returns.
#[derive(QueryableByName)]
struct RefreshRow {
    #[diesel(sql_type = BigInt)]
    admitted_through: i64,
    #[diesel(sql_type = BigInt)]
    admitted_total: i64,
    #[diesel(embed)]
    controls: ControlsRow,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_admission_at: Option<time::OffsetDateTime>,
    #[diesel(sql_type = BigInt)]
    active: i64,
    #[diesel(sql_type = BigInt)]
    newest: i64,
    #[diesel(sql_type = BigInt)]
    drops_from_xid: i64,
    #[diesel(sql_type = Array<BigInt>)]
    drops: Vec<i64>,
}

/// The state one store's clones share.
#[derive(Debug)]
pub(crate) struct QueueRuntime {
    snapshot: RwLock<Snapshot>,
    polls: Mutex<PollBuffer>,
    tokens: TokenCache,
    /// Whether changes are being pushed to this store; nothing is trusted while they are not.
    listening: Arc<Since>,
    /// Moves with every catalogue change heard and every (re)start of listening.
    catalogue: CatalogueEpoch,
    /// How late the last probe came back (see `listener`), in nanoseconds; none while 0.
    lag_nanos: AtomicU64,
    /// One refresh at a time (the background one or an inline one).
    refreshing: tokio::sync::Mutex<()>,
    /// Set when a change to the queue was pushed: the refresher task reads it at once.
    refresh_wanted: tokio::sync::Notify,
    /// One flush at a time, so a flush that returns has written everything before it.
    flushing: tokio::sync::Mutex<()>,
    /// Since when listening had lasted, and the watermark up to which admitted tokens were
    /// read into the copies then (one reader at a time): a new listening session, whose copies
    /// start empty, reads them again.
    loaded: tokio::sync::Mutex<(Option<Instant>, u64)>,
    /// When a refresh last failed.
    last_failure: Mutex<Option<Instant>>,
    tuning: QueueTuning,
}

impl QueueRuntime {
    /// Empty state; call [`QueueRuntime::refresh`] before serving positions.
    pub(crate) fn new(tuning: QueueTuning) -> Self {
        let listening = Arc::new(Since::new());
        Self {
            snapshot: RwLock::new(Snapshot::default()),
            polls: Mutex::new(PollBuffer::default()),
            tokens: TokenCache::new(tuning.token_cache, tuning.waiting_token_cache, Arc::clone(&listening)),
            listening,
            catalogue: CatalogueEpoch::default(),
            lag_nanos: AtomicU64::new(0),
            refreshing: tokio::sync::Mutex::new(()),
            refresh_wanted: tokio::sync::Notify::new(),
            flushing: tokio::sync::Mutex::new(()),
            loaded: tokio::sync::Mutex::new((None, 0)),
            last_failure: Mutex::new(None),
            tuning,
        }
    }

    /// The snapshot, to read.
    pub(crate) fn snapshot(&self) -> RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The snapshot, to apply this instance's own writes.
    pub(crate) fn snapshot_mut(&self) -> RwLockWriteGuard<'_, Snapshot> {
        self.snapshot.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The poll buffer.
    pub(crate) fn polls(&self) -> std::sync::MutexGuard<'_, PollBuffer> {
        self.polls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the periodic flush writes: polls that move a stored instant by the granularity.
    pub(crate) fn periodic(&self) -> PollsToWrite {
        PollsToWrite { granularity: self.granularity(), idle_before: None }
    }

    fn granularity(&self) -> time::Duration {
        time::Duration::try_from(self.tuning.poll_write_granularity).unwrap_or(time::Duration::ZERO)
    }

    /// What the admission's flush writes before it drops idle tokens: also every poll whose
    /// stored instant is within a second of the idle cutoff `idle_before`.
    pub(crate) fn before_drops(&self, idle_before: time::OffsetDateTime) -> PollsToWrite {
        PollsToWrite {
            granularity: self.granularity(),
            idle_before: Some(idle_before + time::Duration::seconds(1)),
        }
    }

    /// Recently read tokens.
    pub(crate) fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// Changes are pushed from now on, and the snapshot was refreshed after `caught_up`: copies
    /// may be used again, once those made before are dropped. The catalogue gets a new epoch:
    /// it may have changed unheard before.
    pub(crate) fn start_trusting(&self, caught_up: Instant) {
        self.tokens.clear();
        self.listening.set(caught_up);
        self.catalogue.start();
        self.refresh_wanted.notify_one();
    }

    /// Changes are no longer pushed: from now on every read goes to the database.
    pub(crate) fn stop_trusting(&self) {
        self.listening.clear();
        self.catalogue.stop();
        self.lag_nanos.store(0, Ordering::Relaxed);
    }

    /// A probe came back `lag` after it was sent.
    pub(crate) fn heard_after(&self, lag: Duration) {
        let nanos = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.lag_nanos.store(nanos, Ordering::Relaxed);
    }

    /// How late changes were last heard; `None` while not listening or before the first probe.
    pub(crate) fn notification_lag(&self) -> Option<Duration> {
        let nanos = AtomicU64::load(&self.lag_nanos, Ordering::Relaxed);
        (self.is_listening() && nanos > 0).then(|| Duration::from_nanos(nanos))
    }

    /// The catalogue's epoch ([`CatalogueEpoch`]): `None` while not listening.
    pub(crate) fn catalogue_epoch(&self) -> Option<u64> {
        self.catalogue.get()
    }

    /// Whether changes are pushed to this store now.
    pub(crate) fn is_listening(&self) -> bool {
        self.listening.get().is_some()
    }

    /// Applies changes heard from the database: token changes at once; a moved queue wakes
    /// the refresher task ([`refresh_when_told`]), so that a slow refresh never holds back the
    /// next token change (several wakes before it runs make one refresh).
    pub(crate) async fn apply(&self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::QueueMoved => self.refresh_wanted.notify_one(),
                Change::TokenEnded(value) => self.tokens.leave_tombstone(value).await,
                Change::TokensForgotten => self.tokens.forget_ended(),
                Change::CatalogueChanged => self.catalogue.bump(),
            }
        }
    }

    /// Reads what changed since the last refresh and applies it, then keeps copies of the
    /// tokens admitted since the last such read (background refreshes only: a request never
    /// waits for it).
    pub(crate) async fn refresh(&self, pool: &PgPool) -> StoreResult<()> {
        {
            let _one_at_a_time = self.refreshing.lock().await;
            self.refresh_locked(pool).await?;
        }
        self.load_admitted(pool).await
    }

    /// Reads the tokens admitted between the last watermark loaded and the snapshot's, and
    /// stores copies of them as any read would ([`TokenCache::remember`]: never over a payment's
    /// tombstone, and only if read while listening). Does nothing while copies are not trusted.
    async fn load_admitted(&self, pool: &PgPool) -> StoreResult<()> {
        let Ok(mut loaded) = self.loaded.try_lock() else {
            return Ok(()); // another refresh is reading them
        };
        let session = self.listening.get();
        let loaded_through = if loaded.0 == session { loaded.1 } else { 0 };
        let through = self.snapshot().admitted_through();
        if through <= loaded_through || !self.tokens.trusted() {
            return Ok(());
        }
        let after = loaded_through.max(through.saturating_sub(ADMITTED_SPAN));
        let asked = Instant::now();
        let mut conn = checkout(pool).await?;
        let ticket = |ticket: u64| bind::<BigInt, _>(i64::try_from(ticket).unwrap_or(i64::MAX));
        let binds = (ticket(after), ticket(through));
        let rows: Vec<TokenRow> = prepared(ADMITTED, binds).load(&mut conn).await.map_err(db_error)?;
        drop(conn);
        let admitted = rows.len();
        for (n, token) in convert_all::<_, QueueToken>(rows)?.iter().enumerate() {
            self.tokens.remember(token, asked, StoreCopy::IfNoEntry).await;
            // Thousands of copies at once: let the requests sharing this thread through.
            if n % 256 == 255 {
                tokio::task::yield_now().await;
            }
        }
        if self.listening.get() == session {
            *loaded = (session, through);
        }
        tracing::debug!(admitted, after, through, "admitted tokens copied");
        Ok(())
    }

    async fn refresh_locked(&self, pool: &PgPool) -> StoreResult<()> {
        let result = self.read_changes(pool).await;
        if result.is_err() {
            *self.last_failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
        result
    }

    async fn read_changes(&self, pool: &PgPool) -> StoreResult<()> {
        let drops_from_xid = self.snapshot().drops_from_xid();
        let started = Instant::now();
        let mut conn = checkout(pool).await?;
        let row: RefreshRow = prepared(REFRESH, bind::<BigInt, _>(drops_from_xid))
            .get_result(&mut conn)
            .await
            .map_err(db_error)?;
        drop(conn);
        let observed = Observed {
            admitted_through: unsigned(row.admitted_through)?,
            occupancy: Occupancy {
                admitted_total: unsigned(row.admitted_total)?,
                active: unsigned(row.active)?,
            },
            controls: row.controls.controls()?,
            last_admission_at: row.last_admission_at,
            newest: unsigned(row.newest)?,
            drops: row.drops.into_iter().map(unsigned).collect::<Result<_, _>>()?,
            drops_from_xid: row.drops_from_xid,
        };
        let new_drops = observed.drops.len();
        self.snapshot_mut().apply(observed, started);
        if new_drops > 0 {
            tracing::debug!(new_drops, drops_from_xid = row.drops_from_xid, "queue snapshot refreshed");
        }
        Ok(())
    }

    /// Where `ticket` stands, from a snapshot no older than `snapshot_max_age` while changes are
    /// pushed, and otherwise from one refreshed after this call began: a snapshot that is too
    /// old is refreshed first (requests waiting together share one refresh), so a position is
    /// never computed from a stale watermark.
    ///
    /// Callers that queued behind a refresh that failed fail too, at once, instead of each
    /// retrying in turn while the database is away.
    pub(crate) async fn place(&self, pool: &PgPool, ticket: u64) -> StoreResult<Place> {
        if let Some(place) = self.fresh_place(ticket) {
            return Ok(place);
        }
        let asked = Instant::now();
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(place) = self.fresh_place(ticket) {
            return Ok(place);
        }
        let refreshed_since_asked = {
            let snapshot = self.snapshot();
            snapshot.refreshed_at().is_some_and(|at| at >= asked).then(|| snapshot.place(ticket))
        };
        if let Some(place) = refreshed_since_asked {
            return Ok(place);
        }
        let failed = *self.last_failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failed.is_some_and(|at| at >= asked) {
            return Err(StoreError::Unavailable("the queue snapshot cannot be refreshed".into()));
        }
        tracing::debug!(event = "queue_snapshot_stale", "refreshing the queue snapshot inline");
        self.refresh_locked(pool).await?;
        Ok(self.snapshot().place(ticket))
    }

    /// [`Snapshot::place`], if changes are pushed and the snapshot is fresh enough (one read of
    /// the snapshot).
    pub(crate) fn fresh_place(&self, ticket: u64) -> Option<Place> {
        if !self.is_listening() {
            return None;
        }
        let snapshot = self.snapshot();
        let fresh = snapshot.age(Instant::now()).is_some_and(|age| age <= self.tuning.snapshot_max_age);
        fresh.then(|| snapshot.place(ticket))
    }

    /// Writes the buffered polls `to_write` includes (see the `polls` module); returns how many rows
    /// changed. When it returns `Ok`, every such poll recorded before the call is in the
    /// database.
    pub(crate) async fn flush(&self, pool: &PgPool, to_write: PollsToWrite) -> StoreResult<usize> {
        let _one_at_a_time = self.flushing.lock().await;
        let flight = InFlight::take(&self.polls, to_write);
        if flight.batch().is_empty() {
            flight.written();
            return Ok(0);
        }
        let mut conn = checkout(pool).await?;
        let mut changed = 0;
        for chunk in flight.batch().chunks(FLUSH_CHUNK) {
            let (tokens, seen): (Vec<uuid::Uuid>, Vec<time::OffsetDateTime>) = chunk.iter().copied().unzip();
            let binds = (bind::<Array<Uuid>, _>(tokens), bind::<Array<Timestamptz>, _>(seen));
            changed += prepared(FLUSH, binds).execute(&mut conn).await.map_err(db_error)?;
        }
        let polls = flight.batch().len();
        flight.written();
        tracing::debug!(polls, changed, "buffered polls written");
        Ok(changed)
    }
}

/// Stops the background tasks of a store when dropped (the last clone of the store owns it).
/// The periodic task then writes the polls still buffered and ends, releasing its pool; the
/// listener closes its connection.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Every task of the store watches it, and stops once it is dropped.
    _stop: watch::Sender<()>,
}

/// Starts the background tasks of `queue` on the current tokio runtime: the periodic one, the
/// listener on a connection of its own to `url`, and the refresher it wakes.
pub(crate) fn spawn_worker(url: &str, pool: PgPool, queue: Arc<QueueRuntime>) -> Worker {
    let (stop, stopped) = watch::channel(());
    tokio::spawn(listener::run(url.to_owned(), pool.clone(), Arc::clone(&queue), stopped.clone()));
    tokio::spawn(refresh_when_told(pool.clone(), Arc::clone(&queue), stopped.clone()));
    tokio::spawn(run(pool, queue, stopped));
    Worker { _stop: stop }
}

/// Refreshes the snapshot each time a pushed change asks for it. A failure is logged once; the
/// snapshot then ages, and a position is never computed from one older than `snapshot_max_age`.
async fn refresh_when_told(pool: PgPool, queue: Arc<QueueRuntime>, mut stopped: watch::Receiver<()>) {
    let mut health = Health::default();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            () = queue.refresh_wanted.notified() => health.report("refresh_pushed", queue.refresh(&pool).await),
        }
    }
}

/// Logs a failing background job once when it starts failing and once when it recovers,
/// instead of every few hundred milliseconds while the database is away.
#[derive(Default)]
struct Health {
    failing: bool,
}

impl Health {
    fn report<T>(&mut self, job: &'static str, result: StoreResult<T>) {
        match (result, self.failing) {
            (Ok(_), true) => {
                self.failing = false;
                tracing::info!(job, "queue background job recovered");
            }
            (Err(error), false) => {
                self.failing = true;
                tracing::warn!(job, %error, "queue background job failing; retrying");
            }
            _ => {}
        }
    }
}

/// At least a millisecond: `tokio::time::interval` refuses zero.
fn period(duration: Duration) -> Duration {
    duration.max(Duration::from_millis(1))
}

async fn run(pool: PgPool, queue: Arc<QueueRuntime>, mut stopped: watch::Receiver<()>) {
    let mut refresh = tokio::time::interval(period(queue.tuning.snapshot_refresh));
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut flush = tokio::time::interval(period(queue.tuning.poll_flush));
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut refresh_health, mut flush_health) = (Health::default(), Health::default());
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = refresh.tick() => refresh_health.report("refresh_snapshot", queue.refresh(&pool).await),
            _ = flush.tick() => flush_health.report("flush_polls", queue.flush(&pool, queue.periodic()).await),
        }
    }
    let left = queue.polls().len();
    if left > 0
        && let Err(error) = queue.flush(&pool, PollsToWrite::ALL).await
    {
        tracing::warn!(polls = left, %error, "buffered polls lost at shutdown");
    }
    tracing::debug!("queue background task stopped");
}
