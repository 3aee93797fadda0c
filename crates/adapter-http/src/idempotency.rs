//! `Idempotency-Key` on the writing POSTs (`/api/charge`, `/api/{concertId}/reserve-seat`,
//! `/api/pay`): a retried request with the same key gets the first response back instead of
//! running again. The claim rule is the domain's (`domain::idempotency`); the records live in
//! the store (so every instance sees them); what lives here is the HTTP side: reading the
//! header, fingerprinting the request, and keeping and replaying the response.
//!
//! Order of checks: the token gate (401/403) first, so the user is known; then the key (400 if
//! malformed); then the claim; then the handler (its own 400/403/404/409/422 included).
//!
//! - No header: no deduplication; the handler just runs.
//! - The same user, the same key, the same request (method, path and exact body bytes, hashed
//!   with SHA-256): the stored status and body, plus `Idempotent-Replayed: true`; nothing runs.
//! - The same key for a different request: 422 `IDEMPOTENCY_KEY_REUSED`.
//! - The first request still running: 409 `IDEMPOTENCY_KEY_IN_PROGRESS`.
//! - Every 2xx and 4xx answer is kept for 24 hours (the policy's TTL). A 5xx is not kept: the
//!   claim is released so a retry runs the request again.
//!
//! Exactly once: the handler gets the claim ([`Claimed`]) and hands its use case a receipt
//! ([`receipt`]), so the write that has an effect (a credit, a hold, a settlement) records the
//! answer in the same atomic step as the effect, fenced by the claim (see `domain::receipt`). A
//! refusal decided before any write is recorded afterwards, under the same fence.
//!
//! A retry whose token is no longer active (a payment expires the payer's token, a token times
//! out) would be refused by the gate, yet the client most needs the answer of its first request
//! right then: "did my payment go through?". So when the gate refuses a known token as expired
//! or still waiting and the request carries a key, a response already stored for that token's
//! user and that same request is replayed (409 while it is still running); anything else gets
//! the gate's refusal. Such a request never runs and never claims a key.
//!
//! The claim, the request and the recording of its response (or the release of its claim) run
//! together on a spawned task, so a client that disconnects never leaves a key in progress. If
//! the instance dies mid-request, the claim's lease (`IDEMPOTENCY_LEASE_SECONDS`) runs out and
//! a retry runs it again; the fence guarantees the dead instance's work can no longer land.

use std::future::Future;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse};
use application::Ports;
use application::authorize::{self, AuthorizeError, Authorized};
use domain::{
    ClaimDecision, ClaimId, IdempotencyClaim, IdempotencyKey, InvalidIdempotencyKey, Receipt, StoredResponse,
    UserId, decide_claim,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::errors::ApiError;
use crate::input;
use crate::state::HttpState;

/// The request header carrying the key.
pub const KEY_HEADER: &str = "Idempotency-Key";
/// The response header marking a replayed response.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// How often recording a response (or releasing a claim) is tried before giving up.
const RECORD_ATTEMPTS: u32 = 3;
/// The pause before the second attempt; the third waits twice as long.
const RECORD_BACKOFF: Duration = Duration::from_millis(100);

/// A handler's successful answer: status and JSON text. Plain data (unlike `HttpResponse`), so
/// it can come back from the task a claimed request runs on and be stored as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    status: StatusCode,
    body: String,
}

impl Reply {
    /// 200 with `value` as JSON.
    pub fn ok(value: &impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_string(value).map_err(|error| ApiError::internal(&error))?;
        Ok(Self { status: StatusCode::OK, body })
    }

    fn into_response(self) -> HttpResponse {
        HttpResponse::build(self.status).content_type(ContentType::json()).body(self.body)
    }

    fn stored(&self) -> StoredResponse {
        StoredResponse { status: self.status.as_u16(), body: self.body.clone() }
    }
}

/// A handler's whole answer, success or error, as it is kept for its key: `None` for a 5xx,
/// which is never kept (a retry runs the request again).
fn kept(answer: &Result<Reply, ApiError>) -> Option<StoredResponse> {
    match answer {
        Ok(reply) => Some(reply.stored()),
        Err(error) if error.status().is_server_error() => None,
        Err(error) => Some(StoredResponse { status: error.status().as_u16(), body: error.body_json() }),
    }
}

/// The key a request claimed, handed to its handler so its use case can record the answer
/// with its effect.
#[derive(Debug, Clone)]
pub struct Claimed {
    user: UserId,
    key: IdempotencyKey,
    claim: ClaimId,
}

/// The receipt for a use case whose result the handler answers with `render` (success) or the
/// error's own mapping: the answer recorded with the effect is exactly what the client is sent.
/// `None` without a claimed key.
pub fn receipt<T, E>(
    claimed: Option<&Claimed>,
    render: impl Fn(T) -> Result<Reply, ApiError> + Send + Sync + 'static,
) -> Option<Receipt<Result<T, E>>>
where
    T: Clone + 'static,
    E: Clone + Into<ApiError> + 'static,
{
    let claimed = claimed?;
    Some(Receipt::new(claimed.user, claimed.key.clone(), claimed.claim, move |result: &Result<T, E>| {
        kept(&answer(result.clone(), &render))
    }))
}

/// A use case's result as the handler answers it: `render` on success, the error's mapping
/// otherwise.
pub fn answer<T, E: Into<ApiError>>(
    result: Result<T, E>,
    render: impl Fn(T) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    result.map_err(Into::into).and_then(render)
}

/// The token gate, then the `Idempotency-Key` protocol (see the module docs) around `handler`.
///
/// `handler` is called once the gate has let the request through, with its verdict; it reads
/// what it needs from the request right away (it may borrow it) and returns the work, which is
/// called with the claimed key (`None` without a key) only if the request has no key or claims
/// its key. The work must be `Send + 'static` because a keyed request runs on its own task.
pub async fn idempotent<F, W, Fut>(
    state: &HttpState,
    request: &HttpRequest,
    body: &[u8],
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(Authorized) -> W,
    W: FnOnce(Option<Claimed>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send + 'static,
{
    let ports = &state.ports;
    let token_text = input::bearer(request)?;
    let gate = authorize::execute(
        ports.queue.as_ref(),
        ports.clock.as_ref(),
        ports.seal.as_ref(),
        &state.policies.queue,
        token_text,
    )
    .await;
    let actor = match gate {
        Ok(actor) => actor,
        Err(refusal @ (AuthorizeError::Expired | AuthorizeError::NotActive { .. })) => {
            return replay_for_inactive_token(state, request, body, token_text, refusal).await;
        }
        Err(refusal) => return Err(refusal.into()),
    };
    let Some(key) = key_of(request)? else {
        return handler(actor)(None).await.map(Reply::into_response);
    };
    // The claim, the work and the bookkeeping all run on one spawned task, so a client that
    // disconnects at any point (even while the claim is being written) never leaves its key in
    // progress. The handler only builds its future here; it runs only if the key is claimed.
    let fingerprint = fingerprint(request, body);
    let work = handler(actor);
    let ports = ports.clone();
    let policy = state.policies.idempotency;
    let task = tokio::spawn(async move {
        let now = ports.clock.now();
        let user = actor.user_id;
        match ports.idempotency.claim(user, &key, &fingerprint, now, &policy).await? {
            IdempotencyClaim::Claimed(claim) => {
                let claimed = Claimed { user, key, claim };
                let work = work(Some(claimed.clone()));
                run_and_record(ports, claimed, work).await.map(Answer::Fresh)
            }
            IdempotencyClaim::Replay(stored) => Ok(Answer::Replayed(stored)),
            IdempotencyClaim::InProgress => Err(ApiError::idempotency_key_in_progress()),
            IdempotencyClaim::Reused => Err(ApiError::idempotency_key_reused()),
            IdempotencyClaim::TooManyKeys => Err(ApiError::too_many_keys()),
        }
    });
    match task.await {
        Ok(Ok(Answer::Fresh(reply))) => Ok(reply.into_response()),
        Ok(Ok(Answer::Replayed(stored))) => Ok(replayed(stored)),
        Ok(Err(error)) => Err(error),
        Err(join_error) => Err(ApiError::internal(&join_error)),
    }
}

/// What a keyed request is answered with.
enum Answer {
    /// The request ran: its own answer.
    Fresh(Reply),
    /// The same request ran before: its kept answer.
    Replayed(StoredResponse),
}

/// Runs a claimed request to its end, then keeps its answer (2xx, 4xx) or releases the claim
/// (5xx, including a panic of the work). Both are fenced by the claim: an answer the work's own
/// write already recorded stays as it is, and a claim taken over meanwhile is left alone.
async fn run_and_record(
    ports: Ports,
    claimed: Claimed,
    work: impl Future<Output = Result<Reply, ApiError>> + Send + 'static,
) -> Result<Reply, ApiError> {
    let outcome = match tokio::spawn(work).await {
        Ok(outcome) => outcome,
        Err(join_error) => Err(ApiError::internal(&join_error)),
    };
    let kept = kept(&outcome);
    let Claimed { user, key, claim } = claimed;
    for attempt in 1..=RECORD_ATTEMPTS {
        let recorded = match &kept {
            Some(response) => {
                ports.idempotency.complete(user, &key, claim, response, ports.clock.now()).await
            }
            None => ports.idempotency.release(user, &key, claim).await,
        };
        match recorded {
            Ok(()) => break,
            Err(error) if attempt < RECORD_ATTEMPTS => {
                tracing::warn!(error = %error, attempt, "recording an idempotent response failed; retrying");
                tokio::time::sleep(RECORD_BACKOFF * attempt).await;
            }
            Err(error) => tracing::error!(
                error = %error,
                user = user.get(),
                released = kept.is_none(),
                "cannot record an idempotent response; the key stays in progress until its lease runs out"
            ),
        }
    }
    outcome
}

/// A retry whose token the gate refused as expired or waiting: the stored response of the same
/// request by the token's user, if there is one; 409 while it runs; the refusal otherwise.
async fn replay_for_inactive_token(
    state: &HttpState,
    request: &HttpRequest,
    body: &[u8],
    token_text: &str,
    refusal: AuthorizeError,
) -> Result<HttpResponse, ApiError> {
    let ports = &state.ports;
    let policy = state.policies.idempotency;
    let Ok(Some(key)) = key_of(request) else { return Err(refusal.into()) };
    let Some(claims) = ports.seal.open(token_text) else { return Err(refusal.into()) };
    let Some(token) = ports.queue.token(claims.value).await? else { return Err(refusal.into()) };
    let record = ports.idempotency.find(token.user_id, &key).await?;
    let now = ports.clock.now();
    match decide_claim(record.as_ref(), &fingerprint(request, body), now, policy.ttl, policy.lease) {
        ClaimDecision::Replay(stored) => Ok(replayed(stored)),
        ClaimDecision::InProgress => Err(ApiError::idempotency_key_in_progress()),
        ClaimDecision::Claim | ClaimDecision::Reused => Err(refusal.into()),
    }
}

/// The `Idempotency-Key` header: none, one valid key, or 400 (malformed, or sent twice).
fn key_of(request: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = request.headers().get_all(KEY_HEADER);
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(ApiError::validation("send at most one Idempotency-Key header"));
    }
    let text = std::str::from_utf8(value.as_bytes()).map_err(|_| InvalidIdempotencyKey::InvalidCharacter)?;
    Ok(Some(IdempotencyKey::parse(text)?))
}

/// What identifies a request for its key: SHA-256 of the method, the path and the exact body
/// bytes, in hex. (The token is not part of it: a retry may come with a newer token.)
fn fingerprint(request: &HttpRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(request.method().as_str().as_bytes());
    hash.update(b" ");
    hash.update(request.path().as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A stored response, as first sent, marked as a replay.
fn replayed(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type(ContentType::json())
        .insert_header((REPLAYED_HEADER, "true"))
        .body(stored.body)
}

#[cfg(test)]
mod tests {
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
            let ports = Ports {
                clock: clock.clone(),
                mint: Arc::new(FixedMint),
                seal: Arc::new(seal),
                catalogue: store.clone(),
                reservations: store.clone(),
                wallet: store.clone(),
                payments: store.clone(),
                queue: store.clone(),
                idempotency: store.clone(),
                health: store,
            };
            let streams = StreamSlots::new(StreamLimits { per_token: 1, per_instance: 1 });
            let policies = Policies { queue: policy, ..Policies::default() };
            let state = HttpState { ports, policies, streams, identity: None };
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
                request = request
                    .append_header((KEY_HEADER, HeaderValue::from_bytes(value).expect("header value")));
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
        let claimed = world.state.ports.idempotency.claim(user, &key, &fingerprint, START, &policy);
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
}
