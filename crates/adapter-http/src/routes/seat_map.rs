//! The box office's edits of what is on sale (`ADMIN_TOKEN`): a performance's whole seat map,
//! a seat's new price, a seat taken off the map, a performance called off with every buyer
//! refunded.

use actix_web::{HttpRequest, HttpResponse, web};
use application::cancel_performance::{self, CancelPerformance};
use application::edit_seat::{self, EditSeat, SeatChange};
use application::seat_map::{self, MappedSeat};
use domain::{Cancellation, Seat, SeatState};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::admin;
use crate::errors::{ApiError, ErrorBody};
use crate::input;
use crate::openapi::AdminErrors;
use crate::state::HttpState;

/// A seat of a performance's whole map (the box office's and the fans').
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MapSeatResponse {
    /// Its id, for the seat edits.
    pub seat_id: i64,
    /// Printed name, `A1`…`E10`.
    pub seat_name: String,
    /// Number, 1–50.
    pub seat_number: u8,
    /// Price band.
    pub zone: String,
    /// Price in won.
    pub price: i64,
    /// `FREE`, `HELD` (under a live hold) or `SOLD`.
    #[schema(example = "FREE")]
    pub state: &'static str,
}

impl MapSeatResponse {
    fn new(seat: Seat, state: SeatState) -> Self {
        let state = match state {
            SeatState::Free => "FREE",
            SeatState::Held => "HELD",
            SeatState::Sold => "SOLD",
        };
        Self {
            seat_id: seat.id.get(),
            seat_name: seat.name(),
            seat_number: seat.number.get(),
            zone: seat.zone,
            price: seat.price.get(),
            state,
        }
    }
}

impl From<MappedSeat> for MapSeatResponse {
    fn from(mapped: MappedSeat) -> Self {
        Self::new(mapped.seat, mapped.state)
    }
}

/// The performance of a path. Any other segment names nothing: 404.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code, reason = "describes the path to the document; the handler reads it itself")]
pub(crate) struct SchedulePath {
    /// A performance id (`scheduleId` of `available-dates` or of the sales view).
    #[param(minimum = 1)]
    schedule_id: i64,
}

/// The seat of a path. Any other segment names nothing: 404.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code, reason = "describes the path to the document; the handler reads it itself")]
pub(crate) struct SeatPath {
    /// A seat id (`seatId` of the seat map).
    #[param(minimum = 1)]
    seat_id: i64,
}

/// Body of `PATCH /admin/seats/{seatId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeatEditRequest {
    /// The new price in won: 1 to 1,000,000,000.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "input::json_integer")]
    pub price: i64,
}

/// A cancellation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancellationResponse {
    /// The performance.
    pub schedule_id: i64,
    /// When it was cancelled (the first time it was asked).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub cancelled_at: OffsetDateTime,
    /// Payments refunded by this request.
    pub refunds: u64,
    /// Won refunded by this request.
    pub refunded: i64,
    /// Sales not refunded because the money would lift the buyer's balance above its ceiling;
    /// cancelling again refunds them once it fits.
    pub unrefunded: u64,
}

impl From<Cancellation> for CancellationResponse {
    fn from(cancelled: Cancellation) -> Self {
        Self {
            schedule_id: cancelled.schedule_id.get(),
            cancelled_at: cancelled.cancelled_at,
            refunds: cancelled.refunds,
            refunded: cancelled.refunded,
            unrefunded: cancelled.unrefunded,
        }
    }
}

/// A performance's whole seat map: every seat on it, free, held or sold, by number.
#[utoipa::path(get, path = "/admin/performances/{scheduleId}/seats", operation_id = "seatMap",
    tag = "box office", security(("admin" = [])), params(SchedulePath),
    responses((status = 200, body = Vec<MapSeatResponse>), AdminErrors))]
pub async fn seats(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let schedule_id = input::path_id(&request, "scheduleId")?;
    let map =
        seat_map::execute(state.ports.store.catalogue.as_ref(), state.ports.clock.as_ref(), schedule_id)
            .await?;
    let body: Vec<MapSeatResponse> = map.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Change a seat's price. A seat held or sold keeps its price (409): nobody pays other than
/// what they held at.
#[utoipa::path(patch, path = "/admin/seats/{seatId}", operation_id = "repriceSeat",
    tag = "box office", security(("admin" = [])), params(SeatPath),
    request_body = SeatEditRequest,
    responses(
        (status = 200, body = MapSeatResponse),
        (status = 400, description = "`VALIDATION_ERROR`: a field of the wrong type, or a price out of range", body = ErrorBody),
        (status = 408, description = "`REQUEST_TIMEOUT`: the body did not arrive in time", body = ErrorBody),
        (status = 409, description = "`SEAT_TAKEN`: the seat is held or sold", body = ErrorBody),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: bodies are limited to 16 KiB", body = ErrorBody),
        AdminErrors))]
pub async fn reprice(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let seat_id = input::path_id(&request, "seatId")?;
    let body: SeatEditRequest = input::json(&request, &body)?;
    let command = EditSeat { seat_id, change: SeatChange::Price(body.price) };
    edit(state, command).await
}

/// Take a seat off the map: nobody sees or holds it any more. A seat held or sold stays (409).
#[utoipa::path(delete, path = "/admin/seats/{seatId}", operation_id = "removeSeat",
    tag = "box office", security(("admin" = [])), params(SeatPath),
    responses(
        (status = 200, description = "The seat as it was", body = MapSeatResponse),
        (status = 409, description = "`SEAT_TAKEN`: the seat is held or sold", body = ErrorBody),
        AdminErrors))]
pub async fn remove(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let seat_id = input::path_id(&request, "seatId")?;
    edit(state, EditSeat { seat_id, change: SeatChange::Remove }).await
}

async fn edit(state: web::Data<HttpState>, command: EditSeat) -> Result<HttpResponse, ApiError> {
    let edited = input::to_completion(async move {
        edit_seat::execute(state.ports.store.catalogue.as_ref(), state.ports.clock.as_ref(), command).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(MapSeatResponse::new(edited, SeatState::Free)))
}

/// Call a performance off: at once none of its seats can be held or paid for and it leaves
/// the performances fans see; live holds end; every sale is refunded (money back to the
/// balance with its ledger entry). Asking again keeps the first instant and refunds whatever
/// is left, so a retry after a failure finishes the job.
#[utoipa::path(post, path = "/admin/performances/{scheduleId}/cancel", operation_id = "cancelPerformance",
    tag = "box office", security(("admin" = [])), params(SchedulePath),
    responses((status = 200, body = CancellationResponse), AdminErrors))]
pub async fn cancel(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let schedule_id = input::path_id(&request, "scheduleId")?;
    let cancelled = input::to_completion(async move {
        let ports = &state.ports;
        let cancelled = cancel_performance::execute(
            ports.store.payments.as_ref(),
            ports.clock.as_ref(),
            CancelPerformance { schedule_id },
        )
        .await;
        if let Ok(cancellation) = &cancelled {
            state.metrics.refunded(cancellation.refunds, cancellation.refunded);
        }
        cancelled
    })
    .await?;
    if cancelled.unrefunded > 0 {
        tracing::warn!(
            schedule_id,
            unrefunded = cancelled.unrefunded,
            "a cancelled performance keeps sales whose refund would pass the balance ceiling"
        );
    }
    Ok(HttpResponse::Ok().json(CancellationResponse::from(cancelled)))
}
