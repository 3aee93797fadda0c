//! Shared harness for the black-box tests: starts the `frontrow` binary on a free port, talks to
//! it over plain HTTP, and wraps the contract's endpoints (docs/api.md) in small helpers.
//!
//! Every test starts its own server (a few hundred milliseconds with the in-memory store), so the
//! tests of one file are independent of each other and may run in parallel.
//!
//! Past 400 lines because the server's life (start, health, logs, stop) and the raw request
//! helpers belong together; the endpoint helpers are in `api.rs`, the rest in sibling modules.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use serde_json::Value;

mod api;
pub mod balancer;
pub mod browser;
mod clock;
pub mod cluster;
pub mod contract;
pub mod exit;
pub mod metrics;
pub mod race;
pub mod wire;

pub use clock::*;

/// How long a freshly spawned server may take to answer `GET /health` with 200.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// What the server inherits from the test's environment: nothing but logging. Every setting it
/// runs with is one the harness or the test sets, so a developer's shell cannot change what a
/// test runs against.
const INHERITED_ENV: &[&str] = &["RUST_LOG", "RUST_BACKTRACE"];
/// The most log bytes kept from the server, shown when it fails to start.
const LOG_TAIL: usize = 16 * 1024;

/// One running `frontrow` process, killed when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    /// A client with a large connection pool and no proxy.
    pub client: reqwest::Client,
    /// Added to every user number through [`TestServer::uid`]; 0 with the in-memory store, a
    /// per-run offset when the tests run against a shared database.
    pub user_base: i64,
    child: Mutex<Child>,
    log: Arc<Mutex<Vec<u8>>>,
    /// The server's own PostgreSQL database when `FRONTROW_TEST_STORE=postgres`; dropped (and
    /// the database with it) after the process is killed.
    _database: Option<TestDatabase>,
}

/// One HTTP answer, read completely.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, empty when absent.
    pub content_type: String,
    /// The raw body.
    pub text: String,
    /// The body parsed as JSON, `Value::Null` when it is not JSON.
    pub json: Value,
}

/// A free seat found through the API.
#[derive(Debug, Clone)]
pub struct Seat {
    /// The concert it belongs to.
    pub concert_id: i64,
    /// The performance it belongs to.
    pub schedule_id: i64,
    /// The seat id (unique across performances).
    pub seat_id: i64,
    /// `A1` and so on.
    pub seat_name: String,
    /// Whole won.
    pub price: i64,
}

impl Reply {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error `code`, if the body has one.
    pub fn code(&self) -> Option<&str> {
        self.json.get("code").and_then(Value::as_str)
    }

    /// Asserts a 2xx answer and returns its JSON body.
    #[track_caller]
    pub fn ok(&self, what: &str) -> &Value {
        assert!(self.is_success(), "{what}: expected 2xx, got {} with body {}", self.status, self.text);
        &self.json
    }

    /// Asserts the contract's error shape: this status, JSON `{"code", "message"}` with this code
    /// and a non-empty message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: wrong status; body {}", self.text);
        self.assert_error_body(what);
        assert_eq!(self.code(), Some(code), "{what}: wrong error code; body {}", self.text);
    }

    /// Asserts the body is a JSON error object with non-empty `code` and `message` strings.
    #[track_caller]
    pub fn assert_error_body(&self, what: &str) {
        assert!(
            self.content_type.starts_with("application/json"),
            "{what}: error content type should be JSON, got {:?}; body {}",
            self.content_type,
            self.text
        );
        let code = self.json.get("code").and_then(Value::as_str).unwrap_or("");
        let message = self.json.get("message").and_then(Value::as_str).unwrap_or("");
        assert!(!code.is_empty(), "{what}: error body lacks a \"code\" string: {}", self.text);
        assert!(!message.is_empty(), "{what}: error body lacks a \"message\" string: {}", self.text);
        assert!(
            code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "{what}: code should be SCREAMING_SNAKE, got {code:?}"
        );
    }
}

impl TestServer {
    /// Starts a server with the demo catalogue, `QUEUE_TICK_MS=50`, `AUTH_MODE=none`, and then
    /// `overrides`. The store is the in-memory one, or with `FRONTROW_TEST_STORE=postgres` a
    /// fresh PostgreSQL database of its own (cloned from a migrated template); with
    /// `FRONTROW_TEST_DATABASE_URL` an existing, shared database.
    pub async fn start(overrides: &[(&str, &str)]) -> TestServer {
        let own_database = match std::env::var("FRONTROW_TEST_STORE").as_deref() {
            Ok("postgres") => Some(TestDatabase::create().await),
            Ok("memory") | Err(_) => None,
            Ok(other) => panic!("FRONTROW_TEST_STORE must be 'memory' or 'postgres', not {other:?}"),
        };
        let shared_url = std::env::var("FRONTROW_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty());
        let database_url = own_database.as_ref().map(|db| db.url().to_owned()).or(shared_url.clone());
        Self::launch(database_url, shared_url.is_some(), own_database, overrides).await
    }

    /// Starts a server on the embedded store, whatever `FRONTROW_TEST_STORE` says.
    pub async fn start_embedded(overrides: &[(&str, &str)]) -> TestServer {
        Self::launch(None, false, None, overrides).await
    }

    /// Starts a server on an existing PostgreSQL database (several servers may share one).
    pub async fn start_on(database_url: &str, overrides: &[(&str, &str)]) -> TestServer {
        Self::launch(Some(database_url.to_owned()), false, None, overrides).await
    }

    async fn launch(
        database_url: Option<String>,
        shared: bool,
        own_database: Option<TestDatabase>,
        overrides: &[(&str, &str)],
    ) -> TestServer {
        let user_base = if shared {
            // A shared database keeps users between runs and tests: give every server its own.
            1_000_000 + (random_u64() % 100_000_000) as i64 * 1_000
        } else {
            0
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1024)
            // Below the server's 5 s keep-alive: a connection the server is closing for idling
            // is never picked for a request (that would fail it with "incomplete message").
            .pool_idle_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build the HTTP client");

        let mut last_failure = String::new();
        let mut own_database = own_database;
        for _attempt in 0..3 {
            let port = free_port();
            let mut child = frontrow(port, database_url.as_deref(), overrides);
            let log = Arc::new(Mutex::new(Vec::new()));
            drain(child.stdout.take(), Arc::clone(&log));
            drain(child.stderr.take(), Arc::clone(&log));

            let mut server = TestServer {
                base_url: format!("http://127.0.0.1:{port}"),
                client: client.clone(),
                user_base,
                child: Mutex::new(child),
                log,
                _database: None,
            };
            match server.wait_healthy().await {
                Ok(()) => {
                    server._database = own_database.take();
                    return server;
                }
                // Most likely another test grabbed the port between our probe and the bind.
                Err(why) => last_failure = why,
            }
        }
        panic!("the frontrow server did not start: {last_failure}");
    }

    /// The exit status, if the server process has ended.
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().ok().and_then(|mut c| c.try_wait().ok().flatten())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.lock().map(|c| c.id()).expect("the child lock is not poisoned")
    }

    /// Asks the server to stop gracefully (`kill -TERM`), as a service manager would.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        assert!(status.as_ref().is_ok_and(|s| s.success()), "kill -TERM {} failed: {status:?}", self.pid());
    }

    /// Waits up to `timeout` for the server process to end; its exit status, if it did.
    pub async fn wait_exit(&self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.exit_status() {
                return Some(exit);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(&self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn wait_healthy(&self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(exit) = self.exit_status() {
                return Err(format!(
                    "the server exited with {exit} before it was healthy; log:\n{}",
                    self.log_tail()
                ));
            }
            match self.client.get(self.url("/health")).timeout(Duration::from_secs(2)).send().await {
                Ok(resp) if resp.status().as_u16() == 200 => return Ok(()),
                Ok(resp) => last = format!("GET /health answered {}", resp.status()),
                Err(err) => last = format!("GET /health failed: {err}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill();
        Err(format!("GET /health was not 200 within {STARTUP_TIMEOUT:?} ({last}); log:\n{}", self.log_tail()))
    }

    /// The last lines the server printed.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        String::from_utf8_lossy(&log).into_owned()
    }

    /// Test-local user number `n` as the user id to send.
    pub fn uid(&self, n: i64) -> i64 {
        self.user_base + n
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let request = req.build().expect("build the HTTP request");
        let what = format!("{} {}", request.method(), request.url().path());
        let resp = match self.client.execute(request).await {
            Ok(resp) => resp,
            Err(err) => {
                let state = match self.exit_status() {
                    Some(exit) => format!("the server has EXITED with {exit}"),
                    None => "the server is still running".to_owned(),
                };
                panic!("{what} failed: {err:?}; {state}; server log:\n{}", self.log_tail());
            }
        };
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.expect("read the response body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, content_type, text, json }
    }

    /// `GET path`, with a bearer token when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    /// `DELETE path`, with a bearer token when given.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.delete(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    /// `POST path` with a JSON body, with a bearer token when given.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    /// Writes `POST path` with the JSON `body`, the bearer `token` and the `extra` headers on a
    /// raw connection, then closes it after `linger` without reading the answer: a client that
    /// vanishes before, while or after the handler runs.
    pub async fn send_and_vanish(
        &self,
        path: &str,
        token: &str,
        extra: &[(&str, &str)],
        body: &str,
        linger: Duration,
    ) {
        use tokio::io::AsyncWriteExt;

        let addr = self.base_url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the server");
        let extra: String = extra.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n{extra}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("send the request");
        tokio::time::sleep(linger).await;
        drop(stream);
    }

    /// `POST path` with a raw body labelled `application/json`.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> Reply {
        let mut req = self
            .client
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Builds a [`Seat`] from one `available-seats` entry, asserting its shape.
pub fn seat_from_json(concert_id: i64, schedule_id: i64, seat: &Value) -> Seat {
    Seat {
        concert_id,
        schedule_id,
        seat_id: seat["seatId"].as_i64().unwrap_or_else(|| panic!("seatId is an integer: {seat}")),
        seat_name: seat["seatName"]
            .as_str()
            .unwrap_or_else(|| panic!("seatName is a string: {seat}"))
            .to_owned(),
        price: seat["price"].as_i64().unwrap_or_else(|| panic!("price is an integer: {seat}")),
    }
}

/// Spawns `frontrow` on `port` with the harness's settings (the demo catalogue,
/// `QUEUE_TICK_MS=50`, `AUTH_MODE=none`), then `overrides`, its output piped.
fn frontrow(port: u16, database_url: Option<&str>, overrides: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frontrow"));
    cmd.env_clear();
    for key in INHERITED_ENV {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd.env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SEED_DEMO", "1")
        .env("QUEUE_TICK_MS", "50")
        .env("AUTH_MODE", "none")
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()));
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    for (key, value) in overrides {
        cmd.env(key, value);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("spawn the frontrow binary")
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("read the ephemeral port").port()
}

/// Copies a child's output into `log`, keeping only the last [`LOG_TAIL`] bytes.
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
                if log.len() > LOG_TAIL {
                    let cut = log.len() - LOG_TAIL;
                    log.drain(..cut);
                }
            }
        }
    });
}
