//! The catalogue cache stays coherent across instances: two instances on one PostgreSQL, each
//! caching the catalogue for an hour (`CATALOGUE_CACHE_SECONDS=3600`). A catalogue import
//! through one (a concert renamed, a performance added) shows through the other within
//! [`WINDOW`], because the change is pushed to it; a change that is not pushed does not show
//! while the other listens (so its cache is on), and does once its listening connection was
//! lost and restored. The measured delays are printed
//! (`cargo test --test catalogue_push -- --nocapture`). (Needs PostgreSQL; `make test` starts it.)

mod support;

use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use support::{TestServer, sleep_ms};

/// How late the other instance may show an import (README states the window measured).
const WINDOW: Duration = Duration::from_secs(1);
/// Imports measured in one run.
const ROUNDS: usize = 5;
/// Pause between two polls of the other instance.
const POLL_EVERY: Duration = Duration::from_millis(2);
const SECRET: &str = "box-office-secret-0123456789abcdef";

/// The catalogue file after `round` imports: the concert's title names the round, and it has one
/// performance more than rounds.
fn catalogue(round: usize) -> String {
    let performances: Vec<String> = (0..=round)
        .map(|day| {
            format!(r#"{{"startsAt": {{"daysFromToday": {}, "at": "20:00"}}, "seats": "hall"}}"#, 30 + day)
        })
        .collect();
    format!(
        r#"{{"concerts": [{{"key": "push-gala", "title": "Push Gala {round}", "artist": "Listeners",
  "venue": "Channel Hall", "performances": [{}]}}],
  "seatMaps": {{"hall": [{{"from": 1, "to": 10, "zone": "R", "price": 40000}}]}}}}"#,
        performances.join(", ")
    )
}

/// What a fan sees of the one concert through `server`: its title and how many dates it has.
async fn shown(server: &TestServer, token: &str) -> (String, usize) {
    let reply = server.get("/api/concerts", Some(token)).await;
    let concerts = reply.ok("GET /api/concerts").as_array().expect("concerts is an array").clone();
    assert_eq!(concerts.len(), 1, "one concert: {concerts:?}");
    let title = concerts[0]["title"].as_str().expect("title is a string").to_owned();
    let id = concerts[0]["concertId"].as_i64().expect("concertId is an integer");
    (title, server.dates(token, id).await.len())
}

/// Polls `server` until it shows `wanted`; how long that took, or `None` after [`WINDOW`] and
/// a margin (so a late change is told from one that never shows).
async fn until_shown(server: &TestServer, token: &str, wanted: &(String, usize)) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < WINDOW * 3 {
        if shown(server, token).await == *wanted {
            return Some(started.elapsed());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    None
}

/// Two instances caching the catalogue for an hour, the first with the box office on.
async fn two_instances(db: &TestDatabase) -> (TestServer, TestServer) {
    let common = [("SEED_DEMO", "0"), ("CATALOGUE_CACHE_SECONDS", "3600"), ("DATABASE_MAX_CONNECTIONS", "4")];
    let with_box_office: Vec<_> = common.iter().copied().chain([("ADMIN_TOKEN", SECRET)]).collect();
    tokio::join!(TestServer::start_on(db.url(), &with_box_office), TestServer::start_on(db.url(), &common))
}

/// Runs `sql` on the test database with triggers off, so nothing is pushed.
async fn unpushed(db: &TestDatabase, sql: &str) {
    let (client, connection) =
        tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    let batch = format!("SET session_replication_role = replica; {sql}");
    client.batch_execute(&batch).await.expect("change the catalogue unpushed");
}

#[tokio::test]
async fn an_import_through_one_instance_shows_through_another_within_the_window() {
    let db = TestDatabase::create().await;
    let (a, b) = two_instances(&db).await;
    let import = |round: usize| {
        let file = catalogue(round);
        let a = &a;
        async move { a.post_raw("/admin/catalogue", Some(SECRET), &file).await.ok("import").clone() }
    };
    import(0).await;
    let token = b.active_user(b.uid(1)).await;
    assert_eq!(shown(&b, &token).await, ("Push Gala 0".to_owned(), 1));

    // Unpushed, a change stays unseen through a listening instance: its cache is on.
    unpushed(&db, "UPDATE concerts SET title = 'Push Gala, unpushed'").await;
    sleep_ms(300).await;
    assert_eq!(shown(&b, &token).await, ("Push Gala 0".to_owned(), 1), "served from the cache");

    let mut delays = Vec::new();
    for round in 1..=ROUNDS {
        // Cached through the other instance: read twice at the current epoch.
        let before = shown(&b, &token).await;
        assert_eq!(shown(&b, &token).await, before);
        let sent = Instant::now();
        import(round).await;
        let answered = sent.elapsed();
        let wanted = (format!("Push Gala {round}"), round + 1);
        let delay = until_shown(&b, &token, &wanted).await;
        let delay = delay
            .unwrap_or_else(|| panic!("round {round}: {wanted:?} never showed through the other instance"));
        println!(
            "round {round}: shown through the other instance {} ms after the import answered (import {} ms)",
            delay.as_millis(),
            answered.as_millis()
        );
        assert!(delay <= WINDOW, "round {round}: shown {delay:?} after the import, over {WINDOW:?}");
        delays.push(delay);
    }
    delays.sort_unstable();
    let ms = |delay: Duration| delay.as_secs_f64() * 1000.0;
    println!(
        "push delay over {ROUNDS} imports: median {:.1} ms, max {:.1} ms",
        ms(delays[ROUNDS / 2]),
        ms(delays[ROUNDS - 1])
    );
}

#[tokio::test]
async fn a_change_made_while_an_instance_was_not_listening_shows_once_it_listens_again() {
    let db = TestDatabase::create().await;
    let (a, b) = two_instances(&db).await;
    a.post_raw("/admin/catalogue", Some(SECRET), &catalogue(0)).await.ok("import");
    let token = b.active_user(b.uid(1)).await;
    assert_eq!(shown(&b, &token).await, ("Push Gala 0".to_owned(), 1));

    let (client, connection) =
        tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    let kill = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'frontrow listener'";
    let killed: i64 = client.query_one(kill, &[]).await.expect("kill the listeners").get(0);
    assert_eq!(killed, 2, "both instances listen");
    unpushed(&db, "UPDATE concerts SET title = 'Push Gala, renamed unheard'").await;
    let wanted = ("Push Gala, renamed unheard".to_owned(), 1);
    let delay = until_shown(&b, &token, &wanted).await.expect("the change unheard shows");
    println!("a change unheard shown {} ms after it", delay.as_millis());
    assert!(delay <= WINDOW, "shown {delay:?} after the change, over {WINDOW:?}");
}
