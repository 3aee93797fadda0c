//! The token gate: every booking endpoint needs an ACTIVE queue token.

use domain::ports::{Clock, QueueRepository};
use domain::{QueuePolicy, StoreError, TokenState, TokenValue, UserId};
use time::OffsetDateTime;

/// Who may act, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorized {
    /// The token's user.
    pub user_id: UserId,
    /// The token.
    pub token: TokenValue,
    /// When the token stops being active.
    pub expires_at: OffsetDateTime,
}

/// Why the gate refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// Malformed or unknown token.
    #[error("the queue token is not valid")]
    Invalid,
    /// Paid, timed out, or dropped for idling.
    #[error("the queue token has expired; ask for a new one")]
    Expired,
    /// Still in the waiting room.
    #[error("still waiting in the queue")]
    NotActive {
        /// Waiting tokens ahead plus one.
        position: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the bearer token text a client sent.
pub async fn execute(
    queue: &dyn QueueRepository,
    clock: &dyn Clock,
    policy: &QueuePolicy,
    token_text: &str,
) -> Result<Authorized, AuthorizeError> {
    let value = TokenValue::parse(token_text).map_err(|_| AuthorizeError::Invalid)?;
    let token = queue.token(value).await?.ok_or(AuthorizeError::Invalid)?;
    match token.state_at(clock.now(), policy) {
        TokenState::Active { expires_at } => Ok(Authorized { user_id: token.user_id, token: value, expires_at }),
        TokenState::Waiting => Err(AuthorizeError::NotActive { position: queue.position(&token).await? }),
        TokenState::Expired => Err(AuthorizeError::Expired),
    }
}
