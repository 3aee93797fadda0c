//! Identifiers. Each entity has its own id type so a seat id can never be passed where a
//! reservation id is expected; all are positive 64-bit integers, as the API's JSON ids are.

use std::fmt;

/// An id outside 1..=i64::MAX: the value cannot name any stored entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an id must be a positive integer, got {0}")]
pub struct InvalidId(pub i64);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            /// Accepts only positive values, the range every store hands out.
            pub fn new(value: i64) -> Result<Self, InvalidId> {
                if value > 0 { Ok(Self(value)) } else { Err(InvalidId(value)) }
            }

            /// The raw number, for storage and for the wire.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A fan. Users come into existence when they are first issued a queue token.
    UserId
);
id_type!(
    /// A concert (an artist's show, which may have several performances).
    ConcertId
);
id_type!(
    /// One performance of a concert at one date and time.
    ScheduleId
);
id_type!(
    /// One seat of one performance; seat ids are unique across all performances.
    SeatId
);
id_type!(
    /// A hold on a seat, which a payment turns into a sale.
    ReservationId
);
id_type!(
    /// A completed payment.
    PaymentId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_positive_values() {
        assert_eq!(UserId::new(1).map(UserId::get), Ok(1));
        assert_eq!(SeatId::new(i64::MAX).map(SeatId::get), Ok(i64::MAX));
    }

    #[test]
    fn ids_reject_zero_and_negative_values() {
        assert_eq!(UserId::new(0), Err(InvalidId(0)));
        assert_eq!(ReservationId::new(-7), Err(InvalidId(-7)));
    }
}
