//! Starting the binary to see it refuse: a process that must exit on its own, and what it said.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// How a process that was expected to stop by itself ended.
#[derive(Debug)]
pub struct Exited {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to standard output.
    pub stdout: String,
    /// Everything it wrote to standard error.
    pub stderr: String,
}

impl Exited {
    /// The one line it wrote to stderr, after checking it exited with failure and wrote exactly
    /// one (blank lines aside).
    #[track_caller]
    pub fn one_line(&self) -> &str {
        assert!(!self.status.success(), "exits with failure, got {}; stderr {:?}", self.status, self.stderr);
        let lines: Vec<&str> = self.stderr.lines().filter(|line| !line.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line on stderr, got {:?}", self.stderr);
        lines[0]
    }
}

/// Runs `frontrow` as [`super::TestServer::start`] would with the in-memory store (unless
/// `overrides` say otherwise) and `RUST_LOG=warn`, on a free port, and waits up to `limit` for
/// it to exit by itself; `None` (after killing it) when it was still running.
pub fn run_until_exit(overrides: &[(&str, &str)], limit: Duration) -> Option<Exited> {
    // `RUST_LOG=warn` first so `overrides` may still change it: at that level a refused start
    // writes nothing to stdout.
    let settings: Vec<(&str, &str)> =
        [("RUST_LOG", "warn")].into_iter().chain(overrides.iter().copied()).collect();
    let mut child = super::frontrow(super::free_port(), None, &settings);
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("poll the child").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect the child's output");
    Some(Exited {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
