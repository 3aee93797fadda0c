//! The pure core of frontrow: what a concert, a seat, a hold, a payment and a queue token are,
//! the rules they obey, and the ports through which the outside world stores them.
//!
//! Nothing here knows about HTTP, SQL, serialisation or an async runtime. Rules take the current
//! time as an argument (see [`ports::Clock`]); they never read a clock themselves, so every rule
//! is a plain function that a test can drive to any instant.

pub mod catalogue;
pub mod controls;
pub mod idempotency;
pub mod identity;
pub mod ids;
pub mod money;
pub mod payment;
pub mod ports;
pub mod queue;
pub mod receipt;
pub mod refund;
mod repositories;
pub mod reservation;
pub mod sales;
pub mod seat_map;
pub mod token_claims;
pub mod wait_estimate;

#[cfg(test)]
mod proptests;

pub use catalogue::{
    Concert, InvalidSeatNumber, NewConcert, NewSchedule, NewSeat, Schedule, Seat, SeatHold, SeatNumber, Zone,
};
pub use controls::{CapOutOfRange, QueueControls};
pub use idempotency::{
    ClaimDecision, ClaimId, IdempotencyClaim, IdempotencyKey, IdempotencyPolicy, IdempotencyRecord,
    InvalidIdempotencyKey, StoredResponse, decide_claim,
};
pub use identity::{IdentityError, IdentityVerifier};
pub use ids::{ConcertId, InvalidId, PaymentId, ReservationId, ScheduleId, SeatId, UserId};
pub use money::{Balance, ChargeAmount, MoneyError, Won};
pub use payment::{LedgerEntry, LedgerReason, Payment, PaymentRejection, SettlementPlan};
pub use ports::{AdmissionReport, CreditOutcome, ImportOutcome, StoreError, StoreResult};
pub use queue::{MalformedToken, QueuePolicy, QueueToken, TokenState, TokenStatus, TokenValue};
pub use receipt::Receipt;
pub use refund::{Refund, RefundPlan, RefundRejection};
pub use reservation::{
    Booking, HoldPolicy, HoldRejection, NewHold, Release, ReleaseRejection, Reservation, ReservationStatus,
};
pub use sales::PerformanceSales;
pub use seat_map::{Cancellation, InvalidPrice, SeatEdit, SeatState, ticket_price};
pub use token_claims::TokenClaims;
pub use wait_estimate::{Occupancy, RoomReading};
