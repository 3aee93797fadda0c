//! `AUTH_MODE=jwt`: a queue token goes only to the user an identity token from the company's
//! identity provider proves, so nobody can take, spend or lock out another user's place. Also
//! the start-up refusals: PostgreSQL without an explicit `AUTH_MODE`, unusable identity keys.

mod support;

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::exit::run_until_exit;
use support::{Reply, TestServer, now_unix};

/// The identity provider's shared secret in these tests (HS256).
const SECRET: &str = "the-identity-providers-test-secret-0123456789";
const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "frontrow";
/// How long a start that must be refused may take (it happens before anything is bound or
/// connected).
const REFUSED_WITHIN: Duration = Duration::from_secs(20);

/// A server that checks identity tokens signed with [`SECRET`], for [`ISSUER`] and [`AUDIENCE`],
/// with no clock leeway.
async fn jwt_server() -> TestServer {
    TestServer::start(&[
        ("AUTH_MODE", "jwt"),
        ("AUTH_JWT_SECRET", SECRET),
        ("AUTH_JWT_ISSUER", ISSUER),
        ("AUTH_JWT_AUDIENCE", AUDIENCE),
        ("AUTH_JWT_LEEWAY_SECONDS", "0"),
    ])
    .await
}

fn now() -> i64 {
    now_unix() as i64
}

/// The claims the identity provider would put in a fresh identity token for `user`.
fn claims(user: i64) -> Value {
    json!({ "sub": user.to_string(), "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 600 })
}

/// `claims` signed with `secret` (HS256).
fn sign(claims: &Value, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC key");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("sign the identity token")
}

/// A valid identity token for `user`.
fn identity(user: i64) -> String {
    sign(&claims(user), SECRET)
}

/// `claims(user)` changed by `change`, signed with the right secret.
fn identity_with(user: i64, change: impl FnOnce(&mut Value)) -> String {
    let mut claims = claims(user);
    change(&mut claims);
    sign(&claims, SECRET)
}

/// The header, payload and signature of a JWT.
fn segments(jwt: &str) -> [String; 3] {
    let parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    parts.try_into().unwrap_or_else(|parts| panic!("a JWT has three segments: {parts:?}"))
}

/// `POST /api/token` with `body`, carrying `identity` as the bearer credential when given.
async fn ask(s: &TestServer, identity: Option<&str>, body: &Value) -> Reply {
    s.post("/api/token", identity, body).await
}

#[tokio::test]
async fn a_valid_identity_token_for_user_7_gets_a_queue_token_for_user_7() {
    let s = jwt_server().await;
    let user = s.uid(7);
    let reply = ask(&s, Some(&identity(user)), &json!({ "userId": user })).await;
    let body = reply.ok("POST /api/token with user 7's identity").clone();
    assert_eq!(body["userId"].as_i64(), Some(user), "{body}");
    let token = TestServer::token_of(&body);

    // The queue token, not the identity token, is what later requests carry; it is user 7's.
    let status = s.token_status(&token).await;
    assert_eq!(status["userId"].as_i64(), Some(user), "{status}");
    let active = s.wait_until_active(&token).await;
    assert_eq!(active["userId"].as_i64(), Some(user));
    assert_eq!(s.balance_of(&token, user).await, 0);

    // The body's userId may be left out: the identity says who asks. Same user, same token.
    let again = ask(&s, Some(&identity(user)), &json!({})).await;
    assert_eq!(TestServer::token_of(again.ok("POST /api/token with {}")), token);
    let bare = s.client.post(s.url("/api/token")).bearer_auth(identity(user));
    let bare = s.send(bare).await;
    assert_eq!(TestServer::token_of(bare.ok("POST /api/token without a body")), token);
}

#[tokio::test]
async fn a_body_user_id_other_than_the_identitys_is_403_forbidden() {
    let s = jwt_server().await;
    let reply = ask(&s, Some(&identity(s.uid(7))), &json!({ "userId": s.uid(8) })).await;
    reply.assert_error(403, "FORBIDDEN", "user 7's identity asking for user 8");
    let reply = ask(&s, Some(&identity(s.uid(7))), &json!({ "userId": 0 })).await;
    reply.assert_error(403, "FORBIDDEN", "user 7's identity asking for user 0");
}

#[tokio::test]
async fn a_token_request_without_an_identity_token_is_401_token_missing() {
    let s = jwt_server().await;
    let body = json!({ "userId": s.uid(7) });
    ask(&s, None, &body).await.assert_error(401, "TOKEN_MISSING", "no Authorization header");
    let basic = s.client.post(s.url("/api/token")).header("Authorization", "Basic dXNlcjpwYXNz").json(&body);
    s.send(basic).await.assert_error(401, "TOKEN_MISSING", "Basic credentials");
}

#[tokio::test]
async fn the_identity_check_comes_before_body_validation() {
    let s = jwt_server().await;
    let reply = s.post_raw("/api/token", None, "{not json").await;
    reply.assert_error(401, "TOKEN_MISSING", "malformed body, no identity");
    let reply = s.post_raw("/api/token", Some("not.a.jwt"), "{not json").await;
    reply.assert_error(401, "IDENTITY_INVALID", "malformed body, malformed identity");
    let reply = s.post_raw("/api/token", Some(&identity(s.uid(7))), "{not json").await;
    reply.assert_error(400, "VALIDATION_ERROR", "malformed body, valid identity");
    let reply = ask(&s, Some(&identity(s.uid(7))), &json!({ "userId": "7" })).await;
    reply.assert_error(400, "VALIDATION_ERROR", "a userId that is not a JSON integer");
}

#[tokio::test]
async fn forged_expired_early_misaddressed_and_wrongly_signed_identity_tokens_are_401() {
    let s = jwt_server().await;
    let user = s.uid(7);
    let body = json!({ "userId": user });
    let [header, payload, _] = segments(&identity(user));
    let [_, _, other_signature] = segments(&identity(s.uid(8)));
    let expired = identity_with(user, |c| c["exp"] = json!(now() - 3600));
    ask(&s, Some(&expired), &body).await.assert_error(401, "IDENTITY_EXPIRED", "expired an hour ago");
    let without =
        |claim: &'static str| identity_with(user, move |c| _ = c.as_object_mut().map(|o| o.remove(claim)));
    let invalid = [
        ("signature of another token", format!("{header}.{payload}.{other_signature}")),
        ("signed with another secret", sign(&claims(user), "another-secret-of-at-least-32-bytes-xyz")),
        ("for another audience", identity_with(user, |c| c["aud"] = json!("another-service"))),
        ("without an audience", without("aud")),
        ("from another issuer", identity_with(user, |c| c["iss"] = json!("https://evil.example"))),
        ("not valid for ten minutes", identity_with(user, |c| c["nbf"] = json!(now() + 600))),
        ("without an expiry", without("exp")),
        ("a subject that is no user id", identity_with(user, |c| c["sub"] = json!("alice"))),
        ("subject 0", identity_with(user, |c| c["sub"] = json!("0"))),
        ("unsigned (alg none)", format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")),
        ("not a JWT", "garbage".to_owned()),
    ];
    for (what, identity) in invalid {
        ask(&s, Some(&identity), &body).await.assert_error(401, "IDENTITY_INVALID", what);
    }
}

#[tokio::test]
async fn with_auth_mode_jwt_nobody_can_obtain_another_users_queue_token() {
    let s = jwt_server().await;
    let (victim, attacker) = (s.uid(501), s.uid(7));
    let victims = ask(&s, Some(&identity(victim)), &json!({ "userId": victim })).await;
    let victims_token = TestServer::token_of(victims.ok("the victim takes a place"));

    // The seed's request alone names a user; it no longer hands out that user's token.
    let bare = ask(&s, None, &json!({ "userId": victim })).await;
    bare.assert_error(401, "TOKEN_MISSING", "the victim's id without any identity");
    // The attacker's own identity does not stretch to the victim.
    let own = ask(&s, Some(&identity(attacker)), &json!({ "userId": victim })).await;
    own.assert_error(403, "FORBIDDEN", "the attacker's identity naming the victim");
    // Nor does an identity the attacker signs, or one whose subject they rewrite.
    let signed = sign(&claims(victim), "the-attackers-guess-at-the-secret-0123456789");
    let signed = ask(&s, Some(&signed), &json!({ "userId": victim })).await;
    signed.assert_error(401, "IDENTITY_INVALID", "an identity for the victim signed by the attacker");
    let [header, _, signature] = segments(&identity(attacker));
    let [_, victims_payload, _] = segments(&identity(victim));
    let rewritten = format!("{header}.{victims_payload}.{signature}");
    let rewritten = ask(&s, Some(&rewritten), &json!({ "userId": victim })).await;
    rewritten.assert_error(401, "IDENTITY_INVALID", "the attacker's identity with the victim's subject");
    for reply in [&bare, &own, &signed, &rewritten] {
        assert!(!reply.text.contains(&victims_token), "the victim's token leaked: {}", reply.text);
    }

    // The victim's place is untouched: the same token, still theirs and usable.
    let status = s.token_status(&victims_token).await;
    assert_eq!(status["userId"].as_i64(), Some(victim), "{status}");
    let again = ask(&s, Some(&identity(victim)), &json!({})).await;
    assert_eq!(TestServer::token_of(again.ok("the victim asks again")), victims_token);
}

#[test]
fn on_postgres_without_an_explicit_auth_mode_the_service_refuses_to_start_in_one_line() {
    // Nothing listens on port 1: the service must refuse before it ever tries the database.
    let database_url = "postgres://postgres@127.0.0.1:1/frontrow";
    let refusal = run_until_exit(&[("DATABASE_URL", database_url), ("AUTH_MODE", "")], REFUSED_WITHIN)
        .expect("frontrow refuses to start");
    let line = refusal.one_line();
    assert!(line.contains("AUTH_MODE") && line.contains("DATABASE_URL"), "{line}");
}

#[test]
fn an_identity_key_file_that_cannot_be_read_stops_start_up_in_one_line() {
    let missing = "/nonexistent/identity-provider.pem";
    let refusal =
        run_until_exit(&[("AUTH_MODE", "jwt"), ("AUTH_JWT_PUBLIC_KEY_FILE", missing)], REFUSED_WITHIN)
            .expect("frontrow refuses to start");
    let line = refusal.one_line();
    assert!(line.contains(missing), "the line names the file: {line}");
}

#[test]
fn auth_mode_jwt_without_any_identity_key_is_refused_in_one_line() {
    let refusal = run_until_exit(&[("AUTH_MODE", "jwt")], REFUSED_WITHIN).expect("frontrow refuses to start");
    let line = refusal.one_line();
    assert!(line.contains("AUTH_JWT_SECRET"), "the line says what to set: {line}");
}
