//! The two deadlines of a request, kept apart because they blame different sides:
//! - the client's: its whole body must arrive within `CLIENT_BODY_TIMEOUT_MS`, or the answer is
//!   408 `REQUEST_TIMEOUT` and the connection is closed. A slow or incomplete body is the
//!   client's fault; it is never answered 503 nor logged as the store being unavailable;
//! - the server's: once the body is in, the work must be done within `REQUEST_TIMEOUT_MS`, or
//!   the answer is 503 `UNAVAILABLE` and the work is dropped (a database that stops answering
//!   without closing its connections would otherwise hold the request for as long as TCP keeps
//!   the connection).
//!
//! The request head has actix-web's own limit (`client_request_timeout`, 5 s), which answers a
//! bare 408 before any of this runs.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::rt::time::timeout;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, ResponseError};
use domain::StoreError;
use futures_util::StreamExt;

use crate::errors::ApiError;
use crate::input::BODY_LIMIT;
use crate::metrics::Metrics;

/// How long each side may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// `CLIENT_BODY_TIMEOUT_MS`: from the end of the head to the end of the body.
    pub client_body: Duration,
    /// `REQUEST_TIMEOUT_MS`: from the end of the body to the answer.
    pub request: Duration,
}

/// Reads the body first, under the client's deadline, and hands it on in memory; then runs
/// the request under the server's deadline. Bodies are small (16 KiB at most), so holding one
/// costs little; one announced as larger is left to the route, which refuses it with 413 from
/// its `Content-Length` alone without waiting for it.
pub async fn enforce(
    deadlines: Deadlines,
    metrics: Metrics,
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<impl MessageBody>> {
    if !announced_too_large(&request) {
        match timeout(deadlines.client_body, read_body(request.take_payload())).await {
            Ok(Ok(body)) => request.set_payload(Payload::from(body)),
            Ok(Err(error)) => {
                let refusal = ApiError::validation(format!("the request body could not be read: {error}"));
                return Ok(request.into_response(refusal.error_response()).map_into_right_body());
            }
            Err(_) => {
                let timeout_ms = deadlines.client_body.as_millis();
                tracing::info!(timeout_ms, "request body not received in time (client fault)");
                let mut answer = ApiError::request_timeout(deadlines.client_body).error_response();
                // The rest of the body may still be on its way: the connection cannot be reused.
                answer.head_mut().set_connection_type(ConnectionType::Close);
                return Ok(request.into_response(answer).map_into_right_body());
            }
        }
    }
    // On timeout, an error rather than a response: building one needs the request, which the
    // service owns by now. actix renders it with `ApiError`'s JSON body.
    match timeout(deadlines.request, next.call(request)).await {
        Ok(answer) => {
            // A failed store answers 503 from the one error mapping; the deadline's 503 below is
            // counted apart, so one request is never both.
            if answer.as_ref().is_ok_and(|response| response.status() == StatusCode::SERVICE_UNAVAILABLE) {
                metrics.unavailable();
            }
            answer.map(ServiceResponse::map_into_left_body)
        }
        Err(_) => {
            metrics.deadline();
            let why = format!("no answer from the store within {:?}", deadlines.request);
            Err(ApiError::from(StoreError::Unavailable(why)).into())
        }
    }
}

/// Whether the body is announced as larger than any route accepts.
fn announced_too_large(request: &ServiceRequest) -> bool {
    request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<usize>().ok())
        .is_some_and(|length| length > BODY_LIMIT)
}

/// The whole body, or its first `BODY_LIMIT` bytes and a little more (a chunked body has no
/// announced length): enough for the route to see it is too large and answer 413.
async fn read_body(mut payload: Payload) -> Result<Bytes, actix_web::error::PayloadError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() > BODY_LIMIT {
            break;
        }
    }
    Ok(body.freeze())
}
