//! Starting the binary to see it refuse: a process that must exit on its own, and what it said.

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::MANAGED_ENV;

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

/// Runs `frontrow` with the embedded store on a free port and `overrides`, and waits up to
/// `limit` for it to exit by itself; `None` (after killing it) when it was still running.
pub fn run_until_exit(overrides: &[(&str, &str)], limit: Duration) -> Option<Exited> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_frontrow"));
    for key in MANAGED_ENV {
        command.env_remove(key);
    }
    command.env("HTTP_ADDR", "127.0.0.1:0").env("RUST_LOG", "warn");
    for (key, value) in overrides {
        command.env(key, value);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the frontrow binary");
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
