//! The catalogue: `GET /api/concerts`, `/api/{concertId}/available-dates` and
//! `/api/{concertId}/available-seats`. Free-seat data is read fresh on every call.

use actix_web::{HttpRequest, HttpResponse, web};
use application::available_dates::{self, AvailableDate};
use application::available_seats::{self, AvailableSeats};
use application::list_concerts;
use domain::{Concert, Seat};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;
use utoipa::{IntoParams, ToSchema};

use crate::errors::{ApiError, ErrorBody};
use crate::input;
use crate::openapi::{ConcertPath, GatedErrors};
use crate::state::HttpState;

/// A concert.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertResponse {
    /// Its id, for the other catalogue paths.
    pub concert_id: i64,
    /// Title.
    pub title: String,
    /// Artist.
    pub artist: String,
    /// Venue.
    pub venue: String,
}

impl From<Concert> for ConcertResponse {
    fn from(concert: Concert) -> Self {
        Self {
            concert_id: concert.id.get(),
            title: concert.title,
            artist: concert.artist,
            venue: concert.venue,
        }
    }
}

/// A bookable performance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableDateResponse {
    /// When it starts (UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub concert_date: OffsetDateTime,
    /// The performance, for `?scheduleId=`.
    pub schedule_id: i64,
    /// Seats free right now.
    pub available_seats: u32,
    /// When its seats go on sale; until then a hold is 409 `SALES_NOT_OPEN`.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub on_sale_at: OffsetDateTime,
}

impl From<AvailableDate> for AvailableDateResponse {
    fn from(date: AvailableDate) -> Self {
        Self {
            concert_date: date.schedule.starts_at,
            schedule_id: date.schedule.id.get(),
            available_seats: date.available_seats,
            on_sale_at: date.schedule.on_sale_at,
        }
    }
}

/// A free seat.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatResponse {
    /// Its id, for `reserve-seat`.
    pub seat_id: i64,
    /// Printed name, `A1`…`E10`.
    pub seat_name: String,
    /// Number, 1–50.
    pub seat_number: u8,
    /// Price in won.
    pub price: i64,
    /// Price band.
    pub zone: String,
}

impl From<Seat> for SeatResponse {
    fn from(seat: Seat) -> Self {
        Self {
            seat_id: seat.id.get(),
            seat_name: seat.name(),
            seat_number: seat.number.get(),
            price: seat.price.get(),
            zone: seat.zone,
        }
    }
}

/// Query of `available-seats`: a date, or a performance id when a date has several.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SeatsQuery {
    /// `YYYY-MM-DD` (UTC).
    #[param(value_type = String, format = Date, required = false)]
    pub date: Option<String>,
    /// A performance id from `available-dates`.
    #[param(value_type = i64, minimum = 1, required = false)]
    #[serde(default, deserialize_with = "input::optional_query_id")]
    pub schedule_id: Option<i64>,
}

/// Every concert.
#[utoipa::path(get, path = "/api/concerts", operation_id = "listConcerts", tag = "catalogue",
    security(("bearer" = [])),
    responses(
        (status = 200, body = [ConcertResponse], links(("dates" = (operation_id = "availableDates",
            parameters(("concertId" = "$response.body#/0/concertId")))))),
        GatedErrors))]
pub async fn list(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    input::gate(&state, &request).await?;
    let concerts = list_concerts::execute(state.ports.store.catalogue.as_ref()).await?;
    Ok(HttpResponse::Ok().json(concerts.into_iter().map(ConcertResponse::from).collect::<Vec<_>>()))
}

/// Upcoming performances of a concert that still have a free seat.
#[utoipa::path(get, path = "/api/{concertId}/available-dates", operation_id = "availableDates",
    tag = "catalogue", security(("bearer" = [])), params(ConcertPath),
    responses(
        (status = 200, body = [AvailableDateResponse], links(("seats" = (operation_id = "availableSeats",
            parameters(("concertId" = "$request.path.concertId"),
                ("scheduleId" = "$response.body#/0/scheduleId")))))),
        (status = 404, description = "`NOT_FOUND`: no such concert", body = ErrorBody), GatedErrors))]
pub async fn dates(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    input::gate(&state, &request).await?;
    let concert_id = input::path_id(&request, "concertId")?;
    let ports = &state.ports;
    let dates =
        available_dates::execute(ports.store.catalogue.as_ref(), ports.clock.as_ref(), concert_id).await?;
    Ok(HttpResponse::Ok().json(dates.into_iter().map(AvailableDateResponse::from).collect::<Vec<_>>()))
}

/// The seats of one performance that are free right now.
#[utoipa::path(get, path = "/api/{concertId}/available-seats", operation_id = "availableSeats",
    tag = "catalogue", security(("bearer" = [])),
    params(ConcertPath, SeatsQuery),
    responses((status = 200, body = [SeatResponse]),
        (status = 400, description = "`VALIDATION_ERROR`: neither `date` nor `scheduleId`, an impossible \
            date, or a date with several performances and no `scheduleId`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such concert, or no performance of it on that date \
            or with that id", body = ErrorBody),
        GatedErrors))]
pub async fn seats(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    input::gate(&state, &request).await?;
    let query: SeatsQuery = input::query(&request)?;
    let date = query
        .date
        .map(|text| {
            // `[year]` alone also takes a signed or longer year (`-2024`, `+02024`): the contract's
            // `YYYY-MM-DD` is exactly ten characters.
            let date = (text.len() == 10)
                .then(|| time::Date::parse(&text, format_description!("[year]-[month]-[day]")).ok())
                .flatten();
            date.ok_or_else(|| ApiError::validation(format!("date: '{text}' is not a real YYYY-MM-DD date")))
        })
        .transpose()?;
    let concert_id = input::path_id(&request, "concertId")?;
    let ports = &state.ports;
    let seats = available_seats::execute(
        ports.store.catalogue.as_ref(),
        ports.clock.as_ref(),
        AvailableSeats { concert_id, date, schedule_id: query.schedule_id },
    )
    .await?;
    Ok(HttpResponse::Ok().json(seats.into_iter().map(SeatResponse::from).collect::<Vec<_>>()))
}
