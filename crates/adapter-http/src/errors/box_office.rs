//! The box office's errors, as [`super`] maps every other: the operator's API answers in the
//! same `{"code", "message"}` JSON with the same statuses.

use actix_web::http::StatusCode;
use application::cancel_performance::CancelPerformanceError;
use application::control_admission::ControlAdmissionError;
use application::edit_seat::EditSeatError;
use application::import_catalogue::ImportCatalogueError;
use application::refund_payment::RefundPaymentError;
use application::seat_map::SeatMapError;

use super::ApiError;

impl From<RefundPaymentError> for ApiError {
    fn from(error: RefundPaymentError) -> Self {
        let message = error.to_string();
        match error {
            RefundPaymentError::NotFound => Self::not_found(message),
            RefundPaymentError::AlreadyRefunded => {
                Self::new(StatusCode::CONFLICT, "ALREADY_REFUNDED", message)
            }
            RefundPaymentError::BalanceLimit => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "BALANCE_LIMIT_EXCEEDED", message)
            }
            RefundPaymentError::Store(store) => store.into(),
        }
    }
}

impl From<ControlAdmissionError> for ApiError {
    fn from(error: ControlAdmissionError) -> Self {
        match error {
            ControlAdmissionError::OutOfRange { .. } => Self::validation(error.to_string()),
            ControlAdmissionError::Store(store) => store.into(),
        }
    }
}

impl From<ImportCatalogueError> for ApiError {
    fn from(error: ImportCatalogueError) -> Self {
        let message = error.to_string();
        match error {
            ImportCatalogueError::SeatsDiffer { .. } => {
                Self::new(StatusCode::CONFLICT, "SEATS_CHANGED", message)
            }
            ImportCatalogueError::Store(store) => store.into(),
        }
    }
}

impl From<catalogue_file::CatalogueFileError> for ApiError {
    fn from(error: catalogue_file::CatalogueFileError) -> Self {
        Self::validation(error.to_string())
    }
}

impl From<EditSeatError> for ApiError {
    fn from(error: EditSeatError) -> Self {
        let message = error.to_string();
        match error {
            EditSeatError::InvalidPrice(_) => Self::validation(format!("price: {message}")),
            EditSeatError::SeatNotFound => Self::not_found(message),
            EditSeatError::SeatTaken => Self::new(StatusCode::CONFLICT, "SEAT_TAKEN", message),
            EditSeatError::Store(store) => store.into(),
        }
    }
}

impl From<CancelPerformanceError> for ApiError {
    fn from(error: CancelPerformanceError) -> Self {
        match error {
            CancelPerformanceError::NotFound => Self::not_found(error.to_string()),
            CancelPerformanceError::Store(store) => store.into(),
        }
    }
}

impl From<SeatMapError> for ApiError {
    fn from(error: SeatMapError) -> Self {
        match error {
            SeatMapError::NotFound => Self::not_found(error.to_string()),
            SeatMapError::Store(store) => store.into(),
        }
    }
}
