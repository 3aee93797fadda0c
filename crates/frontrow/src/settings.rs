//! Settings, all from environment variables named as in SPEC and README.

use std::env;
use std::net::SocketAddr;

use application::Policies;
use domain::{HoldPolicy, QueuePolicy};
use time::Duration;

mod identity;
pub use identity::AuthMode;

/// Everything the binary can be told.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `HTTP_ADDR`: where to listen.
    pub http_addr: SocketAddr,
    /// `HTTP_WORKERS`: HTTP worker threads (default: one per core).
    pub http_workers: usize,
    /// `DATABASE_URL`: PostgreSQL; unset means the embedded in-memory store.
    pub database_url: Option<String>,
    /// `DATABASE_MAX_CONNECTIONS`: size of this instance's PostgreSQL pool.
    pub database_max_connections: usize,
    /// `DATABASE_TIMEOUT_MS`: longest wait for a pooled connection before answering 503.
    pub database_timeout: std::time::Duration,
    /// `REQUEST_TIMEOUT_MS`: longest a request may take before it is answered 503 (bounds a
    /// request stuck on a database that stopped answering without closing its connections).
    pub request_timeout: std::time::Duration,
    /// `SEED_DEMO`: load the demo catalogue into an empty store.
    pub seed_demo: bool,
    /// `CATALOGUE_CACHE_SECONDS`: how long concerts and performances are cached in process;
    /// zero turns the cache off. Seats are never cached.
    pub catalogue_cache: std::time::Duration,
    /// `TOKEN_CACHE_MS` (PostgreSQL only): how long a queue token read from the database is
    /// trusted by this instance's gate; zero reads it on every request.
    pub token_cache: std::time::Duration,
    /// `LOG_FORMAT=json` for JSON lines; anything else is human-readable.
    pub json_logs: bool,
    /// `AUTH_MODE` and `AUTH_JWT_*`: who a token request comes from (see `settings/identity.rs`).
    pub auth: AuthMode,
    /// The business settings.
    pub policies: Policies,
}

/// A setting that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {reason}")]
pub struct SettingError {
    name: &'static str,
    value: String,
    reason: &'static str,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the real environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let read = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
        let number = |name: &'static str, default: u64| -> Result<u64, SettingError> {
            read(name).map_or(Ok(default), |value| {
                value.trim().parse().map_err(|_| SettingError {
                    name,
                    value,
                    reason: "expected a whole number",
                })
            })
        };
        let seconds = |name, default| -> Result<Duration, SettingError> {
            let value = number(name, default)?;
            Duration::try_from(std::time::Duration::from_secs(value)).map_err(|_| SettingError {
                name,
                value: value.to_string(),
                reason: "too large",
            })
        };
        let count = |name, default| -> Result<u32, SettingError> {
            let value = number(name, default)?;
            u32::try_from(value).map_err(|_| SettingError {
                name,
                value: value.to_string(),
                reason: "too large",
            })
        };
        let http_addr = read("HTTP_ADDR").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let http_addr = http_addr.parse().map_err(|_| SettingError {
            name: "HTTP_ADDR",
            value: http_addr,
            reason: "expected host:port, e.g. 127.0.0.1:8080",
        })?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let http_workers = usize::try_from(number("HTTP_WORKERS", cores as u64)?.max(1)).unwrap_or(cores);
        let database_url = read("DATABASE_URL");
        let auth = AuthMode::read(&read, database_url.is_some())?;
        let database_max_connections =
            usize::try_from(number("DATABASE_MAX_CONNECTIONS", 16)?.max(1)).unwrap_or(16);
        let database_timeout = std::time::Duration::from_millis(number("DATABASE_TIMEOUT_MS", 2000)?.max(1));
        let seed_demo = match read("SEED_DEMO") {
            None => database_url.is_none(),
            Some(value) => flag("SEED_DEMO", value)?,
        };
        let tick_ms = number("QUEUE_TICK_MS", 1000)?.max(1);
        let hold_seconds = seconds("SEAT_HOLD_SECONDS", 300)?;
        if hold_seconds.is_zero() {
            return Err(SettingError {
                name: "SEAT_HOLD_SECONDS",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        Ok(Self {
            http_addr,
            http_workers,
            database_url,
            database_max_connections,
            database_timeout,
            request_timeout: std::time::Duration::from_millis(number("REQUEST_TIMEOUT_MS", 10_000)?.max(1)),
            seed_demo,
            catalogue_cache: std::time::Duration::from_secs(number("CATALOGUE_CACHE_SECONDS", 10)?),
            token_cache: std::time::Duration::from_millis(number("TOKEN_CACHE_MS", 1_000)?),
            json_logs: read("LOG_FORMAT").is_some_and(|value| value.eq_ignore_ascii_case("json")),
            auth,
            policies: Policies {
                hold: HoldPolicy { hold_for: hold_seconds },
                queue: QueuePolicy {
                    max_active: count("QUEUE_MAX_ACTIVE", 100)?,
                    admit_per_tick: count("QUEUE_ADMIT_PER_TICK", 0)?,
                    tick: Duration::milliseconds(i64::try_from(tick_ms).unwrap_or(i64::MAX)),
                    active_ttl: seconds("QUEUE_ACTIVE_TTL_SECONDS", 600)?,
                    idle_timeout: seconds("QUEUE_IDLE_TIMEOUT_SECONDS", 120)?,
                },
            },
        })
    }
}

fn flag(name: &'static str, value: String) -> Result<bool, SettingError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(SettingError { name, value, reason: "expected 1/0, true/false, yes/no or on/off" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let settings = settings(&[]).expect("defaults are valid");
        assert_eq!(settings.http_addr.to_string(), "127.0.0.1:8080");
        assert!(settings.seed_demo);
        assert_eq!(settings.database_url, None);
        assert_eq!(settings.database_max_connections, 16);
        assert_eq!(settings.database_timeout, std::time::Duration::from_secs(2));
        assert_eq!(settings.request_timeout, std::time::Duration::from_secs(10));
        assert_eq!(settings.catalogue_cache, std::time::Duration::from_secs(10));
        assert_eq!(settings.token_cache, std::time::Duration::from_secs(1));
        assert_eq!(settings.policies.hold.hold_for, Duration::seconds(300));
        let queue = settings.policies.queue;
        assert_eq!((queue.max_active, queue.admit_per_tick), (100, 0));
        assert_eq!(queue.tick, Duration::seconds(1));
        assert_eq!(queue.active_ttl, Duration::seconds(600));
        assert_eq!(queue.idle_timeout, Duration::seconds(120));
    }

    #[test]
    fn demo_seeding_is_off_by_default_on_postgres_and_can_be_forced() {
        let postgres = [("DATABASE_URL", "postgres://localhost/x"), ("AUTH_MODE", "none")];
        assert!(!settings(&postgres).expect("valid").seed_demo);
        let forced = settings(&[postgres[0], postgres[1], ("SEED_DEMO", "1")]).expect("valid");
        assert!(forced.seed_demo);
    }

    #[test]
    fn queue_settings_are_read_from_their_variables() {
        let settings =
            settings(&[("QUEUE_MAX_ACTIVE", "50"), ("QUEUE_ADMIT_PER_TICK", "7"), ("QUEUE_TICK_MS", "250")])
                .expect("valid");
        assert_eq!(settings.policies.queue.max_active, 50);
        assert_eq!(settings.policies.queue.admit_per_tick, 7);
        assert_eq!(settings.policies.queue.tick, Duration::milliseconds(250));
    }

    #[test]
    fn malformed_values_are_refused_with_the_variable_name() {
        let error = settings(&[("QUEUE_MAX_ACTIVE", "lots")]).expect_err("not a number");
        assert!(error.to_string().contains("QUEUE_MAX_ACTIVE"), "{error}");
        assert!(settings(&[("HTTP_ADDR", "nowhere")]).is_err());
        assert!(settings(&[("SEED_DEMO", "maybe")]).is_err());
        assert!(settings(&[("SEAT_HOLD_SECONDS", "0")]).is_err());
    }
}
