//! The HTTP adapter: actix-web routes for every endpoint of the contract (docs/api.md), the
//! bearer-token gate, JSON errors for every rejection, the OpenAPI document with an offline
//! Swagger UI, probes and Prometheus metrics. Handlers parse, call one use case, and shape the
//! answer; nothing else.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::Method;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub mod admin;
mod deadlines;
mod errors;
mod idempotency;
mod input;
mod methods;
pub mod metrics;
pub mod openapi;
pub mod routes;
mod state;
mod streams;

pub use deadlines::Deadlines;
pub use errors::{ApiError, ErrorBody};
pub use metrics::Metrics;
pub use state::HttpState;
pub use streams::{StreamLimits, StreamSlots};

use methods::Paths;
use routes::{
    admin as box_office, concerts, page, payments, performances, reservations, seat_map, system, token,
    token_stream, wallet,
};

/// Builds the Prometheus middleware; `/metrics` is served by it. Paths that match no route are
/// all counted as `UNKNOWN`, and invented methods are refused before it (see `serve`), so
/// scanners cannot blow up the number of label values.
pub fn metrics() -> Result<PrometheusMetrics, Box<dyn std::error::Error + Send + Sync>> {
    PrometheusMetricsBuilder::new("frontrow").endpoint("/metrics").mask_unmatched_patterns("UNKNOWN").build()
}

/// Registers every route of the API on `config`; shared by the server and the tests.
pub fn configure(config: &mut web::ServiceConfig) {
    let mut paths = Paths::default();
    config.app_data(web::PayloadConfig::new(input::BODY_LIMIT));
    paths.add(
        config,
        "/api/token",
        [(Method::POST, web::to(token::issue)), (Method::GET, web::to(token::status))],
    );
    paths.add(config, "/api/token/stream", [(Method::GET, web::to(token_stream::stream))]);
    paths.add(config, "/api/concerts", [(Method::GET, web::to(concerts::list))]);
    paths.add(config, "/api/charge", [(Method::POST, web::to(wallet::charge))]);
    paths.add(config, "/api/balance", [(Method::GET, web::to(wallet::balance))]);
    paths.add(config, "/api/pay", [(Method::POST, web::to(payments::pay))]);
    paths.add(config, "/api/{concertId}/available-dates", [(Method::GET, web::to(concerts::dates))]);
    paths.add(config, "/api/{concertId}/available-seats", [(Method::GET, web::to(concerts::seats))]);
    paths.add(config, "/api/performances/{scheduleId}/seats", [(Method::GET, web::to(performances::seats))]);
    paths.add(config, "/api/reservations", [(Method::GET, web::to(reservations::list))]);
    paths.add(
        config,
        "/api/reservations/{reservationId}",
        [(Method::DELETE, web::to(reservations::release))],
    );
    paths.add(config, "/api/{concertId}/reserve-seat", [(Method::POST, web::to(reservations::reserve))]);
    paths.add(
        config,
        "/admin/queue",
        [(Method::GET, web::to(box_office::admission)), (Method::POST, web::to(box_office::control))],
    );
    paths.add(config, "/admin/sales", [(Method::GET, web::to(box_office::sales))]);
    paths.add(config, "/admin/catalogue", [(Method::POST, web::to(box_office::import))]);
    paths.add(config, "/admin/payments/{paymentId}/refund", [(Method::POST, web::to(box_office::refund))]);
    paths.add(config, "/admin/performances/{scheduleId}/seats", [(Method::GET, web::to(seat_map::seats))]);
    paths.add(config, "/admin/performances/{scheduleId}/cancel", [(Method::POST, web::to(seat_map::cancel))]);
    paths.add(
        config,
        "/admin/seats/{seatId}",
        [(Method::PATCH, web::to(seat_map::reprice)), (Method::DELETE, web::to(seat_map::remove))],
    );
    for path in page::paths() {
        paths.add(config, path, [(Method::GET, web::to(page::asset))]);
    }
    paths.add(config, "/health", [(Method::GET, web::to(system::health))]);
    paths.add(config, "/ready", [(Method::GET, web::to(system::ready))]);
    config
        .app_data(paths.into_allowed())
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", openapi::ApiDoc::openapi()))
        .service(web::redirect("/docs", "/docs/"));
}

/// Starts serving on `listener` (bind it to port 0 in tests) with `workers` threads, under the
/// client's and the server's `deadlines` (see `deadlines`).
pub fn serve(
    listener: TcpListener,
    state: HttpState,
    metrics: PrometheusMetrics,
    workers: usize,
    deadlines: Deadlines,
) -> std::io::Result<Server> {
    let figures = state.metrics.clone();
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        let figures = figures.clone();
        App::new()
            .wrap(from_fn(move |request, next| deadlines::enforce(deadlines, figures.clone(), request, next)))
            .wrap(ErrorHandlers::new().default_handler(errors::json_fallback))
            .wrap(metrics.clone())
            .wrap(from_fn(methods::known_methods_only))
            .wrap(TracingLogger::default())
            .app_data(state.clone())
            .configure(configure)
            .default_service(web::to(|| async { HttpResponse::NotFound().finish() }))
    })
    .workers(workers)
    .shutdown_timeout(30)
    .listen(listener)?
    .run();
    Ok(server)
}
