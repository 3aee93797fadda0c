//! Fans in real browsers: one headless Chromium per fan, driven over WebDriver by Debian's
//! `chromedriver`, each with a fresh profile and its own driver process (its own process group,
//! killed with everything it started when the fan is dropped).
//!
//! Every wait is bounded ([`WAIT`], polled every [`POLL`]); when one runs out the test fails with
//! what the fan sees: `#message` and its code, the page's console, and a screenshot's path.
//! Screenshots of each step go to `target/browser/<scenario>/` for people to look at.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use super::{TestServer, random_u64};

/// How long any one wait may take.
pub const WAIT: Duration = Duration::from_secs(15);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// A phone's viewport: the page must work at this size, and the screenshots show it.
const WINDOW: (u32, u32) = (390, 844);

/// Only one scenario drives browsers at a time: each starts up to two Chromiums, and the tests
/// of a file run in parallel on machines that may have two cores.
pub static ONE_SCENARIO_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Collects what the page logs (and its uncaught errors) into `window.__console`, shown when a
/// wait fails. Installed after each navigation.
const CONSOLE_HOOK: &str = r#"
if (!window.__console) {
  window.__console = [];
  for (const level of ["log", "info", "warn", "error"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => { window.__console.push(level + ": " + args.map(String).join(" ")); original(...args); };
  }
  window.addEventListener("error", (e) => window.__console.push("uncaught: " + e.message));
  window.addEventListener("unhandledrejection", (e) => window.__console.push("unhandled rejection: " + e.reason));
}
"#;

/// A `chromedriver` process group, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group holds chromedriver and every Chromium process it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// One fan's browser on the server's page.
pub struct Fan {
    client: Client,
    base_url: String,
    shots: PathBuf,
    name: String,
    step: AtomicUsize,
    profile: PathBuf,
    _driver: Driver,
}

impl Fan {
    /// Starts a browser for the fan `name` of `scenario` and opens the server's page.
    pub async fn open(server: &TestServer, scenario: &str, name: &str) -> Fan {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser tests need Debian's chromium and chromium-driver; run `make tools`"
            );
        }
        let target =
            Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory").to_owned();
        let shots = target.join("browser").join(scenario);
        std::fs::create_dir_all(&shots).expect("create the screenshot directory");
        let profile = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "chromium-{scenario}-{name}-{}-{:x}",
            std::process::id(),
            random_u64()
        ));
        let driver = start_driver().await;
        let client = connect(&driver, &profile).await;
        let fan = Fan {
            client,
            base_url: server.base_url.clone(),
            shots,
            name: name.to_owned(),
            step: AtomicUsize::new(0),
            profile,
            _driver: driver,
        };
        fan.visit().await;
        fan
    }

    /// Opens (or reopens) the page at `/`.
    pub async fn visit(&self) {
        let url = format!("{}/", self.base_url);
        self.client.goto(&url).await.unwrap_or_else(|e| panic!("{}: open {url}: {e}", self.name));
        self.run(CONSOLE_HOOK).await;
        self.wait(
            "the page to start",
            "document.readyState === 'complete' && !!document.getElementById('join')",
        )
        .await;
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub async fn run(&self, script: &str) -> Value {
        match self.client.execute(script, Vec::new()).await {
            Ok(value) => value,
            Err(e) => panic!("{}: script failed: {e}\n{script}\n{}", self.name, self.report().await),
        }
    }

    /// Waits until the JavaScript expression `condition` is true, or fails the test saying `what`.
    pub async fn wait(&self, what: &str, condition: &str) {
        let script = format!("return Boolean({condition});");
        let deadline = Instant::now() + WAIT;
        loop {
            let done = self.client.execute(&script, Vec::new()).await.ok().and_then(|v| v.as_bool());
            if done == Some(true) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("{}: waited {WAIT:?} for {what} ({condition})\n{}", self.name, self.report().await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `#message` shows `code`; returns its sentence.
    pub async fn wait_message(&self, code: &str) -> String {
        let condition = format!(
            "(() => {{ const m = document.getElementById('message'); return !m.hidden && m.dataset.code === {}; }})()",
            json!(code)
        );
        self.wait(&format!("the message {code}"), &condition).await;
        self.text("#message").await
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let script = format!("return document.querySelector({}).textContent;", json!(css));
        self.run(&script).await.as_str().unwrap_or_default().to_owned()
    }

    /// An attribute of the first element matching `css`, if both exist.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let script =
            format!("return document.querySelector({})?.getAttribute({}) ?? null;", json!(css), json!(name));
        self.run(&script).await.as_str().map(str::to_owned)
    }

    /// Clicks the element matching `css` as a user would, once it is there; the page is
    /// scrolled so that no sticky bar covers it.
    pub async fn click(&self, css: &str) {
        self.wait(&format!("{css} to be there"), &format!("document.querySelector({})", json!(css))).await;
        self.run(&format!("document.querySelector({}).scrollIntoView({{block: 'center'}});", json!(css)))
            .await;
        let element = self.client.find(Locator::Css(css)).await;
        let clicked = match element {
            Ok(element) => element.click().await,
            Err(e) => Err(e),
        };
        if let Err(e) = clicked {
            panic!("{}: click {css}: {e}\n{}", self.name, self.report().await);
        }
    }

    /// Types `text` into the input matching `css`, as a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.click(css).await;
        let typed = match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.send_keys(text).await,
            Err(e) => Err(e),
        };
        if let Err(e) = typed {
            panic!("{}: type into {css}: {e}\n{}", self.name, self.report().await);
        }
    }

    /// Joins the queue as member `user_id` from the start screen.
    pub async fn join(&self, user_id: i64) {
        self.type_into("#user-id", &user_id.to_string()).await;
        self.click("#join-submit").await;
    }

    /// Waits until the fan is let in: the shop shows the first performance's seat map.
    pub async fn wait_admitted(&self) {
        self.wait(
            "the shop with a seat map",
            "!document.getElementById('shop').hidden && document.querySelectorAll('#seatmap .seat').length > 0",
        )
        .await;
    }

    /// The id of the first seat the fan's map shows free.
    pub async fn first_free_seat(&self) -> i64 {
        let found = self.run("return document.querySelector('#seatmap .seat[data-state=\"FREE\"]')?.dataset.seatId ?? null;").await;
        let id = found.as_str().and_then(|id| id.parse().ok());
        match id {
            Some(id) => id,
            None => panic!("{}: no free seat on the map\n{}", self.name, self.report().await),
        }
    }

    /// Saves a screenshot as the scenario's next step; returns its path.
    pub async fn shot(&self, step: &str) -> PathBuf {
        let n = self.step.fetch_add(1, Ordering::Relaxed);
        let path = self.shots.join(format!("{}-{n:02}-{step}.png", self.name));
        match self.client.screenshot().await {
            Ok(png) => std::fs::write(&path, png).expect("write the screenshot"),
            Err(e) => eprintln!("{}: no screenshot for {step}: {e}", self.name),
        }
        path
    }

    /// What the fan sees, for a failure: the message, the console and a screenshot.
    async fn report(&self) -> String {
        let message = self
            .client
            .execute(
                "const m = document.getElementById('message'); \
                 return m ? `[${m.hidden ? 'hidden' : 'shown'}] code=${m.dataset.code} ${m.textContent}` : 'no #message';",
                Vec::new(),
            )
            .await
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        let console = self
            .client
            .execute("return (window.__console || []).join('\\n');", Vec::new())
            .await
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let shot = self.shot("failure").await;
        format!("#message: {message}\nconsole:\n{console}\nscreenshot: {}", shot.display())
    }

    /// Ends the browser session cleanly (dropping the fan kills it anyway).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Fan {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Starts `chromedriver` on a free port in a process group of its own, and waits until it answers.
async fn start_driver() -> Driver {
    let http = reqwest::Client::builder().no_proxy().build().expect("build the HTTP client");
    let mut last = String::new();
    for _attempt in 0..3 {
        let port =
            TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("find a free port").port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}; run `make tools`"));
        let mut driver = Driver { child, port };
        // A driver that fails to come up is dropped (killed) at the end of this attempt.
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(exit)) = driver.child.try_wait() {
                last = format!("chromedriver exited with {exit}");
                break;
            }
            let status = http.get(format!("http://127.0.0.1:{port}/status")).send().await;
            if status.is_ok_and(|s| s.status().is_success()) {
                return driver;
            }
            tokio::time::sleep(POLL).await;
        }
        if last.is_empty() {
            last = format!("chromedriver did not answer on port {port} within {WAIT:?}");
        }
    }
    panic!("{last}");
}

/// Opens a headless Chromium session with a fresh profile at `profile`.
async fn connect(driver: &Driver, profile: &Path) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let mut capabilities = serde_json::Map::new();
    // Headless windows are at least 500 px wide; a phone's viewport needs the device metrics.
    let phone = json!({ "deviceMetrics": { "width": WINDOW.0, "height": WINDOW.1, "pixelRatio": 1.0 } });
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": CHROMIUM, "args": args, "mobileEmulation": phone }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("open a Chromium session through {url}: {e}"))
}
