//! Starting and stopping `frontrow` processes (the release binary), as the black-box tests'
//! harness does: a free port each, settings from the environment, `/health` polled until 200.

/// The box office's secret the benchmarked server runs with (it refunds in the booking flow).
pub const ADMIN_SECRET: &str = "benchmark-box-office-secret-0123456789";

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Method;

use crate::BenchResult;
use crate::client::Pool;
use crate::config::Config;

/// How long a server may take to answer `GET /health`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Log bytes kept per server, shown when it fails.
const LOG_TAIL: usize = 16 * 1024;
/// Settings a developer's shell must not change under the benchmark.
const MANAGED_ENV: &[&str] = &[
    "HTTP_ADDR",
    "HTTP_WORKERS",
    "SEED_DEMO",
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "DATABASE_TIMEOUT_MS",
    "SEAT_HOLD_SECONDS",
    "QUEUE_MAX_ACTIVE",
    "QUEUE_ADMIT_PER_TICK",
    "QUEUE_TICK_MS",
    "QUEUE_ACTIVE_TTL_SECONDS",
    "QUEUE_IDLE_TIMEOUT_SECONDS",
    "CATALOGUE_CACHE_SECONDS",
    "LOG_FORMAT",
    "AUTH_MODE",
];

/// One running `frontrow`, killed when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts `frontrow` on `database_url` with the benchmark's settings: no queue caps (every
    /// fan is admitted at the next tick, as the reference study's race assumes), tokens active for an hour,
    /// an empty catalogue (the benchmark fills it), and `cache_seconds` of catalogue cache.
    pub async fn start(config: &Config, database_url: &str, cache_seconds: u64) -> BenchResult<Server> {
        Self::start_with(config, database_url, cache_seconds, &[]).await
    }

    /// [`Server::start`] with some settings overridden, e.g. a queue cap for the polling
    /// scenario, whose fans must stay WAITING.
    pub async fn start_with(
        config: &Config,
        database_url: &str,
        cache_seconds: u64,
        overrides: &[(&str, &str)],
    ) -> BenchResult<Server> {
        let mut last = String::new();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut command = Command::new(&config.server);
            for key in MANAGED_ENV {
                command.env_remove(key);
            }
            command
                .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
                .env("DATABASE_URL", database_url)
                // The benchmark's fans name themselves, as an API without sign-in lets them.
                .env("AUTH_MODE", "none")
                .env("ADMIN_TOKEN", ADMIN_SECRET)
                .env("SEED_DEMO", "0")
                .env("QUEUE_MAX_ACTIVE", "0")
                .env("QUEUE_ADMIT_PER_TICK", "0")
                .env("QUEUE_TICK_MS", "100")
                .env("QUEUE_ACTIVE_TTL_SECONDS", "3600")
                .env("QUEUE_IDLE_TIMEOUT_SECONDS", "3600")
                .env("CATALOGUE_CACHE_SECONDS", cache_seconds.to_string())
                .env("RUST_LOG", std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()));
            if let Some(workers) = &config.http_workers {
                command.env("HTTP_WORKERS", workers);
            }
            if let Some(pool) = &config.db_pool {
                command.env("DATABASE_MAX_CONNECTIONS", pool);
            }
            for (key, value) in overrides {
                command.env(key, value);
            }
            let mut server = spawn(command, &config.server, port)?;
            match server.wait_healthy().await {
                Ok(()) => return Ok(server),
                Err(why) => last = why,
            }
        }
        Err(format!("frontrow did not start: {last}").into())
    }

    /// The server's recent output.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().map(|log| log.clone()).unwrap_or_default();
        String::from_utf8_lossy(&log).into_owned()
    }

    /// Process id, for profiling.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let client = Pool::new(&self.base_url).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last = "no answer yet".to_owned();
        while Instant::now() < deadline {
            if let Ok(Some(exit)) = self.child.try_wait() {
                return Err(format!("exited with {exit}; log:\n{}", self.log_tail()));
            }
            let probe = client.send(Method::GET, "/health", None, None);
            match tokio::time::timeout(Duration::from_secs(2), probe).await {
                Ok(answer) if answer.ok() => return Ok(()),
                Ok(answer) if answer.status == 0 => last = "GET /health: no answer".into(),
                Ok(answer) => last = format!("GET /health answered {}", answer.status),
                Err(_) => last = "GET /health: no answer within 2 s".into(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("not healthy within {STARTUP_TIMEOUT:?} ({last}); log:\n{}", self.log_tail()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(mut command: Command, binary: &Path, port: u16) -> BenchResult<Server> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|error| {
        format!(
            "cannot start {} ({error}); build it with `cargo build --release -p frontrow`",
            binary.display()
        )
    })?;
    let log = Arc::new(Mutex::new(Vec::new()));
    drain(child.stdout.take(), Arc::clone(&log));
    drain(child.stderr.take(), Arc::clone(&log));
    Ok(Server { base_url: format!("http://127.0.0.1:{port}"), child, log })
}

/// Copies a child's output into `log`, keeping the last [`LOG_TAIL`] bytes.
fn drain(source: Option<impl Read + Send + 'static>, log: Arc<Mutex<Vec<u8>>>) {
    let Some(mut source) = source else { return };
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = source.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut log) = log.lock() {
                log.extend_from_slice(&buf[..n]);
                let excess = log.len().saturating_sub(LOG_TAIL);
                log.drain(..excess);
            }
        }
    });
}
