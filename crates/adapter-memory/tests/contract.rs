//! The storage contract, run against the embedded in-memory store.

use std::sync::Arc;

use adapter_memory::MemoryStore;
use store_contract::Stores;

/// A fresh, empty in-memory store for one check; nothing needs to outlive it.
async fn fresh_store() -> (Stores, ()) {
    (Stores::from_one(Arc::new(MemoryStore::new())), ())
}

store_contract::contract_suite!(fresh_store);
