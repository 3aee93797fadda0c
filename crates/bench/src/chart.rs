//! The chart beside `docs/BENCHMARKS.md`: one bar per row that has an anchor, its length how
//! many times better than the anchor we are (log scale; the line at 1× is parity), green when
//! ahead, red when behind; a row with a target is marked when the target is missed.

use std::path::Path;

use plotters::prelude::*;

use crate::BenchResult;
use crate::report::{Row, times};

/// Draws the chart of `rows` (those with an anchor) into the SVG file `path`.
pub fn draw(rows: &[Row], path: &Path) -> BenchResult<()> {
    let bars: Vec<(String, f64, Option<bool>)> = rows
        .iter()
        .filter_map(|row| {
            let ratio = row.ratio()?;
            Some((format!("{} — {}", row.scenario, row.metric), ratio, row.met()))
        })
        .collect();
    let n = bars.len().max(1);
    let highest = bars.iter().map(|(_, ratio, _)| *ratio).fold(2.0_f64, f64::max);
    let lowest = bars.iter().map(|(_, ratio, _)| *ratio).fold(0.5_f64, f64::min);
    let (x_min, x_max) = (lowest / 2.0, highest * 4.0);

    let height = u32::try_from(90 + 30 * n).unwrap_or(1_000);
    let root = SVGBackend::new(path, (1_000, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "frontrow against the reference study and peers: × better (log scale, 1× = parity)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(0)
        .build_cartesian_2d((x_min..x_max).log_scale(), 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|x| times(*x))
        .x_label_style(("sans-serif", 12))
        .draw()?;

    let green = RGBColor(46, 160, 67);
    let red = RGBColor(207, 34, 46);
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, ratio, _))| {
        let y = (n - 1 - i) as f64;
        let colour = if *ratio >= 1.0 { green.mix(0.55) } else { red.mix(0.55) };
        Rectangle::new([(x_min, y + 0.15), (*ratio, y + 0.85)], colour.filled())
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (label, ratio, met))| {
        let y = (n - 1 - i) as f64;
        let flag = match met {
            Some(false) => "  (target missed)",
            _ => "",
        };
        Text::new(format!("{label}: {}{flag}", times(*ratio)), (x_min * 1.08, y + 0.62), ("sans-serif", 13))
    }))?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, 0.0), (1.0, n as f64)],
        BLACK.stroke_width(2),
    )))?;
    root.present()?;
    Ok(())
}
