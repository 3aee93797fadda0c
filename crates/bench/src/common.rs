//! What both benchmark binaries (`frontrow-bench`, `frontrow-concurrency`) print the same way:
//! grouped numbers, the machine a run was on, and errors with their causes.

use num_format::{Locale, ToFormattedString};

/// `12345` as `12,345`.
pub fn grouped(n: u64) -> String {
    n.to_formatted_string(&Locale::en)
}

/// The machine: its cores, its CPU model, and the run's instant (RFC 3339, UTC).
pub fn machine() -> (usize, String, String) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let when = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    (cores, cpu, when)
}

/// Ends a benchmark binary `name` by its run's `outcome`: 0 when every check held, 2 when one
/// failed (the report says which), 1 with the error's causes on stderr when it could not run.
pub fn exit_with(name: &str, outcome: Result<bool, Box<dyn std::error::Error + Send + Sync>>) {
    match outcome {
        Ok(true) => {}
        Ok(false) => std::process::exit(2),
        Err(error) => {
            eprintln!("{name}: {}", error_chain(error.as_ref()));
            std::process::exit(1);
        }
    }
}

/// An error and every source below it, on one line: tokio-postgres says only "db error" at the
/// top, the server's own message is a source.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// One bar of [`log_bars`]: its label, its value and its colour.
pub type Bar = (String, f64, plotters::style::RGBColor);

/// How [`log_bars`] draws: the caption, the width in pixels, the x axis (log scale) and how its
/// values are written, and where a vertical line marks parity, if anywhere.
pub struct BarChart<'a> {
    pub caption: &'a str,
    pub width: u32,
    pub x_range: (f64, f64),
    pub format: &'a dyn Fn(f64) -> String,
    pub parity: Option<f64>,
}

/// Draws `bars` top to bottom as horizontal bars on a log scale into the SVG file `path`, each
/// labelled with its value: the one chart both reports use.
pub fn log_bars(
    path: &std::path::Path,
    chart: &BarChart<'_>,
    bars: &[Bar],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use plotters::prelude::*;
    let n = bars.len().max(1);
    let (x_min, x_max) = chart.x_range;
    let height = u32::try_from(90 + 28 * n).unwrap_or(1_200);
    let root = SVGBackend::new(path, (chart.width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut area = ChartBuilder::on(&root)
        .caption(chart.caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(0)
        .build_cartesian_2d((x_min..x_max).log_scale(), 0f64..n as f64)?;
    area.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|x| (chart.format)(*x))
        .x_label_style(("sans-serif", 12))
        .draw()?;
    area.draw_series(bars.iter().enumerate().map(|(i, (_, value, colour))| {
        let y = (n - 1 - i) as f64;
        Rectangle::new([(x_min, y + 0.15), (value.max(x_min), y + 0.85)], colour.mix(0.6).filled())
    }))?;
    area.draw_series(bars.iter().enumerate().map(|(i, (label, value, _))| {
        let y = (n - 1 - i) as f64;
        let text = format!("{label}: {}", (chart.format)(*value));
        Text::new(text, (x_min * 1.08, y + 0.62), ("sans-serif", 13))
    }))?;
    if let Some(parity) = chart.parity {
        let line = PathElement::new(vec![(parity, 0.0), (parity, n as f64)], BLACK.stroke_width(2));
        area.draw_series(std::iter::once(line))?;
    }
    root.present()?;
    Ok(())
}
