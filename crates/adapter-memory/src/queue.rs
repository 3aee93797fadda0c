//! The waiting room: queue tokens, their indexes, and the queue port.
//!
//! Tokens are kept by ticket. Three ordered indexes cover the tokens whose stored status is
//! live, so no operation walks the whole queue:
//! - `waiting` holds the tickets of waiting tokens, smallest (oldest) first, for FIFO admission;
//! - `by_last_poll` orders the same tokens by their last poll, so abandoned ones come off the
//!   front;
//! - `active` orders active tokens by expiry, so lapsed ones come off the front.
//!
//! A Fenwick tree over ticket numbers holds 1 for each waiting ticket, which turns a position
//! (waiting tokens up to one's own ticket) into an O(log n) prefix sum.
//!
//! A fourth index, `ended`, orders expired tokens by when they were last live, so
//! [`Queue::forget`] drops those past the retention window from the front. With it the tree's
//! window moves up past the oldest waiting ticket, and the queue's memory follows the fans of
//! the last retention window rather than every fan who ever came.
//!
//! Admission runs at most once per tick: the queue remembers the instant of its last admission
//! step (this store serves one process, so that is the last admission in the service) and an
//! [`TurnoverLog`] of the recent steps, from which the places freed per second are read.

mod rate;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use domain::ports::{AdmissionReport, QueueRepository, StoreError, StoreResult};
use domain::{
    Occupancy, QueueControls, QueuePolicy, QueueToken, RoomReading, TokenState, TokenStatus, TokenValue,
    UserId,
};
use time::OffsetDateTime;

use self::rate::TurnoverLog;
use crate::fenwick::Fenwick;
use crate::{MemoryStore, State, shrink_if_sparse};

/// The token table and its indexes.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Every token not yet forgotten, by ticket.
    tokens: HashMap<u64, QueueToken>,
    /// The last ticket issued.
    issued: u64,
    by_value: HashMap<TokenValue, u64>,
    /// Each user's latest ticket: the only one of theirs that can be live.
    by_user: HashMap<UserId, u64>,
    /// Tickets of stored-`Waiting` tokens.
    waiting: BTreeSet<u64>,
    /// `(last_seen_at, ticket)` of stored-`Waiting` tokens.
    by_last_poll: BTreeSet<(OffsetDateTime, u64)>,
    /// `(expires_at, ticket)` of stored-`Active` tokens.
    active: BTreeSet<(OffsetDateTime, u64)>,
    /// `(last live instant, ticket)` of stored-`Expired` tokens, for forgetting them in order.
    ended: BTreeSet<(OffsetDateTime, u64)>,
    /// 1 at each waiting ticket.
    ranks: Fenwick,
    /// The `now` of the last admission step, which decides when the next one is due.
    last_admission: Option<OffsetDateTime>,
    /// Admissions ever made.
    admitted_total: u64,
    /// The recent admission steps, for the places freed per second.
    turnover: TurnoverLog,
    /// The box office's run-time controls.
    controls: QueueControls,
}

impl Queue {
    fn get(&self, ticket: u64) -> Option<&QueueToken> {
        self.tokens.get(&ticket)
    }

    fn by_value(&self, value: TokenValue) -> Option<&QueueToken> {
        self.get(*self.by_value.get(&value)?)
    }

    fn latest_of(&self, user: UserId) -> Option<&QueueToken> {
        self.get(*self.by_user.get(&user)?)
    }

    /// Takes a token out of the live indexes and stores it as `Expired` (a payment spends its
    /// token this way); says what it was.
    pub(crate) fn retire(&mut self, ticket: u64) -> Option<TokenStatus> {
        let token = self.tokens.get_mut(&ticket)?;
        let was = token.status;
        match was {
            TokenStatus::Waiting => {
                self.waiting.remove(&ticket);
                self.by_last_poll.remove(&(token.last_seen_at, ticket));
                self.ranks.decrement(ticket);
            }
            TokenStatus::Active => {
                if let Some(until) = token.expires_at {
                    self.active.remove(&(until, ticket));
                }
            }
            TokenStatus::Expired => return Some(was),
        }
        token.status = TokenStatus::Expired;
        self.ended.insert((token.last_live_at(), ticket));
        Some(was)
    }

    /// Expires `user`'s token if it is stored as waiting or active.
    pub(crate) fn retire_live_of(&mut self, user: UserId) {
        if let Some(&ticket) = self.by_user.get(&user) {
            self.retire(ticket);
        }
    }

    /// The ticket of token `value` if it may pay for `payer` at `at` (the domain's
    /// [`QueueToken::pays_for`]): the settlement's token guard.
    pub(crate) fn paying_ticket(&self, value: TokenValue, payer: UserId, at: OffsetDateTime) -> Option<u64> {
        self.by_value(value).filter(|token| token.pays_for(payer, at)).map(|token| token.ticket)
    }

    /// The ticket the next token gets, checking that the ticket count and the Fenwick tree agree.
    fn next_ticket(&self) -> StoreResult<u64> {
        if self.ranks.len() != self.issued {
            return Err(StoreError::Internal("the queue's ticket index is out of step".into()));
        }
        self.issued.checked_add(1).ok_or_else(|| StoreError::Internal("the queue ran out of tickets".into()))
    }

    /// Stores a new waiting token for `user` at the back of the queue under `ticket`, which
    /// [`Queue::next_ticket`] gave.
    fn enqueue(&mut self, ticket: u64, user: UserId, value: TokenValue, now: OffsetDateTime) -> QueueToken {
        let token = QueueToken {
            value,
            user_id: user,
            ticket,
            status: TokenStatus::Waiting,
            issued_at: now,
            last_seen_at: now,
            expires_at: None,
        };
        self.tokens.insert(ticket, token.clone());
        self.issued = ticket;
        self.by_value.insert(value, ticket);
        self.by_user.insert(user, ticket);
        self.waiting.insert(ticket);
        self.by_last_poll.insert((now, ticket));
        self.ranks.push(1);
        token
    }

    /// Makes a waiting token active until `until`; says whether it was waiting.
    fn activate(&mut self, ticket: u64, until: OffsetDateTime) -> bool {
        let Some(token) = self.tokens.get_mut(&ticket) else { return false };
        if token.status != TokenStatus::Waiting {
            return false;
        }
        self.waiting.remove(&ticket);
        self.by_last_poll.remove(&(token.last_seen_at, ticket));
        self.ranks.decrement(ticket);
        token.status = TokenStatus::Active;
        token.expires_at = Some(until);
        self.active.insert((until, ticket));
        true
    }

    fn position(&self, value: TokenValue) -> u64 {
        match self.by_value(value) {
            Some(token) if token.status == TokenStatus::Waiting => self.ranks.prefix(token.ticket),
            _ => 0,
        }
    }

    fn record_poll(&mut self, value: TokenValue, now: OffsetDateTime) {
        let Some(&ticket) = self.by_value.get(&value) else { return };
        let Some(token) = self.tokens.get_mut(&ticket) else { return };
        if token.status != TokenStatus::Waiting || now <= token.last_seen_at {
            return;
        }
        self.by_last_poll.remove(&(token.last_seen_at, ticket));
        token.last_seen_at = now;
        self.by_last_poll.insert((now, ticket));
    }

    /// One admission attempt: expiry and idle drops always; the admission step itself only when
    /// `policy` says one is due since the last, and then it is recorded.
    fn admit(&mut self, now: OffsetDateTime, policy: &QueuePolicy) -> AdmissionReport {
        let mut report = AdmissionReport::default();
        while let Some(&(until, ticket)) = self.active.first() {
            if until > now {
                break;
            }
            self.active.pop_first();
            if self.retire(ticket) == Some(TokenStatus::Active) {
                report.expired += 1;
            }
        }
        let cutoff = policy.idle_cutoff(now);
        while let Some(&(last_seen_at, ticket)) = self.by_last_poll.first() {
            if last_seen_at > cutoff {
                break;
            }
            self.by_last_poll.pop_first();
            if self.retire(ticket) == Some(TokenStatus::Waiting) {
                report.dropped += 1;
            }
        }
        let Some(governed) = self.controls.govern(policy) else { return report };
        let policy = &governed;
        if !policy.admission_due(self.last_admission, now) {
            return report;
        }
        self.last_admission = Some(now);
        let slots = policy.admission_slots(self.occupancy().active);
        let until = policy.active_until(now);
        while report.admitted < slots {
            let Some(ticket) = self.waiting.pop_first() else { break };
            if self.activate(ticket, until) {
                report.admitted += 1;
            }
        }
        self.admitted_total = self.admitted_total.saturating_add(report.admitted);
        self.turnover.record(now, self.occupancy());
        report
    }

    /// The counters the turnover is measured from.
    fn occupancy(&self) -> Occupancy {
        Occupancy { admitted_total: self.admitted_total, active: count(self.active.len()) }
    }

    /// The room as [`QueueRepository::room`] tells it.
    fn room(&self) -> RoomReading {
        RoomReading {
            controls: self.controls,
            last_admission_at: self.last_admission,
            waiting: count(self.waiting.len()),
            active: self.occupancy().active,
            freed_per_second: self.turnover.freed_per_second(),
        }
    }

    /// Forgets every token [`QueueToken::forgettable_before`] `cutoff`, and narrows the Fenwick
    /// tree to the tickets that may still wait. Says how many it forgot and whose latest token
    /// each was (those users have no token left).
    fn forget(&mut self, cutoff: OffsetDateTime) -> (u64, Vec<UserId>) {
        let (mut forgotten, mut tokenless) = (0_u64, Vec::new());
        while let Some(&(ended, ticket)) = self.ended.first() {
            if ended >= cutoff {
                break;
            }
            self.ended.pop_first();
            let Some(token) = self.tokens.remove(&ticket) else { continue };
            forgotten += 1;
            self.by_value.remove(&token.value);
            if self.by_user.get(&token.user_id) == Some(&ticket) {
                self.by_user.remove(&token.user_id);
                tokenless.push(token.user_id);
            }
        }
        // Rebuilding costs the window's width, so it waits until half the window is dead: the
        // cost is spread over the tickets issued meanwhile.
        let first_waiting = self.waiting.first().copied().unwrap_or(self.issued.saturating_add(1));
        if self.ranks.stored_before(first_waiting).saturating_mul(2) > self.ranks.window() {
            self.ranks.rebase(first_waiting, self.waiting.iter().copied());
        }
        shrink_if_sparse(&mut self.tokens);
        shrink_if_sparse(&mut self.by_value);
        shrink_if_sparse(&mut self.by_user);
        (forgotten, tokenless)
    }
}

impl State {
    fn issue(
        &mut self,
        user: UserId,
        candidate: TokenValue,
        now: OffsetDateTime,
        policy: &QueuePolicy,
    ) -> StoreResult<QueueToken> {
        if let Some(current) = self.queue.latest_of(user) {
            match current.state_at(now, policy) {
                TokenState::Waiting | TokenState::Active { .. } => return Ok(current.clone()),
                TokenState::Expired => {}
            }
        }
        if self.queue.by_value.contains_key(&candidate) {
            return Err(StoreError::Internal("a freshly minted token value is already in use".into()));
        }
        let ticket = self.queue.next_ticket()?;
        self.queue.retire_live_of(user);
        self.wallets.open(user);
        Ok(self.queue.enqueue(ticket, user, candidate, now))
    }

    /// The queue's forgetting, then the users it left with nothing to keep.
    fn forget_ended(&mut self, cutoff: OffsetDateTime) -> u64 {
        let (forgotten, tokenless) = self.queue.forget(cutoff);
        for user in tokenless {
            if !self.reservations.any_of(user) && !self.idempotency.any_of(user) {
                self.wallets.close_if_empty(user);
            }
        }
        self.wallets.shrink_if_sparse();
        forgotten
    }
}

#[async_trait]
impl QueueRepository for MemoryStore {
    async fn issue(
        &self,
        user: UserId,
        candidate: TokenValue,
        now: OffsetDateTime,
        policy: &QueuePolicy,
    ) -> StoreResult<QueueToken> {
        self.with_state(|state| state.issue(user, candidate, now, policy))
    }

    async fn token(&self, value: TokenValue) -> StoreResult<Option<QueueToken>> {
        self.with_state(|state| Ok(state.queue.by_value(value).cloned()))
    }

    /// The embedded store keeps no copies: every read is fresh.
    async fn fresh_token(&self, value: TokenValue) -> StoreResult<Option<QueueToken>> {
        self.token(value).await
    }

    async fn position(&self, token: &QueueToken) -> StoreResult<u64> {
        self.with_state(|state| Ok(state.queue.position(token.value)))
    }

    async fn record_poll(&self, value: TokenValue, now: OffsetDateTime) -> StoreResult<()> {
        self.with_state(|state| {
            state.queue.record_poll(value, now);
            Ok(())
        })
    }

    async fn admit(&self, now: OffsetDateTime, policy: &QueuePolicy) -> StoreResult<AdmissionReport> {
        self.with_state(|state| Ok(state.queue.admit(now, policy)))
    }

    async fn controls(&self) -> StoreResult<QueueControls> {
        self.with_state(|state| Ok(state.queue.controls))
    }

    async fn set_controls(&self, controls: QueueControls) -> StoreResult<()> {
        self.with_state(|state| {
            state.queue.controls = controls;
            Ok(())
        })
    }

    async fn room(&self) -> StoreResult<RoomReading> {
        self.with_state(|state| Ok(state.queue.room()))
    }

    async fn forget_ended(&self, cutoff: OffsetDateTime) -> StoreResult<u64> {
        self.with_state(|state| Ok(state.forget_ended(cutoff)))
    }
}

/// A collection's length as a count.
fn count(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}
