//! The OpenAPI document, served at `/api-docs/openapi.json` and browsable at `/docs` (Swagger UI
//! bundled into the binary, so it works without internet access).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::errors::ErrorBody;
use crate::routes::{concerts, payments, reservations, system, token, token_stream, wallet};

/// How the `Idempotency-Key` header of the three writing POSTs works.
pub(crate) const IDEMPOTENCY_KEY_DOC: &str = "Optional; 1-255 visible ASCII characters (400 \
VALIDATION_ERROR otherwise), scoped to the token's user. The first request with a key runs and its \
response (status and body, 2xx and 4xx alike; never 5xx) is kept for 24 hours; a retry with the same \
key and the same request (method, path and body bytes) gets that response again with the header \
`Idempotent-Replayed: true` and changes nothing, even when the retry's token has since expired; the \
same key with another request is 422 IDEMPOTENCY_KEY_REUSED; a retry while the first request still \
runs is 409 IDEMPOTENCY_KEY_IN_PROGRESS. Without the header nothing is deduplicated.";

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "frontrow", description = "Concert seat reservations behind a virtual waiting room."),
    paths(
        token::issue, token::status, token_stream::stream,
        concerts::list, concerts::dates, concerts::seats,
        reservations::reserve,
        wallet::charge, wallet::balance,
        payments::pay,
        system::health, system::ready,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerToken),
    tags(
        (name = "queue", description = "The waiting room"),
        (name = "catalogue", description = "Concerts, dates and free seats"),
        (name = "booking", description = "Holding and paying for seats"),
        (name = "wallet", description = "The prepaid balance"),
        (name = "system", description = "Probes"),
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("queue token").build(),
            ),
        );
    }
}
