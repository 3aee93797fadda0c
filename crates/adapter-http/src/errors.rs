//! The ONE place that turns failures into HTTP: every use-case error, every input error and
//! every framework rejection becomes `{"code", "message"}` JSON with the contract's status and code.
//! Store failures are logged here, once, and never shown to the client.
//!
//! Longer than the other modules on purpose: the whole mapping is read and reviewed in one
//! place (the box office's part is in `errors/box_office.rs`).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use application::access::Forbidden;
use application::authorize::AuthorizeError;
use application::available_dates::AvailableDatesError;
use application::available_seats::AvailableSeatsError;
use application::charge_balance::ChargeBalanceError;
use application::get_balance::GetBalanceError;
use application::issue_token::IssueTokenError;
use application::list_concerts::ListConcertsError;
use application::pay::PayError;
use application::queue_status::QueueStatusError;
use application::release_hold::ReleaseHoldError;
use application::replay_keyed_retry::ReplayError;
use application::reserve_seat::ReserveSeatError;
use domain::{IdentityError, InvalidIdempotencyKey, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::input::GateRefusal;
use crate::streams::StreamRefusal;

/// `Retry-After` of 429 `STREAMS_FULL`, in seconds: streams end all the time (at admission,
/// or after half the idle timeout), and the client can poll `GET /api/token` meanwhile.
const STREAMS_FULL_RETRY_AFTER_SECONDS: u64 = 5;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `SEAT_UNAVAILABLE`.
    #[schema(example = "SEAT_UNAVAILABLE")]
    pub code: &'static str,
    /// A sentence for humans.
    pub message: String,
    /// With `QUEUE_NOT_ACTIVE` only: the caller's place in the queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
}

/// An error on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {}", body.code, body.message)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// A header the answer must carry (`Retry-After` when to come back, `Allow` after a 405).
    /// Boxed: rare, and it keeps every `Result<_, ApiError>` small.
    header: Option<Box<(HeaderName, HeaderValue)>>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { code, message: message.into(), position: None }, header: None }
    }

    /// 400 `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 401 `ADMIN_TOKEN_INVALID`: a bearer secret that is not `ADMIN_TOKEN`.
    pub fn admin_token_invalid() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "ADMIN_TOKEN_INVALID",
            "send 'Authorization: Bearer <ADMIN_TOKEN>'",
        )
    }

    /// 401 `TOKEN_MISSING`.
    pub fn token_missing() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "TOKEN_MISSING", "send 'Authorization: Bearer <queue token>'")
    }

    /// 401 `TOKEN_MISSING` where an identity token is expected (`AUTH_MODE=jwt`).
    pub fn identity_missing() -> Self {
        let message = "send 'Authorization: Bearer <identity token>' from the identity provider";
        Self::new(StatusCode::UNAUTHORIZED, "TOKEN_MISSING", message)
    }

    /// 413 `PAYLOAD_TOO_LARGE`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("bodies are limited to {limit} bytes"),
        )
    }

    /// 408 `REQUEST_TIMEOUT`: the client did not send its whole body within `limit`. Its fault,
    /// not an outage: never 503, and not logged as one.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            format!("the request body did not arrive within {} ms; send it at once", limit.as_millis()),
        )
    }

    /// 409 `IDEMPOTENCY_KEY_IN_PROGRESS`: the first request with this key is still running.
    pub fn idempotency_key_in_progress() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "IDEMPOTENCY_KEY_IN_PROGRESS",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )
    }

    /// 422 `IDEMPOTENCY_KEY_REUSED`: the key was used for a different request.
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was already used for a different request; use a new key",
        )
    }

    /// 429 `TOO_MANY_KEYS`: the user already has as many live idempotency keys as they may.
    pub fn too_many_keys() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_KEYS",
            "you have too many Idempotency-Keys from the last 24 hours; retry without a new key later, \
             or reuse the key of the request you are retrying",
        )
    }

    /// 405 `METHOD_NOT_ALLOWED` with the `Allow` header RFC 9110 requires: the methods the path
    /// does take.
    pub(crate) fn method_not_allowed(allow: &HeaderValue) -> HttpResponse {
        Self {
            header: Some(Box::new((ALLOW, allow.clone()))),
            ..Self::for_status(StatusCode::METHOD_NOT_ALLOWED)
        }
        .error_response()
    }

    /// 500 for a task that died; the cause is logged here.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "something went wrong on our side")
    }

    /// The status code, for tests and logs.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code, for tests and logs.
    pub fn code(&self) -> &'static str {
        self.body.code
    }

    /// The JSON body this error is sent with, for keeping it as an idempotent response.
    pub(crate) fn body_json(&self) -> String {
        serde_json::to_string(&self.body).unwrap_or_else(|_| {
            format!(r#"{{"code":"{}","message":"the error could not be described"}}"#, self.body.code)
        })
    }

    fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("NOT_FOUND", "no such resource"),
            StatusCode::METHOD_NOT_ALLOWED => ("METHOD_NOT_ALLOWED", "this method is not allowed here"),
            StatusCode::PAYLOAD_TOO_LARGE => ("PAYLOAD_TOO_LARGE", "the request body is too large"),
            StatusCode::REQUEST_TIMEOUT => ("REQUEST_TIMEOUT", "the request did not arrive in time"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("VALIDATION_ERROR", "send the body as application/json"),
            status if status.is_server_error() => ("INTERNAL", "something went wrong on our side"),
            _ => ("VALIDATION_ERROR", "the request is not valid"),
        };
        Self::new(status, code, message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(header) = &self.header {
            response.insert_header((**header).clone());
        }
        response.json(&self.body)
    }
}

impl From<StreamRefusal> for ApiError {
    fn from(refusal: StreamRefusal) -> Self {
        let message = refusal.to_string();
        match refusal {
            StreamRefusal::TooManyForToken(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_STREAMS", message)
            }
            // Load shedding, not an outage: the service is up and polling still works.
            StreamRefusal::InstanceFull => Self {
                header: Some(Box::new((RETRY_AFTER, HeaderValue::from(STREAMS_FULL_RETRY_AFTER_SECONDS)))),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "STREAMS_FULL", message)
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %error, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the service is busy or down; retry shortly",
                )
            }
            StoreError::Internal(_) => Self::internal(&error),
            // The request's claim on its key lapsed and a retry took the key over: that retry
            // decides the answer, this one wrote nothing.
            StoreError::ClaimSuperseded => Self::idempotency_key_in_progress(),
        }
    }
}

impl From<InvalidIdempotencyKey> for ApiError {
    fn from(error: InvalidIdempotencyKey) -> Self {
        Self::validation(format!("Idempotency-Key: {error}"))
    }
}

impl From<Forbidden> for ApiError {
    fn from(error: Forbidden) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", error.to_string())
    }
}

impl From<GateRefusal<'_>> for ApiError {
    fn from(refusal: GateRefusal<'_>) -> Self {
        match refusal {
            GateRefusal::NoToken(error) => error,
            GateRefusal::Refused { why, .. } => why.into(),
        }
    }
}

impl From<ReplayError> for ApiError {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::Store(store) => store.into(),
        }
    }
}

impl From<AuthorizeError> for ApiError {
    fn from(error: AuthorizeError) -> Self {
        let message = error.to_string();
        match error {
            AuthorizeError::Invalid => Self::new(StatusCode::UNAUTHORIZED, "TOKEN_INVALID", message),
            AuthorizeError::Expired => Self::new(StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED", message),
            AuthorizeError::NotActive { position } => {
                let mut api = Self::new(StatusCode::FORBIDDEN, "QUEUE_NOT_ACTIVE", message);
                api.body.position = Some(position);
                api
            }
            AuthorizeError::Store(store) => store.into(),
        }
    }
}

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> Self {
        let code = if error == IdentityError::Expired { "IDENTITY_EXPIRED" } else { "IDENTITY_INVALID" };
        Self::new(StatusCode::UNAUTHORIZED, code, error.to_string())
    }
}

impl From<IssueTokenError> for ApiError {
    fn from(error: IssueTokenError) -> Self {
        match error {
            IssueTokenError::InvalidUserId(invalid) => Self::validation(format!("userId: {invalid}")),
            IssueTokenError::MissingUserId => Self::validation("userId: is required"),
            IssueTokenError::OtherUser => Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", error.to_string()),
            IssueTokenError::Store(store) => store.into(),
        }
    }
}

impl From<QueueStatusError> for ApiError {
    fn from(error: QueueStatusError) -> Self {
        match error {
            QueueStatusError::Invalid => AuthorizeError::Invalid.into(),
            QueueStatusError::Store(store) => store.into(),
        }
    }
}

impl From<ListConcertsError> for ApiError {
    fn from(error: ListConcertsError) -> Self {
        match error {
            ListConcertsError::Store(store) => store.into(),
        }
    }
}

impl From<AvailableDatesError> for ApiError {
    fn from(error: AvailableDatesError) -> Self {
        match error {
            AvailableDatesError::ConcertNotFound => Self::not_found(error.to_string()),
            AvailableDatesError::Store(store) => store.into(),
        }
    }
}

impl From<AvailableSeatsError> for ApiError {
    fn from(error: AvailableSeatsError) -> Self {
        let message = error.to_string();
        match error {
            AvailableSeatsError::MissingSelector | AvailableSeatsError::AmbiguousDate => {
                Self::validation(message)
            }
            AvailableSeatsError::NotFound => Self::not_found(message),
            AvailableSeatsError::Store(store) => store.into(),
        }
    }
}

impl From<ReserveSeatError> for ApiError {
    fn from(error: ReserveSeatError) -> Self {
        let message = error.to_string();
        match error {
            ReserveSeatError::Forbidden(forbidden) => forbidden.into(),
            ReserveSeatError::SeatNotFound => Self::not_found(message),
            ReserveSeatError::SeatUnavailable => Self::new(StatusCode::CONFLICT, "SEAT_UNAVAILABLE", message),
            ReserveSeatError::SalesNotOpen { .. } => {
                Self::new(StatusCode::CONFLICT, "SALES_NOT_OPEN", message)
            }
            ReserveSeatError::HoldLimitReached => {
                Self::new(StatusCode::CONFLICT, "HOLD_LIMIT_REACHED", message)
            }
            ReserveSeatError::Store(store) => store.into(),
        }
    }
}

impl From<ReleaseHoldError> for ApiError {
    fn from(error: ReleaseHoldError) -> Self {
        let message = error.to_string();
        match error {
            ReleaseHoldError::NotFound => Self::not_found(message),
            ReleaseHoldError::Paid => Self::new(StatusCode::CONFLICT, "RESERVATION_PAID", message),
            ReleaseHoldError::Expired => Self::new(StatusCode::CONFLICT, "RESERVATION_EXPIRED", message),
            ReleaseHoldError::Store(store) => store.into(),
        }
    }
}

impl From<ChargeBalanceError> for ApiError {
    fn from(error: ChargeBalanceError) -> Self {
        let message = error.to_string();
        match error {
            ChargeBalanceError::InvalidAmount => Self::validation(format!("amount: {message}")),
            ChargeBalanceError::Forbidden(forbidden) => forbidden.into(),
            ChargeBalanceError::UserNotFound => Self::not_found(message),
            ChargeBalanceError::BalanceLimitExceeded => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "BALANCE_LIMIT_EXCEEDED", message)
            }
            ChargeBalanceError::Store(store) => store.into(),
        }
    }
}

impl From<GetBalanceError> for ApiError {
    fn from(error: GetBalanceError) -> Self {
        match error {
            GetBalanceError::Forbidden(forbidden) => forbidden.into(),
            GetBalanceError::UserNotFound => Self::not_found(error.to_string()),
            GetBalanceError::Store(store) => store.into(),
        }
    }
}

impl From<PayError> for ApiError {
    fn from(error: PayError) -> Self {
        let message = error.to_string();
        match (&error, pay_refusal(&error)) {
            (PayError::TokenExpired, _) => AuthorizeError::Expired.into(),
            (PayError::InvalidAmount, _) => Self::validation(format!("paymentAmount: {message}")),
            (_, Ok((status, code))) => Self::new(status, code, message),
            (_, Err(store)) => store.clone().into(),
        }
    }
}

/// The status and code a refused payment is answered with (each one of
/// `metrics::REFUSALS`, the label values it is counted by), or the store error that failed it.
pub(crate) fn pay_refusal(error: &PayError) -> Result<(StatusCode, &'static str), &StoreError> {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(match error {
        PayError::TokenExpired => (StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED"),
        PayError::InvalidAmount => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        PayError::ReservationNotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        PayError::NotPayable => (StatusCode::CONFLICT, "RESERVATION_NOT_PAYABLE"),
        PayError::Expired => (StatusCode::CONFLICT, "RESERVATION_EXPIRED"),
        PayError::AmountMismatch => (unprocessable, "PAYMENT_AMOUNT_MISMATCH"),
        PayError::InsufficientBalance => (unprocessable, "INSUFFICIENT_BALANCE"),
        PayError::Store(store) => return Err(store),
    })
}

/// Safety net for responses the framework builds itself (no route, wrong method, oversized
/// body…): any error response that is not already our JSON gets a JSON body for its status.
pub fn json_fallback<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let status = response.status();
    let (request, _) = response.into_parts();
    let mut replacement = ApiError::for_status(status).error_response();
    replacement.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let replacement: HttpResponse<BoxBody> = replacement;
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(request, replacement).map_into_right_body::<B>()))
}

mod box_office;
#[cfg(test)]
mod tests;
