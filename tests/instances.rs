//! Three `frontrow` instances on one PostgreSQL, behind an imaginary load balancer: token issue,
//! polling and purchases are spread over them, and together they must behave as one service:
//! admission in exact issue order, the active cap held service-wide (sampled from the database),
//! one winner in a same-seat race, and the same waiting position whichever instance answers.
//! (Needs PostgreSQL; `make test` starts it.)

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use futures::future::join_all;
use support::race::{all_at_once, the_one_winner};
use support::{Seat, TestServer, random_u64, sleep_ms};

/// Active tokens right now, in one statement (one MVCC snapshot), so a sample cannot mix two
/// moments and over-count.
const ACTIVE_NOW: &str = "SELECT count(*) FROM queue_tokens WHERE status = 'ACTIVE' AND expires_at > now()";

/// Starts three instances on `db` with the same `settings`; only the first seeds the catalogue.
/// Pools of 8 keep the three tests' nine instances within PostgreSQL's default 100 connections.
async fn three_instances(db: &TestDatabase, settings: &[(&str, &str)]) -> Vec<Arc<TestServer>> {
    let with_seed = |seed| {
        let common = [("DATABASE_MAX_CONNECTIONS", "8"), ("SEED_DEMO", seed)];
        settings.iter().copied().chain(common).collect::<Vec<_>>()
    };
    let first = TestServer::start_on(db.url(), &with_seed("1")).await;
    let rest = with_seed("0");
    let (second, third) =
        tokio::join!(TestServer::start_on(db.url(), &rest), TestServer::start_on(db.url(), &rest));
    vec![Arc::new(first), Arc::new(second), Arc::new(third)]
}

/// One of the instances, at random.
fn any(servers: &[Arc<TestServer>]) -> &TestServer {
    &servers[(random_u64() % servers.len() as u64) as usize]
}

/// What the database sampler saw.
#[derive(Debug)]
struct Samples {
    max: i64,
    taken: u64,
    at_max: u64,
    error: Option<String>,
}

/// Counts the active tokens in the database every ~20 ms until `stop` is set.
async fn sample_active(url: &str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Samples> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the sampler connects to PostgreSQL");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    tokio::spawn(async move {
        let mut samples = Samples { max: 0, taken: 0, at_max: 0, error: None };
        while !stop.load(Ordering::Acquire) {
            let active: i64 = match client.query_one(ACTIVE_NOW, &[]).await {
                Ok(row) => row.get(0),
                Err(error) => {
                    samples.error = Some(error.to_string());
                    break;
                }
            };
            if active > samples.max {
                samples.max = active;
                samples.at_max = 0;
            }
            if active == samples.max {
                samples.at_max += 1;
            }
            samples.taken += 1;
            sleep_ms(20).await;
        }
        samples
    })
}

/// Holds, funds and pays `seat` for `user`, each step through a random instance; the payment
/// expires the user's token and frees its slot.
async fn buy(servers: &[Arc<TestServer>], token: &str, user: i64, seat: &Seat) {
    let held = any(servers).hold(token, user, seat).await;
    any(servers).charge(token, user, seat.price).await.ok("charge before paying");
    let reservation = held["reservationId"].as_i64().expect("reservationId");
    any(servers).pay(token, reservation, seat.price).await.ok("pay for the held seat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admission_follows_issue_order_and_the_cap_holds_across_three_instances() {
    const USERS: usize = 24;
    const CAP: i64 = 4;
    let db = TestDatabase::create().await;
    let settings = [("QUEUE_MAX_ACTIVE", "4"), ("QUEUE_TICK_MS", "50"), ("QUEUE_ACTIVE_TTL_SECONDS", "3600")];
    let servers = three_instances(&db, &settings).await;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_active(db.url(), Arc::clone(&stop)).await;
    let user = |j: usize| servers[0].uid(j as i64 + 1);

    // Issue order = user order, round-robin over the instances.
    let mut tokens = Vec::new();
    for j in 0..USERS {
        tokens.push(TestServer::token_of(&servers[j % 3].issue_token(user(j)).await));
    }

    let mut seq = 0u64; // global number of every status observation
    let mut admitted: Vec<Option<(u32, u64)>> = vec![None; USERS]; // first seen ACTIVE: (round, seq)
    let mut paid = [false; USERS];
    let mut seats: Vec<Seat> = Vec::new();
    // Generous: a loaded machine makes each round slower, never the rules different.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0u32;
    while paid.contains(&false) {
        round += 1;
        // Every unpaid token is polled (so none idles out), from the LAST to the first, each on a
        // random instance. Admission goes front to back, so once a later user reads ACTIVE every
        // earlier one is admitted by the time it is read: a gap is a real breach of FIFO.
        let mut seen = vec![String::from("PAID"); USERS];
        for j in (0..USERS).rev().filter(|&j| !paid[j]) {
            seq += 1;
            let body = any(&servers).token_status(&tokens[j]).await;
            let status = body["status"].as_str().unwrap_or("<missing>").to_owned();
            match status.as_str() {
                "ACTIVE" => {
                    admitted[j].get_or_insert((round, seq));
                }
                "WAITING" => {}
                _ => panic!("user #{} is {status} though polled and unpaid (round {round}): {body}", j + 1),
            }
            seen[j] = format!("{status}/{}", body["position"]);
        }
        let mut gap = admitted.iter().position(Option::is_none).unwrap_or(USERS);
        if (gap + 1..USERS).any(|j| admitted[j].is_some()) {
            // An instance may learn of an admission made through another a few milliseconds
            // late (README: what each instance keeps in memory), later on a loaded machine: ask
            // again until the gap closes or well past any such lag.
            let recheck_until = Instant::now() + Duration::from_secs(5);
            loop {
                sleep_ms(50).await;
                for j in gap..USERS {
                    if admitted[j].is_none() && any(&servers).status_of(&tokens[j]).await == "ACTIVE" {
                        seq += 1;
                        admitted[j] = Some((round, seq));
                    }
                }
                gap = admitted.iter().position(Option::is_none).unwrap_or(USERS);
                if !(gap + 1..USERS).any(|j| admitted[j].is_some()) || Instant::now() > recheck_until {
                    break;
                }
            }
        }
        if let Some(later) = (gap + 1..USERS).find(|&j| admitted[j].is_some()) {
            panic!(
                "user #{} was seen ACTIVE (round, observation {:?}) while user #{}, issued earlier, \
                 has never been seen admitted; round {round}, status/position of users #1..: {seen:?}",
                later + 1,
                admitted[later],
                gap + 1
            );
        }

        let mut active: Vec<usize> = (0..USERS).filter(|&j| seen[j].starts_with("ACTIVE")).collect();
        if seats.is_empty() && !active.is_empty() {
            seats = any(&servers).some_free_seats(&tokens[active[0]], USERS).await;
        }
        let mut buyers = Vec::new();
        while buyers.len() < 1 + (random_u64() % 2) as usize && !active.is_empty() {
            buyers.push(active.swap_remove((random_u64() % active.len() as u64) as usize));
        }
        join_all(buyers.iter().map(|&j| buy(&servers, &tokens[j], user(j), &seats[j]))).await;
        for &j in &buyers {
            paid[j] = true;
        }
        assert!(
            Instant::now() < deadline,
            "not every user was admitted and paid within 60 s; round {round}, status/position per user: \
             {seen:?}"
        );
        sleep_ms(20).await;
    }

    stop.store(true, Ordering::Release);
    let samples = sampler.await.expect("the sampler task panicked");
    let rounds: Vec<u32> = admitted.iter().map(|a| a.expect("every user was admitted").0).collect();
    assert!(
        rounds.windows(2).all(|w| w[0] <= w[1]),
        "admission order differs from issue order: first round seen ACTIVE per user {rounds:?}"
    );
    assert_eq!(samples.error, None, "the sampler's query failed: {samples:?}");
    assert!(samples.max <= CAP, "the database held more than {CAP} active tokens at once: {samples:?}");
    assert!(samples.taken >= 10 && samples.max > 0, "the sampler saw no active token: {samples:?}");
    assert_eq!(samples.max, CAP, "free slots should be filled up to the cap: {samples:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_same_seat_race_across_three_instances_has_exactly_one_winner() {
    const FANS: usize = 60;
    let db = TestDatabase::create().await;
    let servers = three_instances(&db, &[("QUEUE_MAX_ACTIVE", "0")]).await;
    let users = join_all((0..FANS).map(|i| {
        let s = Arc::clone(&servers[i % 3]);
        tokio::spawn(async move {
            let user = s.uid(i as i64 + 1);
            (user, s.active_user(user).await)
        })
    }))
    .await
    .into_iter()
    .map(|r| r.expect("token task panicked"))
    .collect::<Vec<_>>();
    let seat = servers[0].some_free_seats(&users[0].1, 1).await.remove(0);

    let replies = all_at_once(FANS, |i| {
        let (s, seat, (user, token)) = (Arc::clone(&servers[i % 3]), seat.clone(), users[i].clone());
        async move { s.reserve(&token, seat.concert_id, seat.seat_id, user).await }
    })
    .await;
    let w = the_one_winner(&replies, "60 fans across three instances");

    // Every instance agrees the seat is taken, and the winner pays through another instance.
    for s in &servers {
        let free = s.free_seats(&users[0].1, seat.concert_id, seat.schedule_id).await;
        assert!(
            free.iter().all(|x| x.seat_id != seat.seat_id),
            "{}: the held seat is listed free",
            s.base_url
        );
    }
    let (user, token) = &users[w];
    let other = &servers[(w + 1) % 3];
    other.charge(token, *user, seat.price).await.ok("charge the winner");
    let reservation = replies[w].json["reservationId"].as_i64().expect("reservationId");
    other.pay(token, reservation, seat.price).await.ok("the winner pays on another instance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn positions_are_consistent_across_instances() {
    const WAITING: usize = 10;
    let db = TestDatabase::create().await;
    let servers = three_instances(&db, &[("QUEUE_MAX_ACTIVE", "1")]).await;
    let blocker = servers[0].active_user(servers[0].uid(1)).await;
    let mut tokens = Vec::new();
    for i in 0..WAITING {
        let s = &servers[i % 3];
        tokens.push(TestServer::token_of(&s.issue_token(s.uid(i as i64 + 2)).await));
    }

    // (status, position) of every waiting token, as each instance tells it.
    let sweep = async || {
        let mut by_instance = Vec::new();
        for s in &servers {
            let mut row = Vec::new();
            for token in &tokens {
                let body = s.token_status(token).await;
                row.push((
                    body["status"].as_str().unwrap_or("<missing>").to_owned(),
                    body["position"].as_i64(),
                ));
            }
            by_instance.push(row);
        }
        by_instance
    };
    let expected: Vec<(String, Option<i64>)> =
        (1..=WAITING as i64).map(|p| ("WAITING".into(), Some(p))).collect();
    let settled = |seen: &Vec<Vec<(String, Option<i64>)>>| seen.iter().all(|row| *row == expected);

    // Positions may lag behind issue by a snapshot refresh or so: poll, bounded.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = sweep().await;
        if settled(&seen) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "positions did not settle to 1..={WAITING} in issue order on all three instances within 5 s; \
             (status, position) per instance: {seen:?}"
        );
        sleep_ms(100).await;
    }
    // And they stay so across a few snapshot refreshes.
    sleep_ms(600).await;
    let seen = sweep().await;
    assert!(settled(&seen), "positions changed although nobody moved; per instance: {seen:?}");
    for s in &servers {
        let body = s.token_status(&blocker).await;
        assert_eq!(body["status"], "ACTIVE", "{}: the blocking user is still active: {body}", s.base_url);
        assert_eq!(body["position"].as_i64(), Some(0), "{}: an active token is at 0: {body}", s.base_url);
    }
}
