//! The chart beside `docs/BENCHMARKS.md`: one bar per row that has an anchor, its length how
//! many times better than the anchor we are (log scale; the line at 1× is parity), green when
//! ahead, red when behind; a row with a target is marked when the target is missed.

use std::path::Path;

use plotters::style::RGBColor;

use crate::BenchResult;
use crate::common::{Bar, BarChart, log_bars};
use crate::report::{Row, times};

/// Draws the chart of `rows` (those with an anchor) into the SVG file `path`.
pub fn draw(rows: &[Row], path: &Path) -> BenchResult<()> {
    let green = RGBColor(46, 160, 67);
    let red = RGBColor(207, 34, 46);
    let bars: Vec<Bar> = rows
        .iter()
        .filter_map(|row| {
            let ratio = row.ratio()?;
            let flag = if row.met() == Some(false) { "  (target missed)" } else { "" };
            let label = format!("{} — {}{flag}", row.scenario, row.metric);
            Some((label, ratio, if ratio >= 1.0 { green } else { red }))
        })
        .collect();
    let highest = bars.iter().map(|(_, ratio, _)| *ratio).fold(2.0_f64, f64::max);
    let lowest = bars.iter().map(|(_, ratio, _)| *ratio).fold(0.5_f64, f64::min);
    let chart = BarChart {
        caption: "frontrow against the reference study and peers: × better (log scale, 1× = parity)",
        width: 1_000,
        x_range: (lowest / 2.0, highest * 4.0),
        format: &times,
        parity: Some(1.0),
    };
    log_bars(path, &chart, &bars)
}
