//! A read-through cache in front of the catalogue port: the concert list, each concert, and each
//! concert's performances are kept in process; seats — and so free-seat lists and counts —
//! always go to the store, because they change with every hold and must never be stale.
//!
//! Every instance keeps its own cache, and the catalogue changes at run time (an import through
//! any instance or command), so a copy is served only while a [`Freshness`] source says nothing
//! changed since it was read: each entry is stored under the epoch read before its load began,
//! and served only while the epoch is still that one. The epoch moves when a change is pushed to
//! this instance; while none can be (`None`), every read goes to the store. This instance's own
//! imports empty the cache at once. `CATALOGUE_CACHE_SECONDS` stays as the safety net's
//! time-to-live. Concurrent misses of one key at one epoch share one store read (moka's
//! `try_get_with`), so a cold cache under a spike costs one query.
//!
//! [`SeatCache`] is the one cache of seats, and never of seat lists: it remembers each seat's
//! fixed facts so a hold needs no seat read, refuses a taken seat only from an answer the store
//! gave during the refused request's lifetime (so the losers of a same-seat race share one read
//! per wave), and lets the store's compare-and-set settle every seat it believes free.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{CatalogueRepository, StoreResult};
use domain::{
    Concert, ConcertId, ImportOutcome, NewConcert, PerformanceSales, Schedule, ScheduleId, Seat, SeatEdit,
    SeatId, StoreError,
};
use moka::future::Cache;

mod seat_cache;

pub use seat_cache::SeatCache;

/// Most concerts (and per-concert schedule lists) kept; unknown ids are cached too, so the
/// bound keeps a scan of random ids from growing memory.
const CAPACITY: u64 = 10_000;

/// Most concert lists kept: the current one, and a few of earlier epochs until they are swept
/// (so a full cache never makes the new list contend with an old one to get in).
const LISTS: u64 = 4;

/// Whether the catalogue may have changed since a copy was read, as far as this instance can
/// tell. Implemented outside this crate, by whatever hears of changes (the binary wires the
/// PostgreSQL store's pushed changes to it).
pub trait Freshness: Send + Sync {
    /// A number that moves whenever the catalogue may have changed; `None` while this instance
    /// cannot tell (changes are not reaching it), and then nothing is served from the cache.
    fn epoch(&self) -> Option<u64>;
}

/// What an entry is stored under, read before its load began: the epoch, and how many times this
/// instance emptied the cache itself. A load that began before either moved is never served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Stamp {
    epoch: u64,
    emptied: u64,
}

/// The catalogue port with concerts and schedules cached.
pub struct CachedCatalogue {
    inner: Arc<dyn CatalogueRepository>,
    freshness: Arc<dyn Freshness>,
    /// How many times this instance's own loads and imports emptied the cache.
    emptied: AtomicU64,
    /// The latest epoch the cache was swept for: entries of earlier ones are never served
    /// again, so their memory is given back as soon as a newer epoch is seen.
    swept_for: AtomicU64,
    concerts: Cache<Stamp, Vec<Concert>>,
    concert: Cache<(Stamp, ConcertId), Option<Concert>>,
    schedules: Cache<(Stamp, ConcertId), Vec<Schedule>>,
}

impl CachedCatalogue {
    /// Wraps `inner`, serving an entry while `freshness` keeps the epoch it was read at, and for
    /// `ttl` at most.
    pub fn new(inner: Arc<dyn CatalogueRepository>, freshness: Arc<dyn Freshness>, ttl: Duration) -> Self {
        Self {
            inner,
            freshness,
            emptied: AtomicU64::new(0),
            swept_for: AtomicU64::new(0),
            concerts: Cache::builder().max_capacity(LISTS).time_to_live(ttl).build(),
            concert: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build(),
            schedules: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build(),
        }
    }

    /// The stamp a load starting now is stored under, or `None` to bypass the cache. The first
    /// read to see a newer epoch sweeps the entries of earlier ones (one stored meanwhile at the
    /// new epoch may go too: at worst one more store read).
    fn stamp(&self) -> Option<Stamp> {
        let epoch = self.freshness.epoch()?;
        if self.swept_for.fetch_max(epoch, Ordering::AcqRel) < epoch {
            self.invalidate_all();
            tracing::debug!(epoch, "catalogue cache swept for a new epoch");
        }
        Some(Stamp { epoch, emptied: self.emptied.load(Ordering::Acquire) })
    }

    /// After this instance changed the catalogue: loads that began before are never served.
    fn clear(&self) {
        self.emptied.fetch_add(1, Ordering::AcqRel);
        self.invalidate_all();
    }

    fn invalidate_all(&self) {
        self.concerts.invalidate_all();
        self.concert.invalidate_all();
        self.schedules.invalidate_all();
    }
}

/// Failed loads are not cached; the shared error comes back as the store's own error.
fn unshare(error: Arc<StoreError>) -> StoreError {
    (*error).clone()
}

#[async_trait]
impl CatalogueRepository for CachedCatalogue {
    async fn concerts(&self) -> StoreResult<Vec<Concert>> {
        let Some(stamp) = self.stamp() else { return self.inner.concerts().await };
        self.concerts.try_get_with(stamp, self.inner.concerts()).await.map_err(unshare)
    }

    async fn concert(&self, id: ConcertId) -> StoreResult<Option<Concert>> {
        let Some(stamp) = self.stamp() else { return self.inner.concert(id).await };
        self.concert.try_get_with((stamp, id), self.inner.concert(id)).await.map_err(unshare)
    }

    async fn schedules(&self, concert: ConcertId) -> StoreResult<Vec<Schedule>> {
        let Some(stamp) = self.stamp() else { return self.inner.schedules(concert).await };
        self.schedules.try_get_with((stamp, concert), self.inner.schedules(concert)).await.map_err(unshare)
    }

    async fn seats_of_schedule(&self, schedule: ScheduleId) -> StoreResult<Vec<Seat>> {
        self.inner.seats_of_schedule(schedule).await
    }

    async fn seats_of_concert(&self, concert: ConcertId) -> StoreResult<Vec<Seat>> {
        self.inner.seats_of_concert(concert).await
    }

    async fn seat(&self, id: SeatId) -> StoreResult<Option<Seat>> {
        self.inner.seat(id).await
    }

    async fn seed_if_empty(&self, catalogue: &[NewConcert]) -> StoreResult<bool> {
        let seeded = self.inner.seed_if_empty(catalogue).await;
        self.clear();
        seeded
    }

    async fn sales(&self, at: time::OffsetDateTime) -> StoreResult<Vec<PerformanceSales>> {
        self.inner.sales(at).await
    }

    async fn import(&self, catalogue: &[NewConcert]) -> StoreResult<ImportOutcome> {
        let imported = self.inner.import(catalogue).await;
        self.clear();
        imported
    }

    async fn edit_seat(
        &self,
        seat: SeatId,
        edit: SeatEdit,
        at: time::OffsetDateTime,
    ) -> StoreResult<Option<Seat>> {
        self.inner.edit_seat(seat, edit, at).await
    }
}

#[cfg(test)]
mod tests;
