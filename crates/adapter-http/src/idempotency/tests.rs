use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::body::MessageBody;
use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use adapter_memory::MemoryStore;
use adapter_seal::HmacSeal;
use application::Policies;
use domain::IdempotencyPolicy;
use domain::ports::{Clock, QueueRepository, TokenMint, TokenSeal};
use domain::{QueuePolicy, QueueToken, TokenClaims, TokenValue};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::streams::{StreamLimits, StreamSlots};

const START: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
const TOKEN: &str = "00000000-0000-0000-0000-000000000001";

struct TestClock(Mutex<OffsetDateTime>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock lock")
    }
}

struct FixedMint;

impl TokenMint for FixedMint {
    fn mint(&self) -> TokenValue {
        TokenValue::parse(TOKEN).expect("valid token")
    }
}

/// An in-memory service with user 1 holding the active token [`TOKEN`], whose holder
/// carries `bearer`.
struct World {
    state: HttpState,
    clock: Arc<TestClock>,
    bearer: String,
}

impl World {
    async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(TestClock(Mutex::new(START)));
        let policy = QueuePolicy { max_active: 0, admit_per_tick: 0, ..QueuePolicy::default() };
        let user = UserId::new(1).expect("valid id");
        let value = TokenValue::parse(TOKEN).expect("valid token");
        let token: QueueToken = store.issue(user, value, START, &policy).await.expect("issue");
        store.admit(START, &policy).await.expect("admit");
        assert_eq!(token.user_id, user);
        let seal = HmacSeal::new(&[7; 32], None).expect("a long enough key");
        let bearer = format!("Bearer {}", seal.seal(&TokenClaims::from(&token)));
        let ports = Ports::from_store(store, clock.clone(), Arc::new(FixedMint), Arc::new(seal));
        let streams = StreamSlots::new(StreamLimits { per_token: 1, per_instance: 1 });
        let policies = Policies { queue: policy, ..Policies::default() };
        let served = crate::metrics().expect("metrics middleware");
        let metrics = crate::Metrics::register(&served, &streams).expect("figures");
        let state = HttpState { ports, policies, streams, identity: None, admin: None, metrics };
        Self { state, clock, bearer }
    }

    fn advance(&self, by: time::Duration) {
        *self.clock.0.lock().expect("clock lock") += by;
    }

    /// Sends `body` to `/api/charge` through [`idempotent`] with `key`; the handler counts
    /// its runs and answers `answer`.
    async fn send(
        &self,
        key: Option<&str>,
        body: &'static str,
        runs: &Arc<AtomicUsize>,
        answer: fn() -> Result<Reply, ApiError>,
    ) -> (Result<HttpResponse, ApiError>, Option<String>) {
        let mut request =
            TestRequest::post().uri("/api/charge").insert_header(("Authorization", self.bearer.clone()));
        if let Some(key) = key {
            request = request.insert_header((KEY_HEADER, key));
        }
        let request = request.to_http_request();
        let runs = Arc::clone(runs);
        let result = idempotent(&self.state, &request, body.as_bytes(), move |_actor| {
            move |_claimed| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                answer()
            }
        })
        .await;
        let replayed = result.as_ref().ok().and_then(|response| {
            response.headers().get(REPLAYED_HEADER).map(|v| v.to_str().unwrap_or("?").to_owned())
        });
        (result, replayed)
    }
}

fn body_of(response: HttpResponse) -> (u16, String) {
    let status = response.status().as_u16();
    let bytes = response.into_body().try_into_bytes().unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn ok_answer() -> Result<Reply, ApiError> {
    Reply::ok(&serde_json::json!({"userId": 1, "currentBalance": 500}))
}

fn not_found_answer() -> Result<Reply, ApiError> {
    Err(ApiError::not_found("no such user"))
}

fn unavailable_answer() -> Result<Reply, ApiError> {
    Err(domain::StoreError::Unavailable("down".into()).into())
}

fn panicking_answer() -> Result<Reply, ApiError> {
    panic!("the handler crashed")
}

#[test]
fn the_key_header_is_optional_single_and_valid() {
    let with = |values: &[&[u8]]| {
        let mut request = TestRequest::post();
        for value in values {
            request =
                request.append_header((KEY_HEADER, HeaderValue::from_bytes(value).expect("header value")));
        }
        key_of(&request.to_http_request()).map(|key| key.map(|key| key.as_str().to_owned()))
    };
    assert_eq!(with(&[]), Ok(None));
    assert_eq!(with(&[b"abc-123"]), Ok(Some("abc-123".to_owned())));
    assert_eq!(with(&[&[b'k'; 255]]).map(|key| key.map(|k| k.len())), Ok(Some(255)));
    for bad in [&b""[..], &[b'k'; 256], b"a b", b"caf\xc3\xa9", b"\xff"] {
        let refused = with(&[bad]).expect_err("malformed key refused");
        assert_eq!((refused.status(), refused.code()), (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"));
    }
    let twice = with(&[b"a", b"b"]).expect_err("two keys refused");
    assert_eq!(twice.code(), "VALIDATION_ERROR");
}

#[test]
fn the_fingerprint_covers_method_path_and_exact_body() {
    let at = |request: TestRequest, body: &[u8]| fingerprint(&request.to_http_request(), body);
    let base = at(TestRequest::post().uri("/api/charge"), b"{\"amount\":1}");
    assert_eq!(base, at(TestRequest::post().uri("/api/charge"), b"{\"amount\":1}"));
    assert_eq!(base.len(), 64);
    assert_ne!(base, at(TestRequest::post().uri("/api/charge"), b"{\"amount\": 1}"));
    assert_ne!(base, at(TestRequest::post().uri("/api/pay"), b"{\"amount\":1}"));
    assert_ne!(base, at(TestRequest::put().uri("/api/charge"), b"{\"amount\":1}"));
}

#[tokio::test]
async fn without_a_key_every_request_runs() {
    let world = World::new().await;
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let (result, replayed) = world.send(None, "{}", &runs, ok_answer).await;
        assert_eq!(result.map(body_of).map(|(status, _)| status), Ok(200));
        assert_eq!(replayed, None);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_success_is_kept_and_replayed_with_the_marker_and_never_run_again() {
    let world = World::new().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (first, marker) = world.send(Some("k"), "{}", &runs, ok_answer).await;
    assert_eq!(marker, None, "the first answer is not a replay");
    let first = body_of(first.expect("first answer"));
    let (again, marker) = world.send(Some("k"), "{}", &runs, ok_answer).await;
    assert_eq!(marker.as_deref(), Some("true"));
    assert_eq!(body_of(again.expect("replay")), first);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let (other, _) = world.send(Some("k"), "{\"x\":1}", &runs, ok_answer).await;
    let other = other.expect_err("another body with the key");
    assert_eq!((other.status().as_u16(), other.code()), (422, "IDEMPOTENCY_KEY_REUSED"));
}

#[tokio::test]
async fn a_4xx_is_kept_and_replayed() {
    let world = World::new().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (first, _) = world.send(Some("k"), "{}", &runs, not_found_answer).await;
    let first = first.expect_err("404");
    let (again, marker) = world.send(Some("k"), "{}", &runs, ok_answer).await;
    assert_eq!(marker.as_deref(), Some("true"));
    assert_eq!(body_of(again.expect("replay")), (404, first.body_json()));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_5xx_or_a_crash_is_not_kept_so_the_retry_runs_again() {
    let world = World::new().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (down, _) = world.send(Some("k"), "{}", &runs, unavailable_answer).await;
    assert_eq!(down.expect_err("503").status(), StatusCode::SERVICE_UNAVAILABLE);
    let (crashed, _) = world.send(Some("k"), "{}", &runs, panicking_answer).await;
    assert_eq!(crashed.expect_err("500").status(), StatusCode::INTERNAL_SERVER_ERROR);
    let (retry, marker) = world.send(Some("k"), "{}", &runs, ok_answer).await;
    assert_eq!((retry.map(body_of).map(|(status, _)| status), marker), (Ok(200), None));
    assert_eq!(runs.load(Ordering::SeqCst), 3, "each attempt ran: nothing was kept before the success");
}

#[tokio::test]
async fn a_request_still_running_answers_409_in_progress() {
    let world = World::new().await;
    let user = UserId::new(1).expect("valid id");
    let key = IdempotencyKey::parse("k").expect("valid key");
    let request = TestRequest::post().uri("/api/charge").to_http_request();
    let fingerprint = fingerprint(&request, b"{}");
    let policy = IdempotencyPolicy::default();
    let claimed = world.state.ports.store.idempotency.claim(user, &key, &fingerprint, START, &policy);
    assert!(matches!(claimed.await, Ok(IdempotencyClaim::Claimed(_))));
    let runs = Arc::new(AtomicUsize::new(0));
    let (busy, _) = world.send(Some("k"), "{}", &runs, ok_answer).await;
    let busy = busy.expect_err("409");
    assert_eq!((busy.status().as_u16(), busy.code()), (409, "IDEMPOTENCY_KEY_IN_PROGRESS"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_expired_token_may_read_back_a_kept_response_but_never_run() {
    let world = World::new().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (first, _) = world.send(Some("k"), "{}", &runs, ok_answer).await;
    let first = body_of(first.expect("first answer"));
    world.advance(QueuePolicy::default().active_ttl);
    let (again, marker) = world.send(Some("k"), "{}", &runs, ok_answer).await;
    assert_eq!((body_of(again.expect("replay")), marker.as_deref()), (first, Some("true")));
    for (key, body) in [(None, "{}"), (Some("k"), "{\"x\":1}"), (Some("new"), "{}")] {
        let (refused, _) = world.send(key, body, &runs, ok_answer).await;
        let refused = refused.expect_err("the gate refuses");
        assert_eq!((refused.status().as_u16(), refused.code()), (401, "TOKEN_EXPIRED"), "{key:?} {body}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let (bad, _) = world.send(Some("a b"), "{}", &runs, ok_answer).await;
    assert_eq!(bad.expect_err("the gate comes first").code(), "TOKEN_EXPIRED");
}
