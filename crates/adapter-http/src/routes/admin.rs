//! The box office, for operators (`ADMIN_TOKEN`): `POST /admin/catalogue` loads or updates
//! concerts from the catalogue file's JSON; `POST /admin/payments/{paymentId}/refund` gives a
//! paid seat's money back.

use actix_web::{HttpRequest, HttpResponse, web};
use application::import_catalogue;
use application::refund_payment::{self, RefundPayment};
use domain::Refund;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::admin;
use crate::errors::{ApiError, ErrorBody};
use crate::input;
use crate::openapi::AdminErrors;
use crate::state::HttpState;

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportResponse {
    /// Concerts loaded whole.
    pub concerts_added: u32,
    /// Performances added to concerts that were there already.
    pub performances_added: u32,
}

/// A refund.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundResponse {
    /// The payment refunded.
    pub payment_id: i64,
    /// Its reservation, now `REFUNDED`; its seat is on sale again.
    pub reservation_id: i64,
    /// Who got the money back.
    pub user_id: i64,
    /// How much, in won.
    pub amount: i64,
    /// Their balance after it.
    pub current_balance: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub refunded_at: OffsetDateTime,
}

impl From<Refund> for RefundResponse {
    fn from(refund: Refund) -> Self {
        Self {
            payment_id: refund.payment_id.get(),
            reservation_id: refund.reservation_id.get(),
            user_id: refund.user_id.get(),
            amount: refund.amount.get(),
            current_balance: refund.balance_after.won().get(),
            refunded_at: refund.refunded_at,
        }
    }
}

/// The payment of a refund path. Any other segment names nothing: 404.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code, reason = "describes the path to the document; the handler reads it itself")]
pub(crate) struct PaymentPath {
    /// A payment id (`paymentId` of `POST /api/pay`).
    #[param(minimum = 1)]
    payment_id: i64,
}

/// Load or update concerts from the catalogue file's JSON (`docs/catalogue.md`), whole or not at
/// all. Loading the same file again changes nothing.
#[utoipa::path(post, path = "/admin/catalogue", operation_id = "importCatalogue",
    tag = "box office", security(("admin" = [])),
    request_body(content = Object, description = "The catalogue file (`docs/catalogue.md`)"),
    responses(
        (status = 200, body = ImportResponse),
        (status = 400, description = "`VALIDATION_ERROR`: the file's first fault, with its line or field", body = ErrorBody),
        (status = 408, description = "`REQUEST_TIMEOUT`: the body did not arrive in time", body = ErrorBody),
        (status = 409, description = "`SEATS_CHANGED`: a loaded performance would get other seats", body = ErrorBody),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: bodies are limited to 16 KiB", body = ErrorBody),
        AdminErrors))]
pub async fn import(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::validation("the body is not UTF-8"))?;
    let concerts = catalogue_file::parse(text, state.ports.clock.now())?;
    let imported = input::to_completion(async move {
        import_catalogue::execute(state.ports.catalogue.as_ref(), &concerts).await
    })
    .await?;
    let response = ImportResponse {
        concerts_added: imported.concerts_added,
        performances_added: imported.performances_added,
    };
    Ok(HttpResponse::Ok().json(response))
}

/// Refund a payment: the money back to the payer's balance (with its ledger entry), the seat on
/// sale again at once on every instance, the reservation `REFUNDED`. Exactly once: a second
/// refund is 409.
#[utoipa::path(post, path = "/admin/payments/{paymentId}/refund", operation_id = "refundPayment",
    tag = "box office", security(("admin" = [])), params(PaymentPath),
    responses(
        (status = 200, body = RefundResponse),
        (status = 409, description = "`ALREADY_REFUNDED`", body = ErrorBody),
        (status = 422, description = "`BALANCE_LIMIT_EXCEEDED`: the money would not fit the payer's balance", body = ErrorBody),
        AdminErrors))]
pub async fn refund(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let payment_id = input::path_id(&request, "paymentId")?;
    let refunded = input::to_completion(async move {
        let ports = &state.ports;
        let command = RefundPayment { payment_id };
        refund_payment::execute(
            ports.payments.as_ref(),
            ports.reservations.as_ref(),
            ports.wallet.as_ref(),
            ports.clock.as_ref(),
            command,
        )
        .await
    })
    .await?;
    Ok(HttpResponse::Ok().json(RefundResponse::from(refunded)))
}
