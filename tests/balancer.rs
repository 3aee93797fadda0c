//! HAProxy, with the checked-in `deploy/haproxy.cfg` that `make cluster` runs, in front of three
//! instances on one PostgreSQL: it spreads requests round-robin over all three; a booking goes
//! through while an instance is stopped; and an instance whose database is out of reach is
//! taken out by the health check on `GET /ready` within seconds, so that no request fails once
//! it is out, and brought back once its database is. The figures are printed
//! (`cargo test --test balancer -- --nocapture`). Needs HAProxy and PostgreSQL: `make test`
//! installs the one and starts the other.

mod support;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use futures::future::join_all;
use support::{TestServer, sleep_ms};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Requests sent through the balancer to see where they land.
const REQUESTS: u64 = 60;
/// The longest an instance whose database is out of reach may still be sent requests: the
/// configuration checks every second and takes an instance out after two failed checks;
/// the rest is slack for a loaded machine.
const TAKEN_OUT_WITHIN: Duration = Duration::from_secs(6);
/// The longest an instance whose database is back may take to get requests again (two checks
/// in a row must pass, after its pool has reconnected).
const BACK_WITHIN: Duration = Duration::from_secs(10);

/// Three instances, each on its database URL; only the first seeds the catalogue. Pools of 8
/// keep the file's nine instances well within PostgreSQL's default 100 connections.
async fn three_instances(urls: [&str; 3]) -> [TestServer; 3] {
    let (seeding, rest) = (
        [("DATABASE_MAX_CONNECTIONS", "8"), ("SEED_DEMO", "1")],
        [("DATABASE_MAX_CONNECTIONS", "8"), ("SEED_DEMO", "0")],
    );
    let first = TestServer::start_on(urls[0], &seeding).await;
    let (second, third) =
        tokio::join!(TestServer::start_on(urls[1], &rest), TestServer::start_on(urls[2], &rest));
    [first, second, third]
}

/// HAProxy in front of `instances`.
async fn balancer(instances: &[TestServer; 3]) -> TestServer {
    TestServer::balancer([&instances[0], &instances[1], &instances[2]]).await
}

/// How many `GET path` requests `server` has answered, from its own `/metrics`
/// (`frontrow_http_requests_total`, every status).
async fn answered(server: &TestServer, path: &str) -> u64 {
    let metrics = server.get("/metrics", None).await;
    assert_eq!(metrics.status, 200, "GET /metrics of {}: {}", server.base_url, metrics.text);
    let endpoint = format!("endpoint=\"{path}\"");
    let counts = metrics.text.lines().filter(|line| {
        line.starts_with("frontrow_http_requests_total{")
            && line.contains(&endpoint)
            && line.contains("method=\"GET\"")
    });
    counts.map(|line| line.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()).unwrap_or(0.0) as u64).sum()
}

/// `GET /health` answered by each of `instances` so far.
async fn health_counts(instances: &[TestServer]) -> Vec<u64> {
    join_all(instances.iter().map(|server| answered(server, "/health"))).await
}

/// Sends `n` `GET /health` through the balancer, asserting each is 200.
async fn health_through(balancer: &TestServer, n: u64) {
    for _ in 0..n {
        balancer.get("/health", None).await.ok("GET /health through the balancer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_through_the_balancer_are_spread_over_all_three_instances() {
    let db = TestDatabase::create().await;
    let instances = three_instances([db.url(); 3]).await;
    let balancer = balancer(&instances).await;

    let before = health_counts(&instances).await;
    health_through(&balancer, REQUESTS).await;
    let after = health_counts(&instances).await;
    let landed: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    println!("{REQUESTS} requests through the balancer landed {landed:?} on the three instances");
    assert_eq!(landed.iter().sum::<u64>(), REQUESTS, "each request reaches exactly one instance: {landed:?}");
    assert!(
        landed.iter().all(|&n| n >= REQUESTS / 4),
        "round-robin gives each instance about a third of the requests, not {landed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_goes_through_the_balancer_while_an_instance_is_stopped() {
    let db = TestDatabase::create().await;
    let instances = three_instances([db.url(); 3]).await;
    let balancer = balancer(&instances).await;

    instances[2].terminate();
    let exit = instances[2].wait_exit(Duration::from_secs(10)).await;
    assert!(exit.is_some_and(|e| e.success()), "the third instance stops on SIGTERM: {exit:?}");
    // At once, before any health check has noticed: a refused connection is tried elsewhere.
    for _ in 0..REQUESTS {
        let reply = balancer.get("/ready", None).await;
        assert_eq!(
            reply.status, 200,
            "GET /ready through the balancer, one instance stopped: {}",
            reply.text
        );
    }

    let survivors = &instances[..2];
    let before = health_counts(survivors).await;
    let user = balancer.uid(1);
    let token = balancer.active_user(user).await;
    let (seat, reservation) = balancer.held_seat(&token, user).await;
    balancer.charge(&token, user, seat.price).await.ok("charge through the balancer");
    assert_eq!(balancer.balance_of(&token, user).await, seat.price, "the charge is on the balance");
    balancer.pay(&token, reservation, seat.price).await.ok("pay through the balancer");
    assert_eq!(balancer.status_of(&token).await, "EXPIRED", "the payment spent the token");

    // The two instances left share the traffic.
    health_through(&balancer, REQUESTS).await;
    let after = health_counts(survivors).await;
    let landed: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    println!("with one instance stopped, {REQUESTS} requests landed {landed:?} on the other two");
    assert!(landed.iter().all(|&n| n >= REQUESTS / 3), "both instances left get requests: {landed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_whose_database_is_out_of_reach_is_taken_out_within_seconds_and_brought_back() {
    let db = TestDatabase::create().await;
    // The third instance reaches the database through a relay the test can cut.
    let mut relay = Relay::start(db.url()).await;
    let instances = three_instances([db.url(), db.url(), &relay.url]).await;
    let third = &instances[2];
    let balancer = balancer(&instances).await;
    let before = answered(third, "/health").await;
    health_through(&balancer, REQUESTS).await;
    assert!(answered(third, "/health").await > before, "the third instance gets requests at first");

    relay.cut().await;
    let cut = Instant::now();
    // Its database out of reach, the instance says it is not ready.
    loop {
        let ready = third.get("/ready", None).await;
        if ready.status == 503 {
            break;
        }
        assert!(cut.elapsed() < Duration::from_secs(5), "/ready of the cut-off instance: {}", ready.status);
        sleep_ms(20).await;
    }
    // Requests sent through the balancer may fail until the health check has taken the
    // instance out (503 from it, or a connection the balancer closes as it marks it down:
    // `on-marked-down shutdown-sessions`); from then on none does: `REQUESTS` in a row answer 200.
    let (mut in_a_row, mut last_failure) = (0, None);
    while in_a_row < REQUESTS {
        let sent = balancer.client.get(balancer.url("/ready")).send().await;
        match sent.as_ref().map(reqwest::Response::status) {
            Ok(status) if status.as_u16() == 200 => in_a_row += 1,
            Ok(status) => {
                assert_eq!(status.as_u16(), 503, "a request to the cut-off instance");
                (in_a_row, last_failure) = (0, Some(cut.elapsed()));
            }
            Err(closed) => {
                println!("a request closed by the balancer while it took the instance out: {closed}");
                (in_a_row, last_failure) = (0, Some(cut.elapsed()));
            }
        }
        assert!(
            cut.elapsed() < TAKEN_OUT_WITHIN + Duration::from_secs(5),
            "requests through the balancer still fail {:?} after the cut (last failure at {last_failure:?})",
            cut.elapsed()
        );
        sleep_ms(25).await;
    }
    println!(
        "a request through the balancer last failed {last_failure:?} after the third instance's database went away"
    );
    assert!(
        last_failure.is_none_or(|at| at < TAKEN_OUT_WITHIN),
        "requests through the balancer still failed {last_failure:?} after the cut, past {TAKEN_OUT_WITHIN:?}"
    );
    let out = answered(third, "/health").await;
    health_through(&balancer, REQUESTS).await;
    assert_eq!(answered(third, "/health").await, out, "an instance taken out gets no request");

    relay.restore().await;
    let restored = Instant::now();
    loop {
        health_through(&balancer, 6).await;
        if answered(third, "/health").await > out {
            break;
        }
        assert!(
            restored.elapsed() < BACK_WITHIN,
            "the instance is not sent requests again within {BACK_WITHIN:?}"
        );
        sleep_ms(100).await;
    }
    println!("the instance was sent requests again {:?} after its database came back", restored.elapsed());
}

/// A TCP relay to PostgreSQL for one instance, which the test cuts (new connections are
/// refused and open ones closed, as when the database goes away) and restores.
struct Relay {
    /// The database URL through the relay.
    url: String,
    port: u16,
    target: SocketAddr,
    serving: Option<JoinHandle<()>>,
}

impl Relay {
    /// A relay on a free loopback port to the server of `database_url`.
    async fn start(database_url: &str) -> Relay {
        let mut url = reqwest::Url::parse(database_url).expect("the database URL parses");
        let host = url.host_str().expect("the database URL has a host").to_owned();
        let target = (host.as_str(), url.port().unwrap_or(5432))
            .to_socket_addrs()
            .expect("resolve the database host")
            .next()
            .expect("the database host has an address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let port = listener.local_addr().expect("the relay's address").port();
        url.set_host(Some("127.0.0.1")).expect("set the relay's host");
        url.set_port(Some(port)).expect("set the relay's port");
        Relay { url: url.into(), port, target, serving: Some(tokio::spawn(relay(listener, target))) }
    }

    /// Closes the relay's port and every connection through it.
    async fn cut(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
            let _ = serving.await;
        }
    }

    /// Opens the relay's port again.
    async fn restore(&mut self) {
        let listener =
            TcpListener::bind(("127.0.0.1", self.port)).await.expect("bind the relay's port again");
        self.serving = Some(tokio::spawn(relay(listener, self.target)));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
        }
    }
}

/// Relays every connection `listener` accepts to `target`; dropping it closes them all.
async fn relay(listener: TcpListener, target: SocketAddr) {
    let mut links = JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        while links.try_join_next().is_some() {}
        links.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
