//! The results model (one row per figure: ours, the anchor's, the ratio, the target) and the
//! markdown of `docs/BENCHMARKS.md`.

use std::fmt::Write as _;

pub use crate::common::grouped;

/// Which way is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Times, latencies.
    Lower,
    /// Throughputs.
    Higher,
}

/// A figure's unit, which decides how it is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// Operations per second.
    PerSec,
    /// One figure divided by another of the same run.
    Ratio,
    /// A share, in per cent.
    Percent,
}

impl Unit {
    /// `1,234 ms`, `12.3 ms`, `0.84 ms`; `12,345 /s`.
    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Ms if value >= 100.0 => format!("{} ms", grouped(value.round() as u64)),
            Unit::Ms if value >= 10.0 => format!("{value:.1} ms"),
            Unit::Ms => format!("{value:.2} ms"),
            Unit::PerSec => format!("{} /s", grouped(value.round() as u64)),
            Unit::Ratio => format!("{value:.2}×"),
            Unit::Percent => format!("{value:.1} %"),
        }
    }
}

/// Someone else's figure to compare with.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// The value, in the row's unit.
    pub value: f64,
    /// Whose, e.g. "the reference study, Java/MySQL, best of two locks".
    pub source: &'static str,
}

/// A target the service is held to.
#[derive(Debug, Clone, Copy)]
pub struct Target(pub f64);

/// One line of the results table.
#[derive(Debug, Clone)]
pub struct Row {
    /// "1 · race over HTTP" and so on.
    pub scenario: &'static str,
    /// What is measured.
    pub metric: String,
    /// Our figure.
    pub ours: f64,
    /// Unit of `ours`, the anchor and the target.
    pub unit: Unit,
    /// Which way is better.
    pub better: Better,
    /// The reference study's or a peer's figure.
    pub anchor: Option<Anchor>,
    /// The target, if any.
    pub target: Option<Target>,
}

impl Row {
    /// A row without anchor or target.
    pub fn new(
        scenario: &'static str,
        metric: impl Into<String>,
        ours: f64,
        unit: Unit,
        better: Better,
    ) -> Self {
        Self { scenario, metric: metric.into(), ours, unit, better, anchor: None, target: None }
    }

    /// With an anchor.
    pub fn anchor(mut self, value: f64, source: &'static str) -> Self {
        self.anchor = Some(Anchor { value, source });
        self
    }

    /// With a target.
    pub fn target(mut self, value: f64) -> Self {
        self.target = Some(Target(value));
        self
    }

    /// How many times better than the anchor we are (> 1 means ahead).
    pub fn ratio(&self) -> Option<f64> {
        let anchor = self.anchor.as_ref()?.value;
        let ratio = match self.better {
            Better::Lower => anchor / self.ours.max(1e-9),
            Better::Higher => self.ours / anchor.max(1e-9),
        };
        Some(ratio)
    }

    /// Whether the target is met.
    pub fn met(&self) -> Option<bool> {
        let Target(target) = self.target?;
        Some(match self.better {
            Better::Lower => self.ours <= target,
            Better::Higher => self.ours >= target,
        })
    }

    fn target_cell(&self) -> String {
        match (self.target, self.met()) {
            (Some(Target(value)), Some(met)) => {
                let sign = if self.better == Better::Lower { "≤" } else { "≥" };
                format!("{sign} {} {}", self.unit.show(value), if met { "✅ met" } else { "❌ missed" })
            }
            _ => String::new(),
        }
    }
}

/// `ratio` as `3.2×`.
pub fn times(ratio: f64) -> String {
    if ratio >= 10.0 { format!("{ratio:.0}×") } else { format!("{ratio:.1}×") }
}

/// Everything the report shows besides the rows.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// When, where and with what sizes: markdown lines.
    pub header: Vec<String>,
    /// Per-scenario observations (winners, 5xx, audit…): markdown lines, grouped by heading.
    pub notes: Vec<(String, Vec<String>)>,
    /// A markdown file appended verbatim (the queue_position bench's output).
    pub extra: Option<String>,
    /// The chart's file name, relative to the report.
    pub chart: String,
}

/// Where README's headline table starts and ends; `frontrow-bench` rewrites what is between.
pub const HEADLINE_MARKERS: (&str, &str) = ("<!-- bench:headline:start -->", "<!-- bench:headline:end -->");

/// `text` with the part between [`HEADLINE_MARKERS`] replaced by the headline table of `rows`
/// (the rows with a target, the sustainable polling rate and the concert list's), or `None`
/// when `text` has no markers.
pub fn with_headline(text: &str, rows: &[Row], when: &str) -> Option<String> {
    let (start, end) = HEADLINE_MARKERS;
    let from = text.find(start)? + start.len();
    let to = from + text[from..].find(end)?;
    let mut table = format!(
        "\n\nOne run of `make bench`, {when}:\n\n| figure | ours | anchor | ratio | target |\n|---|---:|---:|---:|---|\n"
    );
    let headline = |row: &&Row| {
        row.target.is_some()
            || row.metric.starts_with("concert list")
            || row.metric.starts_with("highest fixed rate")
    };
    for row in rows.iter().filter(headline) {
        let detail = row.metric.contains("req/s (closed loop)") || row.metric.contains("p99 at a fixed");
        if detail && row.target.is_none() {
            continue;
        }
        let anchor = row.anchor.as_ref().map(|a| row.unit.show(a.value)).unwrap_or_else(|| "—".into());
        let ratio = row.ratio().map(times).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            table,
            "| {} — {} | {} | {anchor} | {ratio} | {} |",
            row.scenario,
            row.metric,
            row.unit.show(row.ours),
            row.target_cell()
        );
    }
    table.push('\n');
    Some(format!("{}{table}{}", &text[..from], &text[to..]))
}

/// The whole `docs/BENCHMARKS.md`.
pub fn markdown(rows: &[Row], context: &Context) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `make bench` (`crates/bench`, binary `frontrow-bench`); do not edit by hand — \
         rerun it. Each row puts our figure beside the reference study's or a peer's and gives the ratio \
         (> 1× means we are ahead: anchor ÷ ours for times, ours ÷ anchor for rates).\n"
    );
    for line in &context.header {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "\n![ours against the anchors]({})\n", context.chart);
    let _ = writeln!(out, "## Results\n");
    let _ = writeln!(out, "| scenario | figure | ours | anchor | ratio | target |");
    let _ = writeln!(out, "|---|---|---:|---|---:|---|");
    for row in rows {
        let anchor = row
            .anchor
            .as_ref()
            .map(|a| format!("{} ({})", row.unit.show(a.value), a.source))
            .unwrap_or_else(|| "—".into());
        let ratio = row.ratio().map(times).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            out,
            "| {} | {} | **{}** | {} | {} | {} |",
            row.scenario,
            row.metric,
            row.unit.show(row.ours),
            anchor,
            ratio,
            row.target_cell()
        );
    }
    let (met, total) =
        rows.iter().filter_map(Row::met).fold((0, 0), |(met, total), ok| (met + usize::from(ok), total + 1));
    let _ = writeln!(out, "\nTargets met: {met} of {total}.\n");
    for (heading, lines) in &context.notes {
        let _ = writeln!(out, "### {heading}\n");
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{}", include_str!("../ANALYSIS.md").trim_end());
    if let Some(extra) = &context.extra {
        let _ = writeln!(out, "\n## Waiting-room poll cost (`queue_position` bench)\n");
        let _ = writeln!(out, "{}", extra.trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_say_how_many_times_better_we_are() {
        let time = Row::new("1", "race", 500.0, Unit::Ms, Better::Lower).anchor(2_000.0, "seed");
        assert_eq!(time.ratio(), Some(4.0));
        let rate = Row::new("2", "issue", 1_000.0, Unit::PerSec, Better::Higher).anchor(4_000.0, "peers");
        assert_eq!(rate.ratio(), Some(0.25));
        assert_eq!(Row::new("3", "x", 1.0, Unit::Ms, Better::Lower).ratio(), None);
    }

    #[test]
    fn targets_are_met_on_the_right_side() {
        assert_eq!(Row::new("1", "t", 900.0, Unit::Ms, Better::Lower).target(1_000.0).met(), Some(true));
        assert_eq!(Row::new("1", "t", 1_100.0, Unit::Ms, Better::Lower).target(1_000.0).met(), Some(false));
        assert_eq!(
            Row::new("1", "r", 4_999.0, Unit::PerSec, Better::Higher).target(5_000.0).met(),
            Some(false)
        );
        assert_eq!(Row::new("1", "r", 1.0, Unit::PerSec, Better::Higher).met(), None);
    }

    #[test]
    fn numbers_are_grouped_and_units_shown() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(Unit::Ms.show(2_520.4), "2,520 ms");
        assert_eq!(Unit::Ms.show(12.34), "12.3 ms");
        assert_eq!(Unit::Ms.show(0.84), "0.84 ms");
        assert_eq!(Unit::PerSec.show(5_000.4), "5,000 /s");
        assert_eq!(Unit::Ratio.show(1.123), "1.12×");
        assert_eq!(Unit::Percent.show(12.34), "12.3 %");
        assert_eq!(times(3.21), "3.2×");
        assert_eq!(times(12.6), "13×");
    }

    #[test]
    fn the_headline_is_rewritten_between_the_markers_only() {
        let (start, end) = HEADLINE_MARKERS;
        let readme = format!("intro\n{start}\nold table\n{end}\noutro\n");
        let rows = [Row::new("1 · race", "wall", 800.0, Unit::Ms, Better::Lower)
            .anchor(2_666.0, "seed")
            .target(1_000.0)];
        let updated = with_headline(&readme, &rows, "today").expect("markers found");
        assert!(updated.starts_with(&format!("intro\n{start}")));
        assert!(updated.ends_with(&format!("{end}\noutro\n")));
        assert!(!updated.contains("old table"));
        assert!(updated.contains("| 1 · race — wall | 800 ms | 2,666 ms | 3.3× | ≤ 1,000 ms ✅ met |"));
        assert_eq!(with_headline("no markers", &rows, "today"), None);
    }
}
