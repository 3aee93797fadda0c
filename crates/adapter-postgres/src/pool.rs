//! The connection pool, and the one way transactions check a connection out of it.
//!
//! Cancellation: a future dropped inside `transaction` leaves the
//! transaction open on its connection. diesel-async's recycling would refuse that connection
//! at its next checkout, but until then it would sit idle in the pool still holding its locks
//! (row locks, the admission tick's advisory lock). [`TxConn`] closes such a connection the
//! moment the future is dropped instead, so PostgreSQL rolls the transaction back and frees the
//! locks as soon as it notices (at once when idle, after the running statement otherwise).

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool::Runtime;
use diesel::{ConnectionError, ConnectionResult};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use domain::ports::{StoreError, StoreResult};
use tokio::runtime::Handle;

use crate::errors::pool_error;

/// The pool of this adapter: deadpool's, counting its checkouts and the time spent waiting
/// for them (an operator's first sign of a saturated pool). Cheap to clone; clones share both.
#[derive(Clone)]
pub(crate) struct PgPool {
    pool: Pool<AsyncPgConnection>,
    checkouts: Arc<Checkouts>,
}

impl Deref for PgPool {
    type Target = Pool<AsyncPgConnection>;

    fn deref(&self) -> &Self::Target {
        &self.pool
    }
}

#[derive(Debug, Default)]
struct Checkouts {
    count: AtomicU64,
    waited_nanos: AtomicU64,
}

/// A pool's figures: now, and its checkouts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open.
    pub size: usize,
    /// Connections it may open.
    pub max_size: usize,
    /// Connections checked out.
    pub in_use: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Checkouts so far, failed ones included.
    pub checkouts: u64,
    /// Time callers spent waiting for them, in all.
    pub waited: Duration,
}

impl PgPool {
    /// The figures now.
    pub(crate) fn figures(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            size: status.size,
            max_size: status.max_size,
            in_use: status.size.saturating_sub(status.available),
            waiting: status.waiting,
            checkouts: self.checkouts.count.load(Ordering::Relaxed),
            waited: Duration::from_nanos(self.checkouts.waited_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// A pooled connection.
pub(crate) type PgConn = Object<AsyncPgConnection>;

/// Builds the pool. Nothing connects yet. Every wait is bounded by `timeout`, so a database
/// that is down yields [`StoreError::Unavailable`] instead of a hang.
///
/// Recycling is `Fast`: no test query per checkout (that would double the round trips of a
/// primary-key read). A connection is still refused when its transaction state is broken or
/// its socket closed (a restarted server); one that died unnoticed fails its next statement
/// with `Unavailable` and is then discarded.
///
/// Connections are opened on the runtime that builds the pool (see [`open_on`]).
pub(crate) fn build(url: &str, max_size: usize, timeout: Duration) -> StoreResult<PgPool> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::Fast;
    if let Ok(runtime) = Handle::try_current() {
        config.custom_setup =
            Box::new(move |url| Box::pin(open_on(runtime.clone(), url.to_owned(), timeout)));
    }
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    let pool = Pool::builder(manager)
        .max_size(max_size.max(1))
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|error| StoreError::Internal(format!("cannot build the database pool: {error}")))?;
    Ok(PgPool { pool, checkouts: Arc::default() })
}

/// Opens a connection on `runtime`. diesel-async spawns each connection's driver task on the
/// runtime that opens it, and the connection dies with that task. The pool is shared by actix's
/// HTTP workers, each on a runtime of its own that stops when the worker does (one by one at
/// shutdown, while the others still drain their requests); opened on the store's runtime, a
/// connection lives as long as the store. Bounded by `timeout`, so no attempt lingers there.
async fn open_on(runtime: Handle, url: String, timeout: Duration) -> ConnectionResult<AsyncPgConnection> {
    let open = async move {
        tokio::time::timeout(timeout, AsyncPgConnection::establish(&url)).await.unwrap_or_else(|_| {
            Err(ConnectionError::BadConnection(format!("no connection within {timeout:?}")))
        })
    };
    runtime.spawn(open).await.unwrap_or_else(|error| {
        Err(ConnectionError::BadConnection(format!("opening a connection failed: {error}")))
    })
}

/// Checks a connection out for single statements. A future dropped mid-statement leaves the
/// connection usable (the driver discards the late reply), so it goes back to the pool.
pub(crate) async fn checkout(pool: &PgPool) -> StoreResult<PgConn> {
    let asked = Instant::now();
    let conn = pool.pool.get().await;
    let waited = u64::try_from(asked.elapsed().as_nanos()).unwrap_or(u64::MAX);
    pool.checkouts.count.fetch_add(1, Ordering::Relaxed);
    pool.checkouts.waited_nanos.fetch_add(waited, Ordering::Relaxed);
    conn.map_err(pool_error)
}

/// A connection checked out for one transaction. Call [`TxConn::finish`] once the transaction
/// future has completed; if the holder is dropped before that, the connection is taken out of
/// the pool and closed (see the module docs).
pub(crate) struct TxConn {
    conn: Option<PgConn>,
}

impl TxConn {
    /// Checks a connection out of `pool`.
    pub(crate) async fn checkout(pool: &PgPool) -> StoreResult<Self> {
        Ok(Self { conn: Some(checkout(pool).await?) })
    }

    /// The connection, to run a transaction on.
    pub(crate) fn conn(&mut self) -> StoreResult<&mut AsyncPgConnection> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| StoreError::Internal("transaction connection already released".into()))
    }

    /// The transaction has ended (committed or rolled back): the connection may be reused.
    pub(crate) fn finish(mut self) {
        drop(self.conn.take());
    }
}

impl Drop for TxConn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            tracing::warn!(
                event = "transaction_abandoned",
                "a transaction was dropped before it ended; closing its connection so it rolls back"
            );
            drop(Object::take(conn));
        }
    }
}
