//! Settings, all from environment variables named as in README.

use std::borrow::Cow;
use std::env;
use std::net::SocketAddr;

use adapter_http::{Deadlines, StreamLimits};
use application::Policies;
use domain::{HoldPolicy, IdempotencyPolicy, QueuePolicy};
use time::Duration;

mod identity;
mod token_keys;
pub use identity::AuthMode;
pub use token_keys::TokenKeys;

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
    /// `CLIENT_BODY_TIMEOUT_MS` and `REQUEST_TIMEOUT_MS`: how long a client may take to send
    /// its body (408 past it), and how long the work may take then (503 past it).
    pub deadlines: Deadlines,
    /// `STREAMS_PER_TOKEN` and `STREAMS_PER_INSTANCE`: the caps on open waiting-room streams.
    pub streams: StreamLimits,
    /// `SEED_DEMO`: load the demo catalogue into an empty store.
    pub seed_demo: bool,
    /// `CATALOGUE_CACHE_SECONDS`: the longest concerts and performances are cached in process
    /// (a safety net: changes are pushed long before); zero turns the cache off. Seats are
    /// never cached.
    pub catalogue_cache: std::time::Duration,
    /// `TOKEN_CACHE_MS` (PostgreSQL only): the longest this instance's gate trusts an active
    /// queue token it read, as a safety net behind the pushed changes; zero reads it on every
    /// request.
    pub token_cache: std::time::Duration,
    /// `LOG_FORMAT=json` for JSON lines; anything else is human-readable.
    pub json_logs: bool,
    /// `AUTH_MODE` and `AUTH_JWT_*`: who a token request comes from (see `settings/identity.rs`).
    pub auth: AuthMode,
    /// `TOKEN_SIGNING_KEY` and `TOKEN_SIGNING_KEY_PREVIOUS`: what queue tokens are sealed with.
    pub token_keys: TokenKeys,
    /// `ADMIN_TOKEN`: the box office's bearer secret; unset, the box office is off.
    pub admin_token: Option<String>,
    /// The business settings.
    pub policies: Policies,
}

/// A setting that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {reason}")]
pub struct SettingError {
    name: &'static str,
    value: String,
    reason: Cow<'static, str>,
}

/// A whole-number setting and the range it must lie in, both ends included. The bounds keep
/// every instant plus a setting far inside the calendar and every timer and cache far inside
/// what tokio and moka accept, so no setting can fail a request; README states the same ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bounded {
    /// The environment variable.
    name: &'static str,
    /// The smallest value accepted.
    min: u32,
    /// The largest value accepted.
    max: u32,
}

const HTTP_WORKERS: Bounded = Bounded { name: "HTTP_WORKERS", min: 1, max: 1_024 };
const DATABASE_MAX_CONNECTIONS: Bounded = Bounded { name: "DATABASE_MAX_CONNECTIONS", min: 1, max: 1_000 };
const DATABASE_TIMEOUT_MS: Bounded = Bounded { name: "DATABASE_TIMEOUT_MS", min: 1, max: 600_000 };
const REQUEST_TIMEOUT_MS: Bounded = Bounded { name: "REQUEST_TIMEOUT_MS", min: 1, max: 600_000 };
const CLIENT_BODY_TIMEOUT_MS: Bounded = Bounded { name: "CLIENT_BODY_TIMEOUT_MS", min: 100, max: 60_000 };
const SEAT_HOLD_SECONDS: Bounded = Bounded { name: "SEAT_HOLD_SECONDS", min: 1, max: 86_400 };
const MAX_HOLDS_PER_USER: Bounded = Bounded { name: "MAX_HOLDS_PER_USER", min: 0, max: 50 };
const IDEMPOTENCY_LEASE_SECONDS: Bounded = Bounded { name: "IDEMPOTENCY_LEASE_SECONDS", min: 1, max: 3_600 };
const IDEMPOTENCY_RETENTION_SECONDS: Bounded =
    Bounded { name: "IDEMPOTENCY_RETENTION_SECONDS", min: 1, max: 604_800 };
const IDEMPOTENCY_KEYS_PER_USER: Bounded =
    Bounded { name: "IDEMPOTENCY_KEYS_PER_USER", min: 1, max: 100_000 };
const QUEUE_MAX_ACTIVE: Bounded = Bounded { name: "QUEUE_MAX_ACTIVE", min: 0, max: 1_000_000 };
const QUEUE_ADMIT_PER_TICK: Bounded = Bounded { name: "QUEUE_ADMIT_PER_TICK", min: 0, max: 1_000_000 };
const QUEUE_TICK_MS: Bounded = Bounded { name: "QUEUE_TICK_MS", min: 10, max: 3_600_000 };
const QUEUE_ACTIVE_TTL_SECONDS: Bounded = Bounded { name: "QUEUE_ACTIVE_TTL_SECONDS", min: 1, max: 86_400 };
const QUEUE_IDLE_TIMEOUT_SECONDS: Bounded =
    Bounded { name: "QUEUE_IDLE_TIMEOUT_SECONDS", min: 1, max: 86_400 };
const QUEUE_TOKEN_RETENTION_SECONDS: Bounded =
    Bounded { name: "QUEUE_TOKEN_RETENTION_SECONDS", min: 1, max: 2_592_000 };
const CATALOGUE_CACHE_SECONDS: Bounded = Bounded { name: "CATALOGUE_CACHE_SECONDS", min: 0, max: 86_400 };
const TOKEN_CACHE_MS: Bounded = Bounded { name: "TOKEN_CACHE_MS", min: 0, max: 600_000 };
const STREAMS_PER_TOKEN: Bounded = Bounded { name: "STREAMS_PER_TOKEN", min: 1, max: 100 };
const STREAMS_PER_INSTANCE: Bounded = Bounded { name: "STREAMS_PER_INSTANCE", min: 1, max: 1_000_000 };

/// Every whole-number setting, so tests can check each range and README's statement of it.
#[cfg(test)]
const NUMERIC: &[Bounded] = &[
    HTTP_WORKERS,
    DATABASE_MAX_CONNECTIONS,
    DATABASE_TIMEOUT_MS,
    REQUEST_TIMEOUT_MS,
    CLIENT_BODY_TIMEOUT_MS,
    SEAT_HOLD_SECONDS,
    MAX_HOLDS_PER_USER,
    IDEMPOTENCY_LEASE_SECONDS,
    IDEMPOTENCY_RETENTION_SECONDS,
    IDEMPOTENCY_KEYS_PER_USER,
    QUEUE_MAX_ACTIVE,
    QUEUE_ADMIT_PER_TICK,
    QUEUE_TICK_MS,
    QUEUE_ACTIVE_TTL_SECONDS,
    QUEUE_IDLE_TIMEOUT_SECONDS,
    QUEUE_TOKEN_RETENTION_SECONDS,
    CATALOGUE_CACHE_SECONDS,
    TOKEN_CACHE_MS,
    STREAMS_PER_TOKEN,
    STREAMS_PER_INSTANCE,
];

impl Bounded {
    /// The value of this setting (`default` when unset), refused unless it is a whole number
    /// within the range; the default is held to the range too.
    fn read(&self, value: Option<String>, default: u32) -> Result<u32, SettingError> {
        let value = value.unwrap_or_else(|| default.to_string());
        match value.trim().parse::<u32>() {
            Ok(number) if (self.min..=self.max).contains(&number) => Ok(number),
            _ => Err(SettingError {
                name: self.name,
                value,
                reason: format!("must be a whole number from {} to {}", self.min, self.max).into(),
            }),
        }
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the real environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let read = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
        let number = |setting: Bounded, default: u32| setting.read(read(setting.name), default);
        let millis =
            |setting, default| number(setting, default).map(|ms| std::time::Duration::from_millis(ms.into()));
        let seconds = |setting, default| number(setting, default).map(|s| Duration::seconds(s.into()));
        let http_addr = read("HTTP_ADDR").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let http_addr = http_addr.parse().map_err(|_| SettingError {
            name: "HTTP_ADDR",
            value: http_addr,
            reason: "expected host:port, e.g. 127.0.0.1:8080".into(),
        })?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let cores = u32::try_from(cores).unwrap_or(HTTP_WORKERS.max).min(HTTP_WORKERS.max);
        let http_workers = number(HTTP_WORKERS, cores)? as usize;
        let database_url = read("DATABASE_URL");
        let auth = AuthMode::read(&read, database_url.is_some())?;
        let token_keys = TokenKeys::read(&read)?;
        let admin_token = admin_token(read("ADMIN_TOKEN"))?;
        let database_max_connections = number(DATABASE_MAX_CONNECTIONS, 16)? as usize;
        let database_timeout = millis(DATABASE_TIMEOUT_MS, 2000)?;
        let seed_demo = match read("SEED_DEMO") {
            None => database_url.is_none(),
            Some(value) => flag("SEED_DEMO", value)?,
        };
        Ok(Self {
            http_addr,
            http_workers,
            database_url,
            database_max_connections,
            database_timeout,
            deadlines: Deadlines {
                client_body: millis(CLIENT_BODY_TIMEOUT_MS, 5_000)?,
                request: millis(REQUEST_TIMEOUT_MS, 10_000)?,
            },
            streams: StreamLimits {
                per_token: number(STREAMS_PER_TOKEN, 2)?,
                per_instance: number(STREAMS_PER_INSTANCE, 10_000)?,
            },
            seed_demo,
            catalogue_cache: std::time::Duration::from_secs(number(CATALOGUE_CACHE_SECONDS, 10)?.into()),
            token_cache: millis(TOKEN_CACHE_MS, 60_000)?,
            json_logs: read("LOG_FORMAT").is_some_and(|value| value.eq_ignore_ascii_case("json")),
            auth,
            token_keys,
            admin_token,
            policies: Policies {
                hold: HoldPolicy {
                    hold_for: seconds(SEAT_HOLD_SECONDS, 300)?,
                    max_per_user: number(MAX_HOLDS_PER_USER, 4)?,
                },
                queue: QueuePolicy {
                    max_active: number(QUEUE_MAX_ACTIVE, 100)?,
                    admit_per_tick: number(QUEUE_ADMIT_PER_TICK, 0)?,
                    tick: Duration::milliseconds(number(QUEUE_TICK_MS, 1000)?.into()),
                    active_ttl: seconds(QUEUE_ACTIVE_TTL_SECONDS, 600)?,
                    idle_timeout: seconds(QUEUE_IDLE_TIMEOUT_SECONDS, 120)?,
                    retention: seconds(QUEUE_TOKEN_RETENTION_SECONDS, 86_400)?,
                },
                idempotency: IdempotencyPolicy {
                    ttl: seconds(IDEMPOTENCY_RETENTION_SECONDS, 86_400)?,
                    lease: seconds(IDEMPOTENCY_LEASE_SECONDS, 60)?,
                    max_keys_per_user: number(IDEMPOTENCY_KEYS_PER_USER, 1_000)?,
                },
            },
        })
    }
}

/// `ADMIN_TOKEN`: at least 32 visible ASCII characters (what a bearer header carries), so it
/// cannot be guessed; the value is never echoed back.
fn admin_token(value: Option<String>) -> Result<Option<String>, SettingError> {
    match value {
        None => Ok(None),
        Some(secret) if secret.len() >= 32 && secret.bytes().all(|byte| byte.is_ascii_graphic()) => {
            Ok(Some(secret))
        }
        Some(_) => Err(SettingError {
            name: "ADMIN_TOKEN",
            value: "(not shown)".into(),
            reason: "must be at least 32 visible ASCII characters, with no spaces".into(),
        }),
    }
}

fn flag(name: &'static str, value: String) -> Result<bool, SettingError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(SettingError { name, value, reason: "expected 1/0, true/false, yes/no or on/off".into() }),
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
    fn the_admin_token_is_off_by_default_and_refused_when_short_without_echoing_it() {
        assert_eq!(settings(&[]).expect("valid").admin_token, None);
        let long = "0123456789abcdef0123456789abcdef";
        assert_eq!(settings(&[("ADMIN_TOKEN", long)]).expect("valid").admin_token.as_deref(), Some(long));
        for bad in ["short-secret", "0123456789abcdef 0123456789abcdef"] {
            let error = settings(&[("ADMIN_TOKEN", bad)]).expect_err("refused").to_string();
            assert!(error.contains("ADMIN_TOKEN") && !error.contains(bad), "{error}");
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let settings = settings(&[]).expect("defaults are valid");
        assert_eq!(settings.http_addr.to_string(), "127.0.0.1:8080");
        assert!(settings.seed_demo);
        assert_eq!(settings.database_url, None);
        assert_eq!(settings.database_max_connections, 16);
        assert_eq!(settings.database_timeout, std::time::Duration::from_secs(2));
        assert_eq!(settings.deadlines.request, std::time::Duration::from_secs(10));
        assert_eq!(settings.deadlines.client_body, std::time::Duration::from_secs(5));
        assert_eq!((settings.streams.per_token, settings.streams.per_instance), (2, 10_000));
        assert_eq!(settings.catalogue_cache, std::time::Duration::from_secs(10));
        assert_eq!(settings.token_cache, std::time::Duration::from_secs(60));
        assert_eq!(settings.policies.hold.hold_for, Duration::seconds(300));
        let queue = settings.policies.queue;
        assert_eq!((queue.max_active, queue.admit_per_tick), (100, 0));
        assert_eq!(queue.tick, Duration::seconds(1));
        assert_eq!(queue.active_ttl, Duration::seconds(600));
        assert_eq!(queue.idle_timeout, Duration::seconds(120));
        assert_eq!(queue.retention, Duration::days(1));
        assert_eq!(settings.policies.idempotency, IdempotencyPolicy::default());
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

    #[test]
    fn every_whole_number_setting_takes_its_range_and_refuses_beyond_it_naming_value_and_range() {
        for setting in NUMERIC {
            let (min, max) = (setting.min.to_string(), setting.max.to_string());
            for inside in [&min, &max] {
                if let Err(error) = settings(&[(setting.name, inside)]) {
                    panic!("{}={inside} is in range: {error}", setting.name);
                }
            }
            let mut outside =
                vec![(u64::from(setting.max) + 1).to_string(), "999999999999".into(), "-1".into()];
            outside.extend(setting.min.checked_sub(1).map(|below| below.to_string()));
            outside.extend(["1.5", "lots", "99999999999999999999999"].map(String::from));
            for value in outside {
                let Err(error) = settings(&[(setting.name, &value)]) else {
                    panic!("{}={value} is out of range, yet accepted", setting.name);
                };
                let line = error.to_string();
                for part in [setting.name, &value, &min, &max] {
                    assert!(line.contains(part), "{}={value}: {line:?} names {part:?}", setting.name);
                }
                assert!(!line.contains('\n'), "one line: {line:?}");
            }
        }
    }

    #[test]
    fn readme_states_the_range_of_every_whole_number_setting() {
        let readme = include_str!("../../../README.md");
        for setting in NUMERIC {
            let row = format!("| `{}` |", setting.name);
            let row = readme.lines().find(|line| line.starts_with(&row));
            let row = row.unwrap_or_else(|| panic!("README's settings table has a row for {}", setting.name));
            let range = format!("| {}–{} |", setting.min, setting.max);
            assert!(row.contains(&range), "README states {range} for {}: {row}", setting.name);
        }
    }
}
