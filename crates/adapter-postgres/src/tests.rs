//! Cancellation tests: they need the crate's private transaction plumbing, so they live here
//! rather than in `tests/`.

use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::ports::{QueueRepository, WalletRepository};
use domain::{QueuePolicy, UserId};
use time::macros::datetime;

use crate::errors::TxError;
use crate::pool::{TxConn, checkout};
use crate::testing::TestDatabase;
use crate::{ADMIT_LOCK, PgOptions, PgStore};

fn user(n: i64) -> UserId {
    UserId::new(n).expect("valid id")
}

async fn store_of(db: &TestDatabase, max_connections: usize) -> PgStore {
    let options = PgOptions { max_connections, acquire_timeout: Duration::from_secs(2) };
    PgStore::connect(db.url(), options).await.expect("connect")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Sessions of this database left inside a transaction, once the one that just rolled back
/// has left `pg_stat_activity` (a backend leaves it a moment after releasing its locks).
async fn sessions_in_transaction(store: &PgStore) -> i64 {
    let mut conn = checkout(&store.pool).await.expect("checkout");
    let mut count = 0;
    for _ in 0..40 {
        let found: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()
                AND state LIKE 'idle in transaction%'",
        )
        .get_result(&mut conn)
        .await
        .expect("pg_stat_activity");
        count = found.n;
        if count == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    count
}

/// Starts a settle/admit-like transaction (a row written, the admission lock taken, then a slow
/// statement) and drops it mid-way, as actix does with the future of a vanished client.
async fn abandon_a_transaction(store: &PgStore) {
    let abandoned = async {
        let mut tx = TxConn::checkout(&store.pool).await.expect("checkout");
        let conn = tx.conn().expect("connection");
        let result = conn
            .transaction::<(), TxError, _>(async |conn| {
                diesel::sql_query("INSERT INTO users (id, balance, created_at) VALUES (42, 0, now())")
                    .execute(conn)
                    .await?;
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<BigInt, _>(ADMIT_LOCK)
                    .execute(conn)
                    .await?;
                diesel::sql_query("SELECT pg_sleep(1)").execute(conn).await?;
                Ok(())
            })
            .await;
        tx.finish();
        result
    };
    assert!(tokio::time::timeout(Duration::from_millis(200), abandoned).await.is_err(), "dropped mid-way");
}

const NOW: time::OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_mid_way_never_comes_back_from_a_pool_of_one() {
    let db = TestDatabase::create().await;
    let store = store_of(&db, 1).await;
    abandon_a_transaction(&store).await;

    let started = Instant::now();
    // The pool's only slot works again, outside any transaction: the uncommitted row would be
    // visible here if the abandoned connection had come back.
    assert_eq!(store.balance(user(42)).await, Ok(None));
    // The abandoned transaction's advisory lock is released once PostgreSQL rolls it back.
    assert!(store.admit(NOW, &QueuePolicy::default()).await.is_ok());
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(sessions_in_transaction(&store).await, 0);
    assert_eq!(store.balance(user(42)).await, Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_mid_way_does_not_keep_its_locks_idle_in_the_pool() {
    let db = TestDatabase::create().await;
    let store = store_of(&db, 2).await;
    {
        // Two idle connections, so the next checkout need not touch the abandoned one.
        let _first = checkout(&store.pool).await.expect("checkout");
        let _second = checkout(&store.pool).await.expect("checkout");
    }
    abandon_a_transaction(&store).await;

    let started = Instant::now();
    let tick = tokio::time::timeout(Duration::from_secs(5), store.admit(NOW, &QueuePolicy::default())).await;
    assert!(matches!(tick, Ok(Ok(_))), "the admission lock stayed held: {tick:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(sessions_in_transaction(&store).await, 0);
    assert_eq!(store.balance(user(42)).await, Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_dropped_mid_way_leaves_its_connection_usable() {
    let db = TestDatabase::create().await;
    let store = store_of(&db, 1).await;
    let slow = async {
        let mut conn = checkout(&store.pool).await.expect("checkout");
        diesel::sql_query("SELECT pg_sleep(0.5)").execute(&mut conn).await
    };
    assert!(tokio::time::timeout(Duration::from_millis(100), slow).await.is_err(), "dropped mid-way");
    let started = Instant::now();
    assert_eq!(domain::ports::HealthCheck::ping(&store).await, Ok(()));
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_outlives_the_runtime_that_opened_it() {
    // actix serves each HTTP worker on a runtime of its own and, shutting down, stops an idle
    // worker's runtime while the others still finish their requests on pooled connections.
    let db = TestDatabase::create().await;
    let pool = crate::pool::build(db.url(), 1, Duration::from_secs(2)).expect("pool");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (opened, is_open) = tokio::sync::oneshot::channel::<()>();
    let other_pool = pool.clone();
    let other = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            drop(checkout(&other_pool).await.expect("open the connection on the other runtime"));
            let _ = opened.send(());
            let _ = stopped.await;
        });
    });
    is_open.await.expect("the other runtime opened the connection");

    let mut conn = checkout(&pool).await.expect("checkout");
    let query = diesel::sql_query("SELECT pg_sleep(0.5)").execute(&mut conn);
    let stop_the_other = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop.send(());
        tokio::task::spawn_blocking(move || other.join()).await.expect("join").expect("the other thread");
    };
    let (answer, ()) = tokio::join!(query, stop_the_other);
    assert!(answer.is_ok(), "the query died with the runtime that opened its connection: {answer:?}");
}
