//! The storage contract, run against PostgreSQL: each check gets a fresh, migrated, empty
//! database of its own, dropped when the check ends.

use std::sync::Arc;

use adapter_postgres::PgStore;
use adapter_postgres::testing::TestDatabase;
use store_contract::Stores;

/// A store on a new test database; the database is the guard, dropped after the check.
async fn fresh_store() -> (Stores, TestDatabase) {
    let db = TestDatabase::create().await;
    let store: PgStore = db.store().await;
    (Stores::from_one(Arc::new(store)), db)
}

store_contract::contract_suite!(fresh_store);
