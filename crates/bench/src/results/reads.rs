//! Rows and notes of the catalogue reads (scenario 6).

use super::{Results, S6, SEED_LIST_NO_CACHE, SEED_LIST_REDIS};
use crate::report::{Better, Row, Unit, grouped};
use crate::scenarios::reads::CatalogueRun;

impl Results {
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
