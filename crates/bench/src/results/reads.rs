//! Rows and notes of the read scenarios: polling (3) and the catalogue (6).

use super::{PEER_FANS, PEER_POLL_P95, Results, S3, S6, SEED_LIST_NO_CACHE, SEED_LIST_REDIS};
use crate::report::{Better, Row, Unit, grouped};
use crate::scenarios::reads::{CatalogueRun, P99_LIMIT_MS, Polling};

impl Results {
    /// Scenario 3.
    pub fn polling(&mut self, polling: &Polling) {
        let rate = grouped(polling.rate);
        let served = Row::new(
            S3,
            format!("polls served at a fixed {rate} req/s"),
            polling.open.ok_per_second,
            Unit::PerSec,
            Better::Higher,
        );
        self.rows.push(served.anchor(PEER_FANS.0, PEER_FANS.1).target(20_000.0));
        let p95 = Row::new(
            S3,
            format!("poll p95 at {rate} req/s (latency-corrected)"),
            polling.open.p95_ms,
            Unit::Ms,
            Better::Lower,
        );
        self.rows.push(p95.anchor(PEER_POLL_P95.0, PEER_POLL_P95.1));
        let p99 = Row::new(
            S3,
            format!("poll p99 at {rate} req/s (latency-corrected)"),
            polling.open.p99_ms,
            Unit::Ms,
            Better::Lower,
        );
        self.rows.push(p99.anchor(PEER_POLL_P95.0, PEER_POLL_P95.1).target(P99_LIMIT_MS));
        let found = polling.sustainable.map_or(0.0, |(rate, _)| rate as f64);
        let search =
            format!("highest fixed rate held at p99 ≤ {P99_LIMIT_MS} ms (search down from capacity)");
        self.rows
            .push(Row::new(S3, search, found, Unit::PerSec, Better::Higher).anchor(PEER_FANS.0, PEER_FANS.1));
        let capacity = Row::new(
            S3,
            "capacity, closed loop",
            polling.capacity.ok_per_second,
            Unit::PerSec,
            Better::Higher,
        );
        self.rows.push(capacity.anchor(PEER_FANS.0, PEER_FANS.1));
        if polling.open.not_ok > 0 {
            self.failures.push(format!("polling: {} non-2xx answers", polling.open.not_ok));
        }
        let open = format!(
            "- Open model at {} req/s, latency-corrected: {} answers 2xx, {} not; p50 {}, p95 {}, p99 {}.",
            polling.rate,
            grouped(polling.open.ok),
            polling.open.not_ok,
            Unit::Ms.show(polling.open.p50_ms),
            Unit::Ms.show(polling.open.p95_ms),
            Unit::Ms.show(polling.open.p99_ms),
        );
        let held = match polling.sustainable {
            Some((rate, run)) => format!(
                "- Highest rate held with p99 ≤ {P99_LIMIT_MS} ms: {} req/s (p50 {}, p99 {}).",
                grouped(rate),
                Unit::Ms.show(run.p50_ms),
                Unit::Ms.show(run.p99_ms)
            ),
            None => format!("- No rate down to a few hundred req/s was held with p99 ≤ {P99_LIMIT_MS} ms."),
        };
        let closed = format!(
            "- Closed loop: {} /s at p99 {}. {}.",
            grouped(polling.capacity.ok_per_second as u64),
            Unit::Ms.show(polling.capacity.p99_ms),
            polling.capacity_cpu.per_operation(polling.capacity.ok)
        );
        self.note(S3, vec![open, held, closed]);
    }

    /// Scenario 6.
    pub fn catalogue(&mut self, runs: &[CatalogueRun], reads: usize) {
        let mut lines = Vec::new();
        for run in runs {
            let cache = if run.cache_seconds > 0 {
                format!("cache {} s", run.cache_seconds)
            } else {
                "no cache".to_owned()
            };
            let name = if run.endpoint == "concerts" { "concert list" } else { "dates of a concert" };
            let mut wall = Row::new(
                S6,
                format!("{name}, {cache}: {} reads", grouped(reads as u64)),
                run.closed.wall_ms,
                Unit::Ms,
                Better::Lower,
            );
            if run.endpoint == "concerts" {
                let (value, source) =
                    if run.cache_seconds > 0 { SEED_LIST_REDIS } else { SEED_LIST_NO_CACHE };
                wall = wall.anchor(value * reads as f64 / 10_000.0, source);
            }
            self.rows.push(wall);
            self.rows.push(Row::new(
                S6,
                format!("{name}, {cache}: req/s (closed loop)"),
                run.closed.ok_per_second,
                Unit::PerSec,
                Better::Higher,
            ));
            self.rows.push(Row::new(
                S6,
                format!("{name}, {cache}: p99 at a fixed {} req/s", grouped(run.rate)),
                run.open.p99_ms,
                Unit::Ms,
                Better::Lower,
            ));
            if run.closed.not_ok + run.open.not_ok > 0 {
                self.failures.push(format!("catalogue {name} ({cache}): non-2xx answers"));
            }
            lines.push(format!(
                "- {name}, {cache}: closed loop {} /s (p99 {}); at {} req/s: {} /s served, p50 {}, p99 {}.",
                grouped(run.closed.ok_per_second as u64),
                Unit::Ms.show(run.closed.p99_ms),
                grouped(run.rate),
                grouped(run.open.ok_per_second as u64),
                Unit::Ms.show(run.open.p50_ms),
                Unit::Ms.show(run.open.p99_ms)
            ));
            lines.push(format!("  {} (closed loop).", run.closed_cpu.per_operation(run.closed.ok)));
        }
        self.note(S6, lines);
    }
}
