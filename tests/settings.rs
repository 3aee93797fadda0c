//! Settings are checked when the process starts: a value out of its documented range stops the
//! start with one line naming the variable, the value and the range, so nothing can fail later
//! at request time. Values at the top of their ranges serve normally.

mod support;

use std::time::Duration;

use support::TestServer;
use support::exit::run_until_exit;

/// How long a refused start may take (it happens before anything is bound or connected).
const REFUSED_WITHIN: Duration = Duration::from_secs(15);

/// `(variable, value, lowest, highest)`: a value out of range and the range README states.
const OUT_OF_RANGE: &[(&str, &str, &str, &str)] = &[
    ("QUEUE_ACTIVE_TTL_SECONDS", "999999999999", "1", "86400"),
    ("SEAT_HOLD_SECONDS", "999999999999", "1", "86400"),
    ("QUEUE_IDLE_TIMEOUT_SECONDS", "0", "1", "86400"),
    ("QUEUE_TICK_MS", "0", "10", "3600000"),
    ("HTTP_WORKERS", "0", "1", "1024"),
    ("CATALOGUE_CACHE_SECONDS", "999999999999", "0", "86400"),
    ("TOKEN_CACHE_MS", "-1", "0", "600000"),
    ("REQUEST_TIMEOUT_MS", "99999999999999999999999", "1", "600000"),
    ("CLIENT_BODY_TIMEOUT_MS", "5", "100", "60000"),
    ("STREAMS_PER_TOKEN", "0", "1", "100"),
];

#[test]
fn a_setting_out_of_range_stops_the_start_with_one_line_naming_the_variable_the_value_and_the_range() {
    let runs: Vec<_> = OUT_OF_RANGE
        .iter()
        .map(|&case| std::thread::spawn(move || (case, run_until_exit(&[(case.0, case.1)], REFUSED_WITHIN))))
        .collect();
    for run in runs {
        let ((name, value, lowest, highest), exited) = run.join().expect("the run thread");
        let exited = exited.unwrap_or_else(|| panic!("{name}={value}: the server started anyway"));
        let line = exited.one_line();
        for part in [name, value, lowest, highest] {
            assert!(line.contains(part), "{name}={value}: the line names {part:?}: {line:?}");
        }
        assert!(exited.stdout.trim().is_empty(), "{name}={value}: nothing on stdout: {:?}", exited.stdout);
    }
}

#[tokio::test]
async fn settings_at_the_top_of_their_ranges_serve_a_hold() {
    let s = TestServer::start(&[
        ("QUEUE_ACTIVE_TTL_SECONDS", "86400"),
        ("SEAT_HOLD_SECONDS", "86400"),
        ("QUEUE_IDLE_TIMEOUT_SECONDS", "86400"),
        ("CATALOGUE_CACHE_SECONDS", "86400"),
        ("REQUEST_TIMEOUT_MS", "600000"),
    ])
    .await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    let seat = s.some_free_seats(&token, 1).await.remove(0);
    let held = s.hold(&token, user, &seat).await;
    assert!(held["expiresAt"].is_string(), "a hold a day long: {held}");
    assert_eq!(s.get("/ready", None).await.status, 200);
}
