//! Changes pushed by PostgreSQL: what keeps every instance's copies coherent.
//!
//! Every write that changes what an instance keeps in memory notifies the channel
//! [`CHANNEL`] from its own transaction (migration `2026-12-02-000005_push_changes` lists the
//! writers and the payloads), and PostgreSQL delivers the notification at commit. Each store
//! keeps one connection of its own (not a pooled one) listening, and applies what it hears at
//! once: a moved queue is read again (one incremental snapshot refresh), an ended token's copy
//! is replaced by a tombstone, deleted tokens' copies are dropped, a changed catalogue moves the
//! [`CatalogueEpoch`] (what the catalogue cache in front of the store checks its entries by).
//!
//! **While not listening, nothing is trusted.** Until the listening connection is open, its
//! `LISTEN` acknowledged and the snapshot refreshed after that, and from the moment a failure
//! is noticed, every token is read from the database and every position from a snapshot
//! refreshed after the request arrived (a [`Since`] is the switch).
//!
//! **The push path is probed.** Every [`PROBE_EVERY`] the listening connection notifies itself
//! on a channel of its own. The statement must be answered within [`PROBE_PATIENCE`] (a
//! connection cut without a word is given up within their sum), and its notification must come
//! back within [`PROBE_RETURN`]: PostgreSQL delivers notifications in commit order, so it comes
//! back behind every change committed before it, and the time it took is how late this instance
//! hears changes (the notification lag an operator watches). One that does not come back means
//! the push path is broken although the connection answers: nothing is trusted until listening
//! again. Every other step is bounded by [`PATIENCE`], so the listener never stops reading for
//! long while trusted.
//!
//! The periodic snapshot refresh and the token copies' time-to-live stay as the safety net.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::pg::PgNotification;
use diesel::sql_query;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::TokenValue;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;

use crate::pool::PgPool;
use crate::queue::QueueRuntime;

/// The channel every change is notified on.
pub(crate) const CHANNEL: &str = "frontrow";

/// How often the listening connection notifies itself (see the module docs).
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Longest wait for the answer to a probe's statement.
pub(crate) const PROBE_PATIENCE: Duration = Duration::from_secs(1);

/// Longest wait for a probe's notification to come back.
pub(crate) const PROBE_RETURN: Duration = Duration::from_secs(5);

/// Longest wait to open the listening connection and start listening (the catch-up refresh
/// included), or to apply what was heard.
pub(crate) const PATIENCE: Duration = Duration::from_secs(2);

/// First wait before opening the connection again after a failure; doubled up to
/// [`RETRY_MAX`] while failures repeat.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What one notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The served watermark rose, or tickets were recorded as having left the queue.
    QueueMoved,
    /// An active token ended: a payment spent it, or its time ran out.
    TokenEnded(TokenValue),
    /// Ended tokens were deleted.
    TokensForgotten,
    /// Concerts or performances were added, changed or removed.
    CatalogueChanged,
}

impl Change {
    /// Reads a payload; `None` for one this version does not know (a newer instance's), which
    /// is ignored.
    pub(crate) fn parse(payload: &str) -> Option<Change> {
        match payload.split_at_checked(1)? {
            ("q", "") => Some(Change::QueueMoved),
            ("f", "") => Some(Change::TokensForgotten),
            ("c", "") => Some(Change::CatalogueChanged),
            ("t", token) => {
                uuid::Uuid::parse_str(token).ok().map(|uuid| Change::TokenEnded(TokenValue::from_uuid(uuid)))
            }
            _ => None,
        }
    }
}

/// An instant that may be unset, read lock-free (every token read asks): since when this store
/// has been listening without a break (unset while it is not, and then no copy may be trusted),
/// or when ended tokens were last deleted.
#[derive(Debug)]
pub(crate) struct Since {
    base: Instant,
    /// Nanoseconds after `base` plus one; 0 while unset.
    nanos: AtomicU64,
}

impl Since {
    /// Unset.
    pub(crate) fn new() -> Self {
        Self { base: Instant::now(), nanos: AtomicU64::new(0) }
    }

    /// The instant, if set.
    pub(crate) fn get(&self) -> Option<Instant> {
        match AtomicU64::load(&self.nanos, Ordering::Acquire) {
            0 => None,
            nanos => Some(self.base + Duration::from_nanos(nanos - 1)),
        }
    }

    /// Sets it to `at`.
    pub(crate) fn set(&self, at: Instant) {
        let nanos = u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX - 1);
        self.nanos.store(nanos + 1, Ordering::Release);
    }

    /// Unsets it.
    pub(crate) fn clear(&self) {
        self.nanos.store(0, Ordering::Release);
    }
}

/// The catalogue's epoch, read lock-free on every catalogue read: a number that moves whenever
/// the catalogue may have changed (a change was heard, or listening (re)started, since anything
/// could have changed unheard before), and unset while this store is not listening. A copy of
/// the catalogue read at one epoch may be served only while the epoch is still that one.
#[derive(Debug, Default)]
pub(crate) struct CatalogueEpoch {
    /// The epoch times two, plus one while listening: one word, so the epoch and whether it
    /// holds are always read together.
    word: AtomicU64,
}

impl CatalogueEpoch {
    /// The epoch, or `None` while not listening.
    pub(crate) fn get(&self) -> Option<u64> {
        let word = AtomicU64::load(&self.word, Ordering::Acquire);
        (word & 1 == 1).then_some(word >> 1)
    }

    /// A change was heard: a new epoch.
    pub(crate) fn bump(&self) {
        let word = self.word.fetch_add(2, Ordering::AcqRel).wrapping_add(2);
        tracing::debug!(epoch = word >> 1, listening = word & 1 == 1, "catalogue change heard");
    }

    /// Listening (re)started: a new epoch, and it holds.
    pub(crate) fn start(&self) {
        let next = |word: u64| Some(word.wrapping_add(2) | 1);
        // Never fails: the closure always gives a value.
        let _ = self.word.fetch_update(Ordering::AcqRel, Ordering::Acquire, next);
    }

    /// Not listening any more: no epoch holds.
    pub(crate) fn stop(&self) {
        self.word.fetch_and(!1, Ordering::AcqRel);
    }
}

/// Listens for the store until `stopped`'s sender is dropped, opening the connection again whenever it
/// fails.
pub(crate) async fn run(
    url: String,
    pool: PgPool,
    queue: Arc<QueueRuntime>,
    mut stopped: watch::Receiver<()>,
) {
    let mut wait = RETRY_FIRST;
    let mut failing = false;
    loop {
        let session = listen(&url, &pool, &queue);
        let ended = tokio::select! {
            _ = stopped.changed() => break,
            ended = session => ended,
        };
        queue.stop_trusting();
        let lasted = ended.lasted;
        // Once per outage, not once per attempt; a session that had listened is news again.
        let listened = ended.listened;
        if listened || !failing {
            let lasted_ms = u64::try_from(lasted.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(error = %ended.why, lasted_ms, "not listening for changes; reading the database until listening again");
        }
        failing = !listened;
        // A session that fails at once again and again (listening, then failing) backs off too.
        wait = if lasted > RETRY_MAX { RETRY_FIRST } else { (wait * 2).min(RETRY_MAX) };
        tokio::select! {
            _ = stopped.changed() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    queue.stop_trusting();
    tracing::debug!("change listener stopped");
}

/// Why a listening session ended, how long it lasted, and whether it got as far as listening.
struct Ended {
    why: String,
    lasted: Duration,
    listened: bool,
}

/// One listening session: open, `LISTEN`, catch up, then apply changes until the connection
/// fails. Never returns otherwise.
async fn listen(url: &str, pool: &PgPool, queue: &QueueRuntime) -> Ended {
    let opened = Instant::now();
    let mut listened = false;
    let Err(why) = session(url, pool, queue, &mut listened).await;
    Ended { why, lasted: opened.elapsed(), listened }
}

/// Opens the listening connection: connected, named (so operators, and tests, can tell it in
/// `pg_stat_activity`) and listening to the changes and to its own `probes`, within [`PATIENCE`].
async fn open(url: &str, probes: &str) -> Result<AsyncPgConnection, String> {
    let open = async {
        let mut conn =
            AsyncPgConnection::establish(url).await.map_err(|error| format!("cannot connect: {error}"))?;
        sql_query("SET application_name = 'frontrow listener'")
            .execute(&mut conn)
            .await
            .map_err(|error| format!("cannot name the connection: {error}"))?;
        for channel in [CHANNEL, probes] {
            sql_query(format!("LISTEN {channel}"))
                .execute(&mut conn)
                .await
                .map_err(|error| format!("LISTEN failed: {error}"))?;
        }
        Ok(conn)
    };
    tokio::time::timeout(PATIENCE, open).await.map_err(|_| format!("not listening within {PATIENCE:?}"))?
}

async fn session(
    url: &str,
    pool: &PgPool,
    queue: &QueueRuntime,
    listened: &mut bool,
) -> Result<Infallible, String> {
    let mut probes = Probes::new();
    let mut conn = open(url, &probes.channel).await?;
    // Everything committed before the LISTEN is read now; everything after it will be told.
    let caught_up = Instant::now();
    let refresh = tokio::time::timeout(PATIENCE, queue.refresh(pool));
    refresh
        .await
        .map_err(|_| "cannot catch up in time".to_owned())?
        .map_err(|error| format!("cannot catch up: {error}"))?;
    queue.start_trusting(caught_up);
    *listened = true;
    tracing::info!("listening for changes");
    loop {
        // Due whether the connection is busy or silent: a busy one must prove it is not late.
        if probes.due_in().is_zero() {
            probes.send(&mut conn).await?;
        }
        let heard = {
            let mut stream = pin!(conn.notifications_stream());
            tokio::time::timeout(probes.due_in(), stream.next()).await
        };
        let Ok(first) = heard else { continue };
        let mut changes = Vec::new();
        probes.sort(notification(first)?, &mut changes, queue);
        // Take every notification already here, so a burst costs one refresh.
        loop {
            let ready = pin!(conn.notifications_stream()).next().now_or_never();
            match ready {
                None => break,
                Some(heard) => probes.sort(notification(heard)?, &mut changes, queue),
            }
        }
        if changes.is_empty() {
            continue;
        }
        // Bounded: while this runs nothing else is heard, and copies are still trusted.
        tokio::time::timeout(PATIENCE, queue.apply(changes))
            .await
            .map_err(|_| format!("cannot apply a change within {PATIENCE:?}"))?;
    }
}

/// What the stream gave, or why the connection is no longer usable.
fn notification(heard: Option<diesel::QueryResult<PgNotification>>) -> Result<PgNotification, String> {
    match heard {
        None => Err("the listening connection closed".to_owned()),
        Some(Err(error)) => Err(format!("the listening connection failed: {error}")),
        Some(Ok(notification)) => Ok(notification),
    }
}

/// The probes of one listening session: its own channel, and the probes sent and not yet heard
/// back (a few at most: one older than [`PROBE_RETURN`] ends the session).
struct Probes {
    channel: String,
    next_at: Instant,
    sent: u64,
    unheard: VecDeque<(u64, Instant)>,
}

impl Probes {
    fn new() -> Self {
        let channel = format!("{CHANNEL}_probe_{}", uuid::Uuid::new_v4().simple());
        Self { channel, next_at: Instant::now(), sent: 0, unheard: VecDeque::new() }
    }

    /// How long until the next probe is due.
    fn due_in(&self) -> Duration {
        self.next_at.saturating_duration_since(Instant::now())
    }

    /// Sends the next probe, unless one sent long ago never came back.
    async fn send(&mut self, conn: &mut AsyncPgConnection) -> Result<(), String> {
        if self.unheard.front().is_some_and(|(_, sent_at)| sent_at.elapsed() > PROBE_RETURN) {
            return Err(format!("a probe did not come back within {PROBE_RETURN:?}: changes are not pushed"));
        }
        self.sent += 1;
        let sent_at = Instant::now();
        // The channel is ours (letters, digits, underscores) and the payload a number.
        let notify = sql_query(format!("NOTIFY {}, '{}'", self.channel, self.sent));
        match tokio::time::timeout(PROBE_PATIENCE, notify.execute(conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(format!("probe failed: {error}")),
            Err(_) => return Err(format!("no probe answer within {PROBE_PATIENCE:?}")),
        }
        self.unheard.push_back((self.sent, sent_at));
        self.next_at = sent_at + PROBE_EVERY;
        Ok(())
    }

    /// Adds a change to `changes`, or times a probe that came back.
    fn sort(&mut self, heard: PgNotification, changes: &mut Vec<Change>, queue: &QueueRuntime) {
        if heard.channel != self.channel {
            changes.extend(Change::parse(&heard.payload));
            return;
        }
        let Ok(probe) = heard.payload.parse::<u64>() else { return };
        while let Some((sent, sent_at)) = self.unheard.pop_front() {
            if sent == probe {
                queue.heard_after(sent_at.elapsed());
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_as_the_changes_they_name_and_unknown_ones_as_nothing() {
        let token = uuid::Uuid::from_u128(42);
        assert_eq!(Change::parse("q"), Some(Change::QueueMoved));
        assert_eq!(Change::parse("f"), Some(Change::TokensForgotten));
        assert_eq!(Change::parse("c"), Some(Change::CatalogueChanged));
        assert_eq!(
            Change::parse(&format!("t{token}")),
            Some(Change::TokenEnded(TokenValue::from_uuid(token)))
        );
        for unknown in ["", "x", "qq", "cc", "t", "tnot-a-uuid", "é"] {
            assert_eq!(Change::parse(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn an_instant_reads_back_as_set_until_cleared() {
        let listening = Since::new();
        assert_eq!(listening.get(), None);
        let at = Instant::now() + Duration::from_millis(3);
        listening.set(at);
        let since = listening.get().expect("listening");
        assert!(since.max(at) - since.min(at) < Duration::from_micros(1), "{since:?} vs {at:?}");
        listening.clear();
        assert_eq!(listening.get(), None);
    }

    #[test]
    fn the_catalogue_epoch_is_unset_until_listening_and_moves_with_every_change_and_restart() {
        let epoch = CatalogueEpoch::default();
        assert_eq!(epoch.get(), None);
        epoch.start();
        let first = epoch.get().expect("listening");
        epoch.bump();
        let changed = epoch.get().expect("still listening");
        assert!(changed > first, "{changed} after {first}");
        epoch.stop();
        assert_eq!(epoch.get(), None);
        epoch.bump();
        assert_eq!(epoch.get(), None, "a change heard while not listening sets no epoch");
        epoch.start();
        assert!(epoch.get().expect("listening again") > changed);
    }
}
