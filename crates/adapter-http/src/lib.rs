//! The HTTP adapter: actix-web routes for every endpoint of SPEC, the bearer-token gate, JSON
//! errors for every rejection, the OpenAPI document with an offline Swagger UI, probes and
//! Prometheus metrics. Handlers parse, call one use case, and shape the answer; nothing else.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpResponse, HttpServer, Resource, web};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

mod deadlines;
mod errors;
mod idempotency;
mod input;
pub mod openapi;
pub mod routes;
mod state;
mod streams;

pub use deadlines::Deadlines;
pub use errors::{ApiError, ErrorBody};
pub use state::HttpState;
pub use streams::{StreamLimits, StreamRefusal, StreamSlot, StreamSlots};

use routes::{concerts, payments, reservations, system, token, token_stream, wallet};

/// Builds the Prometheus middleware; `/metrics` is served by it. Paths that match no route are
/// all counted as `UNKNOWN`, and invented methods are refused before it (see `serve`), so
/// scanners cannot blow up the number of label values.
pub fn metrics() -> Result<PrometheusMetrics, Box<dyn std::error::Error + Send + Sync>> {
    PrometheusMetricsBuilder::new("frontrow").endpoint("/metrics").mask_unmatched_patterns("UNKNOWN").build()
}

/// Registers every route of the API on `config`; shared by the server and the tests.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(web::PayloadConfig::new(input::BODY_LIMIT))
        .service(
            resource("/api/token").route(web::post().to(token::issue)).route(web::get().to(token::status)),
        )
        .service(resource("/api/token/stream").route(web::get().to(token_stream::stream)))
        .service(resource("/api/concerts").route(web::get().to(concerts::list)))
        .service(resource("/api/charge").route(web::post().to(wallet::charge)))
        .service(resource("/api/balance").route(web::get().to(wallet::balance)))
        .service(resource("/api/pay").route(web::post().to(payments::pay)))
        .service(resource("/api/{concertId}/available-dates").route(web::get().to(concerts::dates)))
        .service(resource("/api/{concertId}/available-seats").route(web::get().to(concerts::seats)))
        .service(resource("/api/{concertId}/reserve-seat").route(web::post().to(reservations::reserve)))
        .service(resource("/health").route(web::get().to(system::health)))
        .service(resource("/ready").route(web::get().to(system::ready)))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", openapi::ApiDoc::openapi()))
        .service(web::redirect("/docs", "/docs/"));
}

/// A resource that answers 405 (as JSON) to methods it has no route for.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async { HttpResponse::MethodNotAllowed().finish() }))
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
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(move |request, next| deadlines::enforce(deadlines, request, next)))
            .wrap(ErrorHandlers::new().default_handler(errors::json_fallback))
            .wrap(metrics.clone())
            .wrap(from_fn(errors::known_methods_only))
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
