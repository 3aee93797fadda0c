//! The embedded migrations, run on a dedicated blocking connection (diesel's migration harness
//! is synchronous, so it runs on `AsyncConnectionWrapper` inside `spawn_blocking`). A session
//! advisory lock around them lets any number of instances start at the same moment: one
//! migrates, the others wait and then find nothing pending.

use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use domain::ports::{StoreError, StoreResult};

use crate::errors::{connection_error, db_error};

/// Every migration of the workspace, compiled in.
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// The advisory lock key that serialises migrations (ASCII "frontrow" + 0).
const MIGRATION_LOCK: i64 = 0x6672_6f6e_7472_6f00;

/// Runs the pending migrations against `url`; returns how many ran.
pub(crate) async fn run(url: &str) -> StoreResult<usize> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || run_blocking(&url))
        .await
        .map_err(|error| StoreError::Internal(format!("the migration task failed: {error}")))?
}

fn run_blocking(url: &str) -> StoreResult<usize> {
    let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(url)
        .map_err(|error| connection_error(&error))?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .map_err(db_error)?;
    let ran = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.len())
        .map_err(|error| StoreError::Internal(format!("migrations failed: {error}")));
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .map_err(db_error);
    let ran = ran?;
    unlocked?;
    Ok(ran)
}
