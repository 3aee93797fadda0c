//! Reading requests strictly: JSON bodies, query strings, path ids and the bearer token. Every
//! rejection is an [`ApiError`] with SPEC's code, never the framework's default page.

use std::future::Future;

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use application::authorize::{self, Authorized};
use application::issue_token::Caller;
use serde::de::DeserializeOwned;

use crate::errors::ApiError;
use crate::state::HttpState;

/// Largest JSON body accepted; every request body of the API is a few dozen bytes.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Parses a JSON body. A `Content-Type` other than JSON is refused (a missing one is accepted,
/// for minimal clients). Ids and amounts are `i64` fields, so `1.5`, `1e30`, `"100"`, `null`
/// and integers past 64 bits are refused here; unknown fields are ignored (additive evolution).
/// The body must be UTF-8 and an object: serde would otherwise skip an unknown field's string
/// without checking its bytes, and read a JSON array into the request field by field.
pub fn json<T: DeserializeOwned>(request: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    let content_type = request.headers().get(CONTENT_TYPE).map(|value| value.to_str().unwrap_or("?"));
    if let Some(content_type) = content_type {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/json"
            && !(essence.starts_with("application/") && essence.ends_with("+json"))
        {
            return Err(ApiError::validation("send the body as Content-Type: application/json"));
        }
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::validation("the body is not UTF-8 JSON"))?;
    if !text.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('{') {
        return Err(ApiError::validation("the body must be a JSON object"));
    }
    serde_json::from_str(text).map_err(|error| ApiError::validation(format!("invalid JSON body: {error}")))
}

/// Parses the query string into `T`.
pub fn query<T: DeserializeOwned>(request: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded_query(request.query_string())
}

fn serde_urlencoded_query<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    actix_web::web::Query::<T>::from_query(text)
        .map(actix_web::web::Query::into_inner)
        .map_err(|error| ApiError::validation(format!("invalid query string: {error}")))
}

/// A numeric path segment; anything else names nothing, so it is 404 (SPEC).
pub fn path_id(request: &HttpRequest, name: &str) -> Result<i64, ApiError> {
    request
        .match_info()
        .get(name)
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| ApiError::not_found(format!("no such {name}")))
}

/// The token text of `Authorization: Bearer <token>`; absent or not of that form is 401
/// `TOKEN_MISSING` (SPEC).
pub fn bearer(request: &HttpRequest) -> Result<&str, ApiError> {
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(ApiError::token_missing)
}

/// Who asks for a queue token: with `AUTH_MODE=jwt`, the user the bearer identity token
/// proves (no identity token is 401 `TOKEN_MISSING`, one that proves nobody 401
/// `IDENTITY_INVALID`/`IDENTITY_EXPIRED`); otherwise an unverified caller.
pub fn caller(state: &HttpState, request: &HttpRequest) -> Result<Caller, ApiError> {
    let Some(verifier) = &state.identity else { return Ok(Caller::Unverified) };
    let credential = bearer(request).map_err(|_| ApiError::identity_missing())?;
    Ok(Caller::Verified(verifier.verify(credential)?))
}

/// The token gate of every booking endpoint: an ACTIVE token or a 401/403.
pub async fn gate(state: &HttpState, request: &HttpRequest) -> Result<Authorized, ApiError> {
    let token = bearer(request)?;
    let ports = &state.ports;
    Ok(authorize::execute(ports.queue.as_ref(), ports.clock.as_ref(), &state.policies.queue, token).await?)
}

/// Runs a writing use case on its own task so it finishes even if the client disconnects and
/// actix drops the handler: a vanished client never leaves half-done work behind.
pub async fn to_completion<T, E>(
    work: impl Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match tokio::spawn(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(join_error) => Err(ApiError::internal(&join_error)),
    }
}
