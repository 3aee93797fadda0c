//! The storage contract, run against PostgreSQL: each check gets a fresh, migrated, empty
//! database of its own, dropped when the check ends.

use std::sync::Arc;

use adapter_postgres::PgStore;
use adapter_postgres::testing::TestDatabase;
use store_contract::Repositories;

/// A store on a new test database; the database is the guard, dropped after the check.
async fn fresh_store() -> (Repositories, TestDatabase) {
    let db = TestDatabase::create().await;
    let store: PgStore = db.store().await;
    (Repositories::from_store(Arc::new(store)), db)
}

store_contract::contract_suite!(fresh_store);
