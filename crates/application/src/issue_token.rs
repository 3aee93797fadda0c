//! `POST /api/token`: a fan asks for a place in the waiting room.

use domain::ports::{Clock, QueueRepository, TokenMint};
use domain::{InvalidId, QueuePolicy, StoreError, UserId};

use crate::queue_status::{TokenView, describe};

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueToken {
    /// The fan's id, as sent.
    pub user_id: i64,
}

/// Why no token was issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    /// The id is not a positive integer.
    #[error(transparent)]
    InvalidUserId(#[from] InvalidId),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One token per user: a fan whose token is still waiting or active gets the same token and
/// place back; a new or expired fan joins at the back of the queue.
pub async fn execute(
    queue: &dyn QueueRepository,
    mint: &dyn TokenMint,
    clock: &dyn Clock,
    policy: &QueuePolicy,
    command: IssueToken,
) -> Result<TokenView, IssueTokenError> {
    let user = UserId::new(command.user_id)?;
    let now = clock.now();
    let token = queue.issue(user, mint.mint(), now, policy).await?;
    Ok(describe(queue, token, now, policy).await?)
}
