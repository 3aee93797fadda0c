//! The chart beside `docs/CONCURRENCY.md`: one bar per strategy and figure, its length the
//! median wall time (log scale), the reference study's bars in grey beside figure 1's, a
//! control or comparison in orange, a strategy that failed its check in red.

use std::path::Path;

use plotters::style::RGBColor;

use super::report::Results;
use super::{Role, Spread, StudyResult, ms};

use crate::common::{Bar, BarChart, log_bars};

const OURS: RGBColor = RGBColor(46, 110, 190);
const REFERENCE: RGBColor = RGBColor(150, 150, 150);
const CONTROL: RGBColor = RGBColor(230, 140, 30);
const FAILED: RGBColor = RGBColor(207, 34, 46);

fn colour(role: Role, correct: bool) -> RGBColor {
    match (role, correct) {
        (Role::Qualifying, true) => OURS,
        (Role::Qualifying, false) => FAILED,
        _ => CONTROL,
    }
}

fn wall<'a>(walls: impl Iterator<Item = &'a std::time::Duration>) -> f64 {
    Spread::of(walls.map(|w| w.as_secs_f64() * 1e3)).median
}

/// The bars, top to bottom.
fn bars(results: &Results) -> Vec<Bar> {
    let mut bars = Vec::new();
    let mut last_size = None;
    for (size, strategy, runs) in &results.seat {
        if last_size != Some(size.attempts) {
            last_size = Some(size.attempts);
            let at = format!("1 · {}@{}", size.attempts, size.clients);
            bars.push((format!("{at} · reference study, pessimistic (MySQL)"), size.reference.0, REFERENCE));
            bars.push((format!("{at} · reference study, optimistic (MySQL)"), size.reference.1, REFERENCE));
        }
        let ok = runs.iter().all(|r| r.correct());
        let label = format!("1 · {}@{} · {}", size.attempts, size.clients, strategy.name());
        bars.push((label, wall(runs.iter().map(|r| &r.driven.wall)), colour(strategy.role(), ok)));
    }
    for (strategy, runs) in &results.wallet {
        let ok = runs.iter().all(|r| r.correct());
        let label = format!("2 · hot wallet · {}", strategy.name());
        bars.push((label, wall(runs.iter().map(|r| &r.driven.wall)), colour(strategy.role(), ok)));
    }
    for (figure, list) in [("3 · many fans pay", &results.fans), ("3 · one reservation", &results.contested)]
    {
        for (strategy, runs) in list {
            let ok = runs.iter().all(|r| r.correct());
            let label = format!("{figure} · {}", strategy.name());
            bars.push((label, wall(runs.iter().map(|r| &r.driven.wall)), colour(strategy.role(), ok)));
        }
    }
    bars
}

/// Draws the chart of `results` into the SVG file `path`.
pub fn draw(results: &Results, path: &Path) -> StudyResult<()> {
    let bars = bars(results);
    let highest = bars.iter().map(|(_, v, _)| *v).fold(10.0_f64, f64::max);
    let lowest = bars.iter().map(|(_, v, _)| *v).fold(1.0_f64, f64::min).max(0.01);
    let chart = BarChart {
        caption: "Wall time of each strategy, median of the runs (ms, log scale)",
        width: 1_100,
        x_range: (lowest / 4.0, highest * 40.0),
        format: &ms,
        parity: None,
    };
    log_bars(path, &chart, &bars)
}
