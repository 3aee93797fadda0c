//! Wiring: picks the store, plugs every adapter into the use cases, starts the background
//! tasks and the HTTP server (like zero2prod's `startup.rs`).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix_web::dev::Server;
use adapter_cache::{CachedCatalogue, Freshness, SeatCache};
use adapter_http::admin::AdminToken;
use adapter_http::metrics::{MetricsError, PoolFigures, PrometheusMetrics, StoreGauges};
use adapter_http::{HttpState, Metrics, StreamSlots};
use adapter_jwt::JwtVerifier;
use adapter_memory::MemoryStore;
use adapter_postgres::{PgOptions, PgStore, QueueTuning};
use adapter_seal::HmacSeal;
use application::{Ports, seed_catalogue};
use domain::IdentityVerifier;
use domain::ports::Store;
use tokio::task::JoinHandle;

use crate::catalogue;
use crate::settings::{AuthMode, Settings, TokenKeys};
use crate::system::{RandomMint, SystemClock};
use crate::tasks;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The listening socket.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Where.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// PostgreSQL could not be reached or migrated.
    #[error("cannot use the database at DATABASE_URL: {0}")]
    Database(#[from] domain::StoreError),
    /// The demo catalogue file built in is not valid (a broken build).
    #[error("the built-in demo catalogue is not valid: {0}")]
    Demo(catalogue_file::CatalogueFileError),
    /// The store refused the demo catalogue.
    #[error("cannot load the demo catalogue: {0}")]
    Seed(#[from] seed_catalogue::SeedCatalogueError),
    /// Metrics registry.
    #[error("cannot set up metrics: {0}")]
    Metrics(String),
    /// The identity provider's keys (`AUTH_JWT_*`) cannot be used.
    #[error("unusable identity settings (AUTH_JWT_*): {0}")]
    Identity(#[from] adapter_jwt::SetupError),
    /// No key to seal queue tokens with.
    #[error("no token signing key: {0}")]
    TokenKey(String),
}

/// A built service, ready to run.
pub struct Application {
    server: Server,
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    /// Connects the store, seeds it if asked, binds the socket and starts the background tasks.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        // First: a deployment whose identity keys are unusable must not come up at all.
        let identity = identity_verifier(&settings.auth)?;
        let keys = &settings.token_keys;
        let (ports, store, database) = match &settings.database_url {
            Some(url) => {
                let options = PgOptions {
                    max_connections: settings.database_max_connections,
                    acquire_timeout: settings.database_timeout,
                };
                let tuning = queue_tuning(settings);
                let store = PgStore::connect_with(url, options, tuning).await?;
                let seal = seal(keys, Some(&store)).await?;
                let pushed: Arc<dyn Freshness> = Arc::new(PushedCatalogue(store.clone()));
                let database = store.clone();
                let ports = with_seat_cache(ports_from(Arc::new(store), seal));
                (with_catalogue_cache(ports, pushed, settings.catalogue_cache), "postgres", Some(database))
            }
            None => {
                let ports = ports_from(Arc::new(MemoryStore::new()), seal(keys, None).await?);
                (ports, "memory", None)
            }
        };
        if settings.seed_demo {
            let demo = catalogue::demo(ports.clock.now()).map_err(StartupError::Demo)?;
            let loaded = seed_catalogue::execute(ports.store.catalogue.as_ref(), &demo).await?;
            tracing::info!(loaded, "demo catalogue");
        }
        let listener = TcpListener::bind(settings.http_addr)
            .map_err(|source| StartupError::Listen { addr: settings.http_addr, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Listen { addr: settings.http_addr, source })?
            .port();
        let prometheus = adapter_http::metrics().map_err(|error| StartupError::Metrics(error.to_string()))?;
        let streams = StreamSlots::new(settings.streams);
        let metrics = figures(&prometheus, &streams, database)?;
        let tasks = tasks::spawn(&ports, settings.policies, &metrics);
        let admin = settings.admin_token.as_deref().map(AdminToken::new);
        let state = HttpState { ports, policies: settings.policies, streams, identity, admin, metrics };
        let server =
            adapter_http::serve(listener, state, prometheus, settings.http_workers, settings.deadlines)
                .map_err(|source| StartupError::Listen { addr: settings.http_addr, source })?;
        tracing::info!(port, store, "frontrow listening");
        Ok(Self { server, tasks })
    }

    /// Serves until SIGTERM or Ctrl-C, then drains in-flight requests and stops the tasks.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.tasks {
            task.abort();
        }
        result
    }
}

/// The identity token check of `AUTH_MODE=jwt`, its keys read now; none for `AUTH_MODE=none`.
fn identity_verifier(auth: &AuthMode) -> Result<Option<Arc<dyn IdentityVerifier>>, StartupError> {
    Ok(match auth {
        AuthMode::None => None,
        AuthMode::Jwt(jwt) => {
            let verifier = JwtVerifier::load(jwt)?;
            tracing::info!(issuer = ?jwt.issuer, audience = ?jwt.audience, "identity tokens required");
            Some(Arc::new(verifier))
        }
    })
}

/// A random key, for a store with no key of its own yet.
fn random_key() -> Result<Vec<u8>, StartupError> {
    adapter_seal::random_key().map_err(|error| StartupError::TokenKey(format!("no randomness: {error}")))
}

/// The token seal: sealing with `TOKEN_SIGNING_KEY`, else the key the database `shared` keeps
/// for every instance, else a random key of this process; also opening what the previous key
/// of `keys` sealed. Logs the key's id: instances that must accept each other's tokens log the
/// same.
async fn seal(keys: &TokenKeys, shared: Option<&PgStore>) -> Result<Arc<HmacSeal>, StartupError> {
    let (key, source) = match (&keys.current, shared) {
        (Some(key), _) => (key.clone(), "TOKEN_SIGNING_KEY"),
        (None, Some(store)) => (store.shared_signing_key(&random_key()?).await?, "database"),
        (None, None) => (random_key()?, "random, this process only"),
    };
    let seal = HmacSeal::new(&key, keys.previous.as_deref())
        .map_err(|error| StartupError::TokenKey(error.to_string()))?;
    let previous = keys.previous.is_some();
    tracing::info!(key_id = %seal.key_id(), source, previous, "queue tokens sealed");
    Ok(Arc::new(seal))
}

/// Plugs one store that implements every repository port into all of them.
fn ports_from<S: Store>(store: Arc<S>, seal: Arc<HmacSeal>) -> Ports {
    Ports::from_store(store, Arc::new(SystemClock), Arc::new(RandomMint), seal)
}

/// Puts the in-process catalogue cache in front of the store unless its TTL is zero; it serves a
/// copy only while `freshness` says the catalogue has not changed since it was read.
fn with_catalogue_cache(mut ports: Ports, freshness: Arc<dyn Freshness>, ttl: StdDuration) -> Ports {
    if !ttl.is_zero() {
        ports.store.catalogue = Arc::new(CachedCatalogue::new(ports.store.catalogue, freshness, ttl));
    }
    ports
}

/// The PostgreSQL store's catalogue epoch as the cache's freshness: it moves as soon as a change
/// made through any instance or command is pushed here, and is unset while this store is not
/// listening, so the cache is bypassed then.
struct PushedCatalogue(PgStore);

impl Freshness for PushedCatalogue {
    fn epoch(&self) -> Option<u64> {
        self.0.catalogue_epoch()
    }
}

/// The waiting room's in-process bounds: `TOKEN_CACHE_MS` for active tokens, the rest fitted
/// to the idle timeout (see `QueueTuning::fitted`).
fn queue_tuning(settings: &Settings) -> QueueTuning {
    QueueTuning::fitted(&settings.policies.queue, settings.token_cache)
}

/// Remembers seats in process (see `adapter_cache::SeatCache`): a hold costs the
/// compare-and-set alone, and the losers of a same-seat race no query at all. The embedded store
/// reads seats from memory anyway.
fn with_seat_cache(mut ports: Ports) -> Ports {
    let seats = Arc::new(SeatCache::new(ports.store.catalogue.clone(), ports.store.reservations.clone()));
    ports.store.catalogue = seats.clone();
    ports.store.reservations = seats;
    ports
}

/// The operator's figures, with the database's pool and listener when there is one.
fn figures(
    served: &PrometheusMetrics,
    streams: &StreamSlots,
    database: Option<PgStore>,
) -> Result<Metrics, StartupError> {
    let failed = |error: MetricsError| StartupError::Metrics(error.to_string());
    let metrics = Metrics::register(served, streams).map_err(failed)?;
    if let Some(store) = database {
        metrics.watch_store(Arc::new(DatabaseGauges(store))).map_err(failed)?;
    }
    Ok(metrics)
}

/// The PostgreSQL store's pool and listener, as the metrics read them at scrape time.
struct DatabaseGauges(PgStore);

impl StoreGauges for DatabaseGauges {
    fn pool(&self) -> PoolFigures {
        let pool = self.0.pool_status();
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        PoolFigures {
            size: count(pool.size),
            max: count(pool.max_size),
            in_use: count(pool.in_use),
            waiting: count(pool.waiting),
            checkouts: pool.checkouts,
            waited: pool.waited,
        }
    }

    fn listening(&self) -> bool {
        self.0.is_listening()
    }

    fn notification_lag(&self) -> Option<StdDuration> {
        self.0.notification_lag()
    }
}
