//! The ports: what the use cases need from the outside world. Adapters (the embedded store,
//! PostgreSQL, the system clock) implement them; the use cases see only these traits.
//!
//! Atomicity is part of each contract. Two operations carry the service's correctness and are
//! therefore single port calls rather than sequences of reads and writes:
//! - [`ReservationRepository::try_hold`] is a compare-and-set: it commits a hold only if the
//!   seat is still free at the hold's decision instant, so of any number of racing holds on one
//!   seat, across any number of instances, exactly one wins.
//! - [`PaymentRepository::settle`] is a unit of work: money, seat, reservation, payment, ledger
//!   entry and token expiry commit together or not at all.
//!
//! [`IdempotencyRepository::claim`] is atomic too: of any number of concurrent requests with one
//! key, one runs. The three writes a key can guard (`try_hold`, `credit`, `settle`) take an
//! optional [`Receipt`]: with one, the write commits only while its claim is still current, and
//! records its answer in the same atomic step (see [`crate::receipt`]).

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::catalogue::{Concert, NewConcert, Schedule, Seat};
use crate::controls::QueueControls;
use crate::idempotency::{
    ClaimId, IdempotencyClaim, IdempotencyKey, IdempotencyPolicy, IdempotencyRecord, StoredResponse,
};
use crate::ids::{ConcertId, PaymentId, ReservationId, ScheduleId, SeatId, UserId};
use crate::money::{Balance, ChargeAmount};
use crate::payment::{LedgerEntry, Payment, SettlementPlan};
use crate::queue::{QueuePolicy, QueueToken, TokenValue};
use crate::receipt::Receipt;
use crate::refund::{Refund, RefundPlan};
pub use crate::repositories::Repositories;
use crate::reservation::{Booking, NewHold, Reservation};
use crate::sales::PerformanceSales;
use crate::seat_map::{Cancellation, SeatEdit};
use crate::token_claims::TokenClaims;
use crate::wait_estimate::RoomReading;

/// A store failure. Opaque on purpose: the use cases pass it through, the driving adapter logs
/// the cause once and answers without showing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached right now (connection refused, pool timed out); retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, corrupt data, a broken invariant.
    #[error("store failure: {0}")]
    Internal(String),
    /// A keyed write's claim is no longer the key's current one (it lapsed and another request
    /// took the key over, or the key is answered already): nothing was written.
    #[error("the idempotency claim of this write was superseded")]
    ClaimSuperseded,
}

/// Shorthand for port results.
pub type StoreResult<T> = Result<T, StoreError>;

/// The current time. Rules never read a clock; use cases ask this port once per request.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// Makes new bearer secrets; randomness is a side effect, so it sits behind a port too.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenMint: Send + Sync {
    /// A fresh, unguessable token value.
    fn mint(&self) -> TokenValue;
}

/// Seals a token's claims into the text its holder carries, and opens such a text again.
/// Sealing must make the text unforgeable and unalterable: every instance opens it without
/// asking anyone, so a made-up or altered token costs no store read. (The crypto is the
/// adapter's; the domain only knows the claims.)
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenSeal: Send + Sync {
    /// The text handed to the token's holder.
    fn seal(&self, claims: &TokenClaims) -> String;
    /// The claims of a text this service sealed; `None` for anything else (made up, altered,
    /// truncated, or sealed with a key no longer accepted).
    fn open(&self, text: &str) -> Option<TokenClaims>;
}

/// Concerts, performances and seats.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CatalogueRepository: Send + Sync {
    /// Every concert, by id.
    async fn concerts(&self) -> StoreResult<Vec<Concert>>;
    /// One concert.
    async fn concert(&self, id: ConcertId) -> StoreResult<Option<Concert>>;
    /// The performances of a concert, earliest first.
    async fn schedules(&self, concert: ConcertId) -> StoreResult<Vec<Schedule>>;
    /// The seats of one performance with their sale state, by seat number.
    async fn seats_of_schedule(&self, schedule: ScheduleId) -> StoreResult<Vec<Seat>>;
    /// The seats of every performance of a concert, by schedule id then number.
    async fn seats_of_concert(&self, concert: ConcertId) -> StoreResult<Vec<Seat>>;
    /// One seat with its sale state, for a hold's decision. A decorator may answer from memory
    /// (an in-process seat cache): a seat answered as taken is then exactly that, one answered
    /// as free may have been taken since, so a seat is only ever taken through
    /// [`ReservationRepository::try_hold`], which decides against the store.
    async fn seat(&self, id: SeatId) -> StoreResult<Option<Seat>>;
    /// Loads `catalogue` only if no concert exists yet; says whether it did. Safe to call from
    /// several instances starting at once: at most one load happens.
    async fn seed_if_empty(&self, catalogue: &[NewConcert]) -> StoreResult<bool>;
    /// Every performance, cancelled ones included, with its sale at `at` (seats, live holds,
    /// sales, payments, refunds, money), by performance id. For the box office: it reads every seat and payment.
    async fn sales(&self, at: OffsetDateTime) -> StoreResult<Vec<PerformanceSales>>;
    /// Loads or updates `catalogue`, whole or not at all, so that loading it twice is loading
    /// it once: a concert whose key is new is loaded whole; a known one takes the new title,
    /// artist and venue; of its performances (matched by start), new ones are added and known
    /// ones take the new on-sale instant, but only if their seats (numbers, zones, prices) are
    /// the ones they were loaded with; otherwise nothing is written and the outcome says which
    /// performance differs.
    async fn import(&self, catalogue: &[NewConcert]) -> StoreResult<ImportOutcome>;
    /// Applies `edit` to a seat only if it is editable at `at` ([`Seat::is_editable_at`]),
    /// decided in the same atomic step as holds and payments decide, so an edit never lands on
    /// a seat a fan has just taken. The seat as it now stands (as it was, for a withdrawal);
    /// `None` if it is unknown, withdrawn, or was not editable. A withdrawn seat is gone from
    /// every read of this port and can never be held.
    async fn edit_seat(&self, seat: SeatId, edit: SeatEdit, at: OffsetDateTime) -> StoreResult<Option<Seat>>;
}

/// What [`CatalogueRepository::import`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Everything was loaded or already there.
    Imported {
        /// Concerts loaded whole.
        concerts_added: u32,
        /// Performances added to concerts that were there already.
        performances_added: u32,
    },
    /// Nothing was written: a known performance's seats differ from the file's.
    SeatsDiffer {
        /// The concert's key.
        concert: String,
        /// The performance's start.
        starts_at: OffsetDateTime,
    },
}

/// Holds and their lifecycle.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ReservationRepository: Send + Sync {
    /// Compare-and-set: records `hold` and marks the seat held by it, only if at the moment the
    /// write lands the seat is unsold and its previous hold (if any) lapsed at or before
    /// `hold.held_at`, and only if the holder has fewer than `hold.max_live_holds` live holds
    /// then (unless that is 0), exact however many holds one user fires at once. `None` means
    /// another hold or a sale won the race, or the holder is at the limit. With a `receipt`, fenced
    /// and answered in the same atomic step (see the module docs).
    async fn try_hold(
        &self,
        hold: &NewHold,
        receipt: Option<Receipt<Option<Reservation>>>,
    ) -> StoreResult<Option<Reservation>>;
    /// One reservation.
    async fn reservation(&self, id: ReservationId) -> StoreResult<Option<Reservation>>;
    /// How many holds `user` has that are live at `at` (held, not lapsed). `try_hold` enforces
    /// `NewHold::max_live_holds` against this count atomically; this read tells a refused hold's
    /// reason afterwards.
    async fn live_holds(&self, user: UserId, at: OffsetDateTime) -> StoreResult<u64>;
    /// Compare-and-set: ends `user`'s hold `id` and puts its seat back on sale, only if at the
    /// moment the write lands the reservation is still theirs, stored `Held` and unexpired at
    /// `at` ([`Reservation::release_by`]); so of a release and a payment of one hold, exactly one
    /// lands. Returns the released reservation, or `None` when a guard failed (nothing written).
    async fn release(
        &self,
        id: ReservationId,
        user: UserId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Reservation>>;
    /// `user`'s reservations stored as `Held` or `Paid`, newest first, at most `limit`, each
    /// paid one with its payment: what a fan sees as their bookings.
    async fn bookings(&self, user: UserId, limit: u32) -> StoreResult<Vec<Booking>>;
    /// Tidies up: rewrites holds that lapsed before `now` as expired and clears them from their
    /// seats. Correctness never depends on it (expiry is decided by the clock at read time).
    async fn release_expired(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

/// What a credit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditOutcome {
    /// The balance after the credit.
    Credited(Balance),
    /// No such user.
    UnknownUser,
    /// The credit would have lifted the balance above the ceiling; nothing changed.
    LimitExceeded,
}

/// Balances and their ledger.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WalletRepository: Send + Sync {
    /// A user's balance; `None` for an unknown user.
    async fn balance(&self, user: UserId) -> StoreResult<Option<Balance>>;
    /// Atomically adds `amount` and writes the ledger entry, unless that would pass the ceiling.
    /// Concurrent credits never lose an update. With a `receipt`, fenced and answered in the
    /// same atomic step (see the module docs).
    async fn credit(
        &self,
        user: UserId,
        amount: ChargeAmount,
        at: OffsetDateTime,
        receipt: Option<Receipt<CreditOutcome>>,
    ) -> StoreResult<CreditOutcome>;
    /// A user's ledger, oldest first; it sums to the balance.
    async fn ledger(&self, user: UserId) -> StoreResult<Vec<LedgerEntry>>;
}

/// Payments.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PaymentRepository: Send + Sync {
    /// The unit of work of a payment. In one atomic step, each write guarded: debit the balance
    /// (never below zero), mark the seat sold (it must still be held by this reservation),
    /// confirm the reservation (still `Held` and unexpired at `plan.paid_at`), write the payment
    /// (one per reservation) and the ledger entry, and retire `plan.token`, which must still
    /// pay for the payer at `plan.paid_at` ([`crate::QueueToken::pays_for`]); so of two racing
    /// payments by one token, at most one lands.
    /// `None` means a guard failed because state changed since the decision; nothing was written.
    /// With a `receipt`, fenced and answered in the same atomic step (see the module docs).
    async fn settle(
        &self,
        plan: &SettlementPlan,
        receipt: Option<Receipt<Option<Payment>>>,
    ) -> StoreResult<Option<Payment>>;
    /// The payment of `reservation`, if it was paid (there is at most one).
    async fn payment_for(&self, reservation: ReservationId) -> StoreResult<Option<Payment>>;
    /// One payment.
    async fn payment(&self, id: PaymentId) -> StoreResult<Option<Payment>>;
    /// The unit of work of a refund, atomic like [`PaymentRepository::settle`], each write
    /// guarded: the reservation, still `Paid`, becomes `Refunded`; its seat goes back on sale
    /// (unsold, under no hold); the payer's balance rises by `plan.amount`, never above the
    /// ceiling, with its ledger entry. So of racing refunds of one payment exactly one lands.
    /// `None` means a guard failed; nothing was written.
    async fn refund(&self, plan: &RefundPlan) -> StoreResult<Option<Refund>>;
    /// Cancels a performance at `at`: from the first step on, none of its seats can be held or
    /// paid for, and it is gone from the concert's performances; live holds are released; then
    /// every sale is refunded as [`PaymentRepository::refund`] refunds one, except those that
    /// would lift the buyer's balance above the ceiling (counted, left sold). Asking again
    /// refunds what is left and keeps the first instant. `None` for an unknown performance.
    async fn cancel_performance(
        &self,
        schedule: ScheduleId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Cancellation>>;
}

/// What one admission tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdmissionReport {
    /// Waiting tokens made active.
    pub admitted: u64,
    /// Active tokens whose time ran out.
    pub expired: u64,
    /// Waiting tokens dropped for not polling.
    pub dropped: u64,
}

/// The waiting room.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait QueueRepository: Send + Sync {
    /// One token per user: returns the user's token if it is still waiting or active at `now`
    /// (per `policy`), otherwise stores `candidate` as a new waiting token at the back of the
    /// queue, creating the user with a zero balance if they are new. Atomic per user.
    async fn issue(
        &self,
        user: UserId,
        candidate: TokenValue,
        now: OffsetDateTime,
        policy: &QueuePolicy,
    ) -> StoreResult<QueueToken>;
    /// Looks a token up by its value. A store may answer from a copy it read recently (see the
    /// PostgreSQL adapter's token cache), so a status may trail the truth briefly.
    async fn token(&self, value: TokenValue) -> StoreResult<Option<QueueToken>>;
    /// Looks a token up as stored right now, never from a copy. The gate asks this before it
    /// refuses a token, so a refusal is never based on a copy another instance has outdated
    /// (a fan just admitted elsewhere must not be told to wait).
    async fn fresh_token(&self, value: TokenValue) -> StoreResult<Option<QueueToken>>;
    /// Waiting tokens ahead of `token` plus one, without scanning the queue; 0 for a token not
    /// waiting. A store may serve it from a snapshot refreshed every few hundred milliseconds, so
    /// it may trail admissions, drops and new issues by up to about a second.
    async fn position(&self, token: &QueueToken) -> StoreResult<u64>;
    /// Records a poll of a waiting token (the fan proving they are still there), which keeps it
    /// from being dropped as abandoned. Callers record polls only of tokens the clock still finds
    /// waiting (`QueueToken::state_at`), so a place that was already abandoned is never revived.
    /// A store may buffer polls (a poll should not cost a write), but `token` and `admit` must
    /// see every poll already recorded.
    async fn record_poll(&self, value: TokenValue, now: OffsetDateTime) -> StoreResult<()>;
    /// One admission attempt, atomic across instances: expire active tokens past their TTL, drop
    /// waiting tokens idle since `policy.idle_cutoff(now)`; then, unless the stored controls
    /// pause admission, under `policy` with their overrides ([`QueueControls::govern`]), only if
    /// `policy.admission_due(last admission anywhere in the service, now)`, record `now` as the
    /// last admission and activate the oldest waiting tokens, as many as
    /// `policy.admission_slots(active count)` allows. Concurrent attempts must all succeed (one
    /// admits, the others find it not due); an attempt whose `now` is older than the last
    /// admission (a lagging clock) expires and drops but admits nothing.
    async fn admit(&self, now: OffsetDateTime, policy: &QueuePolicy) -> StoreResult<AdmissionReport>;
    /// The run-time controls as stored right now (never from a copy).
    async fn controls(&self) -> StoreResult<QueueControls>;
    /// Stores the run-time controls for the whole service; every admission attempt from then
    /// on, on any instance, reads them in its own atomic step.
    async fn set_controls(&self, controls: QueueControls) -> StoreResult<()>;
    /// The waiting room now: the controls in force, the last admission step, how many wait and
    /// how many are active, and the places freed per second lately (see
    /// [`crate::wait_estimate`]). As fresh as [`QueueRepository::position`] (a store may answer
    /// from the snapshot positions come from, so ask after the position). Must not cost a query
    /// per call.
    async fn room(&self) -> StoreResult<RoomReading>;
    /// Tidies up, so the waiting room's storage does not grow with every fan who ever came:
    /// forgets every token that [`QueueToken::forgettable_before`] `cutoff`, and each of their
    /// users who is left with nothing to keep (no token, a zero balance, no ledger entry, no
    /// reservation, no idempotency record; a user who comes back is created anew, as on their
    /// first visit). Says how many tokens it forgot. Works through any backlog before it
    /// returns; concurrent calls (several instances) must not step on each other.
    async fn forget_ended(&self, cutoff: OffsetDateTime) -> StoreResult<u64>;
}

/// Idempotency keys and the responses kept for them, per user, shared by every instance.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// Claims `user`'s `key` for the request with `fingerprint`, atomically across instances:
    /// reads the record, applies [`crate::idempotency::decide_claim`] with `now` and the
    /// policy's TTL and lease, and on `Claim` stores a fresh in-progress record in its place under a new
    /// [`ClaimId`], never one handed out before. Of any number of concurrent claims of one key
    /// with one fingerprint, exactly one is `Claimed` (the others are `InProgress`, or `Replay`
    /// once it has completed). A key whose keyed write is running right now is `InProgress`,
    /// whatever its lease says. A key with no live record is a new key: it is refused as
    /// `TooManyKeys` when the user already has `policy.max_keys_per_user` keys claimed within
    /// the TTL (exact on the embedded store; on PostgreSQL, new keys of one user claimed at the
    /// same instant may pass it by as many as race). The user must exist.
    async fn claim(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: OffsetDateTime,
        policy: &IdempotencyPolicy,
    ) -> StoreResult<IdempotencyClaim>;
    /// Records the response of a request that wrote nothing under `claim` (a refusal): only a
    /// record still in progress under that claim is completed; a completed one keeps its first
    /// response, and a missing or taken-over one is left alone.
    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        claim: ClaimId,
        response: &StoredResponse,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Gives up a claim whose request failed without an answer worth keeping (a 5xx): deletes
    /// the record if it is still in progress under `claim`, so a retry runs the request again.
    /// A completed or taken-over record is left alone.
    async fn release(&self, user: UserId, key: &IdempotencyKey, claim: ClaimId) -> StoreResult<()>;
    /// What is stored for `user`'s `key`, expired or not; no write. For answering a retry that
    /// may not run (its token is no longer active) from a stored response.
    async fn find(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<Option<IdempotencyRecord>>;
    /// Tidies up: deletes records claimed `ttl` or longer before `now` (they count as absent
    /// anyway) and says how many. A store may delete them in bounded batches.
    async fn purge_expired(&self, now: OffsetDateTime, ttl: Duration) -> StoreResult<u64>;
}

/// Readiness: can the store be reached?
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// A cheap round trip to the store.
    async fn ping(&self) -> StoreResult<()>;
}

/// A whole store: one value that implements every repository port. The binary plugs such a
/// value into all of them at once ([`Repositories::from_store`]), and the contract suite tests
/// it that way.
pub trait Store:
    CatalogueRepository
    + ReservationRepository
    + WalletRepository
    + PaymentRepository
    + QueueRepository
    + IdempotencyRepository
    + HealthCheck
    + 'static
{
}

impl<S> Store for S where
    S: CatalogueRepository
        + ReservationRepository
        + WalletRepository
        + PaymentRepository
        + QueueRepository
        + IdempotencyRepository
        + HealthCheck
        + 'static
{
}
