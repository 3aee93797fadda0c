//! `GET /api/token`: the polling endpoint of the waiting room.

use domain::ports::{Clock, QueueRepository, TokenSeal};
use domain::{QueuePolicy, QueueToken, StoreError, TokenClaims, TokenState};
use time::{Duration, OffsetDateTime};

/// A token as a fan sees it right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    /// The token.
    pub token: QueueToken,
    /// The text its holder carries: its claims, sealed.
    pub text: String,
    /// What it allows now (the clock's verdict, not the stored status).
    pub state: TokenState,
    /// Waiting tokens ahead plus one; 0 unless waiting.
    pub position: u64,
    /// Expected wait before admission; zero unless waiting.
    pub estimated_wait: Duration,
    /// The box office paused admission: nobody is let in until it resumes (waiting fans keep
    /// their places). Only told to waiting fans.
    pub paused: bool,
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
    seal: &dyn TokenSeal,
    policy: &QueuePolicy,
    token_text: &str,
) -> Result<TokenView, QueueStatusError> {
    let claims = seal.open(token_text).ok_or(QueueStatusError::Invalid)?;
    let (view, now) = look(queue, clock, seal, policy, &claims).await?;
    if view.state == TokenState::Waiting {
        queue.record_poll(view.token.value, now).await?;
    }
    Ok(view)
}

/// Reports the token's state and place like [`execute`] but proves nothing: for a live stream,
/// which counts as one poll when it opens and must not keep a place alive by merely staying
/// open. Takes the claims of a token [`execute`] already opened.
pub async fn peek(
    queue: &dyn QueueRepository,
    clock: &dyn Clock,
    seal: &dyn TokenSeal,
    policy: &QueuePolicy,
    claims: &TokenClaims,
) -> Result<TokenView, QueueStatusError> {
    Ok(look(queue, clock, seal, policy, claims).await?.0)
}

/// The view of the token `claims` name, and the instant it describes.
async fn look(
    queue: &dyn QueueRepository,
    clock: &dyn Clock,
    seal: &dyn TokenSeal,
    policy: &QueuePolicy,
    claims: &TokenClaims,
) -> Result<(TokenView, OffsetDateTime), QueueStatusError> {
    let token = token_named(queue, claims).await?.ok_or(QueueStatusError::Invalid)?;
    let now = clock.now();
    Ok((describe(queue, seal, token, now, policy).await?, now))
}

/// The stored token that opened `claims` name: the one with their value, if their holder and
/// ticket are its own (a row the claims do not describe is no token of theirs).
pub(crate) async fn token_named(
    queue: &dyn QueueRepository,
    claims: &TokenClaims,
) -> Result<Option<QueueToken>, StoreError> {
    Ok(queue.token(claims.value).await?.filter(|token| claims.describe(token)))
}

/// Builds the view of `token` at `now`; only waiting tokens cost a position lookup and a look
/// at the room, which the wait is estimated from ([`domain::RoomReading::estimated_wait`]).
pub(crate) async fn describe(
    queue: &dyn QueueRepository,
    seal: &dyn TokenSeal,
    token: QueueToken,
    now: OffsetDateTime,
    policy: &QueuePolicy,
) -> Result<TokenView, StoreError> {
    let text = seal.seal(&TokenClaims::from(&token));
    let state = token.state_at(now, policy);
    let (position, estimated_wait, paused) = match state {
        TokenState::Waiting => {
            let position = queue.position(&token).await?;
            let room = queue.room().await?;
            (position, room.estimated_wait(position, policy, now), room.controls.paused)
        }
        TokenState::Active { .. } | TokenState::Expired => (0, Duration::ZERO, false),
    };
    Ok(TokenView { token, text, state, position, estimated_wait, paused })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, clock, policy, seal, store_down, text_of, token};
    use domain::TokenStatus::{Active, Expired, Waiting};
    use domain::ports::{MockClock, MockQueueRepository, StoreResult};
    use domain::{QueueControls, RoomReading};
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn queue_knowing(token: QueueToken) -> MockQueueRepository {
        let mut queue = MockQueueRepository::new();
        queue.expect_token().with(eq(token.value)).times(1).return_once(move |_| Ok(Some(token)));
        queue
    }

    /// A store that knows `waiting`, places it 95th, and reads the room as `room`.
    fn queue_placing(waiting: QueueToken, room: StoreResult<RoomReading>) -> MockQueueRepository {
        let mut queue = queue_knowing(waiting);
        queue.expect_position().return_once(|_| Ok(95));
        queue.expect_room().return_once(move || room);
        queue
    }

    /// A room with nobody active whose next admission step is due now.
    fn due_room() -> RoomReading {
        RoomReading { last_admission_at: Some(NOW - Duration::seconds(1)), ..RoomReading::default() }
    }

    fn status(queue: &MockQueueRepository, token: &QueueToken) -> Result<TokenView, QueueStatusError> {
        block_on(execute(queue, &clock(), &seal(), &policy(), &text_of(token)))
    }

    #[test]
    fn status_of_a_waiting_token_reports_its_place_wait_and_a_pause_and_records_the_poll() {
        let waiting = token(5, 7, Waiting);
        let mut queue = queue_knowing(waiting.clone());
        queue.expect_position().with(eq(waiting.clone())).times(1).return_once(|_| Ok(95));
        let paused = RoomReading {
            controls: QueueControls { paused: true, ..QueueControls::default() },
            ..due_room()
        };
        queue.expect_room().times(1).return_once(move || Ok(paused));
        queue.expect_record_poll().with(eq(waiting.value), eq(NOW)).times(1).return_once(|_, _| Ok(()));
        let view = status(&queue, &waiting).expect("status is given");
        let expected = TokenView {
            text: text_of(&waiting),
            token: waiting,
            state: TokenState::Waiting,
            position: 95,
            estimated_wait: Duration::seconds(9),
            paused: true,
        };
        assert_eq!(view, expected, "95th at ten a tick: ten steps a second apart, the first when it resumes");
    }

    #[test]
    fn a_peek_at_a_waiting_token_reports_its_place_without_recording_a_poll() {
        let waiting = token(5, 7, Waiting);
        // No record_poll expectation: the mock fails the test if the peek proves presence.
        let queue = queue_placing(waiting.clone(), Ok(due_room()));
        let view = block_on(peek(&queue, &clock(), &seal(), &policy(), &TokenClaims::from(&waiting)));
        let view = view.expect("the status is given");
        assert_eq!((view.state, view.position), (TokenState::Waiting, 95));
    }

    #[test]
    fn status_estimates_the_wait_from_the_room_the_store_reads() {
        let waiting = token(5, 7, Waiting);
        let just_stepped = RoomReading { last_admission_at: Some(NOW), ..RoomReading::default() };
        let mut queue = queue_placing(waiting.clone(), Ok(just_stepped));
        queue.expect_record_poll().return_once(|_, _| Ok(()));
        let view = status(&queue, &waiting).expect("status is given");
        assert_eq!(view.estimated_wait, Duration::seconds(10), "the next step is a tick away");
        assert_eq!(view.estimated_wait, just_stepped.estimated_wait(95, &policy(), NOW));
    }

    #[test]
    fn status_fails_with_store_when_the_room_cannot_be_read() {
        let waiting = token(5, 7, Waiting);
        let queue = queue_placing(waiting.clone(), Err(store_down()));
        let result = status(&queue, &waiting);
        assert!(matches!(result, Err(QueueStatusError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn status_of_an_active_token_has_position_zero_and_records_no_poll() {
        let active = token(5, 7, Active);
        // Neither position nor record_poll is expected: an active token costs one read.
        let view = status(&queue_knowing(active.clone()), &active).expect("status is given");
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
    fn status_reports_an_expired_token_as_expired_rather_than_failing() {
        let spent = token(5, 7, Expired);
        let view = status(&queue_knowing(spent.clone()), &spent).expect("expired is a status, not an error");
        assert_eq!(
            view,
            TokenView {
                text: text_of(&spent),
                token: spent,
                state: TokenState::Expired,
                position: 0,
                estimated_wait: Duration::ZERO,
                paused: false,
            }
        );
    }

    #[test]
    fn status_reports_a_waiting_token_idle_past_the_timeout_as_expired_and_does_not_revive_it() {
        let idle = QueueToken { last_seen_at: NOW - policy().idle_timeout, ..token(5, 7, Waiting) };
        // No record_poll expectation: a poll must not bring an abandoned place back.
        let view = status(&queue_knowing(idle.clone()), &idle).expect("status is given");
        assert_eq!(view.state, TokenState::Expired);
        assert_eq!(view.position, 0);
    }

    #[test]
    fn status_fails_with_invalid_for_text_the_seal_refuses_without_reading_anything() {
        let bare_value = token(5, 7, Waiting).value.to_string();
        for text in ["", "not-a-token", "00000000-0000-0000-0000", bare_value.as_str()] {
            let (queue, clock) = (MockQueueRepository::new(), MockClock::new());
            let result = block_on(execute(&queue, &clock, &seal(), &policy(), text));
            assert!(matches!(result, Err(QueueStatusError::Invalid)), "{text:?}: {result:?}");
        }
    }

    #[test]
    fn status_fails_with_invalid_for_an_unknown_token() {
        let mut queue = MockQueueRepository::new();
        queue.expect_token().times(1).return_once(|_| Ok(None));
        let result = status(&queue, &token(5, 7, Waiting));
        assert!(matches!(result, Err(QueueStatusError::Invalid)), "{result:?}");
    }

    #[test]
    fn status_fails_with_store_when_the_token_cannot_be_read() {
        let mut queue = MockQueueRepository::new();
        queue.expect_token().return_once(|_| Err(store_down()));
        let result = status(&queue, &token(5, 7, Waiting));
        assert!(matches!(result, Err(QueueStatusError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn status_fails_with_store_when_the_position_cannot_be_read() {
        let waiting = token(5, 7, Waiting);
        let mut queue = queue_knowing(waiting.clone());
        queue.expect_position().return_once(|_| Err(store_down()));
        let result = status(&queue, &waiting);
        assert!(matches!(result, Err(QueueStatusError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }

    #[test]
    fn status_fails_with_store_when_the_poll_cannot_be_recorded() {
        let waiting = token(5, 7, Waiting);
        let mut queue = queue_placing(waiting.clone(), Ok(due_room()));
        queue.expect_record_poll().return_once(|_, _| Err(store_down()));
        let result = status(&queue, &waiting);
        assert!(matches!(result, Err(QueueStatusError::Store(StoreError::Unavailable(_)))), "{result:?}");
    }
}
