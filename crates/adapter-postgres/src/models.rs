//! Rows as PostgreSQL returns them, and their checked conversion into domain values. A row
//! that breaks a domain invariant (a negative id, an unknown status) is reported as
//! [`StoreError::Internal`], never papered over.

use diesel::pg::Pg;
use diesel::prelude::*;
use domain::ports::StoreError;
use domain::{
    Balance, Concert, ConcertId, InvalidId, LedgerEntry, LedgerReason, QueueToken, Reservation,
    ReservationId, ReservationStatus, Schedule, ScheduleId, Seat, SeatHold, SeatId, SeatNumber, TokenStatus,
    TokenValue, UserId, Won,
};
use time::OffsetDateTime;

use crate::schema::{concerts, ledger_entries, queue_tokens, reservations, schedules, seats};

/// A stored value that no domain value matches.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("corrupt row in the database: {what}"))
}

/// A stored id as a domain id.
pub(crate) fn id<T>(make: fn(i64) -> Result<T, InvalidId>, raw: i64) -> Result<T, StoreError> {
    make(raw).map_err(corrupt)
}

/// A stored amount as money.
pub(crate) fn won(raw: i64) -> Result<Won, StoreError> {
    Won::new(raw).map_err(corrupt)
}

/// A stored balance.
pub(crate) fn balance(raw: i64) -> Result<Balance, StoreError> {
    Balance::new(raw).map_err(corrupt)
}

/// A counter or ticket as stored (never negative).
pub(crate) fn unsigned(raw: i64) -> Result<u64, StoreError> {
    u64::try_from(raw).map_err(corrupt)
}

/// A number of affected rows, as the ports count it.
pub(crate) fn count(raw: usize) -> u64 {
    u64::try_from(raw).unwrap_or(u64::MAX)
}

fn reservation_status(text: &str) -> Result<ReservationStatus, StoreError> {
    match text {
        "HELD" => Ok(ReservationStatus::Held),
        "PAID" => Ok(ReservationStatus::Paid),
        "EXPIRED" => Ok(ReservationStatus::Expired),
        "RELEASED" => Ok(ReservationStatus::Released),
        "REFUNDED" => Ok(ReservationStatus::Refunded),
        other => Err(corrupt(format_args!("reservation status {other:?}"))),
    }
}

/// `queue_tokens.status`.
pub(crate) const fn token_status_text(status: TokenStatus) -> &'static str {
    match status {
        TokenStatus::Waiting => "WAITING",
        TokenStatus::Active => "ACTIVE",
        TokenStatus::Expired => "EXPIRED",
    }
}

/// The inverse of [`token_status_text`].
fn token_status(text: &str) -> Result<TokenStatus, StoreError> {
    [TokenStatus::Waiting, TokenStatus::Active, TokenStatus::Expired]
        .into_iter()
        .find(|status| token_status_text(*status) == text)
        .ok_or_else(|| corrupt(format_args!("token status {text:?}")))
}

/// `ledger_entries.reason` of a charge.
pub(crate) const REASON_CHARGE: &str = "CHARGE";
/// `ledger_entries.reason` of a payment.
pub(crate) const REASON_PAYMENT: &str = "PAYMENT";
/// `ledger_entries.reason` of a refund.
pub(crate) const REASON_REFUND: &str = "REFUND";

/// A `concerts` row.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = concerts, check_for_backend(Pg))]
pub(crate) struct ConcertRow {
    id: i64,
    title: String,
    artist: String,
    venue: String,
}

impl TryFrom<ConcertRow> for Concert {
    type Error = StoreError;

    fn try_from(row: ConcertRow) -> Result<Self, StoreError> {
        Ok(Concert {
            id: id(ConcertId::new, row.id)?,
            title: row.title,
            artist: row.artist,
            venue: row.venue,
        })
    }
}

/// A `schedules` row.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = schedules, check_for_backend(Pg))]
pub(crate) struct ScheduleRow {
    id: i64,
    concert_id: i64,
    starts_at: OffsetDateTime,
    on_sale_at: OffsetDateTime,
}

impl TryFrom<ScheduleRow> for Schedule {
    type Error = StoreError;

    fn try_from(row: ScheduleRow) -> Result<Self, StoreError> {
        Ok(Schedule {
            id: id(ScheduleId::new, row.id)?,
            concert_id: id(ConcertId::new, row.concert_id)?,
            starts_at: row.starts_at,
            on_sale_at: row.on_sale_at,
        })
    }
}

/// A `seats` row with its sale state.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = seats, check_for_backend(Pg))]
pub(crate) struct SeatRow {
    id: i64,
    schedule_id: i64,
    concert_id: i64,
    starts_at: OffsetDateTime,
    on_sale_at: OffsetDateTime,
    number: i16,
    zone: String,
    price: i64,
    sold: bool,
    held_by: Option<i64>,
    held_until: Option<OffsetDateTime>,
}

impl TryFrom<SeatRow> for Seat {
    type Error = StoreError;

    fn try_from(row: SeatRow) -> Result<Self, StoreError> {
        let hold = match (row.held_by, row.held_until) {
            (Some(by), Some(until)) => Some(SeatHold { reservation_id: id(ReservationId::new, by)?, until }),
            (None, None) => None,
            _ => return Err(corrupt(format_args!("seat {} has half a hold", row.id))),
        };
        Ok(Seat {
            id: id(SeatId::new, row.id)?,
            schedule_id: id(ScheduleId::new, row.schedule_id)?,
            concert_id: id(ConcertId::new, row.concert_id)?,
            starts_at: row.starts_at,
            on_sale_at: row.on_sale_at,
            number: SeatNumber::new(i64::from(row.number)).map_err(corrupt)?,
            zone: row.zone,
            price: won(row.price)?,
            sold: row.sold,
            hold,
        })
    }
}

/// A seat to load.
#[derive(Debug, Insertable)]
#[diesel(table_name = seats, check_for_backend(Pg))]
pub(crate) struct NewSeatRow<'a> {
    pub(crate) schedule_id: i64,
    pub(crate) concert_id: i64,
    pub(crate) starts_at: OffsetDateTime,
    pub(crate) on_sale_at: OffsetDateTime,
    pub(crate) number: i16,
    pub(crate) zone: &'a str,
    pub(crate) price: i64,
}

/// A `reservations` row, read by the query builder or returned by the hold statement.
#[derive(Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = reservations, check_for_backend(Pg))]
pub(crate) struct ReservationRow {
    id: i64,
    user_id: i64,
    seat_id: i64,
    concert_id: i64,
    seat_name: String,
    price: i64,
    status: String,
    reserved_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

impl TryFrom<ReservationRow> for Reservation {
    type Error = StoreError;

    fn try_from(row: ReservationRow) -> Result<Self, StoreError> {
        Ok(Reservation {
            id: id(ReservationId::new, row.id)?,
            user_id: id(UserId::new, row.user_id)?,
            seat_id: id(SeatId::new, row.seat_id)?,
            concert_id: id(ConcertId::new, row.concert_id)?,
            seat_name: row.seat_name,
            price: won(row.price)?,
            status: reservation_status(&row.status)?,
            reserved_at: row.reserved_at,
            expires_at: row.expires_at,
        })
    }
}

/// A `ledger_entries` row.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = ledger_entries, check_for_backend(Pg))]
pub(crate) struct LedgerRow {
    user_id: i64,
    delta: i64,
    reason: String,
    reservation_id: Option<i64>,
    balance_after: i64,
    at: OffsetDateTime,
}

impl TryFrom<LedgerRow> for LedgerEntry {
    type Error = StoreError;

    fn try_from(row: LedgerRow) -> Result<Self, StoreError> {
        let reason = match (row.reason.as_str(), row.reservation_id) {
            (REASON_CHARGE, None) => LedgerReason::Charge,
            (REASON_PAYMENT, Some(reservation)) => {
                LedgerReason::Payment(id(ReservationId::new, reservation)?)
            }
            (REASON_REFUND, Some(reservation)) => LedgerReason::Refund(id(ReservationId::new, reservation)?),
            (other, _) => return Err(corrupt(format_args!("ledger reason {other:?}"))),
        };
        Ok(LedgerEntry {
            user_id: id(UserId::new, row.user_id)?,
            delta: row.delta,
            reason,
            balance_after: balance(row.balance_after)?,
            at: row.at,
        })
    }
}

/// A `queue_tokens` row.
#[derive(Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = queue_tokens, check_for_backend(Pg))]
pub(crate) struct TokenRow {
    token: uuid::Uuid,
    user_id: i64,
    ticket: i64,
    status: String,
    issued_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
}

impl TryFrom<TokenRow> for QueueToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        Ok(QueueToken {
            value: TokenValue::from_uuid(row.token),
            user_id: id(UserId::new, row.user_id)?,
            ticket: unsigned(row.ticket)?,
            status: token_status(&row.status)?,
            issued_at: row.issued_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
        })
    }
}

/// Converts every row, failing on the first corrupt one.
pub(crate) fn convert_all<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}
