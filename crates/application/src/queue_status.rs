//! `GET /api/token`: the polling endpoint of the waiting room.

use domain::ports::{Clock, QueueRepository};
use domain::{QueuePolicy, QueueToken, StoreError, TokenState, TokenValue};
use time::{Duration, OffsetDateTime};

/// A token as a fan sees it right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    /// The token.
    pub token: QueueToken,
    /// What it allows now (the clock's verdict, not the stored status).
    pub state: TokenState,
    /// Waiting tokens ahead plus one; 0 unless waiting.
    pub position: u64,
    /// Expected wait before admission; zero unless waiting.
    pub estimated_wait: Duration,
}

/// Why the status could not be given.
#[derive(Debug, thiserror::Error)]
pub enum QueueStatusError {
    /// Malformed or unknown token.
    #[error("the queue token is not valid")]
    Invalid,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reports the token's state and place; a poll of a waiting token also proves the fan is still
/// there, which keeps the place from being dropped as abandoned.
pub async fn execute(
    queue: &dyn QueueRepository,
    clock: &dyn Clock,
    policy: &QueuePolicy,
    token_text: &str,
) -> Result<TokenView, QueueStatusError> {
    let value = TokenValue::parse(token_text).map_err(|_| QueueStatusError::Invalid)?;
    let token = queue.token(value).await?.ok_or(QueueStatusError::Invalid)?;
    let now = clock.now();
    let view = describe(queue, token, now, policy).await?;
    if view.state == TokenState::Waiting {
        queue.touch(value, now).await?;
    }
    Ok(view)
}

/// Builds the view of `token` at `now`; only waiting tokens cost a position lookup.
pub(crate) async fn describe(
    queue: &dyn QueueRepository,
    token: QueueToken,
    now: OffsetDateTime,
    policy: &QueuePolicy,
) -> Result<TokenView, StoreError> {
    let state = token.state_at(now, policy);
    let position = match state {
        TokenState::Waiting => queue.position(&token).await?,
        TokenState::Active { .. } | TokenState::Expired => 0,
    };
    Ok(TokenView { token, state, position, estimated_wait: policy.estimated_wait(position) })
}
