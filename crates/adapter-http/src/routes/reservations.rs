//! `POST /api/{concertId}/reserve-seat`: hold a seat.

use actix_web::{HttpRequest, HttpResponse, web};
use application::reserve_seat::{self, ReserveSeat};
use domain::{Reservation, ReservationStatus};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorBody};
use crate::idempotency::{Reply, answer, idempotent, receipt};
use crate::input;
use crate::openapi::{BodyErrors, ConcertPath, GatedErrors, IdempotencyKeyHeader, KeyLimit};
use crate::state::HttpState;

/// Body of `reserve-seat`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReserveSeatRequest {
    /// A seat of the concert in the path.
    #[schema(example = 1, minimum = 1)]
    #[serde(deserialize_with = "input::json_integer")]
    pub seat_id: i64,
    /// Must be the token's user.
    #[schema(example = 1, minimum = 1)]
    #[serde(deserialize_with = "input::json_integer")]
    pub user_id: i64,
}

/// A hold.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationResponse {
    /// Its id, for `/api/pay`.
    pub reservation_id: i64,
    /// The seat held.
    pub seat_id: i64,
    /// Its printed name.
    pub seat_name: String,
    /// The amount payment must match.
    pub price: i64,
    /// When the hold was taken.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub reservation_time: OffsetDateTime,
    /// `RESERVED`, `PAID` or `EXPIRED`.
    #[schema(example = "RESERVED")]
    pub reservation_status: &'static str,
    /// When an unpaid hold lapses.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

impl From<Reservation> for ReservationResponse {
    fn from(reservation: Reservation) -> Self {
        Self {
            reservation_id: reservation.id.get(),
            seat_id: reservation.seat_id.get(),
            seat_name: reservation.seat_name,
            price: reservation.price.get(),
            reservation_time: reservation.reserved_at,
            reservation_status: match reservation.status {
                ReservationStatus::Held => "RESERVED",
                ReservationStatus::Paid => "PAID",
                ReservationStatus::Expired => "EXPIRED",
            },
            expires_at: reservation.expires_at,
        }
    }
}

/// Hold a seat for `SEAT_HOLD_SECONDS`. Of any number of concurrent holds of one seat, exactly
/// one succeeds; the others get 409 `SEAT_UNAVAILABLE`. With an `Idempotency-Key`, a retry of the
/// same request is answered from the first response.
#[utoipa::path(post, path = "/api/{concertId}/reserve-seat", operation_id = "reserveSeat",
    tag = "booking", security(("bearer" = [])),
    params(ConcertPath, IdempotencyKeyHeader),
    request_body = ReserveSeatRequest,
    responses(
        (status = 200, body = ReservationResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 404, description = "`NOT_FOUND`: no such concert, or no such seat of it", body = ErrorBody),
        (status = 409, description = "`SEAT_UNAVAILABLE`, `HOLD_LIMIT_REACHED` (too many live holds), \
            `IDEMPOTENCY_KEY_IN_PROGRESS`", body = ErrorBody),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`", body = ErrorBody),
        BodyErrors, GatedErrors, KeyLimit))]
pub async fn reserve(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    idempotent(&state, &request, &body, |actor| {
        let parsed = input::json::<ReserveSeatRequest>(&request, &body);
        let concert = input::path_id(&request, "concertId");
        let state = state.clone().into_inner();
        move |claimed| async move {
            let body = parsed?;
            let concert_id = concert?;
            let render = |reservation| Reply::ok(&ReservationResponse::from(reservation));
            let command = ReserveSeat {
                actor: actor.user_id,
                user_id: body.user_id,
                concert_id,
                seat_id: body.seat_id,
                receipt: receipt(claimed.as_ref(), render),
            };
            let held = input::to_completion(async move {
                let ports = &state.ports;
                reserve_seat::execute(
                    ports.catalogue.as_ref(),
                    ports.reservations.as_ref(),
                    ports.clock.as_ref(),
                    &state.policies.hold,
                    command,
                )
                .await
            })
            .await;
            answer(held, render)
        }
    })
    .await
}
