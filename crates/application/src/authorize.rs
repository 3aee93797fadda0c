//! The token gate: every booking endpoint needs an ACTIVE queue token.

use domain::ports::{Clock, QueueRepository, TokenSeal};
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

/// Checks the bearer token text a client sent. Text the seal does not vouch for is refused
/// before anything is read, so made-up tokens cost no store read. A token the store's
/// (possibly cached) copy shows active passes; any other answer is checked against a fresh read
/// before the request is refused, so a fan admitted a moment ago by another instance is let
/// in, not told to wait.
pub async fn execute(
    queue: &dyn QueueRepository,
    clock: &dyn Clock,
    seal: &dyn TokenSeal,
    policy: &QueuePolicy,
    token_text: &str,
) -> Result<Authorized, AuthorizeError> {
    let claims = seal.open(token_text).ok_or(AuthorizeError::Invalid)?;
    let value = claims.value;
    let now = clock.now();
    let mut token = queue.token(value).await?;
    if !token.as_ref().is_some_and(|copy| matches!(copy.state_at(now, policy), TokenState::Active { .. })) {
        token = queue.fresh_token(value).await?;
    }
    let token = token.filter(|token| claims.describe(token)).ok_or(AuthorizeError::Invalid)?;
    match token.state_at(now, policy) {
        TokenState::Active { expires_at } => {
            Ok(Authorized { user_id: token.user_id, token: value, expires_at })
        }
        TokenState::Waiting => Err(AuthorizeError::NotActive { position: queue.position(&token).await? }),
        TokenState::Expired => Err(AuthorizeError::Expired),
    }
}

/// Who holds a token the seal vouches for, whatever state it is in (waiting, active, or ended
/// and not yet forgotten): the gate of a fan's own bookings, which they may see and give back
/// at any point of their visit, after paying too (paying ends the token). A token's holder
/// never changes, so a copy answers as well as a fresh read.
pub async fn identify(
    queue: &dyn QueueRepository,
    seal: &dyn TokenSeal,
    token_text: &str,
) -> Result<UserId, AuthorizeError> {
    let claims = seal.open(token_text).ok_or(AuthorizeError::Invalid)?;
    let token = match queue.token(claims.value).await? {
        Some(copy) => Some(copy),
        None => queue.fresh_token(claims.value).await?,
    };
    token.filter(|token| claims.describe(token)).map(|token| token.user_id).ok_or(AuthorizeError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, seal, store_down, text_of, token, user};
    use domain::QueueToken;
    use domain::TokenStatus::{Active, Expired, Waiting};
    use domain::ports::{MockClock, MockQueueRepository, StoreResult};
    use futures::executor::block_on;
    use mockall::predicate::eq;
    use time::Duration;

    /// A store whose copy and fresh read both show `token`; a fresh read is allowed once (the
    /// gate asks for one before refusing).
    fn queue_knowing(token: QueueToken) -> MockQueueRepository {
        let mut queue = MockQueueRepository::new();
        let fresh = token.clone();
        queue.expect_token().with(eq(token.value)).times(1).return_once(move |_| Ok(Some(token)));
        queue.expect_fresh_token().with(eq(fresh.value)).times(0..=1).return_once(move |_| Ok(Some(fresh)));
        queue
    }

    /// A store whose (possibly cached) copy reads as `copy` and whose fresh read, asked exactly
    /// once, answers `fresh`.
    fn queue_reading(
        copy: Option<QueueToken>,
        fresh: StoreResult<Option<QueueToken>>,
    ) -> MockQueueRepository {
        let mut queue = MockQueueRepository::new();
        queue.expect_token().times(1).return_once(move |_| Ok(copy));
        queue.expect_fresh_token().times(1).return_once(move |_| fresh);
        queue
    }

    fn authorize(queue: &MockQueueRepository, token: &QueueToken) -> Result<Authorized, AuthorizeError> {
        block_on(execute(queue, &clock(), &seal(), &QueuePolicy::default(), &text_of(token)))
    }

    #[test]
    fn authorize_lets_an_active_token_act_for_its_user_until_it_expires() {
        let active = token(5, 7, Active);
        let authorized = authorize(&queue_knowing(active.clone()), &active).expect("active token passes");
        let expected =
            Authorized { user_id: user(5), token: active.value, expires_at: NOW + Duration::minutes(10) };
        assert_eq!(authorized, expected);
    }

    #[test]
    fn authorize_fails_with_invalid_for_text_the_seal_refuses_without_reading_anything() {
        let bare_value = token(5, 7, Active).value.to_string();
        for text in ["", "not-a-token", "12345", bare_value.as_str()] {
            let result = block_on(execute(
                &MockQueueRepository::new(),
                &MockClock::new(),
                &seal(),
                &QueuePolicy::default(),
                text,
            ));
            assert!(matches!(result, Err(AuthorizeError::Invalid)), "{text:?}: {result:?}");
        }
    }

    #[test]
    fn authorize_fails_with_invalid_when_the_stored_token_is_not_the_one_the_claims_describe() {
        let stored = token(5, 7, Active);
        let other_holder = QueueToken { user_id: user(6), ..stored.clone() };
        let mut queue = MockQueueRepository::new();
        queue.expect_token().return_once(move |_| Ok(Some(stored)));
        let result = authorize(&queue, &other_holder);
        assert!(matches!(result, Err(AuthorizeError::Invalid)), "{result:?}");
    }

    #[test]
    fn authorize_lets_in_a_token_admitted_since_the_stores_copy_was_read() {
        let admitted = token(5, 7, Active);
        let mut queue = queue_reading(Some(token(5, 7, Waiting)), Ok(Some(admitted.clone())));
        queue.expect_position().times(0);
        let authorized = authorize(&queue, &admitted).expect("the fresh read decides");
        assert_eq!(authorized.expires_at, NOW + Duration::minutes(10));
    }

    #[test]
    fn authorize_does_not_read_again_when_the_copy_is_active() {
        let active = token(5, 7, Active);
        let mut queue = MockQueueRepository::new();
        let copy = active.clone();
        queue.expect_token().times(1).return_once(move |_| Ok(Some(copy)));
        queue.expect_fresh_token().times(0);
        assert!(authorize(&queue, &active).is_ok());
    }

    #[test]
    fn authorize_fails_with_invalid_for_an_unknown_token() {
        let queue = queue_reading(None, Ok(None));
        let result = authorize(&queue, &token(5, 7, Active));
        assert!(matches!(result, Err(AuthorizeError::Invalid)), "{result:?}");
    }

    #[test]
    fn authorize_fails_with_not_active_carrying_the_position_while_waiting() {
        let waiting = token(5, 7, Waiting);
        let mut queue = queue_knowing(waiting.clone());
        queue.expect_position().with(eq(waiting.clone())).times(1).return_once(|_| Ok(42));
        let result = authorize(&queue, &waiting);
        assert!(matches!(result, Err(AuthorizeError::NotActive { position: 42 })), "{result:?}");
    }

    #[test]
    fn authorize_fails_with_expired_once_an_active_token_outlives_its_ttl() {
        let outlived = QueueToken { expires_at: Some(NOW), ..token(5, 7, Active) };
        let result = authorize(&queue_knowing(outlived.clone()), &outlived);
        assert!(matches!(result, Err(AuthorizeError::Expired)), "{result:?}");
    }

    #[test]
    fn authorize_fails_with_expired_for_a_waiting_token_idle_past_the_timeout() {
        let idle =
            QueueToken { last_seen_at: NOW - QueuePolicy::default().idle_timeout, ..token(5, 7, Waiting) };
        // No position expectation: an expired token is not placed in the queue.
        let result = authorize(&queue_knowing(idle.clone()), &idle);
        assert!(matches!(result, Err(AuthorizeError::Expired)), "{result:?}");
    }

    #[test]
    fn authorize_fails_with_expired_for_a_token_expired_by_payment() {
        let spent = QueueToken { expires_at: Some(NOW + Duration::minutes(5)), ..token(5, 7, Expired) };
        let result = authorize(&queue_knowing(spent.clone()), &spent);
        assert!(matches!(result, Err(AuthorizeError::Expired)), "{result:?}");
    }

    #[test]
    fn authorize_fails_with_store_when_the_token_cannot_be_read() {
        let mut queue = MockQueueRepository::new();
        queue.expect_token().return_once(|_| Err(store_down()));
        let result = authorize(&queue, &token(5, 7, Active));
        assert!(matches!(result, Err(AuthorizeError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn authorize_fails_with_store_when_the_fresh_read_before_a_refusal_fails() {
        let queue = queue_reading(Some(token(5, 7, Waiting)), Err(store_down()));
        let result = authorize(&queue, &token(5, 7, Active));
        assert!(matches!(result, Err(AuthorizeError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn authorize_fails_with_store_when_the_position_cannot_be_read() {
        let waiting = token(5, 7, Waiting);
        let mut queue = queue_knowing(waiting.clone());
        queue.expect_position().return_once(|_| Err(store_down()));
        let result = authorize(&queue, &waiting);
        assert!(matches!(result, Err(AuthorizeError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn identify_names_the_holder_of_a_token_in_any_state() {
        for status in [Waiting, Active, Expired] {
            let known = token(5, 7, status);
            let mut queue = MockQueueRepository::new();
            let copy = known.clone();
            queue.expect_token().times(1).return_once(move |_| Ok(Some(copy)));
            let holder = block_on(identify(&queue, &seal(), &text_of(&known)));
            assert_eq!(holder.expect("a known token names its holder"), user(5), "{status:?}");
        }
    }

    #[test]
    fn identify_reads_afresh_before_refusing_an_unknown_token_and_refuses_a_forgotten_one() {
        let known = token(5, 7, Active);
        let queue = queue_reading(None, Ok(Some(known.clone())));
        assert_eq!(block_on(identify(&queue, &seal(), &text_of(&known))).expect("known afresh"), user(5));
        let queue = queue_reading(None, Ok(None));
        let result = block_on(identify(&queue, &seal(), &text_of(&known)));
        assert!(matches!(result, Err(AuthorizeError::Invalid)), "{result:?}");
    }

    #[test]
    fn identify_fails_with_invalid_for_text_the_seal_refuses_or_claims_that_describe_another_token() {
        let result = block_on(identify(&MockQueueRepository::new(), &seal(), "made-up"));
        assert!(matches!(result, Err(AuthorizeError::Invalid)), "{result:?}");
        let stored = token(5, 7, Active);
        let other_holder = QueueToken { user_id: user(6), ..stored.clone() };
        let mut queue = MockQueueRepository::new();
        queue.expect_token().return_once(move |_| Ok(Some(stored)));
        let result = block_on(identify(&queue, &seal(), &text_of(&other_holder)));
        assert!(matches!(result, Err(AuthorizeError::Invalid)), "{result:?}");
    }

    #[test]
    fn identify_fails_with_store_when_the_token_cannot_be_read() {
        let mut queue = MockQueueRepository::new();
        queue.expect_token().return_once(|_| Err(store_down()));
        let result = block_on(identify(&queue, &seal(), &text_of(&token(5, 7, Active))));
        assert!(matches!(result, Err(AuthorizeError::Store(_))), "{result:?}");
    }
}
