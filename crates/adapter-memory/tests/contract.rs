//! The storage contract, run against the embedded in-memory store.

use std::sync::Arc;

use adapter_memory::MemoryStore;
use store_contract::Repositories;

/// A fresh, empty in-memory store for one check; nothing needs to outlive it.
async fn fresh_store() -> (Repositories, ()) {
    (Repositories::from_store(Arc::new(MemoryStore::new())), ())
}

store_contract::contract_suite!(fresh_store);
