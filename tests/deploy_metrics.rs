//! The Grafana dashboard (`deploy/grafana/frontrow.json`) and the Prometheus alert rules
//! (`deploy/prometheus/alerts.yml`) only name metrics the server exposes: every `frontrow_…`
//! name they mention is in `GET /metrics` of the real binary on PostgreSQL (where the pool and
//! listener metrics exist) after a little traffic. A renamed or dropped metric would otherwise
//! leave an empty panel or an alert that can never fire, and nothing would say so.
//! (Needs PostgreSQL; `make test` starts it. `make test-deploy` also runs promtool on the rules.)

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use support::TestServer;

/// The files checked, relative to the workspace root, with a short name for messages.
const FILES: [(&str, &str); 2] =
    [("dashboard", "deploy/grafana/frontrow.json"), ("alerts", "deploy/prometheus/alerts.yml")];
/// Fewer names than this means the extraction is broken, not that the files are small.
const MIN_NAMES: usize = 15;
/// Fewer names than this in one file means that file was not read as meant.
const MIN_NAMES_PER_FILE: usize = 5;
/// Names both files are known to use: the extraction must find them.
const ANCHORS: [&str; 2] = ["frontrow_http_requests_total", "frontrow_queue_waiting"];
/// How long a series the server fills in the background (the listener, the lag) may take to
/// appear after the traffic.
const SETTLE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_the_alerts_name_is_in_the_scrape() {
    let named = named_metrics();
    let db = TestDatabase::create().await;
    let server = TestServer::start_on(db.url(), &[]).await;
    traffic(&server).await;

    let deadline = Instant::now() + SETTLE;
    let scraped = loop {
        let scraped = scrape(&server).await;
        let all_there = named.keys().all(|name| scraped.contains(name));
        if all_there || Instant::now() >= deadline {
            break scraped;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let missing: Vec<String> = named
        .iter()
        .filter(|(name, _)| !scraped.contains(*name))
        .map(|(name, files)| format!("{name} ({})", files.iter().copied().collect::<Vec<_>>().join(", ")))
        .collect();
    let exposed: Vec<&String> = scraped.iter().filter(|name| name.starts_with("frontrow_")).collect();
    assert!(
        missing.is_empty(),
        "GET /metrics lacks {} of the {} metric names the dashboard and the alerts use:\n  {}\n\
         the scrape has these frontrow_ names: {exposed:?}",
        missing.len(),
        named.len(),
        missing.join("\n  "),
    );
}

#[test]
fn the_name_extraction_takes_whole_metric_names_only() {
    let text = r#"sum(rate(frontrow_holds_total{instance=~"$i"}[1m])) / xfrontrow_not_a_name
        "frontrow-onsale" frontrow_db_pool_in_use >= 0.9 * frontrow_db_pool_max, frontrow_"#;
    let names: Vec<String> = metric_names(text).into_iter().collect();
    assert_eq!(names, ["frontrow_db_pool_in_use", "frontrow_db_pool_max", "frontrow_holds_total"]);
}

#[test]
fn the_scrape_parser_reads_the_names_of_samples_not_of_comments() {
    let text = "# HELP frontrow_only_described A gauge.\n# TYPE frontrow_only_described gauge\n\
                frontrow_plain 1\nfrontrow_labelled_total{reason=\"lapsed\"} 0\n\
                frontrow_latency_bucket{le=\"+Inf\"} 3\n\n";
    let names: Vec<String> = sample_names(text).into_iter().collect();
    assert_eq!(names, ["frontrow_labelled_total", "frontrow_latency_bucket", "frontrow_plain"]);
}

/// Every metric name the deployment files mention, with the files that mention it. Panics when
/// a file is missing, the dashboard is not JSON, or too few names were found to trust the
/// extraction.
fn named_metrics() -> BTreeMap<String, BTreeSet<&'static str>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut named: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for (label, path) in FILES {
        let text =
            std::fs::read_to_string(root.join(path)).unwrap_or_else(|error| panic!("read {path}: {error}"));
        if path.ends_with(".json") {
            let dashboard: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{path} is not valid JSON: {error}"));
            assert!(dashboard["panels"].as_array().is_some_and(|p| !p.is_empty()), "{path} has no panels");
        }
        let names = metric_names(&text);
        assert!(
            names.len() >= MIN_NAMES_PER_FILE,
            "only {} metric names found in {path} ({names:?}): is the extraction broken?",
            names.len()
        );
        for name in names {
            named.entry(name).or_default().insert(label);
        }
    }
    assert!(
        named.len() >= MIN_NAMES,
        "only {} metric names found in the dashboard and the alerts ({:?}); expected at least {MIN_NAMES}",
        named.len(),
        named.keys().collect::<Vec<_>>()
    );
    for anchor in ANCHORS {
        assert!(
            named.contains_key(anchor),
            "the extraction missed {anchor}: {:?}",
            named.keys().collect::<Vec<_>>()
        );
    }
    named
}

/// The distinct `frontrow_[a-z0-9_]+` words of `text` (not preceded by a name character).
fn metric_names(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "frontrow_";
    let is_name_char = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_';
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices(PREFIX) {
        if start > 0 && (is_name_char(bytes[start - 1]) || bytes[start - 1].is_ascii_uppercase()) {
            continue;
        }
        let tail = bytes[start + PREFIX.len()..].iter().take_while(|&&c| is_name_char(c)).count();
        if tail > 0 {
            names.insert(text[start..start + PREFIX.len() + tail].to_owned());
        }
    }
    names
}

/// The metric names of the sample lines of a Prometheus text scrape (comments left out).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// `GET /metrics`, asserting 200: the names of its samples.
async fn scrape(server: &TestServer) -> BTreeSet<String> {
    let reply = server.get("/metrics", None).await;
    assert_eq!(reply.status, 200, "GET /metrics should be 200, body {}", reply.text);
    sample_names(&reply.text)
}

/// A fan's short visit, so that the per-endpoint HTTP series and the queue's counters have
/// something to show: a token, polled until ACTIVE, a hold, a top-up and a payment.
async fn traffic(server: &TestServer) {
    let fan = server.uid(1);
    let token = server.active_user(fan).await;
    let (seat, reservation) = server.held_seat(&token, fan).await;
    server.charge(&token, fan, seat.price).await.ok("charge");
    server.pay(&token, reservation, seat.price).await.ok("pay");
}
