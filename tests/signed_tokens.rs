//! Queue tokens verify themselves: a made-up, altered or truncated token is refused as 401
//! `TOKEN_INVALID` without the database being asked; instances that share a key (set, or kept
//! in the database when unset) accept each other's tokens, and a previous key still opens the
//! tokens it sealed during a rotation. (Needs PostgreSQL; `make test` starts it.)

mod support;

use adapter_postgres::testing::TestDatabase;
use support::{TestServer, random_u64};

const KEY: &str = "the-current-token-signing-key-0001";
const OLD_KEY: &str = "the-previous-token-signing-key-0002";

/// Texts that are not tokens this service sealed, derived from the genuine `token`.
fn forgeries(token: &str) -> Vec<String> {
    let mut forged = vec![
        "00000000-0000-0000-0000-000000000001".to_owned(),
        format!("{token}A"),
        token[..token.len() - 1].to_owned(),
        token[1..].to_owned(),
        token.replace('.', ""),
        token.to_uppercase(),
    ];
    // Every character of the genuine token altered in turn, for the claims and the tag alike.
    for at in 0..token.len() {
        let mut altered: Vec<char> = token.chars().collect();
        altered[at] = if altered[at] == 'A' { 'B' } else { 'A' };
        forged.push(altered.into_iter().collect());
    }
    forged.push((0..token.len()).map(|_| char::from(b'a' + (random_u64() % 26) as u8)).collect());
    forged
}

/// Every forgery is 401 `TOKEN_INVALID`, on the poll and on a gated endpoint.
async fn assert_all_refused(server: &TestServer, forged: &[String], what: &str) {
    for text in forged {
        for path in ["/api/token", "/api/concerts"] {
            let reply = server.get(path, Some(text)).await;
            reply.assert_error(401, "TOKEN_INVALID", &format!("{what}: {path} with {text:?}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_altered_or_truncated_token_is_refused_without_asking_the_database() {
    let db = TestDatabase::create().await;
    let server = TestServer::start_on(db.url(), &[]).await;
    let token = server.active_user(server.uid(1)).await;
    let forged = forgeries(&token);
    assert_all_refused(&server, &forged, "database up").await;

    // Now no query can be answered: new connections are refused and the open ones are cut.
    let (host, database) = db.url().rsplit_once('/').expect("a database name");
    let (admin, connection) =
        tokio_postgres::connect(&format!("{host}/postgres"), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let gate = |open: bool| format!("ALTER DATABASE \"{database}\" WITH ALLOW_CONNECTIONS {open}");
    admin.batch_execute(&gate(false)).await.expect("close the database to new connections");
    let cut = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1";
    let cut: i64 = admin.query_one(cut, &[&database]).await.expect("cut the connections").get(0);
    assert!(cut >= 1, "the server's connections were cut");

    assert_all_refused(&server, &forged, "database unreachable").await;
    // A genuine token is read from the database once the server noticed it stopped hearing
    // from it (at once: the server says goodbye when it cuts a connection).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let genuine = server.get("/api/token", Some(&token)).await;
        if genuine.status == 503 {
            genuine.assert_error(503, "UNAVAILABLE", "a genuine token needs the database, which is gone");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "a genuine token still served without the database");
        support::sleep_ms(20).await;
    }
    admin.batch_execute(&gate(true)).await.expect("open the database again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_with_the_same_key_accept_each_others_tokens_and_others_refuse_them() {
    let db = TestDatabase::create().await;
    let sealing = TestServer::start_on(db.url(), &[("TOKEN_SIGNING_KEY", KEY)]).await;
    let (same, other) = tokio::join!(
        TestServer::start_on(db.url(), &[("TOKEN_SIGNING_KEY", KEY), ("SEED_DEMO", "0")]),
        TestServer::start_on(db.url(), &[("TOKEN_SIGNING_KEY", OLD_KEY), ("SEED_DEMO", "0")]),
    );
    let token = sealing.active_user(sealing.uid(1)).await;
    assert_eq!(same.status_of(&token).await, "ACTIVE", "the same key opens it");
    same.get("/api/concerts", Some(&token)).await.ok("the same key lets it through the gate");
    let refused = other.get("/api/token", Some(&token)).await;
    refused.assert_error(401, "TOKEN_INVALID", "another key refuses it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rotation_tokens_sealed_with_the_previous_key_still_open() {
    let db = TestDatabase::create().await;
    let before = TestServer::start_on(db.url(), &[("TOKEN_SIGNING_KEY", OLD_KEY)]).await;
    let old_token = before.active_user(before.uid(1)).await;
    let rotated = [("TOKEN_SIGNING_KEY", KEY), ("TOKEN_SIGNING_KEY_PREVIOUS", OLD_KEY), ("SEED_DEMO", "0")];
    let after = TestServer::start_on(db.url(), &rotated).await;
    assert_eq!(after.status_of(&old_token).await, "ACTIVE", "sealed before the rotation, still opens");
    let new_token = after.active_user(after.uid(2)).await;
    let refused = before.get("/api/token", Some(&new_token)).await;
    refused.assert_error(
        401,
        "TOKEN_INVALID",
        "the old key alone does not open a token sealed with the new one",
    );
    let done = TestServer::start_on(db.url(), &[("TOKEN_SIGNING_KEY", KEY), ("SEED_DEMO", "0")]).await;
    let retired = done.get("/api/token", Some(&old_token)).await;
    retired.assert_error(401, "TOKEN_INVALID", "once the previous key is unset, its tokens are refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_key_set_instances_on_one_database_share_the_one_it_keeps() {
    let db = TestDatabase::create().await;
    let first = TestServer::start_on(db.url(), &[]).await;
    let second = TestServer::start_on(db.url(), &[("SEED_DEMO", "0")]).await;
    let token = first.active_user(first.uid(1)).await;
    assert_eq!(second.status_of(&token).await, "ACTIVE");
    drop(first);
    let restarted = TestServer::start_on(db.url(), &[("SEED_DEMO", "0")]).await;
    assert_eq!(restarted.status_of(&token).await, "ACTIVE", "and keep it across restarts");
}
