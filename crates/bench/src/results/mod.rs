//! Turns the scenarios' measurements into the report's rows (with the reference study's and peers'
//! reference figures as anchors, and the targets) and per-scenario notes.

use crate::cpu::Spent;
use crate::db::{Audit, SEATS_PER_SCHEDULE, Seen};
use crate::http::{Latencies, StatusCounts};
use crate::report::{Better, Row, Unit, grouped, times};
use crate::scenarios::booking::Booking;
use crate::scenarios::race::Race;
use crate::scenarios::spike::Spike;

mod estimate;
mod instances;
mod polling;
mod reads;

pub use instances::OneInstance;

const SEED_RACE_1K: (f64, &str) =
    (1_442.0, "the reference study, Java/MySQL, its best: pessimistic lock; optimistic 1,495 ms");
const SEED_RACE_10K: (f64, &str) =
    (2_666.0, "the reference study, its best: pessimistic lock; optimistic 3,839 ms");
const SEED_LIST_1K: (f64, &str) = (6.8, "the reference study's mean during its race, best lock");
const SEED_LIST_10K: (f64, &str) = (23.4, "the reference study's lowest mean during its race (23–298 ms)");
const PEER_ISSUE_RATE: (f64, &str) = (4_400.0, "Spring peers, queue entry");
const PEER_ISSUE_P95: (f64, &str) = (130.0, "Spring peers' p95, best of 130–400 ms");
const PEER_POLL_P95: (f64, &str) = (600.0, "Spring peers' p95 at 2,500 fans");
const PEER_FANS: (f64, &str) =
    (2_500.0, "Spring peers' 2,500 polling fans, taken as one poll per fan per second");
const PEER_HOLDS: (f64, &str) = (1_800.0, "Spring peers, reservations on 2 vCPU");
const PEER_PAYMENTS: (f64, &str) = (900.0, "Spring peers, payments on 2 vCPU");
const SEED_LIST_NO_CACHE: (f64, &str) = (2_836.0, "the reference study, 10,000 reads without cache");
const SEED_LIST_REDIS: (f64, &str) = (1_549.0, "the reference study, 10,000 reads with Redis");

/// The large race over HTTP: at most this long, and at most this many times the raw SQL race.
const RACE_TARGET_MS: f64 = 600.0;
const RACE_OVER_SQL: f64 = 2.0;

const S1: &str = "1 · race over HTTP";
const S2: &str = "2 · token spike";
const S3: &str = "3 · polling";
const S4: &str = "4 · booking flow";
const S5: &str = "5 · race, raw SQL";
const S6: &str = "6 · catalogue reads";
const S7: &str = "7 · three instances";
const S8: &str = "8 · a million waiting";

/// Rows and notes accumulate here, scenario by scenario.
#[derive(Default)]
pub struct Results {
    /// Table rows, in scenario order.
    pub rows: Vec<Row>,
    /// Headed markdown lines.
    pub notes: Vec<(String, Vec<String>)>,
    /// Correctness failures (a wrong race or audit fails the run).
    pub failures: Vec<String>,
}

pub(super) fn counts(c: &StatusCounts) -> String {
    format!(
        "2xx {}, 4xx {}, 5xx {}, no answer {}",
        grouped(c.ok as u64),
        grouped(c.client_errors as u64),
        c.server_errors,
        c.failed
    )
}

pub(super) fn spread(l: &Latencies) -> String {
    format!(
        "mean {}, p50 {}, p99 {}, max {} ({} samples)",
        Unit::Ms.show(l.mean_ms()),
        Unit::Ms.show(l.ms(0.5)),
        Unit::Ms.show(l.ms(0.99)),
        Unit::Ms.show(l.max_ms()),
        grouped(l.count())
    )
}

impl Results {
    pub(crate) fn note(&mut self, heading: &str, lines: Vec<String>) {
        self.notes.push((heading.to_owned(), lines));
    }

    /// The tables read sequentially on a large scale (see `db::sequential_scans`).
    pub fn scans(&mut self, scans: &[(String, i64, i64)]) {
        let lines = if scans.is_empty() {
            vec![
                "None worth naming: no table had over a million rows read sequentially, 1,000 a scan.".into(),
            ]
        } else {
            let count = |n: i64| grouped(u64::try_from(n).unwrap_or(0));
            let line = |(table, scans, rows): &(String, i64, i64)| {
                format!(
                    "- ⚠ `{table}`: {} sequential scans read {} rows (a query that cannot use its index?)",
                    count(*scans),
                    count(*rows)
                )
            };
            scans.iter().map(line).collect()
        };
        self.note("Sequential scans during the run (PostgreSQL statistics)", lines);
    }

    /// A scenario that could not run (e.g. `oha` missing): noted, and the run fails.
    pub fn not_run(&mut self, scenario: &str, error: &dyn std::fmt::Display) {
        self.note(scenario, vec![format!("**Not run:** {error}")]);
        self.failures.push(format!("{scenario} not run: {error}"));
    }

    /// Scenario 2.
    pub fn spike(&mut self, spike: &Spike, concurrency: usize, cpu: Spent) {
        let n = grouped(spike.counts.ok as u64);
        self.rows.push(
            Row::new(
                S2,
                format!("tokens issued per second ({n} fans, {concurrency} at once)"),
                spike.per_second,
                Unit::PerSec,
                Better::Higher,
            )
            .anchor(PEER_ISSUE_RATE.0, PEER_ISSUE_RATE.1)
            .target(5_000.0),
        );
        self.rows.push(
            Row::new(S2, "token issue p95", spike.latency.ms(0.95), Unit::Ms, Better::Lower)
                .anchor(PEER_ISSUE_P95.0, PEER_ISSUE_P95.1),
        );
        self.rows.push(
            Row::new(S2, "token issue p99", spike.latency.ms(0.99), Unit::Ms, Better::Lower)
                .anchor(PEER_ISSUE_P95.0, PEER_ISSUE_P95.1),
        );
        if spike.counts.ok != spike.tokens.len() {
            self.failures.push(format!(
                "token spike: only {} of {} tokens issued",
                spike.counts.ok,
                spike.tokens.len()
            ));
        }
        self.note(
            S2,
            vec![format!(
                "`POST /api/token` for {} new fans, {concurrency} clients, closed loop: {} in {}; latency {}.",
                grouped(spike.tokens.len() as u64),
                counts(&spike.counts),
                Unit::Ms.show(spike.wall_ms),
                spread(&spike.latency)
            ), String::new(), format!("{}.", cpu.per_operation(spike.counts.ok as u64))],
        );
    }

    /// Scenarios 1 and 5, one race size each call.
    /// `large` is the reference study's 10,000-attempt race (the one with targets).
    pub fn race(&mut self, http: &Race, sql: &Race, seat_rows: [i64; 2], large: bool, http_cpu: Spent) {
        let (seed, list_anchor) =
            if large { (SEED_RACE_10K, SEED_LIST_10K) } else { (SEED_RACE_1K, SEED_LIST_1K) };
        let what =
            format!("{} same-seat attempts, {} concurrent", grouped(http.attempts as u64), http.concurrency);
        let mut wall = Row::new(S1, format!("{what}: wall time"), http.wall_ms, Unit::Ms, Better::Lower)
            .anchor(seed.0, seed.1);
        if large {
            wall = wall.target(RACE_TARGET_MS);
        }
        self.rows.push(wall);
        let p50 = Row::new(S1, "seat list during it: p50", http.seat_list.ms(0.5), Unit::Ms, Better::Lower);
        self.rows.push(p50.anchor(list_anchor.0, list_anchor.1));
        let mut p99 =
            Row::new(S1, "seat list during it: p99", http.seat_list.ms(0.99), Unit::Ms, Better::Lower)
                .anchor(list_anchor.0, list_anchor.1);
        if large {
            p99 = p99.target(10.0);
        }
        self.rows.push(p99);
        let overhead = http.wall_ms / sql.wall_ms.max(1e-9);
        if large {
            let metric = format!("{what}: HTTP wall time ÷ the raw SQL race's (scenario 5, this run)");
            self.rows.push(Row::new(S1, metric, overhead, Unit::Ratio, Better::Lower).target(RACE_OVER_SQL));
        }
        let sql_what = format!(
            "{} same-seat attempts, {} concurrent: wall time (HTTP path: {} this)",
            grouped(sql.attempts as u64),
            sql.concurrency,
            times(overhead)
        );
        self.rows.push(Row::new(S5, sql_what, sql.wall_ms, Unit::Ms, Better::Lower).anchor(seed.0, seed.1));

        let one_winner = http.winners == 1 && seat_rows[0] == 1;
        let clean =
            http.counts.server_errors == 0 && http.counts.failed == 0 && http.losers + 1 == http.attempts;
        if !one_winner || !clean {
            self.failures.push(format!(
                "HTTP race {what}: {} winners, {}",
                http.winners,
                counts(&http.counts)
            ));
        }
        if sql.winners != 1 || seat_rows[1] != 1 {
            self.failures.push(format!("SQL race {what}: {} winners", sql.winners));
        }
        let winner = if one_winner { "yes" } else { "NO" };
        let http_line = format!(
            "- HTTP: {} in {} — exactly one winner: **{winner}** (reservations on the seat: {}), \
             409 `SEAT_UNAVAILABLE`: {}, 5xx: **{}**; attempt latency {}.",
            counts(&http.counts),
            Unit::Ms.show(http.wall_ms),
            seat_rows[0],
            grouped(http.losers as u64),
            http.counts.server_errors,
            spread(&http.latency)
        );
        let list_line = format!(
            "- Seat list of that performance, sampled one request at a time during the race: {}.",
            spread(&http.seat_list)
        );
        let sql_line = format!(
            "- Raw SQL (the adapter's compare-and-set hold statement, no HTTP; {} clients pipelining over {} \
             connections): {} winner(s) (reservations on the seat: {}) in {}; statement latency {}. \
             HTTP ÷ SQL = {}.",
            sql.concurrency,
            sql.connections,
            sql.winners,
            seat_rows[1],
            Unit::Ms.show(sql.wall_ms),
            spread(&sql.latency),
            times(overhead)
        );
        let cpu_line = format!(
            "- HTTP race: {}; raw SQL race: {}.",
            http_cpu.per_operation(http.attempts as u64),
            sql.cpu.per_operation(sql.attempts as u64)
        );
        self.note(&format!("{S1} and {S5}: {what}"), vec![http_line, list_line, sql_line, cpu_line]);
    }

    /// Scenario 4 and its audit.
    pub fn booking(&mut self, booking: &Booking, audit: &Audit) {
        let fans = grouped(booking.users as u64);
        let hold = Row::new(
            S4,
            format!("holds per second ({fans} fans)"),
            booking.hold.per_second,
            Unit::PerSec,
            Better::Higher,
        );
        self.rows.push(hold.anchor(PEER_HOLDS.0, PEER_HOLDS.1).target(3_000.0));
        self.rows.push(
            Row::new(S4, "hold p99", booking.hold.latency.ms(0.99), Unit::Ms, Better::Lower).target(50.0),
        );
        let pay = Row::new(S4, "payments per second", booking.pay.per_second, Unit::PerSec, Better::Higher);
        self.rows.push(pay.anchor(PEER_PAYMENTS.0, PEER_PAYMENTS.1).target(2_000.0));
        self.rows.push(
            Row::new(S4, "payment p99", booking.pay.latency.ms(0.99), Unit::Ms, Better::Lower).target(50.0),
        );
        self.rows.push(Row::new(
            S4,
            "free-seat list p99",
            booking.list.latency.ms(0.99),
            Unit::Ms,
            Better::Lower,
        ));

        let paid = booking.pay.counts.ok as i64;
        let seen = Seen {
            payments: paid,
            refunds: booking.refund.counts.ok as i64,
            releases: booking.release.counts.ok as i64,
        };
        let passed = audit.passed(seen);
        if !passed {
            self.failures.push(format!("booking audit failed: {audit:?}, clients saw {seen:?}"));
        }
        let phases = [
            ("charge", &booking.charge),
            ("free-seat list", &booking.list),
            ("hold", &booking.hold),
            ("release (one fan in ten gives the hold back)", &booking.release),
            ("pay", &booking.pay),
            ("refund (the box office, one payment in ten)", &booking.refund),
        ];
        if phases.iter().any(|(_, phase)| phase.counts.server_errors > 0) {
            self.failures.push("booking: 5xx answers".into());
        }
        let seats = grouped((booking.schedules * SEATS_PER_SCHEDULE) as u64);
        let mut lines = vec![
            format!(
                "{fans} fans on {} performances ({seats} seats), closed loop, phase by phase:",
                booking.schedules
            ),
            String::new(),
        ];
        for (name, phase) in phases {
            lines.push(format!(
                "- {name}: {} /s — {} in {}; latency {}. {}.",
                grouped(phase.per_second as u64),
                counts(&phase.counts),
                Unit::Ms.show(phase.wall_ms),
                spread(&phase.latency),
                phase.cpu.per_operation(phase.counts.ok as u64)
            ));
        }
        lines.push(format!(
            "- Holds refused with 409 because another fan was faster (each followed by a new list and \
             another pick): {}; fans left without a seat: {}.",
            booking.conflicts, booking.gave_up
        ));
        let tick = |ok: bool| if ok { "✅" } else { "❌" };
        let sold = audit.payments - audit.refunds;
        let counted =
            sold == audit.sold_seats && audit.sold_seats == audit.paid_reservations && audit.payments == paid;
        lines.extend([
            String::new(),
            format!("**Audit (SQL, after the flow): {}**", if passed { "passed" } else { "FAILED" }),
            String::new(),
            "| check | result |".into(),
            "|---|---|".into(),
            format!(
                "| no seat sold twice | {} {} seats with two paid reservations |",
                tick(audit.seats_sold_twice == 0),
                audit.seats_sold_twice
            ),
            format!(
                "| every sold seat has its paid reservation | {} {} without |",
                tick(audit.sold_without_sale == 0),
                audit.sold_without_sale
            ),
            format!(
                "| payments − refunds = sold seats = paid reservations; payments = what clients saw | {} {} − {} = {} = {}; {} = {paid} |",
                tick(counted),
                audit.payments,
                audit.refunds,
                audit.sold_seats,
                audit.paid_reservations,
                audit.payments
            ),
            format!(
                "| refunds and releases = what clients saw; money refunded = money credited back | {} {} = {}, {} = {}; {} |",
                tick(audit.refunds == seen.refunds && audit.releases == seen.releases && audit.refunds_match),
                audit.refunds,
                seen.refunds,
                audit.releases,
                seen.releases,
                tick(audit.refunds_match)
            ),
            format!(
                "| every user's ledger sums to their balance | {} {} mismatches over {} users |",
                tick(audit.ledger_mismatches == 0),
                audit.ledger_mismatches,
                grouped(audit.users as u64)
            ),
            format!("| money paid = money debited in the ledger | {} |", tick(audit.money_matches)),
        ]);
        self.note(S4, lines);
    }
}
