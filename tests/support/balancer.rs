//! HAProxy in front of three `frontrow` instances, run with the checked-in `deploy/haproxy.cfg`
//! unchanged: the file takes its addresses from the environment, so the balancer listens on a
//! free port of the test's own and sends to the instances' ports. It is returned as a
//! [`TestServer`], so every helper talks through it, and is killed when dropped.
//!
//! HAProxy must be installed (`make test` installs it): without it a test fails, saying how to
//! get it; it never skips.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use super::{TestServer, drain, free_port};

/// The balancer's configuration, the one `make cluster` runs.
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/haproxy.cfg");

impl TestServer {
    /// Starts HAProxy with `deploy/haproxy.cfg` in front of `instances` (three, as the file
    /// has) and waits until it answers `GET /health`. It speaks with the first instance's
    /// client and user numbers.
    pub async fn balancer(instances: [&TestServer; 3]) -> TestServer {
        let haproxy = haproxy();
        let mut last_failure = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&haproxy);
            // -db: in the foreground, not as a daemon.
            cmd.args(["-db", "-f", CONFIG]).env("FRONTROW_BALANCER_ADDR", format!("127.0.0.1:{port}"));
            for (n, instance) in instances.iter().enumerate() {
                let addr = instance.base_url.trim_start_matches("http://");
                cmd.env(format!("FRONTROW_INSTANCE_{}", n + 1), addr);
            }
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child =
                cmd.spawn().unwrap_or_else(|error| panic!("cannot run {}: {error}", haproxy.display()));
            let log = Arc::new(Mutex::new(Vec::new()));
            drain(child.stdout.take(), Arc::clone(&log));
            drain(child.stderr.take(), Arc::clone(&log));
            let balancer = TestServer {
                base_url: format!("http://127.0.0.1:{port}"),
                client: instances[0].client.clone(),
                user_base: instances[0].user_base,
                child: Mutex::new(child),
                log,
                _database: None,
            };
            match balancer.wait_healthy().await {
                Ok(()) => return balancer,
                // Most likely another test took the port between our probe and HAProxy's bind.
                Err(why) => last_failure = why,
            }
        }
        panic!("HAProxy did not start with {CONFIG}: {last_failure}");
    }
}

/// The `haproxy` program: on `PATH`, or where Debian's package puts it.
fn haproxy() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("haproxy")).find(|p| p.is_file()));
    on_path.or_else(|| Some(PathBuf::from("/usr/sbin/haproxy")).filter(|p| p.is_file())).unwrap_or_else(
        || {
            panic!(
                "this test needs HAProxy, which is neither on PATH nor at /usr/sbin/haproxy: install it \
             with `apt-get install haproxy` (as root; `make test` does it when it is missing)"
            )
        },
    )
}
