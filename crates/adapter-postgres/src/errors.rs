//! How database failures become [`StoreError`]s: anything that says "the database cannot be
//! reached right now", or "this transaction lost to a concurrent one, try again" (a deadlock or
//! serialization failure, which the database rolled back whole), is [`StoreError::Unavailable`]
//! (503, retry later), everything else is [`StoreError::Internal`]. Messages never carry the connection URL.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError as ManagerError;
use diesel_async::pooled_connection::deadpool::PoolError;
use domain::ports::StoreError;

/// Server messages (SQLSTATE class 57P, "operator intervention") that mean the server is going
/// away or not ready yet; diesel reports them as `Unknown`, so they are recognised by text.
const SERVER_GOING_AWAY: [&str; 4] = [
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
];

/// A failed statement.
pub(crate) fn db_error(error: DieselError) -> StoreError {
    match &error {
        DieselError::BrokenTransactionManager => {
            StoreError::Unavailable("the database connection broke during a transaction".into())
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info)
        | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
            StoreError::Unavailable(format!("lost the database connection: {}", info.message()))
        }
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
            StoreError::Unavailable(format!("lost to a concurrent transaction: {}", info.message()))
        }
        DieselError::DatabaseError(_, info) if info.message().starts_with("deadlock detected") => {
            StoreError::Unavailable(format!("lost to a concurrent transaction: {}", info.message()))
        }
        DieselError::DatabaseError(_, info)
            if SERVER_GOING_AWAY.iter().any(|prefix| info.message().starts_with(prefix)) =>
        {
            StoreError::Unavailable(format!("the database is not accepting work: {}", info.message()))
        }
        _ => StoreError::Internal(format!("database error: {error}")),
    }
}

/// A connection that could not be opened.
pub(crate) fn connection_error(error: &diesel::ConnectionError) -> StoreError {
    StoreError::Unavailable(format!("cannot connect to the database: {error}"))
}

/// A connection the pool could not hand out.
pub(crate) fn pool_error(error: PoolError) -> StoreError {
    match error {
        PoolError::Timeout(kind) => {
            StoreError::Unavailable(format!("no database connection became available in time ({kind:?})"))
        }
        PoolError::Backend(ManagerError::ConnectionError(error)) => connection_error(&error),
        PoolError::Backend(ManagerError::QueryError(error)) => match db_error(error) {
            StoreError::Internal(message) => StoreError::Unavailable(message),
            unavailable => unavailable,
        },
        PoolError::Closed => StoreError::Unavailable("the database pool is closed".into()),
        other => StoreError::Internal(format!("database pool failure: {other}")),
    }
}

/// What the closure of a transaction can end with.
#[derive(Debug)]
pub(crate) enum TxError {
    /// A guard affected no row: state changed since the decision. Roll back, report nothing.
    Refused,
    /// A statement failed.
    Db(DieselError),
    /// A row did not convert, or a rule of this adapter was broken.
    Store(StoreError),
}

impl TxError {
    /// The store error a transaction that ended with this reports; a refusal the caller did not
    /// turn into an outcome of its own is a broken invariant.
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Self::Db(error) => db_error(error),
            Self::Store(error) => error,
            Self::Refused => StoreError::Internal("a guarded write was refused unexpectedly".into()),
        }
    }
}

impl From<DieselError> for TxError {
    fn from(error: DieselError) -> Self {
        Self::Db(error)
    }
}

impl From<StoreError> for TxError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// Whether a statement failed on a unique index.
pub(crate) fn is_unique_violation(error: &DieselError) -> bool {
    matches!(error, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_and_broken_transactions_are_unavailable() {
        let closed =
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new("closed".to_owned()));
        let unsent =
            DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, Box::new("eof".to_owned()));
        let shutdown = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("terminating connection due to administrator command".to_owned()),
        );
        for error in [closed, unsent, shutdown, DieselError::BrokenTransactionManager] {
            assert!(matches!(db_error(error), StoreError::Unavailable(_)));
        }
    }

    #[test]
    fn deadlocks_and_serialization_failures_are_unavailable_so_clients_retry() {
        let serialization = DieselError::DatabaseError(
            DatabaseErrorKind::SerializationFailure,
            Box::new("could not serialize access due to concurrent update".to_owned()),
        );
        let deadlock =
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new("deadlock detected".to_owned()));
        for error in [serialization, deadlock] {
            assert!(matches!(db_error(error), StoreError::Unavailable(_)));
        }
    }

    #[test]
    fn constraint_violations_and_bugs_are_internal() {
        let check =
            DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, Box::new("check".to_owned()));
        assert!(matches!(db_error(check), StoreError::Internal(_)));
        assert!(matches!(db_error(DieselError::NotFound), StoreError::Internal(_)));
    }

    #[test]
    fn pool_timeouts_are_unavailable() {
        let timeout = PoolError::Timeout(deadpool::managed::TimeoutType::Wait);
        assert!(matches!(pool_error(timeout), StoreError::Unavailable(_)));
        assert!(matches!(pool_error(PoolError::Closed), StoreError::Unavailable(_)));
        assert!(matches!(pool_error(PoolError::NoRuntimeSpecified), StoreError::Internal(_)));
    }
}
