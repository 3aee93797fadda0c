//! `POST /api/token` and `GET /api/token`: entering and watching the waiting room.

use actix_web::{HttpRequest, HttpResponse, web};
use application::issue_token::{self, Caller, IssueToken};
use application::queue_status::{self, TokenView};
use domain::TokenState;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorBody};
use crate::input;
use crate::openapi::{BodyErrors, StoreErrors, UNKNOWN_TOKEN};
use crate::state::HttpState;

/// Body of `POST /api/token`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueTokenRequest {
    /// The fan; a new id creates the user with a zero balance. Required with `AUTH_MODE=none`.
    /// With `AUTH_MODE=jwt` the identity token says who asks: leave it out (or the whole body),
    /// or send that same user's id (another is 403 `FORBIDDEN`).
    #[schema(example = 1, minimum = 1, nullable = false)]
    #[serde(default, deserialize_with = "input::optional_json_integer")]
    pub user_id: Option<i64>,
}

/// A queue token as its holder sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// Whose token.
    pub user_id: i64,
    /// The bearer secret for `Authorization: Bearer …`.
    pub token: String,
    /// `WAITING`, `ACTIVE` or `EXPIRED`.
    #[schema(example = "WAITING")]
    pub status: &'static str,
    /// Waiting tokens ahead plus one; 0 once active.
    pub position: u64,
    /// Expected wait before admission, in seconds.
    pub estimated_wait_seconds: i64,
    /// The box office paused admission: nobody is let in until it resumes, and waiting fans
    /// keep their places. Only ever true for a waiting token.
    pub paused: bool,
    /// When an active token stops being active; null while waiting.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

impl From<TokenView> for TokenResponse {
    fn from(view: TokenView) -> Self {
        let (status, expires_at) = match view.state {
            TokenState::Waiting => ("WAITING", None),
            TokenState::Active { expires_at } => ("ACTIVE", Some(expires_at)),
            TokenState::Expired => ("EXPIRED", view.token.expires_at),
        };
        Self {
            user_id: view.token.user_id.get(),
            token: view.text,
            status,
            position: view.position,
            estimated_wait_seconds: view.estimated_wait.whole_seconds(),
            paused: view.paused,
            expires_at,
        }
    }
}

/// Take a place in the waiting room. One token per user: asking again while waiting or active
/// returns the same token and place; after expiry a new token joins at the back. With
/// `AUTH_MODE=jwt` the request carries `Authorization: Bearer <identity token>` from the
/// identity provider, and the token is issued to the user it proves.
#[utoipa::path(post, path = "/api/token", operation_id = "issueToken",
    tag = "queue", request_body = IssueTokenRequest,
    responses((status = 200, body = TokenResponse),
        (status = 401, description = "With `AUTH_MODE=jwt`: `TOKEN_MISSING` (no identity token), \
            `IDENTITY_EXPIRED`, `IDENTITY_INVALID`", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: the identity token names another user", body = ErrorBody),
        BodyErrors, StoreErrors))]
pub async fn issue(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = input::caller(&state, &request)?;
    let request: IssueTokenRequest = match caller {
        // The identity token says who asks, so a bare `curl -XPOST` with no body will do.
        Caller::Verified(_) if body.is_empty() => IssueTokenRequest::default(),
        _ => input::json(&request, &body)?,
    };
    let ports = &state.ports;
    let view = issue_token::execute(
        ports.store.queue.as_ref(),
        ports.mint.as_ref(),
        ports.seal.as_ref(),
        ports.clock.as_ref(),
        &state.policies.queue,
        IssueToken { caller, user_id: request.user_id },
    )
    .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(view)))
}

/// Poll the token: status, place and expected wait. Polling keeps a waiting place alive.
#[utoipa::path(get, path = "/api/token", operation_id = "tokenStatus",
    tag = "queue", security(("bearer" = [])),
    responses((status = 200, body = TokenResponse),
        (status = 401, description = UNKNOWN_TOKEN, body = ErrorBody), StoreErrors))]
pub async fn status(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = input::bearer(&request)?;
    let ports = &state.ports;
    let view = queue_status::execute(
        ports.store.queue.as_ref(),
        ports.clock.as_ref(),
        ports.seal.as_ref(),
        &state.policies.queue,
        token,
    )
    .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(view)))
}
