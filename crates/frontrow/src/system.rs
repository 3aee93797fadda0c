//! The outside world's clock and randomness, as the domain's ports.

use domain::TokenValue;
use domain::ports::{Clock, TokenMint};
use time::OffsetDateTime;

/// The real UTC clock, to the microsecond: PostgreSQL keeps microseconds, so both stores
/// answer with the same instants they were given.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
    }
}

/// Random version-4 UUIDs: 122 random bits from the operating system's generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomMint;

impl TokenMint for RandomMint {
    fn mint(&self) -> TokenValue {
        TokenValue::from_uuid(uuid::Uuid::new_v4())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_differ_and_are_random_uuids() {
        let (a, b) = (RandomMint.mint(), RandomMint.mint());
        assert_ne!(a, b);
        assert_eq!(a.as_uuid().get_version_num(), 4);
    }

    #[test]
    fn system_clock_reads_utc_to_the_microsecond() {
        let now = SystemClock.now();
        assert!(now.offset().is_utc());
        assert_eq!(now.nanosecond() % 1_000, 0);
    }
}
