//! Idempotency keys: a client that may retry a writing request (a charge, a hold, a payment)
//! sends an `Idempotency-Key`; the first request with that key runs and its response is kept,
//! and a later request of the same user with the same key and the same request gets that
//! response back instead of running again.
//!
//! This module holds the key (a value object), what is remembered about it, and the one rule
//! both stores apply atomically when a request claims a key ([`decide_claim`]).

use std::fmt;

use time::{Duration, OffsetDateTime};

/// How long a key and its response are remembered after the key was claimed: 24 hours, as
/// Stripe does. A record older than this no longer exists for [`decide_claim`], and the stores
/// purge it.
pub const RESPONSE_TTL: Duration = Duration::hours(24);

/// How long a claim stays "in progress" without a response before it is presumed abandoned
/// (the instance running it crashed) and may be claimed again, unless configured otherwise. The
/// lease decides only how long a retry waits after a crash, never whether a write can happen
/// twice: every keyed write is fenced by its [`ClaimId`] (see [`crate::Receipt`]).
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// How many live keys one user may have, unless configured otherwise: far more keyed writes
/// than a fan makes in a day, yet a bound on what one user can make a store remember.
pub const KEYS_PER_USER: u32 = 1_000;

/// How long keys live, how long an unanswered claim is trusted and how many live keys a user
/// may have: `RESPONSE_TTL`, `CLAIM_LEASE` and `KEYS_PER_USER` unless configured otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyPolicy {
    /// How long a key and its answer are remembered after the key was claimed.
    pub ttl: Duration,
    /// How long an unanswered claim stays in progress before a retry may take it over.
    pub lease: Duration,
    /// The most keys one user may have within the TTL; a new key beyond it is refused
    /// ([`IdempotencyClaim::TooManyKeys`]) until the oldest run out.
    pub max_keys_per_user: u32,
}

impl Default for IdempotencyPolicy {
    fn default() -> Self {
        Self { ttl: RESPONSE_TTL, lease: CLAIM_LEASE, max_keys_per_user: KEYS_PER_USER }
    }
}

impl IdempotencyPolicy {
    /// Whether a user who has `live` keys within the TTL may claim a new one.
    pub fn admits_new_key(&self, live: u64) -> bool {
        live < u64::from(self.max_keys_per_user)
    }

    /// The instant before which a key counts as gone: claimed a TTL or more before `now`.
    pub fn expiry_cutoff(&self, now: OffsetDateTime) -> OffsetDateTime {
        now.saturating_sub(self.ttl)
    }
}

/// The longest key accepted, in characters.
pub const MAX_KEY_LENGTH: usize = 255;

/// A client's idempotency key: 1 to [`MAX_KEY_LENGTH`] visible ASCII characters (0x21–0x7E),
/// compared exactly (case-sensitive). UUIDs, ULIDs and other random strings all fit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

/// Why a string is not an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIdempotencyKey {
    /// Nothing was sent.
    #[error("an Idempotency-Key must not be empty")]
    Empty,
    /// Longer than [`MAX_KEY_LENGTH`].
    #[error("an Idempotency-Key is at most {MAX_KEY_LENGTH} characters long")]
    TooLong,
    /// A space, a control character or anything outside ASCII.
    #[error("an Idempotency-Key may contain only visible ASCII characters (no spaces)")]
    InvalidCharacter,
}

impl IdempotencyKey {
    /// Accepts 1 to 255 characters, each from `!` (0x21) to `~` (0x7E).
    pub fn parse(text: &str) -> Result<Self, InvalidIdempotencyKey> {
        if text.is_empty() {
            return Err(InvalidIdempotencyKey::Empty);
        }
        if !text.bytes().all(|byte| (0x21..=0x7e).contains(&byte)) {
            return Err(InvalidIdempotencyKey::InvalidCharacter);
        }
        // Every byte is ASCII now, so bytes are characters.
        if text.len() > MAX_KEY_LENGTH {
            return Err(InvalidIdempotencyKey::TooLong);
        }
        Ok(Self(text.to_owned()))
    }

    /// The key as sent, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An answer kept for replay, exactly as first given: the store keeps it opaque, the driving
/// adapter that recorded it reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The answer's status code, in the recording adapter's terms.
    pub status: u16,
    /// The body (JSON text).
    pub body: String,
}

/// What a store keeps about one user's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// What identifies the request that claimed the key (a hash of method, path and body); a
    /// request with the same key and another fingerprint is a misuse of the key.
    pub fingerprint: String,
    /// When the key was claimed; the record lives [`RESPONSE_TTL`] from here, and an unanswered
    /// claim is presumed abandoned [`CLAIM_LEASE`] from here.
    pub claimed_at: OffsetDateTime,
    /// The response, once the claiming request has finished; `None` while it runs.
    pub response: Option<StoredResponse>,
}

impl IdempotencyRecord {
    /// A fresh claim: in progress since `now`.
    pub fn claimed(fingerprint: &str, now: OffsetDateTime) -> Self {
        Self { fingerprint: fingerprint.to_owned(), claimed_at: now, response: None }
    }

    /// Whether the record has outlived `ttl` at `now` (and may be purged).
    pub fn is_expired_at(&self, now: OffsetDateTime, ttl: Duration) -> bool {
        self.claimed_at.checked_add(ttl).is_some_and(|expiry| expiry <= now)
    }
}

/// One claim of a key. A store hands out a new, never reused id each time a key is claimed
/// (the first time, and again when a lapsed claim is taken over), and a write fenced by a claim
/// that is no longer the key's current one lands nowhere: so the request that lost its claim
/// can never commit its effect after another has taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimId(i64);

impl ClaimId {
    /// Wraps a store's claim number.
    pub const fn new(raw: i64) -> Self {
        Self(raw)
    }

    /// The number, for storage.
    pub const fn get(self) -> i64 {
        self.0
    }
}

/// What the claim rule decided, before a store assigns the claim its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Store a fresh claim in place of what is there.
    Claim,
    /// The same request already ran: answer with this, run nothing.
    Replay(StoredResponse),
    /// The same request is running right now (elsewhere); try again shortly.
    InProgress,
    /// The key was used for a different request.
    Reused,
}

/// What claiming a key gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The caller owns the key now, under this claim: run the request, recording its answer
    /// with its effect (a [`crate::Receipt`]), or complete or release the claim afterwards.
    Claimed(ClaimId),
    /// The same request already ran: answer with this, run nothing.
    Replay(StoredResponse),
    /// The same request is running right now (elsewhere); try again shortly.
    InProgress,
    /// The key was used for a different request.
    Reused,
    /// A new key, but the user already has as many live keys as they may
    /// ([`IdempotencyPolicy::max_keys_per_user`]); nothing was stored.
    TooManyKeys,
}

impl ClaimDecision {
    /// The claim's outcome when the decision writes nothing; `None` for [`ClaimDecision::Claim`],
    /// whose outcome is [`IdempotencyClaim::Claimed`] with the id of the claim the store writes.
    pub fn unless_claimed(self) -> Option<IdempotencyClaim> {
        match self {
            Self::Claim => None,
            Self::Replay(response) => Some(IdempotencyClaim::Replay(response)),
            Self::InProgress => Some(IdempotencyClaim::InProgress),
            Self::Reused => Some(IdempotencyClaim::Reused),
        }
    }
}

/// The claim rule, given what is stored for the key (if anything), the request's fingerprint
/// and the current instant. A store applies it atomically with the write it implies: on
/// [`ClaimDecision::Claim`] it stores [`IdempotencyRecord::claimed`] under a new [`ClaimId`] in
/// place of `existing`; on any other outcome it writes nothing.
///
/// - nothing stored, or a record older than `ttl`: `Claim`;
/// - a record of another fingerprint: `Reused` (running or finished);
/// - a finished record of this fingerprint: `Replay` of its response;
/// - an unfinished record of this fingerprint: `InProgress`, unless it was claimed `lease` or
///   longer ago (its instance died), in which case it is claimed again.
pub fn decide_claim(
    existing: Option<&IdempotencyRecord>,
    fingerprint: &str,
    now: OffsetDateTime,
    ttl: Duration,
    lease: Duration,
) -> ClaimDecision {
    let Some(record) = existing.filter(|record| !record.is_expired_at(now, ttl)) else {
        return ClaimDecision::Claim;
    };
    if record.fingerprint != fingerprint {
        return ClaimDecision::Reused;
    }
    match &record.response {
        Some(response) => ClaimDecision::Replay(response.clone()),
        None if record.claimed_at.checked_add(lease).is_some_and(|lapsed| lapsed <= now) => {
            ClaimDecision::Claim
        }
        None => ClaimDecision::InProgress,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn response() -> StoredResponse {
        StoredResponse { status: 200, body: r#"{"userId":1,"currentBalance":500}"#.into() }
    }

    fn running(since: OffsetDateTime) -> IdempotencyRecord {
        IdempotencyRecord::claimed("fp-a", since)
    }

    fn finished(since: OffsetDateTime) -> IdempotencyRecord {
        IdempotencyRecord { response: Some(response()), ..running(since) }
    }

    fn decide(existing: Option<&IdempotencyRecord>, fingerprint: &str) -> ClaimDecision {
        decide_claim(existing, fingerprint, NOW, RESPONSE_TTL, CLAIM_LEASE)
    }

    #[test]
    fn parse_accepts_one_to_255_visible_ascii_characters() {
        for text in ["a", "~", "!", "550e8400-e29b-41d4-a716-446655440000", "order#42/retry=1?x&y"] {
            assert_eq!(IdempotencyKey::parse(text).map(|key| key.as_str().to_owned()), Ok(text.to_owned()));
        }
        let longest = "k".repeat(255);
        assert_eq!(IdempotencyKey::parse(&longest).map(|key| key.to_string()), Ok(longest));
        let every_visible: String = (0x21u8..=0x7e).map(char::from).collect();
        assert!(IdempotencyKey::parse(&every_visible).is_ok());
    }

    #[test]
    fn parse_refuses_an_empty_key() {
        assert_eq!(IdempotencyKey::parse(""), Err(InvalidIdempotencyKey::Empty));
    }

    #[test]
    fn parse_refuses_a_key_of_256_characters_or_more() {
        assert_eq!(IdempotencyKey::parse(&"k".repeat(256)), Err(InvalidIdempotencyKey::TooLong));
        assert_eq!(IdempotencyKey::parse(&"k".repeat(10_000)), Err(InvalidIdempotencyKey::TooLong));
    }

    #[test]
    fn parse_refuses_spaces_control_characters_and_anything_outside_ascii() {
        for text in
            [" ", "a b", " a", "a ", "a\tb", "a\nb", "\u{7f}", "a\u{0}", "ключ", "é", "키", "a\u{a0}b"]
        {
            assert_eq!(IdempotencyKey::parse(text), Err(InvalidIdempotencyKey::InvalidCharacter), "{text:?}");
        }
        // 255 characters but more bytes: refused for the characters, not the length.
        let wide = "é".repeat(200);
        assert_eq!(IdempotencyKey::parse(&wide), Err(InvalidIdempotencyKey::InvalidCharacter));
    }

    #[test]
    fn keys_compare_exactly() {
        assert_ne!(IdempotencyKey::parse("Key"), IdempotencyKey::parse("key"));
    }

    #[test]
    fn a_key_never_seen_is_claimed() {
        assert_eq!(decide(None, "fp-a"), ClaimDecision::Claim);
    }

    #[test]
    fn a_finished_request_with_the_same_fingerprint_is_replayed() {
        let record = finished(NOW - Duration::hours(23));
        assert_eq!(decide(Some(&record), "fp-a"), ClaimDecision::Replay(response()));
    }

    #[test]
    fn another_fingerprint_is_a_reused_key_whether_the_first_runs_or_finished() {
        assert_eq!(decide(Some(&finished(NOW)), "fp-b"), ClaimDecision::Reused);
        assert_eq!(decide(Some(&running(NOW)), "fp-b"), ClaimDecision::Reused);
        // Even when the first claim was abandoned: the key stays bound to its request.
        assert_eq!(decide(Some(&running(NOW - Duration::minutes(5))), "fp-b"), ClaimDecision::Reused);
    }

    #[test]
    fn a_running_request_with_the_same_fingerprint_is_in_progress_until_its_lease_runs_out() {
        assert_eq!(decide(Some(&running(NOW)), "fp-a"), ClaimDecision::InProgress);
        let almost = running(NOW - CLAIM_LEASE + Duration::milliseconds(1));
        assert_eq!(decide(Some(&almost), "fp-a"), ClaimDecision::InProgress);
        assert_eq!(decide(Some(&running(NOW - CLAIM_LEASE)), "fp-a"), ClaimDecision::Claim);
    }

    #[test]
    fn a_claim_from_a_clock_running_ahead_is_still_in_progress() {
        assert_eq!(decide(Some(&running(NOW + Duration::seconds(2))), "fp-a"), ClaimDecision::InProgress);
    }

    #[test]
    fn a_record_older_than_the_ttl_counts_as_never_seen() {
        let old = NOW - RESPONSE_TTL;
        assert_eq!(decide(Some(&finished(old)), "fp-a"), ClaimDecision::Claim);
        assert_eq!(decide(Some(&finished(old)), "fp-b"), ClaimDecision::Claim);
        assert_eq!(decide(Some(&running(old)), "fp-b"), ClaimDecision::Claim);
        let young = finished(old + Duration::milliseconds(1));
        assert_eq!(decide(Some(&young), "fp-a"), ClaimDecision::Replay(response()));
    }

    #[test]
    fn a_record_expires_exactly_at_claim_plus_ttl() {
        let record = finished(NOW);
        assert!(!record.is_expired_at(NOW + RESPONSE_TTL - Duration::milliseconds(1), RESPONSE_TTL));
        assert!(record.is_expired_at(NOW + RESPONSE_TTL, RESPONSE_TTL));
    }

    #[test]
    fn a_decision_that_writes_nothing_is_already_the_outcome_and_a_claim_is_not() {
        assert_eq!(ClaimDecision::Claim.unless_claimed(), None);
        assert_eq!(ClaimDecision::InProgress.unless_claimed(), Some(IdempotencyClaim::InProgress));
        assert_eq!(ClaimDecision::Reused.unless_claimed(), Some(IdempotencyClaim::Reused));
        let replay = ClaimDecision::Replay(response()).unless_claimed();
        assert_eq!(replay, Some(IdempotencyClaim::Replay(response())));
    }

    #[test]
    fn a_lease_or_ttl_beyond_the_calendar_never_lapses_and_never_panics() {
        let record = running(NOW);
        let decision = decide_claim(Some(&record), "fp-a", NOW, Duration::MAX, Duration::MAX);
        assert_eq!(decision, ClaimDecision::InProgress);
        assert!(!record.is_expired_at(NOW, Duration::MAX));
    }

    #[test]
    fn a_fresh_claim_is_in_progress_since_now() {
        let claim = IdempotencyRecord::claimed("fp-a", NOW);
        assert_eq!(claim, IdempotencyRecord { fingerprint: "fp-a".into(), claimed_at: NOW, response: None });
    }

    #[test]
    fn a_user_may_claim_new_keys_up_to_the_cap() {
        let policy = IdempotencyPolicy { max_keys_per_user: 3, ..IdempotencyPolicy::default() };
        assert!(policy.admits_new_key(0) && policy.admits_new_key(2));
        assert!(!policy.admits_new_key(3) && !policy.admits_new_key(1_000));
        assert_eq!(IdempotencyPolicy::default().max_keys_per_user, KEYS_PER_USER);
    }

    #[test]
    fn keys_claimed_a_ttl_or_more_ago_are_past_the_cutoff() {
        let policy = IdempotencyPolicy::default();
        assert_eq!(policy.expiry_cutoff(NOW), NOW - RESPONSE_TTL);
        assert!(finished(policy.expiry_cutoff(NOW)).is_expired_at(NOW, policy.ttl));
    }
}
