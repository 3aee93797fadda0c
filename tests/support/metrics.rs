//! Reads `/metrics` as the operator's Prometheus would, and waits for a figure to move.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::TestServer;

/// How long a figure read from the store in the background may take to show a change.
const FIGURE_PATIENCE: Duration = Duration::from_secs(10);

/// One scrape: every series (`name` or `name{labels}`, as printed) and its value.
#[derive(Debug, Default)]
pub struct Scrape(pub BTreeMap<String, f64>);

impl Scrape {
    /// The value of `series`; fails the test when it is not there.
    pub fn value(&self, series: &str) -> f64 {
        match self.0.get(series) {
            Some(value) => *value,
            None => panic!("{series} is not on /metrics; the frontrow series there: {:?}", self.names()),
        }
    }

    /// The metric names (labels dropped) of every `frontrow_` series.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .keys()
            .filter(|series| series.starts_with("frontrow_"))
            .map(|series| series.split('{').next().unwrap_or(series).to_owned())
            .collect();
        names.dedup();
        names
    }
}

impl TestServer {
    /// `GET /metrics`, parsed (the text format: `# ` lines are comments, then `series value`).
    pub async fn scrape(&self) -> Scrape {
        let reply = self.get("/metrics", None).await;
        assert_eq!(reply.status, 200, "/metrics: {}", reply.text);
        let mut series = BTreeMap::new();
        for line in reply.text.lines().filter(|line| !line.starts_with('#') && !line.trim().is_empty()) {
            let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line:?}"));
            let value = match value {
                "NaN" => f64::NAN,
                value => value.parse().unwrap_or_else(|_| panic!("not a number in {line:?}")),
            };
            series.insert(name.to_owned(), value);
        }
        Scrape(series)
    }

    /// Scrapes until `series` has the value `wanted` (figures read in the background lag by up to
    /// a second); fails the test with the last value after [`FIGURE_PATIENCE`].
    pub async fn wait_for_figure(&self, series: &str, wanted: f64) -> Scrape {
        let started = Instant::now();
        loop {
            let scrape = self.scrape().await;
            let value = scrape.value(series);
            if value == wanted {
                return scrape;
            }
            assert!(
                started.elapsed() < FIGURE_PATIENCE,
                "{series} is {value}, not {wanted}, after {FIGURE_PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
