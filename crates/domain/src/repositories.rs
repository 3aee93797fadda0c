//! Every repository port, each plugged into an adapter: what the use cases are handed, built once
//! from a whole [`Store`] (or assembled port by port, with caches in front of some).

use std::sync::Arc;

use crate::ports::{
    CatalogueRepository, HealthCheck, IdempotencyRepository, PaymentRepository, QueueRepository,
    ReservationRepository, Store, WalletRepository,
};

/// One handle per repository port.
#[derive(Clone)]
pub struct Repositories {
    /// Concerts, performances and seats.
    pub catalogue: Arc<dyn CatalogueRepository>,
    /// Holds and their lifecycle.
    pub reservations: Arc<dyn ReservationRepository>,
    /// Balances and their ledger.
    pub wallet: Arc<dyn WalletRepository>,
    /// The payment unit of work.
    pub payments: Arc<dyn PaymentRepository>,
    /// The waiting room.
    pub queue: Arc<dyn QueueRepository>,
    /// Idempotency keys and their stored answers.
    pub idempotency: Arc<dyn IdempotencyRepository>,
    /// Readiness.
    pub health: Arc<dyn HealthCheck>,
}

impl Repositories {
    /// Every port served by the one `store`: the only place that fills them all.
    pub fn from_store<S: Store>(store: Arc<S>) -> Self {
        Self {
            catalogue: store.clone(),
            reservations: store.clone(),
            wallet: store.clone(),
            payments: store.clone(),
            queue: store.clone(),
            idempotency: store.clone(),
            health: store,
        }
    }
}
