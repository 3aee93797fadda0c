//! Settings are checked when the process starts: a value out of its documented range stops the
//! start with one line naming the variable, the value and the range, so nothing can fail later
//! at request time. Values at the top of their ranges serve normally. And the black-box tests
//! run the server on the settings they name, whatever the shell running them exports.

mod support;

use std::process::Command;
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

/// Settings a developer's shell might export, each of which would change what
/// [`the_harness_runs_the_server_on_its_defaults`] sees, or stop the server starting, if it
/// reached the server.
const EXPORTED_IN_THE_SHELL: &[(&str, &str)] =
    &[("QUEUE_MAX_ACTIVE", "1"), ("QUEUE_ACTIVE_TTL_SECONDS", "5"), ("HTTP_WORKERS", "0")];

/// Three fans are all admitted (the default cap is 100) for the default ten minutes. Meaningful
/// alone, and the probe [`a_setting_exported_in_the_shell_running_the_tests_does_not_reach_the_server`]
/// runs under a hostile environment.
#[tokio::test]
async fn the_harness_runs_the_server_on_its_defaults() {
    let s = TestServer::start(&[]).await;
    for n in 1..=3 {
        let token = s.active_user(s.uid(n)).await;
        let status = s.token_status(&token).await;
        let expires_at =
            status["expiresAt"].as_str().unwrap_or_else(|| panic!("an ACTIVE token expires: {status}"));
        let expires_at =
            time::OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("expiresAt {expires_at:?} is RFC 3339: {e}"));
        let left = expires_at - time::OffsetDateTime::now_utc();
        assert!(left > time::Duration::seconds(500), "fan {n}: active for the default 600 s, {left} left");
    }
}

#[test]
fn a_setting_exported_in_the_shell_running_the_tests_does_not_reach_the_server() {
    let this_test_binary = std::env::current_exe().expect("the test binary's path");
    let probe = Command::new(this_test_binary)
        .args(["--exact", "the_harness_runs_the_server_on_its_defaults", "--test-threads", "1"])
        .envs(EXPORTED_IN_THE_SHELL.iter().copied())
        .output()
        .expect("run the probe test");
    let stdout = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success() && stdout.contains("1 passed"),
        "with {EXPORTED_IN_THE_SHELL:?} exported, the probe test failed: {stdout}\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
}
