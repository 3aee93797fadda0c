//! The claims a queue token carries to its holder.

use time::OffsetDateTime;

use crate::ids::UserId;
use crate::queue::{QueueToken, TokenValue};

/// What a queue token carries to its holder: enough to tell who holds it and where it stands
/// in the queue without asking anyone, once a [`crate::ports::TokenSeal`] has vouched for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    /// The token it names.
    pub value: TokenValue,
    /// Whose token.
    pub user_id: UserId,
    /// Its place in issue order.
    pub ticket: u64,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
}

impl TokenClaims {
    /// Whether `token` is the one these claims describe (same value, holder and ticket).
    pub fn describe(&self, token: &QueueToken) -> bool {
        (self.value, self.user_id, self.ticket) == (token.value, token.user_id, token.ticket)
    }
}

impl From<&QueueToken> for TokenClaims {
    fn from(token: &QueueToken) -> Self {
        Self { value: token.value, user_id: token.user_id, ticket: token.ticket, issued_at: token.issued_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use uuid::Uuid;

    #[test]
    fn claims_describe_only_the_token_with_their_value_holder_and_ticket() {
        let at = datetime!(2030-01-01 12:00 UTC);
        let token = QueueToken {
            value: TokenValue::from_uuid(Uuid::from_u128(7)),
            user_id: UserId::new(5).expect("valid id"),
            ticket: 9,
            status: crate::TokenStatus::Waiting,
            issued_at: at,
            last_seen_at: at,
            expires_at: None,
        };
        let claims = TokenClaims::from(&token);
        assert!(claims.describe(&token));
        let other_holder = UserId::new(6).expect("valid id");
        assert!(!TokenClaims { user_id: other_holder, ..claims }.describe(&token));
        assert!(!TokenClaims { ticket: 10, ..claims }.describe(&token));
        assert!(!TokenClaims { value: TokenValue::from_uuid(Uuid::from_u128(8)), ..claims }.describe(&token));
    }
}
