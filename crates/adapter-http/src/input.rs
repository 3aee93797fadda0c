//! Reading requests strictly: JSON bodies, query strings, path ids and the bearer token. Every
//! rejection is an [`ApiError`] with the contract's code, never the framework's default page.

use std::future::Future;

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use application::authorize::{self, AuthorizeError, Authorized};
use application::issue_token::Caller;
use domain::UserId;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::errors::ApiError;
use crate::state::HttpState;

/// Largest JSON body accepted; every request body of the API is a few dozen bytes.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Parses a JSON body. A `Content-Type` other than JSON is refused (a missing one is accepted,
/// for minimal clients). Ids and amounts are read by [`json_integer`], so `1.5`, `1e30`, `"100"`,
/// `null` and integers past 64 bits are refused here; unknown fields are ignored (additive evolution).
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

/// Reads an id or amount of a JSON body (`#[serde(deserialize_with = "input::json_integer")]`).
/// JSON Schema, and so the OpenAPI document's `integer`, counts every number with a zero
/// fractional part as an integer: `58.0` and `5.8e1` are the integer 58, as for any client or
/// validator that follows the document. `1.5`, `"58"`, `null`, `true` and anything past 64 bits
/// are refused. It is decided on the literal's digits, never through a float, so no rounding
/// can turn `1.0000000000000000001` into 1 or pass a 20-digit id.
pub fn json_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let raw = <&RawValue>::deserialize(deserializer)?;
    whole_number(raw.get()).ok_or_else(|| {
        let literal: String = raw.get().chars().take(40).collect();
        D::Error::custom(format!("expected a 64-bit integer, got {literal}"))
    })
}

/// An optional body field that, when present, is read by [`json_integer`]: `null` is refused
/// like `"1"` (`#[serde(default, deserialize_with = "input::optional_json_integer")]`).
pub fn optional_json_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    json_integer(deserializer).map(Some)
}

/// The integer a JSON value's text spells, if it is a number with no fractional part that fits
/// in 64 bits. serde_json has already checked the grammar: `-? digits (. digits)? (e [+-]? digits)?`.
fn whole_number(literal: &str) -> Option<i64> {
    if let Ok(plain) = literal.parse::<i64>() {
        return Some(plain);
    }
    if !literal.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return None; // a string, `null`, `true`, an array or an object
    }
    let (mantissa, exponent) = match literal.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (literal, 0),
    };
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |rest| ("-", rest));
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The value is `digits` × 10^`shift`.
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let shift = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    let integer = if shift >= 0 {
        let zeros = usize::try_from(shift).ok()?;
        if digits.is_empty() {
            return Some(0);
        }
        // i64 has at most 19 digits; longer overflows (and is never built).
        if zeros.checked_add(digits.len())? > 19 {
            return None;
        }
        format!("{digits}{}", "0".repeat(zeros))
    } else {
        let cut = usize::try_from(shift.unsigned_abs()).ok()?;
        let (kept, dropped) = digits.split_at(digits.len().saturating_sub(cut));
        if dropped.bytes().any(|digit| digit != b'0') {
            return None;
        }
        if kept.is_empty() {
            return Some(0);
        }
        kept.to_owned()
    };
    format!("{sign}{integer}").parse().ok()
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

/// An id as the contract writes it in a query string or a path: decimal digits, maybe after a
/// minus, within 64 bits. `str::parse` alone would also take `+58` for 58.
fn plain_id(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Reads a query-string id with [`plain_id`] (`#[serde(deserialize_with = "input::query_id")]`).
pub fn query_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let text = String::deserialize(deserializer)?;
    plain_id(&text).ok_or_else(|| {
        let shown: String = text.chars().take(40).collect();
        D::Error::custom(format!("expected a 64-bit integer in plain digits, got {shown:?}"))
    })
}

/// An optional query id, read by [`query_id`] when present
/// (`#[serde(default, deserialize_with = "input::optional_query_id")]`).
pub fn optional_query_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    query_id(deserializer).map(Some)
}

/// A numeric path segment; anything else names nothing, so it is 404 (the contract).
pub fn path_id(request: &HttpRequest, name: &str) -> Result<i64, ApiError> {
    request
        .match_info()
        .get(name)
        .and_then(plain_id)
        .ok_or_else(|| ApiError::not_found(format!("no such {name}")))
}

/// The token text of `Authorization: Bearer <token>`; absent or not of that form is 401
/// `TOKEN_MISSING` (the contract).
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

/// The one token gate, of every endpoint that needs an ACTIVE token: its holder, or why not.
pub async fn gate<'r>(state: &HttpState, request: &'r HttpRequest) -> Result<Authorized, GateRefusal<'r>> {
    let token = bearer(request).map_err(GateRefusal::NoToken)?;
    let ports = &state.ports;
    let (queue, clock, seal) = (ports.store.queue.as_ref(), ports.clock.as_ref(), ports.seal.as_ref());
    authorize::execute(queue, clock, seal, &state.policies.queue, token)
        .await
        .map_err(|why| GateRefusal::Refused { token, why })
}

/// The gate of a fan's own bookings: whoever holds the bearer token, in whatever state it is
/// (waiting, active, or ended and not yet forgotten; see `authorize::identify`), so a fan sees
/// and gives back their bookings at any point of their visit, after paying too.
pub async fn holder(state: &HttpState, request: &HttpRequest) -> Result<UserId, ApiError> {
    let token = bearer(request)?;
    let ports = &state.ports;
    Ok(authorize::identify(ports.store.queue.as_ref(), ports.seal.as_ref(), token).await?)
}

/// Why [`gate`] refused: answered as its [`ApiError`], except that a keyed write may still
/// replay its first answer to a retry whose token was refused (see the `idempotency` module).
#[derive(Debug)]
pub enum GateRefusal<'r> {
    /// No bearer token was sent.
    NoToken(ApiError),
    /// The token sent, and the gate's verdict on it.
    Refused {
        /// The bearer text.
        token: &'r str,
        /// Why it may not act.
        why: AuthorizeError,
    },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_with_no_fractional_part_is_the_integer_it_spells() {
        let cases = [
            ("58", 58),
            ("58.0", 58),
            ("5.8e1", 58),
            ("580E-1", 58),
            ("0.1e1", 1),
            ("1e3", 1_000),
            ("-0.0", 0),
            ("0e999999999999", 0),
            ("-7.000", -7),
            ("9223372036854775807.0", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("-92233720368547758.08e2", i64::MIN),
        ];
        for (literal, value) in cases {
            assert_eq!(whole_number(literal), Some(value), "{literal}");
        }
    }

    #[test]
    fn fractions_values_past_64_bits_and_non_numbers_are_refused() {
        let cases = [
            "1.5",
            "1e-1",
            "1.0000000000000000001",
            "1e30",
            "1e999999999999999999999",
            "9223372036854775808",
            "9223372036854775808.0",
            "-9223372036854775809",
            "\"58\"",
            "null",
            "true",
            "[1]",
            "{}",
        ];
        for literal in cases {
            assert_eq!(whole_number(literal), None, "{literal}");
        }
    }

    #[test]
    fn a_body_field_read_as_a_json_integer_takes_58_point_0_and_refuses_1_point_5() {
        #[derive(Debug, Deserialize)]
        struct Body {
            #[serde(deserialize_with = "json_integer")]
            id: i64,
        }
        let read = |text: &str| serde_json::from_str::<Body>(text).map(|body| body.id);
        assert_eq!(read(r#"{"id": 58.0}"#).ok(), Some(58));
        let refused = read(r#"{"id": 1.5}"#).map_err(|error| error.to_string());
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("expected a 64-bit integer, got 1.5")),
            "{refused:?}"
        );
    }

    #[test]
    fn a_query_or_path_id_is_plain_digits_maybe_after_a_minus() {
        assert_eq!(plain_id("58"), Some(58));
        assert_eq!(plain_id("-1"), Some(-1));
        assert_eq!(plain_id("-9223372036854775808"), Some(i64::MIN));
        for text in ["+58", "58.0", "5e1", " 58", "58 ", "", "-", "--1", "9223372036854775808", "٥٨"] {
            assert_eq!(plain_id(text), None, "{text:?}");
        }
    }
}
