//! The figures only an instance on PostgreSQL has (its pool, its listener and how late it hears
//! pushed changes), a request cut by its deadline counted as such and not as an outage, and
//! every metric the dashboard and the alert rules in `deploy/` name present on a live scrape.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use adapter_postgres::testing::TestDatabase;
use support::TestServer;

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_name_is_on_a_live_instance() {
    let db = TestDatabase::create().await;
    let s = TestServer::start_on(db.url(), &[("DATABASE_MAX_CONNECTIONS", "7")]).await;
    let token = s.active_user(s.uid(1)).await;
    s.balance(&token, s.uid(1)).await.ok("one request, so the request series exist");
    let scrape = s.wait_for_figure("frontrow_listener_connected", 1.0).await;
    let on_metrics: BTreeSet<String> = scrape.names().into_iter().collect();
    let mut named = BTreeSet::new();
    for file in
        ["deploy/grafana/frontrow.json", "deploy/prometheus/alerts.yml", "deploy/prometheus/alerts_test.yml"]
    {
        let path = format!("{}/../../{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {path}: {error}"));
        named.extend(metric_names(&text));
    }
    assert!(named.len() >= 25, "the deployment files name the operator's figures: {named:?}");
    let missing: Vec<&String> = named.difference(&on_metrics).collect();
    assert!(missing.is_empty(), "named in deploy/ but not on /metrics: {missing:?}");

    assert_eq!(scrape.value("frontrow_db_pool_max"), 7.0, "DATABASE_MAX_CONNECTIONS");
    assert!(scrape.value("frontrow_db_pool_checkouts_total") > 0.0, "the requests checked connections out");
    let lag = scrape.value("frontrow_notification_lag_seconds");
    assert!(lag.is_finite() && lag < 1.0, "an idle instance hears its probe at once, not after {lag} s");
}

#[tokio::test]
async fn a_request_cut_by_its_deadline_counts_as_a_deadline_not_as_an_outage() {
    let db = TestDatabase::create().await;
    let s = TestServer::start_on(db.url(), &[("REQUEST_TIMEOUT_MS", "300")]).await;
    let fan = s.uid(1);
    let token = s.active_user(fan).await;
    s.charge(&token, fan, 1_000).await.ok("charge: the user exists");
    let (client, connection) =
        tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client.batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await.expect("lock users");
    let held = s.balance(&token, fan).await;
    held.assert_error(503, "UNAVAILABLE", "a balance read behind a lock, past REQUEST_TIMEOUT_MS");
    client.batch_execute("ROLLBACK").await.expect("unlock users");
    let figures = s.scrape().await;
    assert_eq!(figures.value("frontrow_deadlines_total"), 1.0);
    assert_eq!(figures.value("frontrow_store_unavailable_total"), 0.0, "a deadline is not counted twice");
    tokio::time::timeout(Duration::from_secs(5), async {
        while !s.balance(&token, fan).await.is_success() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the balance answers again once the lock is gone");
}

/// Every `frontrow_…` metric name in `text`, with a histogram's `_bucket`, `_sum` and `_count`
/// series kept as written (the scrape shows them so).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("frontrow_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}
