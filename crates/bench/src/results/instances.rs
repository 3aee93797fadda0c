//! Rows and notes of scenario 7, scenarios 1 and 3 spread over three instances.

use super::{Results, S7, counts, spread};
use crate::report::{Better, Row, Unit, grouped};
use crate::scenarios::instances::{INSTANCES, Spread};

/// What scenario 7 is set beside: the same figures on one instance, this run.
const ONE_RACE: &str = "the same race on one instance (scenario 1, this run)";
const ONE_LIST: &str = "the seat list during the race on one instance (scenario 1, this run)";
const ONE_POLLING: &str = "the same fans on one instance (scenario 3, this run)";

/// The one-instance figures of this run that scenario 7 is compared with.
pub struct OneInstance {
    /// The large race's wall time, ms.
    pub race_ms: f64,
    /// The seat list's p99 during it, ms.
    pub list_p99_ms: f64,
    /// The polling fans' closed-loop rate, req/s.
    pub polling_per_second: f64,
}

impl Results {
    /// Scenario 7.
    pub fn instances(&mut self, spread_over: &Spread, one: &OneInstance) {
        let race = &spread_over.race;
        let what = format!(
            "{} same-seat attempts, {} concurrent, over {INSTANCES} instances",
            grouped(race.attempts as u64),
            race.concurrency
        );
        self.rows.push(
            Row::new(S7, format!("{what}: wall time"), race.wall_ms, Unit::Ms, Better::Lower)
                .anchor(one.race_ms, ONE_RACE),
        );
        self.rows.push(
            Row::new(S7, "seat list during it: p99", race.seat_list.ms(0.99), Unit::Ms, Better::Lower)
                .anchor(one.list_p99_ms, ONE_LIST),
        );
        let fans = grouped(spread_over.fans as u64);
        self.rows.push(
            Row::new(
                S7,
                format!("polling capacity, closed loop, {fans} waiting fans over {INSTANCES} instances"),
                spread_over.polling.ok_per_second,
                Unit::PerSec,
                Better::Higher,
            )
            .anchor(one.polling_per_second, ONE_POLLING),
        );

        let one_winner = race.winners == 1 && spread_over.seat_rows == 1;
        let clean =
            race.counts.server_errors == 0 && race.counts.failed == 0 && race.losers + 1 == race.attempts;
        if !one_winner || !clean {
            self.failures.push(format!("race {what}: {} winners, {}", race.winners, counts(&race.counts)));
        }
        if spread_over.polling.not_ok > 0 {
            self.failures.push(format!(
                "polling over {INSTANCES} instances: {} answers not 2xx",
                spread_over.polling.not_ok
            ));
        }
        let winner = if one_winner { "yes" } else { "NO" };
        self.note(
            S7,
            vec![
                format!(
                    "- Race, each request to the next instance: {} in {} — exactly one winner: **{winner}** \
                     (reservations on the seat: {}), 5xx: **{}**; attempt latency {}. Seat list during it: {}. {}.",
                    counts(&race.counts),
                    Unit::Ms.show(race.wall_ms),
                    spread_over.seat_rows,
                    race.counts.server_errors,
                    spread(&race.latency),
                    spread(&race.seat_list),
                    spread_over.race_cpu.per_operation(race.attempts as u64)
                ),
                format!(
                    "- Polling, each connection to the next instance, every fan still WAITING afterwards \
                     (checked in the database): {} polls answered 2xx ({} not), p50 {}, p99 {}. {}.",
                    grouped(spread_over.polling.ok),
                    spread_over.polling.not_ok,
                    Unit::Ms.show(spread_over.polling.p50_ms),
                    Unit::Ms.show(spread_over.polling.p99_ms),
                    spread_over.polling_cpu.per_operation(spread_over.polling.ok)
                ),
            ],
        );
    }
}
