//! Reservations: `POST /api/{concertId}/reserve-seat` holds a seat; `GET /api/reservations`
//! lists a fan's bookings; `DELETE /api/reservations/{reservationId}` gives a hold back.

use actix_web::{HttpRequest, HttpResponse, web};
use application::list_bookings::{self, Bookings};
use application::release_hold::{self, ReleaseHold, Released};
use application::reserve_seat::{self, ReserveSeat};
use domain::{Payment, Reservation, ReservationStatus};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::errors::{ApiError, ErrorBody};
use crate::idempotency::{Reply, answer, idempotent, receipt};
use crate::input;
use crate::metrics::ReleaseReason;
use crate::openapi::{BodyErrors, ConcertPath, GatedErrors, HolderErrors, IdempotencyKeyHeader, KeyLimit};
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
    /// The concert of the seat.
    pub concert_id: i64,
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
    /// `RESERVED`, `PAID`, `EXPIRED`, `RELEASED` (given back by its holder) or `REFUNDED`.
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
            concert_id: reservation.concert_id.get(),
            seat_id: reservation.seat_id.get(),
            seat_name: reservation.seat_name,
            price: reservation.price.get(),
            reservation_time: reservation.reserved_at,
            reservation_status: match reservation.status {
                ReservationStatus::Held => "RESERVED",
                ReservationStatus::Paid => "PAID",
                ReservationStatus::Expired => "EXPIRED",
                ReservationStatus::Released => "RELEASED",
                ReservationStatus::Refunded => "REFUNDED",
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
                let held = reserve_seat::execute(
                    ports.store.catalogue.as_ref(),
                    ports.store.reservations.as_ref(),
                    ports.clock.as_ref(),
                    &state.policies.hold,
                    command,
                )
                .await;
                if held.is_ok() {
                    state.metrics.held();
                }
                held
            })
            .await;
            answer(held, render)
        }
    })
    .await
}

/// A purchase: the reservation and its payment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseResponse {
    /// The reservation, `PAID`.
    #[serde(flatten)]
    pub reservation: ReservationResponse,
    /// The payment's id.
    pub payment_id: i64,
    /// What was paid, in won.
    pub amount: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub paid_at: OffsetDateTime,
}

impl From<(Reservation, Payment)> for PurchaseResponse {
    fn from((reservation, payment): (Reservation, Payment)) -> Self {
        Self {
            reservation: reservation.into(),
            payment_id: payment.id.get(),
            amount: payment.amount.get(),
            paid_at: payment.paid_at,
        }
    }
}

/// A fan's bookings, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingsResponse {
    /// Live holds: pay for them before `expiresAt`, or give them back.
    pub held: Vec<ReservationResponse>,
    /// Seats bought (the newest 100 bookings at most are listed).
    pub bought: Vec<PurchaseResponse>,
}

impl From<Bookings> for BookingsResponse {
    fn from(bookings: Bookings) -> Self {
        Self {
            held: bookings.held.into_iter().map(Into::into).collect(),
            bought: bookings.bought.into_iter().map(Into::into).collect(),
        }
    }
}

/// The reservation of a bookings path. Any other segment names nothing: 404.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code, reason = "describes the path to the document; the handler reads it itself")]
pub(crate) struct ReservationPath {
    /// A reservation id of the token's user.
    #[param(minimum = 1)]
    reservation_id: i64,
}

/// What the token's user holds and what they bought. Any token of theirs will do, waiting,
/// active, or ended (after paying, say) until it is forgotten.
#[utoipa::path(get, path = "/api/reservations", operation_id = "listBookings",
    tag = "booking", security(("bearer" = [])),
    responses((status = 200, body = BookingsResponse), HolderErrors))]
pub async fn list(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let actor = input::holder(&state, &request).await?;
    let ports = &state.ports;
    let bookings =
        list_bookings::execute(ports.store.reservations.as_ref(), ports.clock.as_ref(), actor).await?;
    Ok(HttpResponse::Ok().json(BookingsResponse::from(bookings)))
}

/// Give a live hold back: the seat is on sale again at once, on every instance. Giving back a
/// hold given back already answers as the first time did, so a retry is safe. Any token of the
/// holder will do, as for the list.
#[utoipa::path(delete, path = "/api/reservations/{reservationId}", operation_id = "releaseHold",
    tag = "booking", security(("bearer" = [])), params(ReservationPath),
    responses(
        (status = 200, description = "The reservation, now `RELEASED`", body = ReservationResponse),
        (status = 404, description = "`NOT_FOUND`: no such reservation of the token's user", body = ErrorBody),
        (status = 409, description = "`RESERVATION_PAID` (only the box office refunds), \
            `RESERVATION_EXPIRED` (the hold lapsed; the seat is back on sale)", body = ErrorBody),
        HolderErrors))]
pub async fn release(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let actor = input::holder(&state, &request).await?;
    let reservation_id = input::path_id(&request, "reservationId")?;
    let command = ReleaseHold { actor, reservation_id };
    let released = input::to_completion(async move {
        let ports = &state.ports;
        let released =
            release_hold::execute(ports.store.reservations.as_ref(), ports.clock.as_ref(), command).await;
        if matches!(released, Ok(Released { just_now: true, .. })) {
            state.metrics.released(ReleaseReason::GivenBack, 1);
        }
        released
    })
    .await?;
    Ok(HttpResponse::Ok().json(ReservationResponse::from(released.reservation)))
}
