//! `POST /api/charge` and `GET /api/balance`: the prepaid balance.

use actix_web::{HttpRequest, HttpResponse, web};
use application::charge_balance::{self, ChargeBalance};
use application::get_balance::{self, GetBalance};
use domain::{Balance, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::errors::{ApiError, ErrorBody};
use crate::idempotency::{Reply, answer, idempotent, receipt};
use crate::input;
use crate::openapi::{BodyErrors, GatedErrors, IdempotencyKeyHeader, KeyLimit};
use crate::state::HttpState;

/// Body of `POST /api/charge`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeRequest {
    /// Must be the token's user.
    #[schema(example = 1, minimum = 1)]
    #[serde(deserialize_with = "input::json_integer")]
    pub user_id: i64,
    /// Won to add: 1 to 10,000,000.
    #[schema(example = 100000, minimum = 1, maximum = 10_000_000)]
    #[serde(deserialize_with = "input::json_integer")]
    pub amount: i64,
}

/// Query of `GET /api/balance`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct BalanceQuery {
    /// Must be the token's user.
    #[param(minimum = 1)]
    #[serde(deserialize_with = "input::query_id")]
    pub user_id: i64,
}

/// A balance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceResponse {
    /// Whose.
    pub user_id: i64,
    /// In won.
    pub current_balance: i64,
}

impl BalanceResponse {
    fn new(user: UserId, balance: Balance) -> Self {
        Self { user_id: user.get(), current_balance: balance.won().get() }
    }
}

/// Add money to the balance; the balance never passes 1,000,000,000. With an
/// `Idempotency-Key`, a retry of the same request is answered from the first response.
#[utoipa::path(post, path = "/api/charge", operation_id = "charge", tag = "wallet", security(("bearer" = [])),
    params(IdempotencyKeyHeader),
    request_body = ChargeRequest,
    responses(
        (status = 200, body = BalanceResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 404, description = "`NOT_FOUND`: the user does not exist", body = ErrorBody),
        (status = 409, description = "`IDEMPOTENCY_KEY_IN_PROGRESS`", body = ErrorBody),
        (status = 422, description = "`BALANCE_LIMIT_EXCEEDED`, `IDEMPOTENCY_KEY_REUSED`", body = ErrorBody),
        BodyErrors, GatedErrors, KeyLimit))]
pub async fn charge(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    idempotent(&state, &request, &body, |actor| {
        let parsed = input::json::<ChargeRequest>(&request, &body);
        let state = state.clone().into_inner();
        move |claimed| async move {
            let body = parsed?;
            let render = move |balance| Reply::ok(&BalanceResponse::new(actor.user_id, balance));
            let command = ChargeBalance {
                actor: actor.user_id,
                user_id: body.user_id,
                amount: body.amount,
                receipt: receipt(claimed.as_ref(), render),
            };
            let amount = command.amount;
            let charged = input::to_completion(async move {
                let charged = charge_balance::execute(
                    state.ports.store.wallet.as_ref(),
                    state.ports.clock.as_ref(),
                    command,
                )
                .await;
                if charged.is_ok() {
                    state.metrics.charged(amount);
                }
                charged
            })
            .await;
            answer(charged, render)
        }
    })
    .await
}

/// The token's user's balance.
#[utoipa::path(get, path = "/api/balance", operation_id = "getBalance",
    tag = "wallet", security(("bearer" = [])), params(BalanceQuery),
    responses((status = 200, body = BalanceResponse),
        (status = 400, description = "`VALIDATION_ERROR`: `userId` is missing or not an integer",
            body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: the user does not exist", body = ErrorBody),
        GatedErrors))]
pub async fn balance(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let actor = input::gate(&state, &request).await?;
    let query: BalanceQuery = input::query(&request)?;
    let command = GetBalance { actor: actor.user_id, user_id: query.user_id };
    let balance = get_balance::execute(state.ports.store.wallet.as_ref(), command).await?;
    Ok(HttpResponse::Ok().json(BalanceResponse::new(actor.user_id, balance)))
}
