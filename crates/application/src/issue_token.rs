//! `POST /api/token`: a fan asks for a place in the waiting room.

use domain::ports::{Clock, QueueRepository, TokenMint, TokenSeal};
use domain::{InvalidId, QueuePolicy, StoreError, UserId};

use crate::access::ensure_self;
use crate::queue_status::{TokenView, describe};

/// Who asks, as far as the service can tell (`AUTH_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `AUTH_MODE=none`: nothing was proven, so the request's `userId` is taken at its word
    /// (the demo, or a deployment whose gateway already authenticated the user).
    Unverified,
    /// `AUTH_MODE=jwt`: the user an identity token from the identity provider proved.
    Verified(UserId),
}

/// The request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueToken {
    /// Who asks.
    pub caller: Caller,
    /// The `userId` sent, if any: required from an unverified caller; a verified caller may
    /// leave it out, and may only name themselves.
    pub user_id: Option<i64>,
}

/// Why no token was issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    /// The id is not a positive integer.
    #[error(transparent)]
    InvalidUserId(#[from] InvalidId),
    /// An unverified caller sent no `userId`.
    #[error("userId is required")]
    MissingUserId,
    /// A verified caller named another user.
    #[error("the identity token proves another user than userId; send your own id or leave it out")]
    OtherUser,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One token per user: a fan whose token is still waiting or active gets the same token and
/// place back; a new or expired fan joins at the back of the queue. With a verified caller the
/// token can only ever be that caller's.
pub async fn execute(
    queue: &dyn QueueRepository,
    mint: &dyn TokenMint,
    seal: &dyn TokenSeal,
    clock: &dyn Clock,
    policy: &QueuePolicy,
    command: IssueToken,
) -> Result<TokenView, IssueTokenError> {
    let user = whose(command)?;
    let now = clock.now();
    let token = queue.issue(user, mint.mint(), now, policy).await?;
    Ok(describe(queue, seal, token, now, policy).await?)
}

/// The user the token is for.
fn whose(command: IssueToken) -> Result<UserId, IssueTokenError> {
    match (command.caller, command.user_id) {
        (Caller::Unverified, None) => Err(IssueTokenError::MissingUserId),
        (Caller::Unverified, Some(id)) => Ok(UserId::new(id)?),
        (Caller::Verified(user), None) => Ok(user),
        (Caller::Verified(user), Some(id)) => ensure_self(user, id).map_err(|_| IssueTokenError::OtherUser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, policy, seal, store_down, text_of, token, user};
    use domain::ports::{MockClock, MockQueueRepository, MockTokenMint, MockTokenSeal};
    use domain::{QueueToken, RoomReading, TokenState, TokenStatus, TokenValue};
    use futures::executor::block_on;
    use mockall::predicate::eq;
    use time::Duration;

    fn minting(value: TokenValue) -> MockTokenMint {
        let mut mint = MockTokenMint::new();
        mint.expect_mint().times(1).return_const(value);
        mint
    }

    /// A store whose `issue` answers `token`, once.
    fn queue_issuing(token: QueueToken) -> MockQueueRepository {
        let mut queue = MockQueueRepository::new();
        queue.expect_issue().times(1).return_once(move |_, _, _, _| Ok(token));
        queue
    }

    fn issue(
        queue: &MockQueueRepository,
        mint: &MockTokenMint,
        user_id: i64,
    ) -> Result<TokenView, IssueTokenError> {
        issue_for(queue, mint, Caller::Unverified, Some(user_id))
    }

    fn issue_for(
        queue: &MockQueueRepository,
        mint: &MockTokenMint,
        caller: Caller,
        user_id: Option<i64>,
    ) -> Result<TokenView, IssueTokenError> {
        block_on(execute(queue, mint, &seal(), &clock(), &policy(), IssueToken { caller, user_id }))
    }

    /// The use case with ports that fail the test if anything is called.
    fn issue_untouched(caller: Caller, user_id: Option<i64>) -> Result<TokenView, IssueTokenError> {
        let (queue, mint, clock) = (MockQueueRepository::new(), MockTokenMint::new(), MockClock::new());
        let seal = MockTokenSeal::new();
        block_on(execute(&queue, &mint, &seal, &clock, &policy(), IssueToken { caller, user_id }))
    }

    /// A store that must be asked to issue a token for user `n` exactly once (with that token's
    /// value, now, and the policy), and answers with a token of that user in `status`.
    fn queue_issuing_for(n: i64, status: TokenStatus) -> (MockQueueRepository, QueueToken) {
        let issued = token(n, 1, status);
        let mut queue = MockQueueRepository::new();
        let stored = issued.clone();
        queue
            .expect_issue()
            .with(eq(user(n)), eq(issued.value), eq(NOW), eq(policy()))
            .times(1)
            .return_once(move |_, _, _, _| Ok(stored));
        (queue, issued)
    }

    #[test]
    fn a_verified_caller_naming_themselves_gets_their_own_token() {
        let (queue, active) = queue_issuing_for(7, TokenStatus::Active);
        let view =
            issue_for(&queue, &minting(active.value), Caller::Verified(user(7)), Some(7)).expect("issued");
        assert_eq!(view.token.user_id, user(7));
    }

    #[test]
    fn a_verified_caller_who_leaves_user_id_out_gets_their_own_token() {
        let (queue, active) = queue_issuing_for(7, TokenStatus::Active);
        let view =
            issue_for(&queue, &minting(active.value), Caller::Verified(user(7)), None).expect("issued");
        assert_eq!(view.token.user_id, user(7));
    }

    #[test]
    fn a_verified_caller_naming_another_user_fails_with_other_user_without_calling_any_port() {
        for other in [8, 0, -7, i64::MAX] {
            let result = issue_untouched(Caller::Verified(user(7)), Some(other));
            assert!(matches!(result, Err(IssueTokenError::OtherUser)), "userId {other}: {result:?}");
        }
    }

    #[test]
    fn an_unverified_caller_without_user_id_fails_with_missing_user_id_without_calling_any_port() {
        let result = issue_untouched(Caller::Unverified, None);
        assert!(matches!(result, Err(IssueTokenError::MissingUserId)), "{result:?}");
    }

    #[test]
    fn issue_gives_a_new_waiting_token_its_position_and_estimated_wait() {
        let (mut queue, waiting) = queue_issuing_for(5, TokenStatus::Waiting);
        queue.expect_position().with(eq(waiting.clone())).times(1).return_once(|_| Ok(95));
        let due =
            RoomReading { last_admission_at: Some(NOW - Duration::seconds(1)), ..RoomReading::default() };
        queue.expect_room().return_once(move || Ok(due));
        let view = issue(&queue, &minting(waiting.value), 5).expect("token is issued");
        let expected = TokenView {
            text: text_of(&waiting),
            token: waiting,
            state: TokenState::Waiting,
            position: 95,
            estimated_wait: Duration::seconds(9),
            paused: false,
        };
        assert_eq!(view, expected, "95th at ten a tick, the first step due now: nine ticks on");
    }

    #[test]
    fn issue_returns_the_users_live_token_rather_than_the_fresh_candidate() {
        let candidate = token(5, 99, TokenStatus::Waiting).value;
        let existing = token(5, 1, TokenStatus::Active);
        let view = issue(&queue_issuing(existing.clone()), &minting(candidate), 5).expect("token is issued");
        assert_eq!(view.token, existing);
        assert_ne!(view.token.value, candidate);
    }

    #[test]
    fn issue_gives_an_active_token_position_zero_without_a_position_lookup() {
        let active = token(5, 1, TokenStatus::Active);
        // No position expectation: only waiting tokens cost a lookup.
        let view = issue(&queue_issuing(active.clone()), &minting(active.value), 5).expect("token is issued");
        let state = TokenState::Active { expires_at: NOW + Duration::minutes(10) };
        let text = text_of(&active);
        assert_eq!(
            view,
            TokenView {
                token: active,
                text,
                state,
                position: 0,
                estimated_wait: Duration::ZERO,
                paused: false
            }
        );
    }

    #[test]
    fn issue_fails_with_invalid_user_id_for_zero_or_negative_ids_without_calling_any_port() {
        for bad in [0, -1, i64::MIN] {
            let result = issue_untouched(Caller::Unverified, Some(bad));
            assert!(
                matches!(result, Err(IssueTokenError::InvalidUserId(InvalidId(n))) if n == bad),
                "{result:?}"
            );
        }
    }

    #[test]
    fn issue_fails_with_store_when_the_token_cannot_be_stored() {
        let mut queue = MockQueueRepository::new();
        queue.expect_issue().return_once(|_, _, _, _| Err(store_down()));
        let result = issue(&queue, &minting(token(5, 1, TokenStatus::Waiting).value), 5);
        assert!(matches!(result, Err(IssueTokenError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn issue_fails_with_store_when_the_position_cannot_be_read() {
        let waiting = token(5, 1, TokenStatus::Waiting);
        let mut queue = queue_issuing(waiting.clone());
        queue.expect_position().return_once(|_| Err(store_down()));
        let result = issue(&queue, &minting(waiting.value), 5);
        assert!(matches!(result, Err(IssueTokenError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn issue_fails_with_store_when_the_room_cannot_be_read() {
        let waiting = token(5, 1, TokenStatus::Waiting);
        let mut queue = queue_issuing(waiting.clone());
        queue.expect_position().return_once(|_| Ok(95));
        queue.expect_room().return_once(|| Err(store_down()));
        let result = issue(&queue, &minting(waiting.value), 5);
        assert!(matches!(result, Err(IssueTokenError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
