//! Input hardening, black-box: twenty thousand malformed requests drawn from proptest strategies
//! (`fuzz/strategies.rs`: bodies, content types, bearer headers, query strings, path ids,
//! methods, paths and sizes) must each get a 4xx JSON error from the contract's table
//! (docs/api.md), never a 5xx, and must change nothing. `fuzz/focused.rs` checks the
//! strictness decisions of the contract one by one.
//!
//! The runner is seeded with [`DEFAULT_SEED`] and persists nothing, so every run sends the same
//! requests and a CI failure replays exactly; `FRONTROW_FUZZ_SEED=<u64>` runs another seed,
//! `=random` a fresh one. A failing request is shrunk by proptest against the same server, and
//! the simplest one that still fails is shown.

mod support;

#[path = "fuzz/focused.rs"]
mod focused;
#[path = "fuzz/strategies.rs"]
mod strategies;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use strategies::STANDARD_METHODS;
use support::TestServer;

/// How many malformed requests one run sends.
const REQUESTS: u32 = 20_000;
/// The seed of every run unless `FRONTROW_FUZZ_SEED` names another.
const DEFAULT_SEED: u64 = 0x6672_6f6e_7472_6f77;
/// Longer than this without an answer is a hang.
const PER_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The kinds of malformed request `fuzz/strategies.rs` makes.
const KINDS: usize = 9;
/// The most simpler requests tried while shrinking a failure.
const MAX_SHRINK_STEPS: u32 = 500;

/// The real targets, so that a request wrongly accepted would change state.
#[derive(Debug, Clone)]
struct Target {
    user: i64,
    token: String,
    /// A concert with the free seat below.
    concert: i64,
    free_seat: i64,
    /// The user's held reservation and its price: a valid payment body.
    reservation: i64,
    price: i64,
}

/// One generated request (`fuzz/strategies.rs`) and the statuses it may get.
#[derive(Clone)]
struct Fuzz {
    /// Its kind, one of the test's `KINDS`.
    what: &'static str,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    /// The statuses the contract allows it.
    expect: &'static [u16],
}

/// A failing request as proptest prints it: long paths, headers and bodies cut to 200 bytes.
impl std::fmt::Debug for Fuzz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = |bytes: &[u8]| {
            format!("{:?} ({} bytes)", Bytes::copy_from_slice(&bytes[..bytes.len().min(200)]), bytes.len())
        };
        write!(
            f,
            "[{}] {} {} expecting {:?}",
            self.what,
            self.method,
            cut(self.path.as_bytes()),
            self.expect
        )?;
        for (name, value) in &self.headers {
            write!(f, "\n  {name}: {}", cut(value.as_bytes()))?;
        }
        write!(f, "\n  body: {}", cut(&self.body))
    }
}

/// The run's seed and a runner drawing from it.
fn seeded_runner() -> (u64, TestRunner) {
    let seed = match std::env::var("FRONTROW_FUZZ_SEED").as_deref() {
        Err(_) | Ok("") => DEFAULT_SEED,
        Ok("random") => support::random_u64(),
        Ok(number) => number.parse().unwrap_or_else(|_| panic!("FRONTROW_FUZZ_SEED={number:?} is not a u64")),
    };
    let mut bytes = [0; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: REQUESTS,
        max_shrink_iters: MAX_SHRINK_STEPS,
        failure_persistence: None,
        ..Config::default()
    };
    (seed, TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)))
}

/// Sends one request: `Err` says how its answer broke the contract, which allows a 4xx among
/// `fuzz.expect` with a JSON `{code, message}` body whose code the error table gives that status
/// (and a 405 with `Allow`).
async fn fire(s: &TestServer, fuzz: &Fuzz, codes: &[(u16, String)]) -> Result<(), String> {
    let request = s.client.request(fuzz.method.clone(), s.url(&fuzz.path)).headers(fuzz.headers.clone());
    let response = request
        .body(fuzz.body.clone())
        .timeout(PER_REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("no answer: {e:?}"))?;
    let status = response.status().as_u16();
    if status == 405 && !response.headers().contains_key("allow") {
        return Err("405 without an Allow header".to_owned());
    }
    let content_type =
        response.headers().get("content-type").map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    let text = response.text().await.map_err(|e| format!("{status} with an unreadable body: {e}"))?;
    let shown: String = text.chars().take(300).collect();
    if !fuzz.expect.contains(&status) {
        return Err(format!("status {status}, expected one of {:?}; body {shown:?}", fuzz.expect));
    }
    if fuzz.method == Method::HEAD {
        return Ok(()); // a HEAD answer has no body by definition
    }
    if !content_type.starts_with(b"application/json") {
        return Err(format!("{status} with a Content-Type that is not JSON; body {shown:?}"));
    }
    let body: Value =
        serde_json::from_str(&text).map_err(|_| format!("{status} with a non-JSON body {shown:?}"))?;
    let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (code, message) = (field("code"), field("message"));
    if message.is_empty() || !codes.contains(&(status, code.clone())) {
        return Err(format!(
            "{status} {code:?} is not in the error table with that status, or has no message: {shown}"
        ));
    }
    Ok(())
}

/// What the fuzzing must not change, read through the API.
#[derive(Debug, PartialEq)]
struct Snapshot {
    balance: i64,
    token: Value,
    dates: BTreeMap<i64, Value>,
    free_seats: BTreeMap<(i64, i64), BTreeSet<i64>>,
}

async fn snapshot(s: &TestServer, t: &Target) -> Snapshot {
    let (mut dates, mut free_seats) = (BTreeMap::new(), BTreeMap::new());
    for concert in s.concert_ids(&t.token).await {
        let list = s.dates(&t.token, concert).await;
        for date in &list {
            let schedule = date["scheduleId"].as_i64().expect("scheduleId is an integer");
            let seats = s.free_seats(&t.token, concert, schedule).await;
            free_seats.insert((concert, schedule), seats.iter().map(|seat| seat.seat_id).collect());
        }
        dates.insert(concert, Value::Array(list));
    }
    let (balance, token) = (s.balance_of(&t.token, t.user).await, s.token_status(&t.token).await);
    Snapshot { balance, token, dates, free_seats }
}

/// A server with `QUEUE_MAX_ACTIVE=0`, one active user with a charged balance, a held seat and
/// another free seat.
async fn arena() -> (TestServer, Target) {
    // A day for the hold and the token: a slow run must not see them lapse mid-way.
    let day = "86400";
    let settings = [("QUEUE_MAX_ACTIVE", "0"), ("SEAT_HOLD_SECONDS", day), ("QUEUE_ACTIVE_TTL_SECONDS", day)];
    let s = TestServer::start(&settings).await;
    let user = s.uid(1);
    let token = s.active_user(user).await;
    s.charge(&token, user, 1_000_000).await.ok("charge the fuzz user");
    let [held, free] = <[_; 2]>::try_from(s.some_free_seats(&token, 2).await).expect("two free seats");
    let hold = s.hold(&token, user, &held).await;
    let reservation = hold["reservationId"].as_i64().expect("reservationId");
    let (concert, free_seat, price) = (free.concert_id, free.seat_id, held.price);
    (s, Target { user, token, concert, free_seat, reservation, price })
}

/// The `method` label values of the Prometheus metrics.
async fn metric_methods(s: &TestServer) -> BTreeSet<String> {
    let metrics = s.get("/metrics", None).await;
    assert_eq!(metrics.status, 200, "GET /metrics: {}", metrics.text);
    let labels = metrics.text.split("method=\"").skip(1).filter_map(|rest| rest.split('"').next());
    labels.map(str::to_owned).collect()
}

#[test]
fn thousands_of_malformed_requests_get_4xx_json_and_change_nothing() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let (s, target) = runtime.block_on(arena());
    let before = runtime.block_on(snapshot(&s, &target));
    let codes = support::contract::error_codes();
    let (seed, mut runner) = seeded_runner();
    println!("fuzz seed: {seed} (replay with FRONTROW_FUZZ_SEED={seed})");

    let (started, sent) = (Instant::now(), Mutex::new(BTreeMap::<&str, u32>::new()));
    let outcome = runner.run(&strategies::request(&target), |fuzz| {
        *sent.lock().expect("the tally").entry(fuzz.what).or_default() += 1;
        runtime.block_on(fire(&s, &fuzz, &codes)).map_err(TestCaseError::fail)
    });
    if let Err(failure) = outcome {
        panic!(
            "seed {seed}: a malformed request broke the contract: {failure}\nserver log:\n{}",
            s.log_tail()
        );
    }
    let sent = sent.into_inner().expect("the tally");
    println!("{REQUESTS} malformed requests answered in {:.1?}: {sent:?}", started.elapsed());
    assert!(sent.len() == KINDS && sent.values().all(|n| *n >= 100), "every kind is sent often: {sent:?}");

    runtime.block_on(async {
        assert_eq!(s.get("/health", None).await.status, 200, "the server is alive");
        assert_eq!(before, snapshot(&s, &target).await, "malformed requests changed the state (seed {seed})");
        let methods = metric_methods(&s).await;
        let invented = methods.iter().find(|m| !STANDARD_METHODS.contains(&m.as_str()));
        assert!(invented.is_none(), "invented methods became metric labels: {methods:?}");
        // The last proof that nothing moved: the hold is still in place and payable, exactly.
        s.pay(&target.token, target.reservation, target.price).await.ok("pay the held reservation");
        let fresh = TestServer::token_of(&s.issue_token(target.user).await);
        s.wait_until_active(&fresh).await;
        assert_eq!(
            s.balance_of(&fresh, target.user).await,
            1_000_000 - target.price,
            "the price was taken once"
        );
    });
}
