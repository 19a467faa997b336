//! `hotline.toml`: the operator's configuration (see `hotline.example.toml`). Unknown keys
//! are refused (a typo must not silently fall back to a default), and every error names
//! its field.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::broadcast::BroadcastConfig;
use crate::core::{
    AbuseLimits, CoreConfig, HotlineCore, Input, OverflowAction, Snapshot, Strategy,
};
use crate::ids::{CallerId, CallerIdKey, Npub};
use crate::inbox::InboxConfig;

mod messaging;

/// Why a `hotline.toml` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, or a value of the wrong type (the message shows the line and key).
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A value outside what the field accepts.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as written in the file (`dispatchers[1].npub`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    #[serde(default)]
    strategy: Option<String>,
    ring_timeout_secs: Option<u64>,
    wrap_up_secs: Option<u64>,
    max_wait_secs: Option<u64>,
    max_queue_len: Option<u64>,
    overflow: Option<String>,
    voicemail_max_secs: Option<u64>,
    service_level_secs: Option<u64>,
    position_interval_secs: Option<u64>,
    repeat_window_hours: Option<u64>,
    away_after_misses: Option<u32>,
    show_caller_npub: Option<bool>,
    #[serde(default)]
    blocked_caller_ids: Vec<String>,
    #[serde(default)]
    phone_gateways: Vec<String>,
    abuse: Option<RawAbuse>,
    #[serde(default)]
    dispatchers: Vec<RawDispatcher>,
    inbox: Option<messaging::RawInbox>,
    broadcast: Option<messaging::RawBroadcast>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbuse {
    max_concurrent_per_caller: Option<u32>,
    max_new_per_window: Option<u32>,
    rate_window_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDispatcher {
    npub: String,
    name: Option<String>,
    wrap_up_secs: Option<u64>,
}

/// One enrolled dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatcherConfig {
    /// The dispatcher's npub (the only identity allowed to take calls).
    pub npub: Npub,
    /// A label for the console.
    pub name: Option<String>,
    /// Own wrap-up time; `None`: the hotline's.
    pub wrap_up: Option<Duration>,
}

/// A validated `hotline.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotlineConfig {
    /// The hotline's display name.
    pub name: String,
    /// Queue rules.
    pub core: CoreConfig,
    /// Enrolled dispatchers, in enrolment order (round-robin follows it).
    pub dispatchers: Vec<DispatcherConfig>,
    /// Caller ids blocked from the start.
    pub blocked: Vec<CallerId>,
    /// The messaging inbox (`[inbox]`).
    pub inbox: InboxConfig,
    /// Broadcast pacing (`[broadcast]`).
    pub broadcast: BroadcastConfig,
    /// Longest voicemail recorded (`voicemail_max_secs`, default 120 s).
    pub voicemail_max: Duration,
}

/// Default of [`HotlineConfig::voicemail_max`].
pub const DEFAULT_VOICEMAIL_MAX: Duration = Duration::from_secs(120);
/// Longest `voicemail_max_secs` accepted: a message, not a recorder (and it bounds what
/// the store and a fetch carry).
pub const MAX_VOICEMAIL_SECS: u64 = 300;

/// Longest accepted ring timeout: beyond it a caller waits on an absent dispatcher.
const MAX_RING_TIMEOUT_SECS: u64 = 300;
/// Position updates more often than this are noise on the caller's screen.
const MIN_POSITION_INTERVAL_SECS: u64 = 5;

impl HotlineConfig {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text)?;
        let defaults = CoreConfig::default();
        let name = raw.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        let strategy = match raw.strategy.as_deref() {
            None => defaults.strategy,
            Some("ring-all") => Strategy::RingAll,
            Some("round-robin") => Strategy::RoundRobin,
            Some("longest-idle") => Strategy::LongestIdle,
            Some("fewest-calls") => Strategy::FewestCalls,
            Some(other) => {
                return Err(invalid(
                    "strategy",
                    format!(
                        "unknown strategy {other:?} (ring-all, round-robin, longest-idle, fewest-calls)"
                    ),
                ))
            }
        };
        let overflow = match raw.overflow.as_deref() {
            None => defaults.overflow,
            Some("callback") => OverflowAction::Callback,
            Some("voicemail") => OverflowAction::Voicemail,
            Some(other) => {
                return Err(invalid(
                    "overflow",
                    format!("unknown action {other:?} (callback, voicemail; never busy)"),
                ))
            }
        };
        let secs = |field: &str, v: Option<u64>, default: Duration, min: u64, max: u64| match v {
            None => Ok(default),
            Some(s) if (min..=max).contains(&s) => Ok(Duration::from_secs(s)),
            Some(_) => Err(invalid(
                field,
                format!("must be between {min} and {max} seconds"),
            )),
        };
        let ring_timeout = secs(
            "ring_timeout_secs",
            raw.ring_timeout_secs,
            defaults.ring_timeout,
            1,
            MAX_RING_TIMEOUT_SECS,
        )?;
        let voicemail_max = secs(
            "voicemail_max_secs",
            raw.voicemail_max_secs,
            DEFAULT_VOICEMAIL_MAX,
            1,
            MAX_VOICEMAIL_SECS,
        )?;
        let wrap_up = secs("wrap_up_secs", raw.wrap_up_secs, defaults.wrap_up, 0, 3600)?;
        let service_level = secs(
            "service_level_secs",
            raw.service_level_secs,
            defaults.service_level,
            1,
            3600,
        )?;
        let position_interval = secs(
            "position_interval_secs",
            raw.position_interval_secs,
            defaults.position_interval,
            MIN_POSITION_INTERVAL_SECS,
            3600,
        )?;
        // 0 means "no limit" for these two, as in app_queue's maxlen.
        let max_wait = match raw.max_wait_secs {
            None => defaults.max_wait,
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
        };
        let max_queue_len = match raw.max_queue_len {
            None => defaults.max_queue_len,
            Some(0) => None,
            Some(n) => Some(usize::try_from(n).map_err(|_| invalid("max_queue_len", "too large"))?),
        };
        let repeat_window = match raw.repeat_window_hours {
            None => defaults.repeat_window,
            Some(h) if h <= 24 * 365 => Duration::from_secs(h * 3600),
            Some(_) => return Err(invalid("repeat_window_hours", "at most a year")),
        };
        let away_after_misses = match raw.away_after_misses {
            None => defaults.away_after_misses,
            Some(0) => None,
            Some(n) => Some(n),
        };
        let show_caller_npub = raw.show_caller_npub.unwrap_or(false);
        let inbox = messaging::parse_inbox(raw.inbox, strategy, show_caller_npub)?;
        let broadcast = messaging::parse_broadcast(raw.broadcast)?;
        let abuse = parse_abuse(raw.abuse)?;
        let dispatchers = parse_dispatchers(raw.dispatchers)?;
        let phone_gateways = raw
            .phone_gateways
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Npub::parse(text)
                    .map_err(|e| invalid(format!("phone_gateways[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let blocked = raw
            .blocked_caller_ids
            .iter()
            .enumerate()
            .map(|(i, text)| {
                CallerId::from_hex(text).ok_or_else(|| {
                    invalid(
                        format!("blocked_caller_ids[{i}]"),
                        "expected a 32-digit hex caller id as shown on the console",
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name,
            core: CoreConfig {
                strategy,
                ring_timeout,
                wrap_up,
                max_wait,
                max_queue_len,
                overflow,
                service_level,
                position_interval,
                repeat_window,
                away_after_misses,
                abuse,
                show_caller_npub,
                phone_gateways,
                ..defaults
            },
            dispatchers,
            blocked,
            inbox,
            broadcast,
            voicemail_max,
        })
    }

    /// The enrolment list as the core takes it.
    pub fn enrolment(&self) -> Vec<(Npub, Option<Duration>)> {
        self.dispatchers
            .iter()
            .map(|d| (d.npub, d.wrap_up))
            .collect()
    }

    /// The enrolled dispatchers' npubs, in enrolment order (the inbox's roster).
    pub fn dispatcher_npubs(&self) -> Vec<Npub> {
        self.dispatchers.iter().map(|d| d.npub).collect()
    }

    /// A fresh core for this configuration, with the configured block list.
    pub fn new_core(&self, key: CallerIdKey, now: Instant, unix_ms: u64) -> HotlineCore {
        let mut core = HotlineCore::new(self.core.clone(), &self.enrolment(), key, now, unix_ms);
        self.apply_blocks(&mut core, now);
        core
    }

    /// A core rebuilt from a stored snapshot, with the configured block list.
    pub fn restore_core(
        &self,
        key: CallerIdKey,
        snapshot: Snapshot,
        now: Instant,
        unix_ms: u64,
    ) -> HotlineCore {
        let mut core = HotlineCore::restore(
            self.core.clone(),
            &self.enrolment(),
            key,
            snapshot,
            now,
            unix_ms,
        );
        self.apply_blocks(&mut core, now);
        core
    }

    fn apply_blocks(&self, core: &mut HotlineCore, now: Instant) {
        for id in &self.blocked {
            // Blocking never fails: it names no dispatcher or entry.
            let _ = core.handle_input(Input::Block(*id), now);
        }
    }
}

fn parse_abuse(raw: Option<RawAbuse>) -> Result<AbuseLimits, ConfigError> {
    let defaults = AbuseLimits::default();
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let max_concurrent_per_caller = raw
        .max_concurrent_per_caller
        .unwrap_or(defaults.max_concurrent_per_caller);
    if max_concurrent_per_caller == 0 {
        return Err(invalid(
            "abuse.max_concurrent_per_caller",
            "must be at least 1",
        ));
    }
    let max_new_per_window = raw
        .max_new_per_window
        .unwrap_or(defaults.max_new_per_window);
    if max_new_per_window == 0 {
        return Err(invalid("abuse.max_new_per_window", "must be at least 1"));
    }
    let rate_window = match raw.rate_window_secs {
        None => defaults.rate_window,
        Some(s) if (1..=86_400).contains(&s) => Duration::from_secs(s),
        Some(_) => {
            return Err(invalid(
                "abuse.rate_window_secs",
                "must be between 1 and 86400 seconds",
            ))
        }
    };
    Ok(AbuseLimits {
        max_concurrent_per_caller,
        max_new_per_window,
        rate_window,
    })
}

fn parse_dispatchers(raw: Vec<RawDispatcher>) -> Result<Vec<DispatcherConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(invalid(
            "dispatchers",
            "at least one dispatcher must be enrolled",
        ));
    }
    let mut out: Vec<DispatcherConfig> = Vec::with_capacity(raw.len());
    for (i, d) in raw.into_iter().enumerate() {
        let npub = Npub::parse(&d.npub)
            .map_err(|e| invalid(format!("dispatchers[{i}].npub"), e.to_string()))?;
        if out.iter().any(|o| o.npub == npub) {
            return Err(invalid(format!("dispatchers[{i}].npub"), "enrolled twice"));
        }
        let wrap_up = match d.wrap_up_secs {
            None => None,
            Some(s) if s <= 3600 => Some(Duration::from_secs(s)),
            Some(_) => {
                return Err(invalid(
                    format!("dispatchers[{i}].wrap_up_secs"),
                    "must be between 0 and 3600 seconds",
                ))
            }
        };
        out.push(DispatcherConfig {
            npub,
            name: d.name,
            wrap_up,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
