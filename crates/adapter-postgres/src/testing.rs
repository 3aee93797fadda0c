//! Test support (feature `testing`): one fresh, migrated, empty database per test, so tests run
//! in parallel and never see each other's rows.
//!
//! Each database is a copy of a template database that holds the migrated schema. The template
//! is built once per migration set (its name carries a hash of the `migrations` folder, so a
//! changed migration gets a new template) and then reused by every test of every process.
//! Copying the template (`CREATE DATABASE … TEMPLATE …`) takes a few tens of milliseconds,
//! far less than running the migrations each time.
//!
//! The admin connection comes from `FRONTROW_TEST_PG_URL` (default [`DEFAULT_ADMIN_URL`]).
//! Everything here panics on failure: it is meant for tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::QueryableByName;
use diesel::migration::MigrationSource;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::migrate::MIGRATIONS;
use crate::{PgOptions, PgStore};

/// The wallet's credit statement, for the concurrency study to race the product's own SQL
/// (binds: $1 user, $2 amount, $3 at, $4 ceiling).
pub const WALLET_CREDIT: &str = crate::wallet::CREDIT;

/// The admin URL used when `FRONTROW_TEST_PG_URL` is not set.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Advisory lock key (on the admin database) that serialises template creation.
const TEMPLATE_LOCK: i64 = 0x6672_6f6e_7472_6f03;

/// How long to keep retrying a copy while the template still has a connection closing.
const COPY_ATTEMPTS: u32 = 100;

/// Set once this process has seen the template ready.
static TEMPLATE_READY: AtomicBool = AtomicBool::new(false);

/// A database of its own for one test, dropped (with `FORCE`) when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a fresh, migrated, empty database cloned from the template (creating the
    /// template first if this migration set has none yet). Safe when many test threads and
    /// processes do it at once. Panics, saying how to start PostgreSQL, when it is not reachable.
    pub async fn create() -> TestDatabase {
        let admin_url =
            std::env::var("FRONTROW_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let mut admin = connect_admin(&admin_url).await;
        let template = template_name();
        if !AtomicBool::load(&TEMPLATE_READY, Ordering::Acquire) {
            ensure_template(&mut admin, &admin_url, &template).await;
            TEMPLATE_READY.store(true, Ordering::Release);
        }
        let name = format!("frontrow_test_{}", uuid::Uuid::new_v4().simple());
        copy_template(&mut admin, &template, &name).await;
        tracing::debug!(database = %name, template = %template, "test database created");
        TestDatabase { url: with_database(&admin_url, &name), name, admin_url }
    }

    /// The connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A store on this database with the default pool options (the migrations are already
    /// there, so connecting runs none).
    pub async fn store(&self) -> PgStore {
        PgStore::connect(&self.url, PgOptions::default())
            .await
            .unwrap_or_else(|error| panic!("cannot open a store on test database {}: {error}", self.name))
    }
}

impl Drop for TestDatabase {
    /// Drop is synchronous and may run inside or outside a runtime, so the database is dropped
    /// from a fresh thread with its own current-thread runtime, which this waits for.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async move {
                let mut admin = AsyncPgConnection::establish(&admin_url).await.map_err(|e| e.to_string())?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => tracing::debug!(database = %self.name, "test database dropped"),
            Ok(Err(error)) => tracing::warn!(database = %self.name, %error, "cannot drop test database"),
            Err(_) => tracing::warn!(database = %self.name, "the thread dropping a test database panicked"),
        }
    }
}

/// Opens the admin connection or panics with directions.
async fn connect_admin(admin_url: &str) -> AsyncPgConnection {
    let attempt =
        tokio::time::timeout(Duration::from_secs(10), AsyncPgConnection::establish(admin_url)).await;
    let error = match attempt {
        Ok(Ok(conn)) => return conn,
        Ok(Err(error)) => error.to_string(),
        Err(_) => "timed out after 10 s".to_owned(),
    };
    panic!(
        "PostgreSQL is not reachable for the tests ({error}). The tests use FRONTROW_TEST_PG_URL, by default \
         {DEFAULT_ADMIN_URL}. Start the machine's server with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
         or set FRONTROW_TEST_PG_URL to a server where the user may create databases."
    )
}

/// Runs one admin statement or panics with it.
async fn admin_execute(admin: &mut AsyncPgConnection, sql: &str) {
    if let Err(error) = diesel::sql_query(sql).execute(admin).await {
        panic!("test database setup failed on `{sql}`: {error}");
    }
}

/// `datistemplate` of a database, if it exists.
#[derive(QueryableByName)]
struct TemplateRow {
    #[diesel(sql_type = Bool)]
    datistemplate: bool,
}

/// Creates and migrates the template unless it is there, under the template lock.
async fn ensure_template(admin: &mut AsyncPgConnection, admin_url: &str, template: &str) {
    let lock = format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})");
    admin_execute(admin, &lock).await;
    let found: Option<TemplateRow> =
        diesel::sql_query("SELECT datistemplate FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(template)
            .get_result(admin)
            .await
            .map(Some)
            .or_else(|error| if error == diesel::result::Error::NotFound { Ok(None) } else { Err(error) })
            .unwrap_or_else(|error| panic!("cannot look the template database up: {error}"));
    match found {
        Some(TemplateRow { datistemplate: true }) => {}
        leftover => {
            if leftover.is_some() {
                // A creator died half-way: its template was never marked ready.
                admin_execute(admin, &format!("DROP DATABASE \"{template}\" WITH (FORCE)")).await;
            }
            admin_execute(admin, &format!("CREATE DATABASE \"{template}\"")).await;
            if let Err(error) = crate::migrate::run(&with_database(admin_url, template)).await {
                panic!("cannot migrate the template database {template}: {error}");
            }
            let seal = format!("ALTER DATABASE \"{template}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false");
            admin_execute(admin, &seal).await;
            tracing::info!(template = %template, "test template database created");
        }
    }
    let unlock = format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})");
    admin_execute(admin, &unlock).await;
}

/// `CREATE DATABASE name TEMPLATE template`, retried while the template's last migration
/// connection is still closing ("source database … is being accessed by other users").
async fn copy_template(admin: &mut AsyncPgConnection, template: &str, name: &str) {
    let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
    for _ in 0..COPY_ATTEMPTS {
        match diesel::sql_query(&sql).execute(admin).await {
            Ok(_) => return without_waiting_for_the_disk(admin, name).await,
            Err(error) if error.to_string().contains("is being accessed by other users") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("cannot create test database {name}: {error}"),
        }
    }
    panic!("cannot create test database {name}: the template {template} stayed busy");
}

/// Commits on a test database do not wait for the disk (`synchronous_commit = off`): what
/// every other session sees is the same, and only a crash of the PostgreSQL server itself could
/// lose the last commits, which no test does to these databases (the outage tests run a cluster
/// of their own). The floods in the black-box tests run about twice as fast.
async fn without_waiting_for_the_disk(admin: &mut AsyncPgConnection, name: &str) {
    let sql = format!("ALTER DATABASE \"{name}\" SET synchronous_commit = off");
    if let Err(error) = diesel::sql_query(&sql).execute(admin).await {
        panic!("cannot configure test database {name}: {error}");
    }
}

/// The template's name: `frontrow_tpl_` and a hash of the migration set.
fn template_name() -> String {
    let mut hash = Fnv::new();
    if let Ok(migrations) = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS) {
        for migration in migrations {
            hash.write(migration.name().to_string().as_bytes());
        }
    }
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut files = Vec::new();
    collect_files(&folder, &mut files);
    files.sort();
    for file in files {
        hash.write(file.strip_prefix(&folder).unwrap_or(&file).to_string_lossy().as_bytes());
        hash.write(&std::fs::read(&file).unwrap_or_default());
    }
    format!("frontrow_tpl_{:016x}", hash.finish())
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes.iter().chain(&[0xff]) {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `url` with its database name replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_and_parameters_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5432", "t3"), "postgres://h:5432/t3");
    }

    #[test]
    fn template_name_is_stable_and_a_valid_identifier() {
        let name = template_name();
        assert_eq!(name, template_name());
        assert!(
            name.len() < 63 && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
