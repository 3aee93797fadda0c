//! The OpenAPI document, served at `/api-docs/openapi.json` and browsable at `/docs` (Swagger UI
//! bundled into the binary, so it works without internet access).
//!
//! It is a contract a generated client can rely on, and `make test-contract` holds the server to
//! it with schemathesis: every operation lists every status it can answer, each error with the
//! `{"code","message"}` schema; ids and amounts carry the ranges the server accepts; headers the
//! constraints the server checks. The error groups below keep those lists in one place.

use std::collections::BTreeMap;

use utoipa::openapi::schema::{Object, OneOfBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder, Schema};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

use crate::errors::ErrorBody;
use crate::routes::token::TokenResponse;
use crate::routes::{
    admin, concerts, payments, performances, reservations, seat_map, system, token, token_stream, wallet,
};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "frontrow", description = "Concert seat reservations behind a virtual waiting room."),
    paths(
        token::issue, token::status, token_stream::stream,
        concerts::list, concerts::dates, concerts::seats, performances::seats,
        reservations::reserve, reservations::list, reservations::release,
        wallet::charge, wallet::balance,
        payments::pay,
        admin::import, admin::refund, admin::admission, admin::control, admin::sales,
        seat_map::seats, seat_map::reprice, seat_map::remove, seat_map::cancel,
        system::health, system::ready,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerToken),
    tags(
        (name = "queue", description = "The waiting room"),
        (name = "catalogue", description = "Concerts, dates and free seats"),
        (name = "booking", description = "Holding and paying for seats"),
        (name = "wallet", description = "The prepaid balance"),
        (name = "box office", description = "For operators, with `Authorization: Bearer <ADMIN_TOKEN>`; \
            404 when `ADMIN_TOKEN` is not set"),
        (name = "system", description = "Probes"),
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("ADMIN_TOKEN").build(),
            ),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("queue token").build(),
            ),
        );
    }
}

/// The optional `Idempotency-Key` header of the three writing POSTs, declared as
/// `domain::IdempotencyKey` checks it.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code, reason = "describes the header to the document; the handlers read it themselves")]
pub(crate) struct IdempotencyKeyHeader {
    /// Optional; 1-255 visible ASCII characters (400 VALIDATION_ERROR otherwise), scoped to the
    /// token's user. The first request with a key runs and its response (status and body, 2xx
    /// and 4xx alike; never 5xx) is kept for 24 hours; a retry with the same key and the same
    /// request (method, path and body bytes) gets that response again with the header
    /// `Idempotent-Replayed: true` and changes nothing, even when the retry's token has since
    /// expired; the same key with another request is 422 IDEMPOTENCY_KEY_REUSED; a retry while
    /// the first request still runs is 409 IDEMPOTENCY_KEY_IN_PROGRESS; too many live keys of
    /// one user is 429 TOO_MANY_KEYS. Without the header nothing is deduplicated.
    #[param(rename = "Idempotency-Key", value_type = String, required = false,
        min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    key: Option<String>,
}

/// The concert of a catalogue or booking path. Any other segment names nothing: 404.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code, reason = "describes the path to the document; the handlers read it themselves")]
pub(crate) struct ConcertPath {
    /// A concert id from `GET /api/concerts`.
    #[param(minimum = 1)]
    concert_id: i64,
}

/// An error answer: `{"code","message"}` JSON (with `position` for `QUEUE_NOT_ACTIVE`).
fn errors<const N: usize>(list: [(&str, &str); N]) -> BTreeMap<String, RefOr<Response>> {
    let body = Content::new(Some(Ref::from_schema_name(ErrorBody::name())));
    list.into_iter()
        .map(|(status, description)| {
            let response =
                ResponseBuilder::new().description(description).content("application/json", body.clone());
            (status.to_owned(), RefOr::T(response.build()))
        })
        .collect()
}

/// The 401 of the operations that look a token up without the gate: an expired token is no error
/// there (it is answered with `"status": "EXPIRED"`).
pub(crate) const UNKNOWN_TOKEN: &str =
    "`TOKEN_MISSING` (no `Authorization: Bearer <token>`) or `TOKEN_INVALID` (an unknown token)";

const INTERNAL: &str = "`INTERNAL`: an unexpected failure on our side (logged); nothing was changed";
const UNAVAILABLE: &str = "`UNAVAILABLE`: the store did not answer in time or is down; retry shortly";

/// The answers of any operation that reads or writes the store: 500 and 503.
pub(crate) struct StoreErrors;

impl IntoResponses for StoreErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        errors([("500", INTERNAL), ("503", UNAVAILABLE)])
    }
}

/// The answers of an operation behind the token gate: 401, 403, and the store's 500 and 503.
pub(crate) struct GatedErrors;

impl IntoResponses for GatedErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        errors([
            (
                "401",
                "`TOKEN_MISSING` (no `Authorization: Bearer <token>`), `TOKEN_INVALID` (an unknown token) or \
                 `TOKEN_EXPIRED` (paid, timed out or dropped: ask for a new token)",
            ),
            (
                "403",
                "`QUEUE_NOT_ACTIVE`: the token is still waiting, and `position` is its place in the queue; \
                 or `FORBIDDEN`: the request names another user than the token's",
            ),
            ("500", INTERNAL),
            ("503", UNAVAILABLE),
        ])
    }
}

/// The answers of an operation open to any token of its holder (a fan's own bookings): 401, and
/// the store's 500 and 503.
pub(crate) struct HolderErrors;

impl IntoResponses for HolderErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        errors([("401", UNKNOWN_TOKEN), ("500", INTERNAL), ("503", UNAVAILABLE)])
    }
}

/// The answers of a box-office operation: 401, 404 (box office off), and the store's 500 and 503.
pub(crate) struct AdminErrors;

impl IntoResponses for AdminErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        errors([
            ("401", "`TOKEN_MISSING` (no `Authorization: Bearer`) or `ADMIN_TOKEN_INVALID`"),
            (
                "404",
                "`NOT_FOUND`: the box office is off (`ADMIN_TOKEN` is not set), or what the path names does not exist",
            ),
            ("500", INTERNAL),
            ("503", UNAVAILABLE),
        ])
    }
}

/// The answers of an operation that reads a JSON body: 400, 408 and 413.
pub(crate) struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        errors([
            (
                "400",
                "`VALIDATION_ERROR`: the body is not a JSON object of the documented fields and ranges (ids \
                 and amounts are JSON integers: `1.5`, `\"1\"` and `null` are refused), or a header breaks \
                 its documented constraints",
            ),
            ("408", "`REQUEST_TIMEOUT`: the body did not arrive in time"),
            ("413", "`PAYLOAD_TOO_LARGE`: bodies are limited to 16 KiB"),
        ])
    }
}

/// The 429 of the writing POSTs that take an `Idempotency-Key`.
pub(crate) struct KeyLimit;

impl IntoResponses for KeyLimit {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        errors([("429", "`TOO_MANY_KEYS`: this user holds too many live idempotency keys; retry later")])
    }
}

/// One Server-Sent Event of `GET /api/token/stream`, as an SSE parser reads it (`event` and
/// `data` fields; `:` heartbeat lines are comments, not events): `status` events carry the JSON
/// of `GET /api/token`, a last `error` event the error JSON.
pub(crate) struct TokenEvent;

impl TokenEvent {
    fn event(name: &str, data: &str, description: &str) -> Object {
        let json = Object::builder()
            .schema_type(Type::String)
            .content_media_type("application/json")
            .content_schema(Some(Ref::from_schema_name(data)));
        Object::builder()
            .description(Some(description))
            .property("event", Object::builder().schema_type(Type::String).enum_values(Some([name])))
            .property("data", json)
            .required("event")
            .required("data")
            .build()
    }
}

impl PartialSchema for TokenEvent {
    fn schema() -> RefOr<Schema> {
        let events = OneOfBuilder::new()
            .item(Self::event("status", &TokenResponse::name(), "the token's state"))
            .item(Self::event("error", &ErrorBody::name(), "the stream failed and ends"));
        RefOr::T(Schema::OneOf(events.build()))
    }
}

impl ToSchema for TokenEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((TokenResponse::name().into(), TokenResponse::schema()));
        schemas.push((ErrorBody::name().into(), ErrorBody::schema()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> serde_json::Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
    }

    #[test]
    fn the_idempotency_key_header_allows_exactly_the_keys_the_domain_accepts() {
        let doc = document();
        let key = &doc["paths"]["/api/charge"]["post"]["parameters"][0];
        assert_eq!(key["name"], "Idempotency-Key", "{key}");
        assert_eq!(key["schema"]["maxLength"], domain::idempotency::MAX_KEY_LENGTH, "{key}");
        assert_eq!(key["schema"]["minLength"], 1, "{key}");
        // `[!-~]` is visible ASCII, 0x21 to 0x7E: what the domain accepts.
        assert_eq!(key["schema"]["pattern"], "^[!-~]+$", "{key}");
        for (text, visible_ascii) in
            [("!", true), ("a-Z_~9", true), ("a b", false), ("\u{7f}", false), ("é", false)]
        {
            assert_eq!(domain::IdempotencyKey::parse(text).is_ok(), visible_ascii, "{text:?}");
        }
    }

    #[test]
    fn every_referenced_schema_is_in_the_document() {
        let doc = document();
        let text = serde_json::to_string(&doc).unwrap_or_default();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(doc["components"]["schemas"][name].is_object(), "{name} is referenced but missing");
        }
    }
}
