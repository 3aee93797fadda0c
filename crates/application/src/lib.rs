//! frontrow's use cases, one module per requirement of the contract (docs/api.md). Each module holds
//! its command, its error enum (domain outcomes plus one opaque store variant), an `execute`
//! function written against the domain's ports, and its unit tests with mockall fakes of those
//! ports.
//!
//! Use cases read the clock once, let the domain decide, and hand the decision to a port that
//! commits it atomically. They know nothing of HTTP, SQL or any runtime.

use std::sync::Arc;

use domain::ports::{Clock, Repositories, Store, TokenMint, TokenSeal};
use domain::{HoldPolicy, IdempotencyPolicy, QueuePolicy};

pub mod access;
pub mod admit_waiting;
pub mod authorize;
pub mod available_dates;
pub mod available_seats;
pub mod cancel_performance;
pub mod charge_balance;
pub mod control_admission;
pub mod edit_seat;
pub mod get_balance;
pub mod import_catalogue;
pub mod issue_token;
pub mod list_bookings;
pub mod list_concerts;
pub mod pay;
pub mod queue_status;
pub mod refund_payment;
pub mod release_expired_holds;
pub mod release_hold;
pub mod replay_keyed_retry;
pub mod reserve_seat;
pub mod room_status;
pub mod sales_report;
pub mod seat_map;
pub mod seed_catalogue;
pub mod tidy_up;

/// Every port a use case may need, as wired by the binary.
#[derive(Clone)]
pub struct Ports {
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Fresh token values.
    pub mint: Arc<dyn TokenMint>,
    /// Seals tokens' claims into the text fans carry, and opens it.
    pub seal: Arc<dyn TokenSeal>,
    /// The repository ports: the store's, some behind an in-process cache. Idempotency keys are
    /// used by the HTTP adapter, which replays HTTP answers; no use case needs them.
    pub store: Repositories,
}

impl Ports {
    /// One `store` that implements every repository port plugged into all of them, beside the
    /// clock, the token mint and the seal.
    pub fn from_store<S: Store>(
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        mint: Arc<dyn TokenMint>,
        seal: Arc<dyn TokenSeal>,
    ) -> Self {
        Self { clock, mint, seal, store: Repositories::from_store(store) }
    }
}

/// The business settings of the contract (docs/api.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policies {
    /// `SEAT_HOLD_SECONDS`.
    pub hold: HoldPolicy,
    /// The `QUEUE_*` settings.
    pub queue: QueuePolicy,
    /// The `IDEMPOTENCY_*` settings.
    pub idempotency: IdempotencyPolicy,
}

#[cfg(test)]
pub(crate) mod fixtures;
