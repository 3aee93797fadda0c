//! Nothing the waiting room or the idempotency keys leave behind piles up: the purge keeps up
//! with any write rate (one call deletes every record past the TTL, batch after batch, one
//! instance at a time), and a full room that fans keep joining and leaving keeps no record of
//! them once an admission step has passed them.

use adapter_postgres::PgStore;
use adapter_postgres::testing::TestDatabase;
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::QueuePolicy;
use domain::idempotency::RESPONSE_TTL;
use domain::ports::{IdempotencyRepository, QueueRepository};
use time::OffsetDateTime;

use crate::support::{issue_at, seconds};

/// The advisory lock the purge takes per batch (the adapter's `PURGE_LOCK`).
const PURGE_LOCK: i64 = 0x6672_6f6e_7472_6f04;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn rows(conn: &mut AsyncPgConnection, table: &str) -> i64 {
    let sql = format!("SELECT count(*) AS n FROM {table}");
    diesel::sql_query(sql).get_result::<Count>(conn).await.expect("count rows").n
}

async fn keys(conn: &mut AsyncPgConnection) -> i64 {
    rows(conn, "idempotency_keys").await
}

/// A store whose user 1 has 25,000 keys claimed two days ago (three batches' worth) and five
/// claimed now, a connection of the test's own to it, and now.
async fn flooded(db: &TestDatabase) -> (PgStore, AsyncPgConnection, OffsetDateTime) {
    let store = db.store().await;
    let now = OffsetDateTime::now_utc();
    issue_at(&store, 1, now).await;
    let mut conn = AsyncPgConnection::establish(db.url()).await.expect("connect");
    let sql = "INSERT INTO idempotency_keys (user_id, key, fingerprint, claimed_at)
               SELECT 1, 'old-' || g, 'fp', now() - interval '2 days' FROM generate_series(1, 25000) g
               UNION ALL
               SELECT 1, 'new-' || g, 'fp', now() FROM generate_series(1, 5) g";
    diesel::sql_query(sql).execute(&mut conn).await.expect("flood the keys");
    (store, conn, now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_purge_deletes_every_expired_key_however_many_batches_it_takes() {
    let db = TestDatabase::create().await;
    let (store, mut conn, now) = flooded(&db).await;
    assert_eq!(store.purge_expired(now, RESPONSE_TTL).await, Ok(25_000), "all of them, in one call");
    assert_eq!(keys(&mut conn).await, 5, "the live keys stay");
    assert_eq!(store.purge_expired(now, RESPONSE_TTL).await, Ok(0), "nothing left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_while_another_instance_purges_leaves_the_work_to_it() {
    let db = TestDatabase::create().await;
    let (store, mut conn, now) = flooded(&db).await;
    let mut other = AsyncPgConnection::establish(db.url()).await.expect("connect");
    diesel::sql_query("BEGIN").execute(&mut other).await.expect("begin");
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(PURGE_LOCK)
        .execute(&mut other)
        .await
        .expect("another instance purges");
    assert_eq!(store.purge_expired(now, RESPONSE_TTL).await, Ok(0), "it does not wait, it leaves");
    assert_eq!(keys(&mut conn).await, 25_005, "nothing deleted meanwhile");
    diesel::sql_query("COMMIT").execute(&mut other).await.expect("commit");
    assert_eq!(store.purge_expired(now, RESPONSE_TTL).await, Ok(25_000), "once it is done, this one purges");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_that_fans_join_and_leave_keeps_no_record_of_them() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let mut conn = AsyncPgConnection::establish(db.url()).await.expect("connect");
    let one_place = QueuePolicy { max_active: 1, ..QueuePolicy::default() };
    let now = OffsetDateTime::now_utc();
    issue_at(&store, 1, now).await;
    assert_eq!(store.admit(now, &one_place).await.map(|report| report.admitted), Ok(1));
    for n in 2..=101 {
        issue_at(&store, n, now + seconds(1)).await;
    }
    let later = now + seconds(200);
    let report = store.admit(later, &one_place).await.expect("admit works");
    assert_eq!((report.admitted, report.dropped), (0, 100), "the room is full; the hundred idled out");
    assert_eq!(rows(&mut conn, "queue_drops").await, 0, "the watermark passed every drop");

    let next = issue_at(&store, 200, later).await;
    assert_eq!(store.position(&next).await, Ok(1), "the next fan is first in line");
}
