//! `GET /api/performances/{scheduleId}/seats`: a performance's whole seat map for an admitted
//! fan, free, held and sold alike, so a page can draw every seat and grey out the taken ones
//! (`available-seats` lists only the free ones). The box office's map, behind the token gate.

use actix_web::{HttpRequest, HttpResponse, web};
use application::seat_map;

use crate::errors::{ApiError, ErrorBody};
use crate::input;
use crate::openapi::GatedErrors;
use crate::routes::seat_map::{MapSeatResponse, SchedulePath};
use crate::state::HttpState;

/// Every seat of a performance by number, with its price band, price and state.
#[utoipa::path(get, path = "/api/performances/{scheduleId}/seats", operation_id = "performanceSeats",
    tag = "catalogue", security(("bearer" = [])), params(SchedulePath),
    responses((status = 200, body = [MapSeatResponse]),
        (status = 404, description = "`NOT_FOUND`: no such performance, or a cancelled one", body = ErrorBody),
        GatedErrors))]
pub async fn seats(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    input::gate(&state, &request).await?;
    let schedule_id = input::path_id(&request, "scheduleId")?;
    let ports = &state.ports;
    let map = seat_map::execute(ports.store.catalogue.as_ref(), ports.clock.as_ref(), schedule_id).await?;
    Ok(HttpResponse::Ok().json(map.into_iter().map(MapSeatResponse::from).collect::<Vec<_>>()))
}
