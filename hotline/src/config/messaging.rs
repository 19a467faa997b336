//! The `[inbox]` and `[broadcast]` sections of `hotline.toml`. Both are optional; unknown
//! keys are refused and every error names its field, as in the rest of the file.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};
use crate::broadcast::BroadcastConfig;
use crate::core::Strategy;
use crate::inbox::InboxConfig;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInbox {
    strategy: Option<String>,
    max_per_dispatcher: Option<u32>,
    max_active: Option<u32>,
    show_sender_npub: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBroadcast {
    per_relay_rate: Option<f64>,
    jitter_ms: Option<[u64; 2]>,
    max_attempts: Option<u32>,
    backoff_first_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
    attempt_timeout_secs: Option<u64>,
    recipient_relays: Option<bool>,
    max_relays_per_recipient: Option<u32>,
}

/// The inbox settings; `strategy` and `show_npub` are the voice queue's, the defaults
/// when the section does not set its own.
pub(super) fn parse_inbox(
    raw: Option<RawInbox>,
    strategy: Strategy,
    show_npub: bool,
) -> Result<InboxConfig, ConfigError> {
    let defaults = InboxConfig::default();
    let raw = raw.unwrap_or(RawInbox {
        strategy: None,
        max_per_dispatcher: None,
        max_active: None,
        show_sender_npub: None,
    });
    let strategy = match raw.strategy.as_deref() {
        None => strategy,
        Some("round-robin") => Strategy::RoundRobin,
        Some("longest-idle") => Strategy::LongestIdle,
        Some("fewest-open") => Strategy::FewestCalls,
        Some(other) => {
            return Err(invalid(
                "inbox.strategy",
                format!("unknown strategy {other:?} (round-robin, longest-idle, fewest-open)"),
            ))
        }
    };
    let count = |field: &str, v: Option<u32>, default: usize, max: u32| match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(_) => Err(invalid(field, format!("must be between 1 and {max}"))),
    };
    Ok(InboxConfig {
        strategy,
        max_per_dispatcher: count(
            "inbox.max_per_dispatcher",
            raw.max_per_dispatcher,
            defaults.max_per_dispatcher,
            1000,
        )?,
        max_active: count(
            "inbox.max_active",
            raw.max_active,
            defaults.max_active,
            1_000_000,
        )?,
        show_sender_npub: raw.show_sender_npub.unwrap_or(show_npub),
    })
}

/// The broadcast pacing.
pub(super) fn parse_broadcast(raw: Option<RawBroadcast>) -> Result<BroadcastConfig, ConfigError> {
    let defaults = BroadcastConfig::default();
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let per_relay_interval = match raw.per_relay_rate {
        None => defaults.per_relay_interval,
        Some(rate) if (0.01..=1000.0).contains(&rate) => Duration::from_secs_f64(1.0 / rate),
        Some(_) => {
            return Err(invalid(
                "broadcast.per_relay_rate",
                "must be between 0.01 and 1000 events per second",
            ))
        }
    };
    let jitter = match raw.jitter_ms {
        None => defaults.jitter,
        Some([lo, hi]) if lo <= hi && hi <= 60_000 => {
            Duration::from_millis(lo)..Duration::from_millis(hi)
        }
        Some(_) => {
            return Err(invalid(
                "broadcast.jitter_ms",
                "must be [low, high] milliseconds, low <= high <= 60000",
            ))
        }
    };
    let max_attempts = match raw.max_attempts {
        None => defaults.max_attempts,
        Some(n) if (1..=20).contains(&n) => n,
        Some(_) => {
            return Err(invalid(
                "broadcast.max_attempts",
                "must be between 1 and 20",
            ))
        }
    };
    let ms = |field: &str, v: Option<u64>, default: Duration, max: u64| match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(Duration::from_millis(n)),
        Some(_) => Err(invalid(field, format!("must be between 1 and {max} ms"))),
    };
    let backoff_first = ms(
        "broadcast.backoff_first_ms",
        raw.backoff_first_ms,
        defaults.backoff_first,
        600_000,
    )?;
    let backoff_max = ms(
        "broadcast.backoff_max_ms",
        raw.backoff_max_ms,
        defaults.backoff_max,
        3_600_000,
    )?;
    if backoff_max < backoff_first {
        return Err(invalid(
            "broadcast.backoff_max_ms",
            "must not be below backoff_first_ms",
        ));
    }
    let attempt_timeout = match raw.attempt_timeout_secs {
        None => defaults.attempt_timeout,
        Some(s) if (1..=120).contains(&s) => Duration::from_secs(s),
        Some(_) => {
            return Err(invalid(
                "broadcast.attempt_timeout_secs",
                "must be between 1 and 120 seconds",
            ))
        }
    };
    let max_relays_per_recipient = match raw.max_relays_per_recipient {
        None => defaults.max_relays_per_recipient,
        Some(n) if (1..=8).contains(&n) => n as usize,
        Some(_) => {
            return Err(invalid(
                "broadcast.max_relays_per_recipient",
                "must be between 1 and 8",
            ))
        }
    };
    Ok(BroadcastConfig {
        recipient_relays: raw.recipient_relays.unwrap_or(defaults.recipient_relays),
        max_relays_per_recipient,
        per_relay_interval,
        jitter,
        max_attempts,
        backoff_first,
        backoff_max,
        attempt_timeout,
        ..defaults
    })
}
