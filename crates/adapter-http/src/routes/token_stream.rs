//! `GET /api/token/stream`: the waiting room as Server-Sent Events, for clients that would
//! rather be told than poll. Each event is the same JSON as `GET /api/token`; the stream ends
//! after the event that says `ACTIVE` or `EXPIRED`.
//!
//! A stream is worth one poll, not polling: opening it records a poll of the token like
//! `GET /api/token`, and while open it only looks. It closes itself half an idle timeout after
//! it opened, having told EventSource (`retry:`) to reconnect within a second, so a client that
//! is still there reconnects, which is its next poll, long before the idle timeout; one that
//! does not is dropped like a fan who stopped polling. Open streams are capped per token and
//! per instance (see `streams`).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use application::queue_status::{self, TokenView};
use domain::{QueuePolicy, TokenClaims, TokenState};
use futures_util::{StreamExt, stream};
use tokio::time::Instant;

use crate::errors::{ApiError, ErrorBody};
use crate::input;
use crate::openapi::{StoreErrors, TokenEvent, UNKNOWN_TOKEN};
use crate::routes::token::TokenResponse;
use crate::state::HttpState;
use crate::streams::StreamSlot;

/// The longest EventSource should wait before reconnecting after a stream closes itself.
const RECONNECT_WITHIN: Duration = Duration::from_secs(1);

/// A stream still open: the last view it sent (a waiting one, of the token it watches), when it
/// closes itself, and its place under the caps.
struct Watch {
    state: Arc<HttpState>,
    last: TokenView,
    closes_at: Instant,
    _slot: StreamSlot,
}

/// How often the stream looks again: once per admission tick, within 200 ms..2 s.
fn interval(policy: &QueuePolicy) -> Duration {
    Duration::try_from(policy.tick)
        .unwrap_or(Duration::from_secs(1))
        .clamp(Duration::from_millis(200), Duration::from_secs(2))
}

/// How long a stream lasts: half the idle timeout, so the reconnect lands well inside it.
fn lifetime(policy: &QueuePolicy) -> Duration {
    policy.idle_share(2)
}

/// The SSE `retry:` frame: reconnect within a second, or a quarter of the idle timeout if that
/// is shorter (lifetime plus reconnect then stays under three quarters of it).
fn retry_frame(policy: &QueuePolicy) -> Bytes {
    Bytes::from(format!("retry: {}\n\n", RECONNECT_WITHIN.min(policy.idle_share(4)).as_millis()))
}

/// One SSE frame: a `data:` event with the token as JSON.
fn event(view: &TokenView) -> Bytes {
    let body = serde_json::to_string(&TokenResponse::from(view.clone())).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: status\ndata: {body}\n\n"))
}

/// Watch the token live: an event whenever status, position or estimated wait change, a
/// comment line as heartbeat otherwise; the stream closes once the token is active or expired,
/// and by itself after half the idle timeout (reconnect to keep watching: opening a stream
/// counts as a poll, an open one does not).
#[utoipa::path(get, path = "/api/token/stream", operation_id = "watchToken",
    tag = "queue", security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/event-stream", body = TokenEvent,
            description = "`event: status` frames whose `data` is the JSON of `GET /api/token`; \
                closes after `ACTIVE`/`EXPIRED`, or after half the idle timeout (reconnect)"),
        (status = 401, description = UNKNOWN_TOKEN, body = ErrorBody),
        (status = 429, body = ErrorBody,
            description = "`TOO_MANY_STREAMS`: the token has `STREAMS_PER_TOKEN` streams open; \
                `STREAMS_FULL`: the instance has `STREAMS_PER_INSTANCE` open (poll meanwhile)",
            headers(("Retry-After" = u64, description = "with `STREAMS_FULL`: seconds to wait"))),
        StoreErrors))]
pub async fn stream(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = input::bearer(&request)?;
    // The first look happens before the response starts, so a bad token is a plain 401. It is
    // the one poll this stream is worth.
    let (ports, policy) = (&state.ports, &state.policies.queue);
    let first = queue_status::execute(
        ports.store.queue.as_ref(),
        ports.clock.as_ref(),
        ports.seal.as_ref(),
        policy,
        token,
    )
    .await?;
    let (every, opening) = (interval(policy), [retry_frame(policy), event(&first)]);
    let watch = match first.state {
        TokenState::Waiting => Some(Watch {
            _slot: state.streams.open(first.token.value)?,
            closes_at: Instant::now().checked_add(lifetime(policy)).unwrap_or_else(Instant::now),
            state: state.into_inner(),
            last: first,
        }),
        TokenState::Active { .. } | TokenState::Expired => None,
    };
    // Then one look per interval while the token waits; `None` closes the stream.
    let looks = stream::unfold(watch, move |watch| async move {
        let mut watch = watch?;
        let wake =
            Instant::now().checked_add(every).map_or(watch.closes_at, |wake| wake.min(watch.closes_at));
        tokio::time::sleep_until(wake).await;
        if wake >= watch.closes_at {
            return Some((Bytes::from_static(b": reconnect to keep watching\n\n"), None));
        }
        let (ports, policy) = (&watch.state.ports, &watch.state.policies.queue);
        match queue_status::peek(
            ports.store.queue.as_ref(),
            ports.clock.as_ref(),
            ports.seal.as_ref(),
            policy,
            &TokenClaims::from(&watch.last.token),
        )
        .await
        {
            Ok(view) if view == watch.last => Some((Bytes::from_static(b": waiting\n\n"), Some(watch))),
            Ok(view) => {
                let frame = event(&view);
                let waiting = matches!(view.state, TokenState::Waiting);
                watch.last = view;
                Some((frame, waiting.then_some(watch)))
            }
            Err(error) => {
                let error = ApiError::from(error);
                let body = serde_json::json!({"code": error.code(), "message": error.to_string()});
                Some((Bytes::from(format!("event: error\ndata: {body}\n\n")), None))
            }
        }
    });
    let frames = stream::iter(opening).chain(looks).map(Ok::<_, ApiError>);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(seconds: i64) -> QueuePolicy {
        QueuePolicy { idle_timeout: time::Duration::seconds(seconds), ..QueuePolicy::default() }
    }

    #[test]
    fn a_stream_lasts_half_the_idle_timeout() {
        assert_eq!(lifetime(&idle(120)), Duration::from_secs(60));
        assert_eq!(lifetime(&idle(1)), Duration::from_millis(500));
    }

    #[test]
    fn eventsource_reconnects_within_a_second_or_a_quarter_of_the_idle_timeout() {
        assert_eq!(retry_frame(&idle(120)), Bytes::from_static(b"retry: 1000\n\n"));
        assert_eq!(retry_frame(&idle(2)), Bytes::from_static(b"retry: 500\n\n"));
    }
}
