//! `GET /api/token/stream`: the waiting room as Server-Sent Events, for clients that would
//! rather be told than poll. Each event is the same JSON as `GET /api/token`; an open stream
//! counts as polling, so a fan watching it is never dropped as idle. The stream ends after the
//! event that says `ACTIVE` or `EXPIRED`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use application::queue_status::{self, TokenView};
use domain::TokenState;
use futures_util::{StreamExt, stream};

use crate::errors::{ApiError, ErrorBody};
use crate::input;
use crate::openapi::{StoreErrors, TokenEvent, UNKNOWN_TOKEN};
use crate::routes::token::TokenResponse;
use crate::state::HttpState;

/// A stream still open: the token it watches and the last view it sent (a waiting one).
struct Watch {
    state: Arc<HttpState>,
    token: String,
    last: TokenView,
}

/// How often the stream looks again: once per admission tick, within 200 ms..2 s.
fn interval(state: &HttpState) -> Duration {
    Duration::try_from(state.policies.queue.tick)
        .unwrap_or(Duration::from_secs(1))
        .clamp(Duration::from_millis(200), Duration::from_secs(2))
}

/// One SSE frame: a `data:` event with the token as JSON.
fn event(view: &TokenView) -> Bytes {
    let body = serde_json::to_string(&TokenResponse::from(view.clone())).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: status\ndata: {body}\n\n"))
}

/// Watch the token live: an event whenever status, position or estimated wait change, a
/// comment line as heartbeat otherwise; the stream closes once the token is active or expired.
#[utoipa::path(get, path = "/api/token/stream", operation_id = "watchToken",
    tag = "queue", security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/event-stream", body = TokenEvent,
            description = "`event: status` frames whose `data` is the JSON of `GET /api/token`"),
        (status = 401, description = UNKNOWN_TOKEN, body = ErrorBody),
        (status = 429, description = "`TOO_MANY_STREAMS`: too many streams open; poll `GET /api/token` \
            or retry later", body = ErrorBody),
        StoreErrors))]
pub async fn stream(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = input::bearer(&request)?.to_owned();
    // The first look happens before the response starts, so a bad token is a plain 401.
    let ports = &state.ports;
    let first =
        queue_status::execute(ports.queue.as_ref(), ports.clock.as_ref(), &state.policies.queue, &token)
            .await?;
    let every = interval(&state);
    let opening = event(&first);
    let watch = matches!(first.state, TokenState::Waiting).then(|| Watch {
        state: state.into_inner(),
        token,
        last: first,
    });
    // Then one look per interval while the token waits; `None` closes the stream.
    let looks = stream::unfold(watch, move |watch| async move {
        let mut watch = watch?;
        tokio::time::sleep(every).await;
        let (ports, policy) = (&watch.state.ports, &watch.state.policies.queue);
        match queue_status::execute(ports.queue.as_ref(), ports.clock.as_ref(), policy, &watch.token).await {
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
    let frames = stream::iter([opening]).chain(looks).map(Ok::<_, ApiError>);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(frames))
}
