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
//! The gate is the one every endpoint uses (`input::gate`). A retry whose token it refuses as
//! expired or still waiting may still be replayed its first answer (409 while that runs): the
//! rule is the use case `application::replay_keyed_retry`. Such a request never runs and never
//! claims a key.
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
use application::authorize::{AuthorizeError, Authorized};
use application::replay_keyed_retry::{self, KeyedRetry, RetryAnswer};
use domain::{
    ClaimId, IdempotencyClaim, IdempotencyKey, InvalidIdempotencyKey, Receipt, StoredResponse, UserId,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::errors::ApiError;
use crate::input::{self, GateRefusal};
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
    let actor = match input::gate(state, request).await {
        Ok(actor) => actor,
        Err(GateRefusal::Refused {
            token,
            why: why @ (AuthorizeError::Expired | AuthorizeError::NotActive { .. }),
        }) => {
            return replay_for_refused_retry(state, request, body, token, why).await;
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
    let metrics = state.metrics.clone();
    let task = tokio::spawn(async move {
        let now = ports.clock.now();
        let user = actor.user_id;
        match ports.store.idempotency.claim(user, &key, &fingerprint, now, &policy).await? {
            IdempotencyClaim::Claimed(claim) => {
                let claimed = Claimed { user, key, claim };
                let work = work(Some(claimed.clone()));
                run_and_record(ports, claimed, work).await.map(Answer::Fresh)
            }
            IdempotencyClaim::Replay(stored) => {
                metrics.replayed();
                Ok(Answer::Replayed(stored))
            }
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
                ports.store.idempotency.complete(user, &key, claim, response, ports.clock.now()).await
            }
            None => ports.store.idempotency.release(user, &key, claim).await,
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
/// request by the token's user, if there is one; 409 while it runs; the refusal otherwise (the
/// rule is the use case `application::replay_keyed_retry`; the fingerprint is HTTP's).
async fn replay_for_refused_retry(
    state: &HttpState,
    request: &HttpRequest,
    body: &[u8],
    token_text: &str,
    refusal: AuthorizeError,
) -> Result<HttpResponse, ApiError> {
    let Ok(Some(key)) = key_of(request) else { return Err(refusal.into()) };
    let ports = &state.ports;
    let fingerprint = fingerprint(request, body);
    let retry = KeyedRetry { token_text, key: &key, fingerprint: &fingerprint };
    let (queue, keys, seal, clock) = (
        ports.store.queue.as_ref(),
        ports.store.idempotency.as_ref(),
        ports.seal.as_ref(),
        ports.clock.as_ref(),
    );
    match replay_keyed_retry::execute(queue, keys, seal, clock, &state.policies.idempotency, retry).await? {
        RetryAnswer::Replay(stored) => {
            state.metrics.replayed();
            Ok(replayed(stored))
        }
        RetryAnswer::InProgress => Err(ApiError::idempotency_key_in_progress()),
        RetryAnswer::Refuse => Err(refusal.into()),
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
mod tests;
