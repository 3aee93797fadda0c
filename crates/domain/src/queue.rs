//! The waiting room: queue tokens, their states, and the admission rules.

use std::fmt;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::ids::UserId;

/// The bearer secret a fan presents: a random UUID (122 random bits), so it cannot be guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenValue(Uuid);

/// A string that is not a token this service could have issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed queue token")]
pub struct MalformedToken;

impl TokenValue {
    /// Wraps a freshly generated UUID (see the `TokenMint` port).
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// Parses the text a client sent back.
    pub fn parse(text: &str) -> Result<Self, MalformedToken> {
        Uuid::try_parse(text).map(Self).map_err(|_| MalformedToken)
    }

    /// The UUID, for storage.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for TokenValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The stored status of a token; [`QueueToken::state_at`] gives the one that counts now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenStatus {
    /// In the waiting room.
    Waiting,
    /// Admitted: may use the booking API until `expires_at`.
    Active,
    /// Paid, timed out, or dropped for idling.
    Expired,
}

/// A fan's place in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueToken {
    /// The bearer secret.
    pub value: TokenValue,
    /// Whose token.
    pub user_id: UserId,
    /// Issue order: strictly increasing across the whole service; FIFO admits by it.
    pub ticket: u64,
    /// The stored status.
    pub status: TokenStatus,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// The last poll, for dropping abandoned places.
    pub last_seen_at: OffsetDateTime,
    /// When it expires once active.
    pub expires_at: Option<OffsetDateTime>,
}

/// What a token allows right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Still waiting; not allowed to book.
    Waiting,
    /// Allowed to book until the instant given.
    Active {
        /// When the active period ends.
        expires_at: OffsetDateTime,
    },
    /// No longer usable; asking for a token again queues the fan anew.
    Expired,
}

impl QueueToken {
    /// The contract: an active token lives `QUEUE_ACTIVE_TTL_SECONDS`; a waiting token not polled for
    /// `QUEUE_IDLE_TIMEOUT_SECONDS` is dropped. Decided here by the clock, whether or not the
    /// admission tick has rewritten the stored status yet.
    pub fn state_at(&self, now: OffsetDateTime, policy: &QueuePolicy) -> TokenState {
        match (self.status, self.expires_at) {
            (TokenStatus::Active, Some(expires_at)) if now < expires_at => TokenState::Active { expires_at },
            (TokenStatus::Waiting, _) if now < self.last_seen_at.saturating_add(policy.idle_timeout) => {
                TokenState::Waiting
            }
            _ => TokenState::Expired,
        }
    }

    /// Whether this token may still pay for `payer` at `at`: it is theirs, stored active and
    /// unexpired. The contract: paying expires the token and an expired token answers `TOKEN_EXPIRED`,
    /// so a token spent by one payment cannot pay again, not even in a payment that raced it.
    /// The stores restate this guard when they settle; the pay use case asks it after losing a
    /// settlement, to tell "your token was spent" from a race worth deciding again.
    pub fn pays_for(&self, payer: UserId, at: OffsetDateTime) -> bool {
        self.user_id == payer
            && self.status == TokenStatus::Active
            && self.expires_at.is_some_and(|expires_at| at < expires_at)
    }

    /// The last instant this token was (or may be) live: its `expires_at` once it was admitted
    /// (a payment retires it earlier, never later), its last poll otherwise.
    pub fn last_live_at(&self) -> OffsetDateTime {
        self.expires_at.unwrap_or(self.last_seen_at)
    }

    /// Whether the store may forget this token: it is stored expired and was last live before
    /// `cutoff` ([`QueuePolicy::forget_cutoff`]). Until it is forgotten, a fan presenting it is
    /// told it expired; after, it is an unknown token.
    pub fn forgettable_before(&self, cutoff: OffsetDateTime) -> bool {
        self.status == TokenStatus::Expired && self.last_live_at() < cutoff
    }
}

/// The queue settings of the contract (docs/api.md), as one value the rules and the stores share.
/// The binary checks their ranges at start-up; the arithmetic here saturates at the ends of the calendar anyway,
/// so no setting can make a rule panic (inside a store's lock, say) at request time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// `QUEUE_MAX_ACTIVE`: most tokens active at once, service-wide; 0 = no cap.
    pub max_active: u32,
    /// `QUEUE_ADMIT_PER_TICK`: most admissions per tick, service-wide; 0 = no cap.
    pub admit_per_tick: u32,
    /// `QUEUE_TICK_MS`: how often admission runs.
    pub tick: Duration,
    /// `QUEUE_ACTIVE_TTL_SECONDS`: how long an admitted token stays active.
    pub active_ttl: Duration,
    /// `QUEUE_IDLE_TIMEOUT_SECONDS`: a waiting token not polled for this long is dropped.
    pub idle_timeout: Duration,
    /// `QUEUE_TOKEN_RETENTION_SECONDS`: how long an ended token is remembered (and answered
    /// as expired) before the store forgets it, and with it a user who has nothing else.
    pub retention: Duration,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            max_active: 100,
            admit_per_tick: 0,
            tick: Duration::seconds(1),
            active_ttl: Duration::minutes(10),
            idle_timeout: Duration::minutes(2),
            retention: Duration::days(1),
        }
    }
}

impl QueuePolicy {
    /// `1/part` of the idle timeout, as a std duration: what the adapters size their proofs of
    /// presence by (how long a stream lasts, how stale a copy of a waiting token may be), so a
    /// fan who polls is never dropped. Zero for a `part` of 0 or below.
    pub fn idle_share(&self, part: i32) -> std::time::Duration {
        self.idle_timeout
            .checked_div(part)
            .and_then(|share| std::time::Duration::try_from(share).ok())
            .unwrap_or_default()
    }

    /// How many waiting tokens one tick may admit when `active_now` are active: the smaller of
    /// the room under `max_active` and `admit_per_tick`, each ignored when 0.
    pub fn admission_slots(&self, active_now: u64) -> u64 {
        let room = match self.max_active {
            0 => u64::MAX,
            cap => u64::from(cap).saturating_sub(active_now),
        };
        match self.admit_per_tick {
            0 => room,
            per_tick => room.min(u64::from(per_tick)),
        }
    }

    /// When a token admitted at `now` stops being active (the end of the calendar at the latest).
    pub fn active_until(&self, now: OffsetDateTime) -> OffsetDateTime {
        now.saturating_add(self.active_ttl)
    }

    /// Waiting tokens last seen at or before this instant have been abandoned.
    pub fn idle_cutoff(&self, now: OffsetDateTime) -> OffsetDateTime {
        now.saturating_sub(self.idle_timeout)
    }

    /// Tokens that ended before this instant may be forgotten ([`QueueToken::forgettable_before`]).
    pub fn forget_cutoff(&self, now: OffsetDateTime) -> OffsetDateTime {
        now.saturating_sub(self.retention)
    }

    /// Whether an admission step may run at `now`, given when the last one ran anywhere in the
    /// service. Every instance tries several times per tick, and the store remembers the last
    /// admission service-wide, so `admit_per_tick` holds per `tick` however many instances run,
    /// and a crashed instance's turn is taken within a tick.
    pub fn admission_due(&self, last_admission: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        last_admission.is_none_or(|last| now - last >= self.tick)
    }

    /// How often an instance should try an admission step: four times per tick (at least every
    /// 10 ms), so the service-wide tick is late by at most a quarter of a tick.
    pub fn attempt_every(&self) -> Duration {
        let quarter: Duration = self.tick / 4_i32;
        quarter.max(Duration::milliseconds(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::{Date, Time};

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn token(status: TokenStatus, expires_at: Option<OffsetDateTime>) -> QueueToken {
        QueueToken {
            value: TokenValue::from_uuid(Uuid::from_u128(42)),
            user_id: UserId::new(1).expect("valid id"),
            ticket: 1,
            status,
            issued_at: NOW,
            last_seen_at: NOW,
            expires_at,
        }
    }

    #[test]
    fn token_text_round_trips_and_garbage_is_malformed() {
        let value = TokenValue::from_uuid(Uuid::from_u128(7));
        assert_eq!(TokenValue::parse(&value.to_string()), Ok(value));
        assert_eq!(TokenValue::parse("not-a-token"), Err(MalformedToken));
        assert_eq!(TokenValue::parse(""), Err(MalformedToken));
    }

    #[test]
    fn only_a_stored_expired_token_that_ended_before_the_cutoff_may_be_forgotten() {
        let cutoff = NOW + Duration::hours(1);
        let dropped = token(TokenStatus::Expired, None);
        assert!(dropped.forgettable_before(cutoff));
        assert!(!dropped.forgettable_before(NOW), "it was last seen at the cutoff itself");
        let paid = token(TokenStatus::Expired, Some(cutoff + Duration::seconds(1)));
        assert!(!paid.forgettable_before(cutoff), "an admitted token counts until its expiry");
        let lapsed = token(TokenStatus::Expired, Some(cutoff - Duration::seconds(1)));
        assert!(lapsed.forgettable_before(cutoff));
        assert!(!token(TokenStatus::Waiting, None).forgettable_before(cutoff));
        assert!(!token(TokenStatus::Active, Some(NOW)).forgettable_before(cutoff));
    }

    #[test]
    fn the_forget_cutoff_is_the_retention_before_now_and_saturates() {
        let policy = QueuePolicy::default();
        assert_eq!(policy.forget_cutoff(NOW), NOW - Duration::days(1));
        let at_the_start = OffsetDateTime::new_utc(Date::MIN, Time::MIDNIGHT);
        assert_eq!(policy.forget_cutoff(at_the_start), at_the_start);
    }

    #[test]
    fn waiting_token_stays_waiting_while_polled() {
        let policy = QueuePolicy::default();
        let waiting = token(TokenStatus::Waiting, None);
        assert_eq!(waiting.state_at(NOW + Duration::seconds(119), &policy), TokenState::Waiting);
    }

    #[test]
    fn waiting_token_expires_after_the_idle_timeout_without_a_poll() {
        let policy = QueuePolicy::default();
        let waiting = token(TokenStatus::Waiting, None);
        assert_eq!(waiting.state_at(NOW + Duration::seconds(120), &policy), TokenState::Expired);
    }

    #[test]
    fn active_token_is_active_until_its_ttl_ends() {
        let until = NOW + Duration::minutes(10);
        let active = token(TokenStatus::Active, Some(until));
        let policy = QueuePolicy::default();
        assert_eq!(active.state_at(NOW, &policy), TokenState::Active { expires_at: until });
        assert_eq!(active.state_at(until, &policy), TokenState::Expired);
    }

    #[test]
    fn active_token_does_not_idle_out() {
        let until = NOW + Duration::hours(1);
        let active = token(TokenStatus::Active, Some(until));
        let later = NOW + Duration::minutes(30);
        assert_eq!(active.state_at(later, &QueuePolicy::default()), TokenState::Active { expires_at: until });
    }

    #[test]
    fn expired_token_stays_expired() {
        let expired = token(TokenStatus::Expired, Some(NOW + Duration::hours(1)));
        assert_eq!(expired.state_at(NOW, &QueuePolicy::default()), TokenState::Expired);
    }

    #[test]
    fn an_active_token_pays_for_its_user_until_it_expires() {
        let until = NOW + Duration::minutes(10);
        let active = token(TokenStatus::Active, Some(until));
        let owner = UserId::new(1).expect("valid id");
        assert!(active.pays_for(owner, NOW));
        assert!(!active.pays_for(owner, until), "not at the expiry instant");
        assert!(!active.pays_for(UserId::new(2).expect("valid id"), NOW), "not for another user");
    }

    #[test]
    fn a_waiting_or_spent_token_pays_for_nobody() {
        let owner = UserId::new(1).expect("valid id");
        assert!(!token(TokenStatus::Waiting, None).pays_for(owner, NOW));
        let spent = token(TokenStatus::Expired, Some(NOW + Duration::hours(1)));
        assert!(!spent.pays_for(owner, NOW), "a token spent by a payment cannot pay again");
    }

    #[test]
    fn admission_fills_only_the_room_under_max_active() {
        let policy = QueuePolicy { max_active: 100, admit_per_tick: 0, ..QueuePolicy::default() };
        assert_eq!(policy.admission_slots(97), 3);
        assert_eq!(policy.admission_slots(100), 0);
        assert_eq!(policy.admission_slots(150), 0);
    }

    #[test]
    fn admission_per_tick_caps_each_tick() {
        let policy = QueuePolicy { max_active: 100, admit_per_tick: 10, ..QueuePolicy::default() };
        assert_eq!(policy.admission_slots(0), 10);
        assert_eq!(policy.admission_slots(95), 5);
    }

    #[test]
    fn zero_caps_mean_no_cap() {
        let policy = QueuePolicy { max_active: 0, admit_per_tick: 0, ..QueuePolicy::default() };
        assert_eq!(policy.admission_slots(1_000_000), u64::MAX);
        let per_tick_only = QueuePolicy { max_active: 0, admit_per_tick: 7, ..QueuePolicy::default() };
        assert_eq!(per_tick_only.admission_slots(1_000_000), 7);
    }

    #[test]
    fn idle_cutoff_and_active_until_follow_the_settings() {
        let policy = QueuePolicy::default();
        assert_eq!(policy.active_until(NOW), NOW + Duration::minutes(10));
        assert_eq!(policy.idle_cutoff(NOW), NOW - Duration::minutes(2));
    }

    #[test]
    fn admission_is_due_once_per_tick_service_wide() {
        let policy = QueuePolicy { tick: Duration::seconds(1), ..QueuePolicy::default() };
        assert!(policy.admission_due(None, NOW), "the first admission is always due");
        assert!(!policy.admission_due(Some(NOW), NOW + Duration::milliseconds(999)));
        assert!(policy.admission_due(Some(NOW), NOW + Duration::seconds(1)));
    }

    #[test]
    fn durations_past_the_end_of_the_calendar_saturate_instead_of_panicking() {
        let endless = Duration::MAX;
        let policy = QueuePolicy { active_ttl: endless, idle_timeout: endless, ..QueuePolicy::default() };
        assert_eq!(policy.active_until(NOW), OffsetDateTime::new_utc(Date::MAX, Time::MAX));
        assert_eq!(policy.idle_cutoff(NOW), OffsetDateTime::new_utc(Date::MIN, Time::MIDNIGHT));
        assert_eq!(token(TokenStatus::Waiting, None).state_at(NOW, &policy), TokenState::Waiting);
    }

    #[test]
    fn instances_try_four_times_per_tick_but_not_more_often_than_every_ten_ms() {
        let policy = QueuePolicy { tick: Duration::seconds(1), ..QueuePolicy::default() };
        assert_eq!(policy.attempt_every(), Duration::milliseconds(250));
        let fast = QueuePolicy { tick: Duration::milliseconds(20), ..QueuePolicy::default() };
        assert_eq!(fast.attempt_every(), Duration::milliseconds(10));
    }

    #[test]
    fn a_share_of_the_idle_timeout_is_exact_and_zero_for_no_parts() {
        let policy = QueuePolicy { idle_timeout: Duration::seconds(120), ..QueuePolicy::default() };
        assert_eq!(policy.idle_share(4), std::time::Duration::from_secs(30));
        assert_eq!(policy.idle_share(8), std::time::Duration::from_secs(15));
        assert_eq!(policy.idle_share(0), std::time::Duration::ZERO);
    }
}
