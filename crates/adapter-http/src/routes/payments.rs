//! `POST /api/pay`: pay for a held seat.

use actix_web::{HttpRequest, HttpResponse, web};
use application::pay::{self, Pay};
use domain::Payment;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorBody, pay_refusal};
use crate::idempotency::{Reply, answer, idempotent, receipt};
use crate::input;
use crate::openapi::{BodyErrors, GatedErrors, IdempotencyKeyHeader, KeyLimit};
use crate::state::HttpState;

/// Body of `POST /api/pay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayRequest {
    /// A reservation of the token's user.
    #[schema(example = 1, minimum = 1)]
    #[serde(deserialize_with = "input::json_integer")]
    pub reservation_id: i64,
    /// Must equal the seat's price.
    #[schema(example = 30000, minimum = 1)]
    #[serde(deserialize_with = "input::json_integer")]
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
/// records the payment and expires the caller's queue token, so one token pays once: of two
/// concurrent payments with it, the loser gets 401 `TOKEN_EXPIRED`. Any failure changes nothing.
/// With an `Idempotency-Key`, a retry of the same request is answered from the first response,
/// even with the token this payment expired.
#[utoipa::path(post, path = "/api/pay", operation_id = "pay", tag = "booking", security(("bearer" = [])),
    params(IdempotencyKeyHeader),
    request_body = PayRequest,
    responses(
        (status = 200, body = PaymentResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 404, description = "`NOT_FOUND`: no such reservation of this user", body = ErrorBody),
        (status = 409, description = "`RESERVATION_EXPIRED`, `RESERVATION_NOT_PAYABLE`, \
            `IDEMPOTENCY_KEY_IN_PROGRESS`", body = ErrorBody),
        (status = 422, description = "`PAYMENT_AMOUNT_MISMATCH`, `INSUFFICIENT_BALANCE`, \
            `IDEMPOTENCY_KEY_REUSED`", body = ErrorBody),
        BodyErrors, GatedErrors, KeyLimit))]
pub async fn pay(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    idempotent(&state, &request, &body, |actor| {
        let parsed = input::json::<PayRequest>(&request, &body);
        let state = state.clone().into_inner();
        move |claimed| async move {
            let body = parsed?;
            let render = |payment| Reply::ok(&PaymentResponse::from(payment));
            let command = Pay {
                actor: actor.user_id,
                token: actor.token,
                reservation_id: body.reservation_id,
                amount: body.payment_amount,
                receipt: receipt(claimed.as_ref(), render),
            };
            let paid = input::to_completion(async move {
                let ports = &state.ports;
                let paid = pay::execute(
                    ports.store.reservations.as_ref(),
                    ports.store.wallet.as_ref(),
                    ports.store.payments.as_ref(),
                    ports.store.queue.as_ref(),
                    ports.clock.as_ref(),
                    command,
                )
                .await;
                match &paid {
                    Ok(payment) => state.metrics.sold(payment.amount.get()),
                    Err(error) => {
                        if let Ok((_, code)) = pay_refusal(error) {
                            state.metrics.refused(code);
                        }
                    }
                }
                paid
            })
            .await;
            answer(paid, render)
        }
    })
    .await
}
