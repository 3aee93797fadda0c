//! Start-up, migrations, per-test databases, and what a missing database looks like.

use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use adapter_postgres::{PgOptions, PgStore};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::StoreError;
use domain::ports::{CatalogueRepository, HealthCheck};

use crate::support::seed;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).await.expect(sql).n
}

/// How many migration folders the workspace has.
fn migration_folders() -> i64 {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
    let dirs = std::fs::read_dir(folder).expect("migrations folder").flatten().filter(|e| e.path().is_dir());
    i64::try_from(dirs.count()).expect("a few folders")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_even_when_four_instances_start_together_and_then_are_a_no_op() {
    let db = TestDatabase::create().await;
    let mut conn = AsyncPgConnection::establish(db.url()).await.expect("connect");
    diesel::sql_query("DROP SCHEMA public CASCADE").execute(&mut conn).await.expect("drop schema");
    diesel::sql_query("CREATE SCHEMA public").execute(&mut conn).await.expect("create schema");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'").await, 0);

    let url = db.url().to_owned();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url, PgOptions::default()).await })
        })
        .collect();
    for start in starts {
        let store = start.await.expect("task").expect("connect");
        assert_eq!(store.concerts().await, Ok(vec![]));
    }
    let applied = "SELECT count(*) AS n FROM __diesel_schema_migrations";
    assert_eq!(count(&mut conn, applied).await, migration_folders());

    let again = PgStore::connect(&url, PgOptions::default()).await.expect("connect again");
    assert_eq!(count(&mut conn, applied).await, migration_folders());
    seed(&again).await;
    assert_eq!(again.concerts().await.map(|c| c.len()), Ok(2));
}

#[tokio::test]
async fn test_databases_are_isolated_and_gone_once_dropped() {
    let first = TestDatabase::create().await;
    let second = TestDatabase::create().await;
    assert_ne!(first.url(), second.url());
    let (one, two) = (first.store().await, second.store().await);
    seed(&one).await;
    assert_eq!(one.concerts().await.map(|c| c.len()), Ok(2));
    assert_eq!(two.concerts().await, Ok(vec![]));

    let name = first.url().rsplit('/').next().expect("database name").to_owned();
    drop(one);
    drop(first);
    let mut conn = AsyncPgConnection::establish(second.url()).await.expect("connect");
    let left = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(&name)
        .get_result::<Count>(&mut conn)
        .await
        .expect("pg_database");
    assert_eq!(left.n, 0);
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_unavailable_within_the_timeout() {
    let started = Instant::now();
    let options = PgOptions { max_connections: 2, acquire_timeout: Duration::from_secs(1) };
    let result = PgStore::connect("postgres://postgres@127.0.0.1:1/frontrow", options).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let message = format!("{result:?}");
    assert!(!message.contains("127.0.0.1:1/frontrow"), "the URL leaked: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_database_went_away_answers_unavailable() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    assert_eq!(store.ping().await, Ok(()));
    drop(db);
    let started = Instant::now();
    for _ in 0..3 {
        let result = store.ping().await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_agree_on_one_signing_key_and_keep_it() {
    let db = TestDatabase::create().await;
    let stores = [db.store().await, db.store().await, db.store().await, db.store().await];
    let offers = stores.iter().enumerate().map(|(i, store)| {
        let candidate = vec![u8::try_from(i).expect("small"); 32];
        async move { store.shared_signing_key(&candidate).await.expect("a key") }
    });
    let keys = futures::future::join_all(offers).await;
    assert!(keys.iter().all(|key| *key == keys[0]), "one key for all: {keys:?}");
    assert!((0..4_u8).any(|i| keys[0] == vec![i; 32]), "one of the candidates was kept");
    let later = db.store().await.shared_signing_key(&[9; 32]).await.expect("a key");
    assert_eq!(later, keys[0], "an instance starting later gets the same key");
}
