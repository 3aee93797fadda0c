//! The box office, for operators (`ADMIN_TOKEN`): `POST /admin/catalogue` loads or updates
//! concerts from the catalogue file's JSON; `POST /admin/payments/{paymentId}/refund` gives a
//! paid seat's money back; `GET`/`POST /admin/queue` read and work the brake; `GET
//! /admin/sales` tells how the sale stands.

use actix_web::{HttpRequest, HttpResponse, web};
use application::control_admission::{self, Admission, ControlAdmission};
use application::import_catalogue;
use application::refund_payment::{self, RefundPayment};
use application::sales_report::{self, ConcertSales};
use domain::{PerformanceSales, Refund};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::admin;
use crate::errors::{ApiError, ErrorBody};
use crate::input;
use crate::openapi::AdminErrors;
use crate::state::HttpState;

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportResponse {
    /// Concerts loaded whole.
    pub concerts_added: u32,
    /// Performances added to concerts that were there already.
    pub performances_added: u32,
}

/// A refund.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundResponse {
    /// The payment refunded.
    pub payment_id: i64,
    /// Its reservation, now `REFUNDED`; its seat is on sale again.
    pub reservation_id: i64,
    /// Who got the money back.
    pub user_id: i64,
    /// How much, in won.
    pub amount: i64,
    /// Their balance after it.
    pub current_balance: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub refunded_at: OffsetDateTime,
}

impl From<Refund> for RefundResponse {
    fn from(refund: Refund) -> Self {
        Self {
            payment_id: refund.payment_id.get(),
            reservation_id: refund.reservation_id.get(),
            user_id: refund.user_id.get(),
            amount: refund.amount.get(),
            current_balance: refund.balance_after.won().get(),
            refunded_at: refund.refunded_at,
        }
    }
}

/// The payment of a refund path. Any other segment names nothing: 404.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code, reason = "describes the path to the document; the handler reads it itself")]
pub(crate) struct PaymentPath {
    /// A payment id (`paymentId` of `POST /api/pay`).
    #[param(minimum = 1)]
    payment_id: i64,
}

/// Load or update concerts from the catalogue file's JSON (`docs/catalogue.md`), whole or not at
/// all. Loading the same file again changes nothing.
#[utoipa::path(post, path = "/admin/catalogue", operation_id = "importCatalogue",
    tag = "box office", security(("admin" = [])),
    request_body(content = Object, description = "The catalogue file (`docs/catalogue.md`)"),
    responses(
        (status = 200, body = ImportResponse),
        (status = 400, description = "`VALIDATION_ERROR`: the file's first fault, with its line or field", body = ErrorBody),
        (status = 408, description = "`REQUEST_TIMEOUT`: the body did not arrive in time", body = ErrorBody),
        (status = 409, description = "`SEATS_CHANGED`: a loaded performance would get other seats", body = ErrorBody),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: bodies are limited to 16 KiB", body = ErrorBody),
        AdminErrors))]
pub async fn import(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::validation("the body is not UTF-8"))?;
    let concerts = catalogue_file::parse(text, state.ports.clock.now())?;
    let imported = input::to_completion(async move {
        import_catalogue::execute(state.ports.store.catalogue.as_ref(), &concerts).await
    })
    .await?;
    let response = ImportResponse {
        concerts_added: imported.concerts_added,
        performances_added: imported.performances_added,
    };
    Ok(HttpResponse::Ok().json(response))
}

/// Refund a payment: the money back to the payer's balance (with its ledger entry), the seat on
/// sale again at once on every instance, the reservation `REFUNDED`. Exactly once: a second
/// refund is 409.
#[utoipa::path(post, path = "/admin/payments/{paymentId}/refund", operation_id = "refundPayment",
    tag = "box office", security(("admin" = [])), params(PaymentPath),
    responses(
        (status = 200, body = RefundResponse),
        (status = 409, description = "`ALREADY_REFUNDED`", body = ErrorBody),
        (status = 422, description = "`BALANCE_LIMIT_EXCEEDED`: the money would not fit the payer's balance", body = ErrorBody),
        AdminErrors))]
pub async fn refund(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let payment_id = input::path_id(&request, "paymentId")?;
    let refunded = input::to_completion(async move {
        let ports = &state.ports;
        let command = RefundPayment { payment_id };
        let refunded = refund_payment::execute(
            ports.store.payments.as_ref(),
            ports.store.reservations.as_ref(),
            ports.store.wallet.as_ref(),
            ports.clock.as_ref(),
            command,
        )
        .await;
        if let Ok(refund) = &refunded {
            state.metrics.refunded(1, refund.amount.get());
        }
        refunded
    })
    .await?;
    Ok(HttpResponse::Ok().json(RefundResponse::from(refunded)))
}

/// The brake as it stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// Nobody is admitted while paused; waiting fans keep their places.
    pub paused: bool,
    /// The cap on active fans in force, service-wide (0 = none).
    pub max_active: u32,
    /// The cap on admissions per tick in force, service-wide (0 = none).
    pub admit_per_tick: u32,
}

impl From<Admission> for AdmissionResponse {
    fn from(admission: Admission) -> Self {
        Self {
            paused: admission.paused,
            max_active: admission.max_active,
            admit_per_tick: admission.admit_per_tick,
        }
    }
}

/// Body of `POST /admin/queue`: each field left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdmissionRequest {
    /// `true` pauses admission, `false` resumes it.
    #[schema(nullable = false)]
    #[serde(default, deserialize_with = "present_flag")]
    pub paused: Option<bool>,
    /// Replaces `QUEUE_MAX_ACTIVE`: 0 (no cap) to 1,000,000.
    #[schema(minimum = 0, maximum = 1_000_000, nullable = false)]
    #[serde(default, deserialize_with = "input::optional_json_integer")]
    pub max_active: Option<i64>,
    /// Replaces `QUEUE_ADMIT_PER_TICK`: 0 (no cap) to 1,000,000.
    #[schema(minimum = 0, maximum = 1_000_000, nullable = false)]
    #[serde(default, deserialize_with = "input::optional_json_integer")]
    pub admit_per_tick: Option<i64>,
}

/// A flag that may be absent, but when present is `true` or `false` (not `null`).
fn present_flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    bool::deserialize(deserializer).map(Some)
}

/// The brake as it stands: paused or not, and the caps in force.
#[utoipa::path(get, path = "/admin/queue", operation_id = "admission",
    tag = "box office", security(("admin" = [])),
    responses((status = 200, body = AdmissionResponse), AdminErrors))]
pub async fn admission(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let now = control_admission::current(state.ports.store.queue.as_ref(), &state.policies.queue).await?;
    Ok(HttpResponse::Ok().json(AdmissionResponse::from(now)))
}

/// Pause or resume admission, or change the caps, for the whole service: every instance's next
/// admission tick runs under them. Waiting fans keep their places while paused, and
/// `GET /api/token` tells them `paused: true`.
#[utoipa::path(post, path = "/admin/queue", operation_id = "controlAdmission",
    tag = "box office", security(("admin" = [])),
    request_body = AdmissionRequest,
    responses(
        (status = 200, body = AdmissionResponse),
        (status = 400, description = "`VALIDATION_ERROR`: a field of the wrong type, or a cap out of range", body = ErrorBody),
        (status = 408, description = "`REQUEST_TIMEOUT`: the body did not arrive in time", body = ErrorBody),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: bodies are limited to 16 KiB", body = ErrorBody),
        AdminErrors))]
pub async fn control(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let body: AdmissionRequest = input::json(&request, &body)?;
    let change = ControlAdmission {
        paused: body.paused,
        max_active: body.max_active,
        admit_per_tick: body.admit_per_tick,
    };
    let now = input::to_completion(async move {
        control_admission::execute(state.ports.store.queue.as_ref(), &state.policies.queue, change).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(AdmissionResponse::from(now)))
}

/// Seats and money of a performance, or of a whole concert.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesFigures {
    /// The performance; absent for a concert's sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<i64>,
    /// When it starts; absent for a concert's sum.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<OffsetDateTime>,
    /// When it goes on sale; absent for a concert's sum.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub on_sale_at: Option<OffsetDateTime>,
    /// When the box office cancelled it; absent unless it did.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<OffsetDateTime>,
    /// Seats neither held nor sold.
    pub free: u64,
    /// Seats under a live hold.
    pub held: u64,
    /// Seats sold.
    pub sold: u64,
    /// Won paid and not refunded.
    pub revenue: i64,
    /// Payments ever made, refunded ones included.
    pub payments: u64,
    /// Payments refunded.
    pub refunds: u64,
    /// Won refunded.
    pub refunded: i64,
}

impl From<&PerformanceSales> for SalesFigures {
    fn from(sales: &PerformanceSales) -> Self {
        Self {
            schedule_id: sales.schedule_id.map(|id| id.get()),
            starts_at: sales.starts_at,
            on_sale_at: sales.on_sale_at,
            cancelled_at: sales.cancelled_at,
            free: sales.free(),
            held: sales.held,
            sold: sales.sold,
            revenue: sales.revenue,
            payments: sales.payments,
            refunds: sales.refunds,
            refunded: sales.refunded,
        }
    }
}

/// One concert's sale.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertSalesResponse {
    /// The concert.
    pub concert_id: i64,
    /// Its title.
    pub title: String,
    /// Who plays.
    pub artist: String,
    /// Where.
    pub venue: String,
    /// The sum of its performances.
    pub total: SalesFigures,
    /// Each performance.
    pub performances: Vec<SalesFigures>,
}

impl From<ConcertSales> for ConcertSalesResponse {
    fn from(sales: ConcertSales) -> Self {
        Self {
            concert_id: sales.concert.id.get(),
            title: sales.concert.title,
            artist: sales.concert.artist,
            venue: sales.concert.venue,
            total: SalesFigures::from(&sales.total),
            performances: sales.performances.iter().map(SalesFigures::from).collect(),
        }
    }
}

/// Every concert and every performance (sold out and cancelled ones included) with how its sale
/// stands now: seats free, held and sold, and the money. Reads every seat and payment: for
/// operators, not for polling.
#[utoipa::path(get, path = "/admin/sales", operation_id = "sales",
    tag = "box office", security(("admin" = [])),
    responses((status = 200, body = Vec<ConcertSalesResponse>), AdminErrors))]
pub async fn sales(state: web::Data<HttpState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    admin::gate(&state, &request)?;
    let report =
        sales_report::execute(state.ports.store.catalogue.as_ref(), state.ports.clock.as_ref()).await?;
    let body: Vec<ConcertSalesResponse> = report.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(body))
}
