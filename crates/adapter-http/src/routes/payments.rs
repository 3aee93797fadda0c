//! `POST /api/pay`: pay for a held seat.

use actix_web::{HttpRequest, HttpResponse, web};
use application::pay::{self, Pay};
use domain::Payment;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorBody};
use crate::input;
use crate::state::HttpState;

/// Body of `POST /api/pay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayRequest {
    /// A reservation of the token's user.
    #[schema(example = 1)]
    pub reservation_id: i64,
    /// Must equal the seat's price.
    #[schema(example = 30000)]
    pub payment_amount: i64,
}

/// A completed payment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResponse {
    /// Its id.
    pub payment_id: i64,
    /// The reservation paid.
    pub reservation_id: i64,
    /// Won paid.
    pub payment_amount: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub payment_time: OffsetDateTime,
}

impl From<Payment> for PaymentResponse {
    fn from(payment: Payment) -> Self {
        Self {
            payment_id: payment.id.get(),
            reservation_id: payment.reservation_id.get(),
            payment_amount: payment.amount.get(),
            payment_time: payment.paid_at,
        }
    }
}

/// Pay for a held seat: atomically takes the money, sells the seat, confirms the reservation,
/// records the payment and expires the caller's queue token. Any failure changes nothing.
#[utoipa::path(post, path = "/api/pay", tag = "booking", security(("bearer" = [])), request_body = PayRequest,
    responses((status = 200, body = PaymentResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn pay(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = input::gate(&state, &request).await?;
    let body: PayRequest = input::json(&request, &body)?;
    let command =
        Pay { actor: actor.user_id, reservation_id: body.reservation_id, amount: body.payment_amount };
    let state = state.into_inner();
    let payment = input::to_completion(async move {
        let ports = &state.ports;
        pay::execute(
            ports.reservations.as_ref(),
            ports.wallet.as_ref(),
            ports.payments.as_ref(),
            ports.clock.as_ref(),
            command,
        )
        .await
    })
    .await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::from(payment)))
}
