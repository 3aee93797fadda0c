//! The operator's figures on `/metrics`, beside the request counts and latencies of
//! actix-web-prom, in its registry. Names, kinds and how to add them up across instances are in
//! README's "Operating a sale"; `deploy/` builds the dashboard and the alerts on them.
//!
//! Two kinds:
//! - per instance: what this instance did (counters) or holds (its pool, its streams, its
//!   listener). A counter is bumped by the task that completes the work, never by the request
//!   that waits for it, so a client who leaves does not lose the count.
//! - service-wide: the waiting room, read from the shared store once a second by
//!   [`Metrics::room`]; every instance reports the same figures.
//!
//! Every series exists from start-up (at 0), so a query or an alert never meets a missing one,
//! and every label value comes from a fixed set: no request can add a series.

use std::sync::Arc;
use std::time::Duration;

use application::room_status::RoomStatus;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Metric, MetricFamily, MetricType};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, PullingGauge, Registry};

use crate::streams::StreamSlots;

/// Why a figure could not be registered (a name given twice: a broken build).
pub type MetricsError = prometheus::Error;

/// The middleware that counts requests and serves `/metrics` (see `crate::metrics`).
pub use actix_web_prom::PrometheusMetrics;

/// The reasons a payment is refused for, by error code: the label values of
/// `frontrow_payments_refused_total` (see `errors::pay_refusal`).
pub(crate) const REFUSALS: [&str; 7] = [
    "TOKEN_EXPIRED",
    "VALIDATION_ERROR",
    "NOT_FOUND",
    "RESERVATION_NOT_PAYABLE",
    "RESERVATION_EXPIRED",
    "PAYMENT_AMOUNT_MISMATCH",
    "INSUFFICIENT_BALANCE",
];

/// How a hold ended without a sale: the label values of `frontrow_releases_total`.
#[derive(Debug, Clone, Copy)]
pub enum ReleaseReason {
    /// Its holder gave it back.
    GivenBack,
    /// Its time ran out and the sweep released it.
    Lapsed,
}

impl ReleaseReason {
    fn label(self) -> &'static str {
        match self {
            Self::GivenBack => "given_back",
            Self::Lapsed => "lapsed",
        }
    }
}

/// What a database store tells of itself at scrape time.
pub trait StoreGauges: Send + Sync + 'static {
    /// The connection pool now, and its checkouts so far.
    fn pool(&self) -> PoolFigures;
    /// Whether changes pushed by the database are being heard.
    fn listening(&self) -> bool;
    /// How late the last pushed change was heard; `None` while not listening.
    fn notification_lag(&self) -> Option<Duration>;
}

/// A connection pool's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolFigures {
    /// Connections open.
    pub size: u64,
    /// Connections it may open.
    pub max: u64,
    /// Connections checked out.
    pub in_use: u64,
    /// Requests waiting for one.
    pub waiting: u64,
    /// Checkouts so far.
    pub checkouts: u64,
    /// Time spent waiting for them, in all.
    pub waited: Duration,
}

/// This instance's counters and the room's gauges; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    figures: Arc<Figures>,
    registry: Registry,
}

struct Figures {
    admitted: IntCounter,
    expired: IntCounter,
    dropped: IntCounter,
    holds: IntCounter,
    releases: IntCounterVec,
    sales: IntCounter,
    revenue: IntCounter,
    refused: IntCounterVec,
    refunds: IntCounter,
    refunded: IntCounter,
    charged: IntCounter,
    replays: IntCounter,
    deadlines: IntCounter,
    unavailable: IntCounter,
    waiting: IntGauge,
    active: IntGauge,
    max_active: IntGauge,
    paused: IntGauge,
    wait_at_back: IntGauge,
}

impl Metrics {
    /// Registers every figure in the registry `/metrics` serves, the open streams of `streams`
    /// read at scrape time.
    pub fn register(served: &PrometheusMetrics, streams: &StreamSlots) -> Result<Self, MetricsError> {
        let registry = &served.registry;
        let counter = |name: &str, help: &str| register(registry, IntCounter::new(name, help)?);
        let gauge = |name: &str, help: &str| register(registry, IntGauge::new(name, help)?);
        let by_reason = |name: &str, help: &str, reasons: &[&str]| {
            let vec = register(registry, IntCounterVec::new(Opts::new(name, help), &["reason"])?)?;
            for reason in reasons {
                vec.with_label_values(&[*reason]).reset();
            }
            Ok::<_, MetricsError>(vec)
        };
        let figures = Figures {
            admitted: counter("frontrow_queue_admitted_total", "Fans admitted by this instance")?,
            expired: counter(
                "frontrow_queue_expired_total",
                "Active tokens this instance ended as timed out",
            )?,
            dropped: counter("frontrow_queue_dropped_total", "Waiting fans this instance dropped as gone")?,
            holds: counter("frontrow_holds_total", "Seats held")?,
            releases: by_reason(
                "frontrow_releases_total",
                "Holds ended without a sale: given back by the fan, or lapsed",
                &[ReleaseReason::GivenBack.label(), ReleaseReason::Lapsed.label()],
            )?,
            sales: counter("frontrow_sales_total", "Payments made")?,
            revenue: counter("frontrow_revenue_won_total", "Won paid for seats")?,
            refused: by_reason(
                "frontrow_payments_refused_total",
                "Payments refused, by error code",
                &REFUSALS,
            )?,
            refunds: counter("frontrow_refunds_total", "Payments refunded by the box office")?,
            refunded: counter("frontrow_refunded_won_total", "Won refunded")?,
            charged: counter("frontrow_balance_charged_won_total", "Won charged to balances")?,
            replays: counter(
                "frontrow_idempotent_replays_total",
                "Keyed retries answered from the first answer",
            )?,
            deadlines: counter("frontrow_deadlines_total", "Requests cut by REQUEST_TIMEOUT_MS (503)")?,
            unavailable: counter(
                "frontrow_store_unavailable_total",
                "Requests answered 503 UNAVAILABLE because the store failed them",
            )?,
            waiting: gauge("frontrow_queue_waiting", "Fans waiting (service-wide)")?,
            active: gauge("frontrow_queue_active", "Fans admitted and not yet ended (service-wide)")?,
            max_active: gauge(
                "frontrow_queue_max_active",
                "Cap on active fans in force, 0 = none (service-wide)",
            )?,
            paused: gauge("frontrow_queue_paused", "1 while the box office holds admission (service-wide)")?,
            wait_at_back: gauge(
                "frontrow_queue_estimated_wait_seconds",
                "Wait told to the fan at the back of the room (service-wide)",
            )?,
        };
        let streams = streams.clone();
        let open = move || f64::from(streams.open_now());
        register(registry, PullingGauge::new("frontrow_live_streams", "Live streams open", Box::new(open))?)?;
        Ok(Self { figures: Arc::new(figures), registry: registry.clone() })
    }

    /// Adds the database store's pool and listener, read at scrape time.
    pub fn watch_store(&self, store: Arc<dyn StoreGauges>) -> Result<(), MetricsError> {
        let pulled = |help: &str, read: fn(&dyn StoreGauges) -> f64| {
            let store = store.clone();
            let value: Box<dyn Fn() -> f64 + Send + Sync> = Box::new(move || read(store.as_ref()));
            (help.to_owned(), value)
        };
        let gauges = [
            ("frontrow_db_pool_size", pulled("Database connections open", |s| s.pool().size as f64)),
            (
                "frontrow_db_pool_max",
                pulled("Database connections the pool may open", |s| s.pool().max as f64),
            ),
            (
                "frontrow_db_pool_in_use",
                pulled("Database connections checked out", |s| s.pool().in_use as f64),
            ),
            (
                "frontrow_db_pool_waiting",
                pulled("Requests waiting for a connection", |s| s.pool().waiting as f64),
            ),
            (
                "frontrow_listener_connected",
                pulled("1 while pushed changes are heard", |s| f64::from(u8::from(s.listening()))),
            ),
            (
                "frontrow_notification_lag_seconds",
                pulled("How late the last pushed change was heard (NaN while not listening)", |s| {
                    s.notification_lag().map_or(f64::NAN, |lag| lag.as_secs_f64())
                }),
            ),
        ];
        for (name, (help, read)) in gauges {
            register(&self.registry, PullingGauge::new(name, help, read)?)?;
        }
        let counters = [
            (
                "frontrow_db_pool_checkouts_total",
                pulled("Connections checked out so far", |s| s.pool().checkouts as f64),
            ),
            (
                "frontrow_db_pool_wait_seconds_total",
                pulled("Time spent waiting for a connection, in all", |s| s.pool().waited.as_secs_f64()),
            ),
        ];
        for (name, (help, read)) in counters {
            register(&self.registry, PullingCounter::new(name, &help, read)?)?;
        }
        Ok(())
    }

    /// One admission step's work on this instance.
    pub fn admission(&self, admitted: u64, expired: u64, dropped: u64) {
        self.figures.admitted.inc_by(admitted);
        self.figures.expired.inc_by(expired);
        self.figures.dropped.inc_by(dropped);
    }

    /// The room as last read.
    pub fn room(&self, room: &RoomStatus) {
        let figures = &self.figures;
        figures.waiting.set(saturated(room.waiting));
        figures.active.set(saturated(room.active));
        figures.max_active.set(i64::from(room.max_active));
        figures.paused.set(i64::from(room.paused));
        figures.wait_at_back.set(room.estimated_wait_at_back.whole_seconds());
    }

    /// A seat held.
    pub(crate) fn held(&self) {
        self.figures.holds.inc();
    }

    /// `count` holds ended without a sale.
    pub fn released(&self, reason: ReleaseReason, count: u64) {
        self.figures.releases.with_label_values(&[reason.label()]).inc_by(count);
    }

    /// A seat sold for `won`.
    pub(crate) fn sold(&self, won: i64) {
        self.figures.sales.inc();
        self.figures.revenue.inc_by(won.unsigned_abs());
    }

    /// A payment refused with `code` (one of [`REFUSALS`]).
    pub(crate) fn refused(&self, code: &'static str) {
        self.figures.refused.with_label_values(&[code]).inc();
    }

    /// `count` payments refunded, `won` in all.
    pub(crate) fn refunded(&self, count: u64, won: i64) {
        self.figures.refunds.inc_by(count);
        self.figures.refunded.inc_by(won.unsigned_abs());
    }

    /// `won` charged to a balance.
    pub(crate) fn charged(&self, won: i64) {
        self.figures.charged.inc_by(won.unsigned_abs());
    }

    /// A keyed retry answered from the stored answer.
    pub(crate) fn replayed(&self) {
        self.figures.replays.inc();
    }

    /// A request cut by its deadline.
    pub(crate) fn deadline(&self) {
        self.figures.deadlines.inc();
    }

    /// A request the store failed (503 `UNAVAILABLE`).
    pub(crate) fn unavailable(&self) {
        self.figures.unavailable.inc();
    }
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> Result<C, MetricsError> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

fn saturated(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A counter kept elsewhere (the pool's), read at scrape time: the counter twin of
/// [`PullingGauge`], which prometheus has no type for.
#[derive(Clone)]
struct PullingCounter {
    desc: Desc,
    read: Arc<dyn Fn() -> f64 + Send + Sync>,
}

impl PullingCounter {
    fn new(name: &str, help: &str, read: Box<dyn Fn() -> f64 + Send + Sync>) -> Result<Self, MetricsError> {
        let desc = Desc::new(name.to_owned(), help.to_owned(), Vec::new(), Default::default())?;
        Ok(Self { desc, read: Arc::from(read) })
    }
}

impl Collector for PullingCounter {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut counter = Counter::default();
        counter.set_value((self.read)());
        let mut metric = Metric::default();
        metric.set_counter(counter);
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(MetricType::COUNTER);
        family.set_metric(vec![metric]);
        vec![family]
    }
}
