//! The results of every run, their verdicts, and the figures' markdown.

use std::fmt::Write as _;

use super::driver::Driven;
use super::payment::{PaymentRun, PaymentStrategy};
use super::seat::{SeatRun, SeatStrategy};
use super::wallet::{WalletRun, WalletStrategy};
use super::{Role, Spread, grouped, ms, spread_ms};

/// A figure-1 size: attempts and clients, as the reference study ran them.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Attempts on the one seat.
    pub attempts: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// The reference study's wall times at its size: (pessimistic, optimistic), ms.
    pub reference: (f64, f64),
    /// The reference study's mean seat-list times during its race: (pessimistic, optimistic).
    pub reference_list: (&'static str, &'static str),
}

/// Every run of every strategy.
#[derive(Debug, Default)]
pub struct Results {
    /// Figure 1, per size and strategy.
    pub seat: Vec<(Size, SeatStrategy, Vec<SeatRun>)>,
    /// Figure 2, per strategy.
    pub wallet: Vec<(WalletStrategy, Vec<WalletRun>)>,
    /// Figure 3, many fans, per strategy.
    pub fans: Vec<(PaymentStrategy, Vec<PaymentRun>)>,
    /// Figure 3, one reservation, per strategy.
    pub contested: Vec<(PaymentStrategy, Vec<PaymentRun>)>,
}

/// Pushes `run` into the runs of `key` in `list`.
pub fn add<K: PartialEq, R>(list: &mut Vec<(K, Vec<R>)>, key: K, run: R) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, runs)) => runs.push(run),
        None => list.push((key, vec![run])),
    }
}

/// The verdict of one strategy over its runs, and whether it fails the study.
fn verdict(role: Role, correct: &[bool]) -> (String, bool) {
    let (good, n) = (correct.iter().filter(|c| **c).count(), correct.len());
    match role {
        Role::Qualifying if good == n => (format!("✅ correct in {good}/{n}"), false),
        Role::Qualifying => (format!("❌ WRONG in {} of {n} runs", n - good), true),
        Role::Control if good == 0 => (format!("✅ broke in {n}/{n}, as a control must"), false),
        Role::Control => (format!("❌ did NOT break in {good} of {n} runs: the check cannot fail?"), true),
        Role::Comparison => (format!("correct, without errors, in {good}/{n} (not required)"), false),
    }
}

/// Each run's value, comma-separated.
fn each<T: ToString>(values: impl IntoIterator<Item = T>) -> String {
    values.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
}

impl Results {
    /// What failed: strategies that must be correct and were not, controls that did not break.
    pub fn failures(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for (size, strategy, runs) in &self.seat {
            let correct: Vec<bool> = runs.iter().map(SeatRun::correct).collect();
            if verdict(strategy.role(), &correct).1 {
                failed.push(format!("seat, {}@{}: {}", size.attempts, size.clients, strategy.name()));
            }
        }
        for (strategy, runs) in &self.wallet {
            let correct: Vec<bool> = runs.iter().map(WalletRun::correct).collect();
            if verdict(strategy.role(), &correct).1 {
                failed.push(format!("wallet: {}", strategy.name()));
            }
        }
        for (what, list) in
            [("payment, many fans", &self.fans), ("payment, one reservation", &self.contested)]
        {
            for (strategy, runs) in list {
                let correct: Vec<bool> = runs.iter().map(PaymentRun::correct).collect();
                if verdict(strategy.role(), &correct).1 {
                    failed.push(format!("{what}: {}", strategy.name()));
                }
            }
        }
        failed
    }

    /// The wall time of a figure-1 strategy at `attempts` over `clients`, ms.
    pub fn seat_wall(&self, attempts: usize, clients: usize, strategy: SeatStrategy) -> Option<Spread> {
        self.seat
            .iter()
            .find(|(size, s, _)| size.attempts == attempts && size.clients == clients && *s == strategy)
            .map(|(_, _, runs)| Spread::of(runs.iter().map(|r| r.driven.wall.as_secs_f64() * 1e3)))
    }

    /// Figure 1's tables.
    pub fn seat_markdown(&self, out: &mut String, sessions: usize) {
        let mut sizes: Vec<Size> = Vec::new();
        for (size, _, _) in &self.seat {
            if !sizes.iter().any(|s| s.attempts == size.attempts) {
                sizes.push(*size);
            }
        }
        for size in sizes {
            let _ = writeln!(
                out,
                "\n### {} attempts on one seat, {} clients{}\n",
                grouped(size.attempts as u64),
                size.clients,
                over(size.clients, sessions)
            );
            out.push_str(
                "| strategy | wall time, median (spread) | winners, each run | seat list p50 | seat list p99 | attempt p50 | attempt p99 | errors | verdict |\n\
                 |---|---|---|---|---|---|---|---|---|\n",
            );
            for (_, strategy, runs) in self.seat.iter().filter(|(s, _, _)| s.attempts == size.attempts) {
                let median = |f: &dyn Fn(&SeatRun) -> f64| ms(Spread::of(runs.iter().map(f)).median);
                let correct: Vec<bool> = runs.iter().map(SeatRun::correct).collect();
                let middle = [
                    median(&|r| r.list.ms(0.50)),
                    median(&|r| r.list.ms(0.99)),
                    median(&|r| r.driven.latency.ms(0.50)),
                ];
                let driven: Vec<&Driven> = runs.iter().map(|r| &r.driven).collect();
                let _ =
                    writeln!(out, "{}", row(strategy.name(), strategy.role(), &driven, &middle, &correct));
            }
            let (pessimistic, optimistic) = size.reference;
            let (list_pessimistic, list_optimistic) = size.reference_list;
            let _ = writeln!(
                out,
                "| *the reference study (Java/Spring + MySQL): pessimistic* | {} (its mean) | 1 | mean {list_pessimistic} | — | — | — | — | — |\n\
                 | *the reference study (Java/Spring + MySQL): optimistic* | {} (its mean) | 1 | mean {list_optimistic} | — | — | — | — | — |",
                ms(pessimistic),
                ms(optimistic)
            );
        }
    }

    /// Figure 2's table.
    pub fn wallet_markdown(&self, out: &mut String, charges: usize, clients: usize, sessions: usize) {
        let _ = writeln!(
            out,
            "\n{} charges of {} won to one user, {clients} clients{}. *Lost updates*: charges the \
             clients were told succeeded that the balance does not show; *ledger gap*: the user's \
             ledger sum less their balance.\n",
            grouped(charges as u64),
            grouped(super::wallet::AMOUNT as u64),
            over(clients, sessions)
        );
        out.push_str(
            "| strategy | wall time, median (spread) | charged, each run | lost updates, each run | ledger gap (won), each run | retries | deadlocks | gave up | attempt p99 | errors | verdict |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for (strategy, runs) in &self.wallet {
            let correct: Vec<bool> = runs.iter().map(WalletRun::correct).collect();
            let middle = [
                each(runs.iter().map(|r| r.lost_updates)),
                each(runs.iter().map(|r| r.ledger_gap)),
                each(runs.iter().map(|r| r.driven.retries)),
                each(runs.iter().map(|r| r.driven.deadlocks)),
                each(runs.iter().map(|r| r.driven.gave_up)),
            ];
            let driven: Vec<&Driven> = runs.iter().map(|r| &r.driven).collect();
            let _ = writeln!(out, "{}", row(strategy.name(), strategy.role(), &driven, &middle, &correct));
        }
    }

    /// Figure 3's tables.
    pub fn payment_markdown(
        &self,
        out: &mut String,
        fans: usize,
        contested: usize,
        clients: usize,
        sessions: usize,
    ) {
        let headings = [
            format!(
                "{} fans each paying their own hold, {} clients{}",
                grouped(fans as u64),
                clients.min(fans),
                over(clients.min(fans), sessions)
            ),
            format!(
                "{contested} concurrent payments of ONE reservation (exactly one may succeed), {} clients{}",
                clients.min(contested),
                over(clients.min(contested), sessions)
            ),
        ];
        for (heading, list) in headings.iter().zip([&self.fans, &self.contested]) {
            let _ = writeln!(out, "\n### {heading}\n");
            out.push_str(
                "| strategy | wall time, median (spread) | paid, each run | payment rows | double payments | money mismatches | attempt p99 | errors | verdict |\n\
                 |---|---|---|---|---|---|---|---|---|\n",
            );
            for (strategy, runs) in list {
                let correct: Vec<bool> = runs.iter().map(PaymentRun::correct).collect();
                let middle = [
                    each(runs.iter().map(|r| r.payments)),
                    each(runs.iter().map(|r| r.double_payments)),
                    each(runs.iter().map(|r| r.money_mismatches)),
                ];
                let driven: Vec<&Driven> = runs.iter().map(|r| &r.driven).collect();
                let _ =
                    writeln!(out, "{}", row(strategy.name(), strategy.role(), &driven, &middle, &correct));
            }
        }
    }
}

/// One table row: the strategy, its wall time, what each run won, `middle`, then the attempt
/// p99, the errors and the verdict (the columns every figure shares).
fn row(name: &str, role: Role, runs: &[&Driven], middle: &[String], correct: &[bool]) -> String {
    let mut cells = vec![
        format!("{name}{}", role.label()),
        spread_ms(Spread::of(runs.iter().map(|r| r.wall.as_secs_f64() * 1e3))),
        each(runs.iter().map(|r| r.won)),
    ];
    cells.extend_from_slice(middle);
    cells.push(ms(Spread::of(runs.iter().map(|r| r.latency.ms(0.99))).median));
    cells.push(errors(runs.iter().copied()));
    cells.push(verdict(role, correct).0);
    format!("| {} |", cells.join(" | "))
}

/// ", over N sessions" when the clients had to share fewer sessions.
fn over(clients: usize, sessions: usize) -> String {
    if sessions < clients {
        format!(" over {sessions} PostgreSQL sessions (too few free for one each)")
    } else {
        String::new()
    }
}

/// Errors per run, and the first one's message.
fn errors<'a>(runs: impl Iterator<Item = &'a Driven>) -> String {
    let runs: Vec<_> = runs.collect();
    let counts = each(runs.iter().map(|r| r.errors));
    match runs.iter().find_map(|r| r.first_error.as_deref()) {
        Some(first) => format!("{counts} (first: {})", first.replace('|', "/").replace('\n', " ")),
        None => counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strategy_that_must_be_correct_fails_the_study_when_one_run_is_wrong() {
        assert!(!verdict(Role::Qualifying, &[true, true, true]).1);
        assert!(verdict(Role::Qualifying, &[true, false, true]).1);
    }

    #[test]
    fn a_control_fails_the_study_when_it_does_not_break() {
        assert!(!verdict(Role::Control, &[false, false, false]).1);
        assert!(verdict(Role::Control, &[false, true, false]).1);
    }

    #[test]
    fn a_comparison_never_fails_the_study() {
        assert!(!verdict(Role::Comparison, &[false, false, false]).1);
    }
}
