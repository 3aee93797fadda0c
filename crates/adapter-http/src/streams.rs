//! The caps on open waiting-room streams. An open stream holds a connection and a timer for as
//! long as it lasts, so neither one token nor all of them together may open streams without
//! limit: `STREAMS_PER_TOKEN` is the client's share (a fan with a couple of tabs), and
//! `STREAMS_PER_INSTANCE` what this instance is willing to carry. Counted per instance, in
//! process: a stream lives on the instance that serves it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use domain::TokenValue;

/// How many streams may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// `STREAMS_PER_TOKEN`: open streams of one token on this instance.
    pub per_token: u32,
    /// `STREAMS_PER_INSTANCE`: open streams of all tokens on this instance.
    pub per_instance: u32,
}

/// Why a stream may not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefusal {
    /// The token has its share open already: the client's doing.
    #[error("this token already has {0} open streams; close one, or poll GET /api/token")]
    TooManyForToken(u32),
    /// The instance carries as many streams as it will: load shedding, not an outage.
    #[error("this instance carries as many streams as it can; poll GET /api/token, or retry later")]
    InstanceFull,
}

/// The open streams of this instance. Clones share the count.
#[derive(Debug, Clone)]
pub struct StreamSlots {
    limits: StreamLimits,
    open: Arc<Mutex<Open>>,
}

#[derive(Debug, Default)]
struct Open {
    total: u32,
    by_token: HashMap<TokenValue, u32>,
}

/// One open stream's place; dropping it (the stream ended or its client left) gives it back.
#[derive(Debug)]
pub struct StreamSlot {
    slots: StreamSlots,
    token: TokenValue,
}

impl StreamSlots {
    /// No stream open yet.
    pub fn new(limits: StreamLimits) -> Self {
        Self { limits, open: Arc::default() }
    }

    /// Takes a place for a stream of `token`; the token's own cap is checked first, as it is
    /// the client's to fix.
    pub fn open(&self, token: TokenValue) -> Result<StreamSlot, StreamRefusal> {
        let mut open = self.lock();
        let of_token = open.by_token.get(&token).copied().unwrap_or(0);
        if of_token >= self.limits.per_token {
            return Err(StreamRefusal::TooManyForToken(self.limits.per_token));
        }
        if open.total >= self.limits.per_instance {
            return Err(StreamRefusal::InstanceFull);
        }
        open.total += 1;
        open.by_token.insert(token, of_token + 1);
        Ok(StreamSlot { slots: self.clone(), token })
    }

    /// Streams open now on this instance.
    pub fn open_now(&self) -> u32 {
        self.lock().total
    }

    /// The counts are updated whole under the lock and nothing in it can panic, so a poisoned
    /// lock still guards consistent counts.
    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_token.get_mut(&self.token) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_token.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn token(n: u128) -> TokenValue {
        TokenValue::from_uuid(Uuid::from_u128(n))
    }

    fn slots(per_token: u32, per_instance: u32) -> StreamSlots {
        StreamSlots::new(StreamLimits { per_token, per_instance })
    }

    #[test]
    fn a_token_opens_its_share_and_the_next_is_refused_as_too_many() {
        let slots = slots(2, 100);
        let _first = slots.open(token(1)).expect("first");
        let _second = slots.open(token(1)).expect("second");
        assert_eq!(slots.open(token(1)).err(), Some(StreamRefusal::TooManyForToken(2)));
        assert!(slots.open(token(2)).is_ok(), "another token has its own share");
    }

    #[test]
    fn a_full_instance_refuses_every_token() {
        let slots = slots(2, 2);
        let _a = slots.open(token(1)).expect("a");
        let _b = slots.open(token(2)).expect("b");
        assert_eq!(slots.open(token(3)).err(), Some(StreamRefusal::InstanceFull));
    }

    #[test]
    fn the_token_share_is_reported_before_the_instance_being_full() {
        let slots = slots(1, 1);
        let _a = slots.open(token(1)).expect("a");
        assert_eq!(slots.open(token(1)).err(), Some(StreamRefusal::TooManyForToken(1)));
    }

    #[test]
    fn an_ended_stream_gives_its_place_back_to_its_token_and_the_instance() {
        let slots = slots(1, 1);
        let first = slots.open(token(1)).expect("first");
        drop(first);
        assert_eq!(slots.open_now(), 0);
        let again = slots.open(token(1)).expect("the token's place is free again");
        drop(again);
        assert!(slots.open(token(2)).is_ok(), "and the instance's");
    }

    #[test]
    fn clones_count_the_same_streams() {
        let slots = slots(5, 1);
        let _a = slots.clone().open(token(1)).expect("a");
        assert_eq!(slots.open(token(2)).err(), Some(StreamRefusal::InstanceFull));
    }
}
