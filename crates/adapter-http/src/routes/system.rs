//! `GET /health` (liveness) and `GET /ready` (readiness: the store answers).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::errors::ApiError;
use crate::openapi::StoreErrors;
use crate::state::HttpState;

/// A probe answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeResponse {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/health", operation_id = "health",
    tag = "system", responses((status = 200, body = ProbeResponse)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(ProbeResponse { status: "ok" })
}

/// The process can reach its store; 503 `UNAVAILABLE` when it cannot.
#[utoipa::path(get, path = "/ready", operation_id = "ready", tag = "system",
    responses((status = 200, body = ProbeResponse), StoreErrors))]
pub async fn ready(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    state.ports.store.health.ping().await?;
    Ok(HttpResponse::Ok().json(ProbeResponse { status: "ready" }))
}
