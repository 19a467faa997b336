//! Abuse and overbilling rules for outbound calls, sans-IO: every input carries `now`,
//! nothing here touches a clock, a socket or a store, so the rules are tested in
//! microseconds (`rules/tests.rs`) and the gateway's driver only forwards events.
//!
//! Inputs: [`Rules::authorize`] (a user wants to dial; reserves a slot or refuses),
//! [`Rules::answered`] (billing starts), [`Rules::ended`] (final charge, slot freed),
//! [`Rules::tick`] (charges running calls; returns warnings and cut-offs),
//! [`Rules::add_credit`] (enrols a user and tops up).
//!
//! Credit is kept in milli-minutes of the base rate; a destination's rate is a multiplier
//! (1.0 = one credit minute per minute), found by the longest matching prefix.
//! Users are opaque ids (npub hex) and are not logged.

pub mod destinations;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::config::ConfigError;
use crate::number::E164;
pub use destinations::{Blocked, Destinations, PREMIUM_PREFIXES};

/// Rules configuration (`[rules]` in the gateway's TOML).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// The trunk's home country code (digits, e.g. "1" or "44"): the only destinations
    /// allowed unless `allow_prefixes` adds more. None allows nothing.
    pub home_country_code: Option<String>,
    /// Extra allowed prefixes (digits without +), e.g. "44" to allow the UK.
    pub allow_prefixes: Vec<String>,
    /// Extra denied prefixes (added to the built-in premium-rate list).
    pub deny_prefixes: Vec<String>,
    /// Rate multipliers by prefix (longest match): credit minutes per call minute.
    pub rates: BTreeMap<String, f64>,
    /// Rate for allowed destinations missing from `rates`.
    pub default_rate: f64,
    /// Calls (ringing or answered) one user may have at once.
    pub max_concurrent_per_user: usize,
    /// Calls the whole gateway may have at once.
    pub max_concurrent_total: usize,
    /// Call attempts per user in any 60 s window.
    pub calls_per_minute_per_user: usize,
    /// Call attempts overall in any 60 s window.
    pub calls_per_minute_total: usize,
    /// Attempts per 60 s (overall) that raise a spike alert; refusals count too.
    pub spike_alert_per_minute: usize,
    /// Seconds of credit left at which a running call is warned (once).
    pub warn_seconds_left: u64,
    /// Webhook POSTed a small JSON document on each spike alert (`https://`, or `http://`
    /// to a loopback address). It names no user and no number.
    pub alert_webhook_url: Option<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            home_country_code: None,
            allow_prefixes: Vec::new(),
            deny_prefixes: Vec::new(),
            rates: BTreeMap::new(),
            default_rate: 1.0,
            // Two: a user may consult while holding a call; more is a dialler.
            max_concurrent_per_user: 2,
            // Twenty: a small gateway's trunk capacity; raise with the trunk's channels.
            max_concurrent_total: 20,
            // Five a minute: a person redialling; toll-fraud bots dial hundreds.
            calls_per_minute_per_user: 5,
            // Sixty a minute overall: well under Twilio's 30 CPS, over any hotline's need.
            calls_per_minute_total: 60,
            spike_alert_per_minute: 30,
            warn_seconds_left: 60,
            alert_webhook_url: None,
        }
    }
}

fn is_digits(p: &str) -> bool {
    !p.is_empty() && p.len() <= 15 && p.bytes().all(|b| b.is_ascii_digit())
}

impl RulesConfig {
    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, reason: &str| ConfigError::Invalid {
            field: format!("rules.{field}"),
            reason: reason.into(),
        };
        if self
            .home_country_code
            .as_deref()
            .is_some_and(|c| !is_digits(c) || c.len() > 3)
        {
            return Err(bad("home_country_code", "1 to 3 digits"));
        }
        for (field, list) in [
            ("allow_prefixes", &self.allow_prefixes),
            ("deny_prefixes", &self.deny_prefixes),
        ] {
            if !list.iter().all(|p| is_digits(p)) {
                return Err(bad(field, "digits only, without +"));
            }
        }
        for (prefix, rate) in &self.rates {
            if !is_digits(prefix) || !rate.is_finite() || *rate < 0.0 || *rate > 1000.0 {
                return Err(bad("rates", "digit prefixes with rates from 0 to 1000"));
            }
        }
        if !self.default_rate.is_finite() || self.default_rate < 0.0 || self.default_rate > 1000.0 {
            return Err(bad("default_rate", "0 to 1000"));
        }
        if self.max_concurrent_per_user == 0 || self.max_concurrent_total == 0 {
            return Err(bad("max_concurrent_per_user", "at least 1"));
        }
        if self.calls_per_minute_per_user == 0 || self.calls_per_minute_total == 0 {
            return Err(bad("calls_per_minute_per_user", "at least 1"));
        }
        if let Some(hook) = &self.alert_webhook_url {
            if !crate::alert::acceptable_url(hook) {
                return Err(bad(
                    "alert_webhook_url",
                    "an https:// URL (http:// only to a loopback address)",
                ));
            }
        }
        Ok(())
    }
}

/// Whose limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The user's own.
    User,
    /// The gateway's overall.
    Overall,
}

/// Why an outbound call was refused: each says what the user sees.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The user is not enrolled for outbound calls.
    #[error("this account may not call phone numbers through this gateway")]
    NotEnrolled,
    /// The destination is blocked.
    #[error("calls to this number are blocked ({0:?})")]
    Blocked(Blocked),
    /// Not enough credit for a minute at this destination's rate.
    #[error("not enough credit: {minutes_left:.1} minutes left, this destination needs {rate:.2} per minute")]
    NoCredit {
        /// Credit minutes left.
        minutes_left: f64,
        /// The destination's rate.
        rate: f64,
    },
    /// Too many calls at once.
    #[error("too many calls at once ({0:?} limit); end a call first")]
    TooManyConcurrent(Scope),
    /// Too many calls in the last minute.
    #[error("too many calls in the last minute ({0:?} limit); try again shortly")]
    TooManyPerMinute(Scope),
}

/// What the driver must do about running calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleEvent {
    /// Tell the caller their credit runs out soon (sent once per call).
    LowCredit {
        /// The call.
        call: u64,
        /// Seconds of talk left.
        seconds_left: u64,
    },
    /// Credit is exhausted: end the call now (tell the caller why).
    CutOff {
        /// The call.
        call: u64,
    },
}

/// An accepted call's terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Admission {
    /// Rate multiplier of the destination.
    pub rate: f64,
    /// Longest the call can last on the current credit (None: free destination).
    pub max_duration: Option<Duration>,
}

#[derive(Debug, Default)]
struct User {
    /// Milli-minutes of base-rate credit.
    credit: u64,
    attempts: VecDeque<Instant>,
}

#[derive(Debug)]
struct Call {
    user: String,
    /// Rate in milli-units (1000 = 1.0).
    rate_milli: u64,
    /// Billed up to here, once answered.
    billed_until: Option<Instant>,
    /// Remainder of milli-minutes not yet charged (sub-unit precision).
    carry: u128,
    warned: bool,
}

const WINDOW: Duration = Duration::from_secs(60);

/// The rules' state.
#[derive(Debug)]
pub struct Rules {
    config: RulesConfig,
    destinations: Destinations,
    users: HashMap<String, User>,
    calls: HashMap<u64, Call>,
    attempts: VecDeque<Instant>,
    alerts: u64,
    alerted_at: Option<Instant>,
}

fn prune(queue: &mut VecDeque<Instant>, now: Instant) {
    while queue
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        queue.pop_front();
    }
}

impl Rules {
    /// Rules from configuration, no users enrolled.
    pub fn new(config: RulesConfig) -> Self {
        let destinations = Destinations::new(
            config.home_country_code.as_deref(),
            &config.allow_prefixes,
            &config.deny_prefixes,
        );
        Rules {
            config,
            destinations,
            users: HashMap::new(),
            calls: HashMap::new(),
            attempts: VecDeque::new(),
            alerts: 0,
            alerted_at: None,
        }
    }

    /// Enrols `user` (if new) and adds `minutes` of base-rate credit.
    pub fn add_credit(&mut self, user: &str, minutes: u32) {
        let entry = self.users.entry(user.to_string()).or_default();
        entry.credit = entry.credit.saturating_add(u64::from(minutes) * 1000);
    }

    /// Enrols `user` (if new) with exactly `milli` milli-minutes of base-rate credit (a
    /// balance restored from storage).
    pub fn set_credit_milli(&mut self, user: &str, milli: u64) {
        self.users.entry(user.to_string()).or_default().credit = milli;
    }

    /// Credit left in milli-minutes (None: not enrolled).
    pub fn credit_milli(&self, user: &str) -> Option<u64> {
        self.users.get(user).map(|u| u.credit)
    }

    /// Credit minutes left (None: not enrolled).
    pub fn credit_minutes(&self, user: &str) -> Option<f64> {
        self.users.get(user).map(|u| u.credit as f64 / 1000.0)
    }

    /// Call attempts in the last minute, all users (what a spike alert reports).
    pub fn attempts_last_minute(&self) -> usize {
        self.attempts.len()
    }

    /// Spike alerts raised so far (the metric).
    pub fn alerts(&self) -> u64 {
        self.alerts
    }

    /// Calls holding a slot.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    fn rate_of(&self, number: &E164) -> f64 {
        destinations::longest_match(
            self.config.rates.iter().map(|(p, r)| (p, *r)),
            number.digits(),
        )
        .unwrap_or(self.config.default_rate)
    }

    fn note_attempt(&mut self, now: Instant) {
        prune(&mut self.attempts, now);
        self.attempts.push_back(now);
        let spike = self.attempts.len() >= self.config.spike_alert_per_minute;
        // One alert per window: a flood would otherwise flood the log too.
        if spike
            && self
                .alerted_at
                .is_none_or(|t| now.saturating_duration_since(t) >= WINDOW)
        {
            self.alerts += 1;
            self.alerted_at = Some(now);
            tracing::warn!(
                attempts_per_minute = self.attempts.len(),
                alerts = self.alerts,
                "pstn: outbound call spike"
            );
        }
    }

    /// A user asks to dial `number` as call `call`: refuses, or reserves a slot.
    pub fn authorize(
        &mut self,
        call: u64,
        user: &str,
        number: &E164,
        now: Instant,
    ) -> Result<Admission, Refusal> {
        self.note_attempt(now);
        let cfg = &self.config;
        let Some(state) = self.users.get_mut(user) else {
            return Err(Refusal::NotEnrolled);
        };
        prune(&mut state.attempts, now);
        if state.attempts.len() >= cfg.calls_per_minute_per_user {
            return Err(Refusal::TooManyPerMinute(Scope::User));
        }
        state.attempts.push_back(now);
        if self.attempts.len() > cfg.calls_per_minute_total {
            return Err(Refusal::TooManyPerMinute(Scope::Overall));
        }
        self.destinations
            .check(number.digits())
            .map_err(Refusal::Blocked)?;
        let user_calls = self.calls.values().filter(|c| c.user == user).count();
        if user_calls >= cfg.max_concurrent_per_user {
            return Err(Refusal::TooManyConcurrent(Scope::User));
        }
        if self.calls.len() >= cfg.max_concurrent_total {
            return Err(Refusal::TooManyConcurrent(Scope::Overall));
        }
        let rate = self.rate_of(number);
        let rate_milli = (rate * 1000.0).round() as u64;
        let credit = self.users.get(user).map_or(0, |u| u.credit);
        // At least one full minute at this rate, so a call never starts only to be cut.
        if credit < rate_milli {
            return Err(Refusal::NoCredit {
                minutes_left: credit as f64 / 1000.0,
                rate,
            });
        }
        let max_duration =
            (rate_milli > 0).then(|| Duration::from_millis(credit * 60_000 / rate_milli));
        self.calls.insert(
            call,
            Call {
                user: user.to_string(),
                rate_milli,
                billed_until: None,
                carry: 0,
                warned: false,
            },
        );
        Ok(Admission { rate, max_duration })
    }

    /// The call was answered: billing starts now.
    pub fn answered(&mut self, call: u64, now: Instant) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.billed_until.get_or_insert(now);
        }
    }

    fn charge(&mut self, call: u64, now: Instant) -> Option<(u64, u64)> {
        let c = self.calls.get_mut(&call)?;
        let since = c.billed_until?;
        let ms = now.saturating_duration_since(since).as_millis();
        c.billed_until = Some(now.max(since));
        // milli-minutes = ms * rate_milli / 60_000, with the remainder carried over.
        let total = ms * u128::from(c.rate_milli) + c.carry;
        let charge = (total / 60_000) as u64;
        c.carry = total % 60_000;
        let user = self.users.get_mut(&c.user)?;
        user.credit = user.credit.saturating_sub(charge);
        Some((user.credit, c.rate_milli))
    }

    /// The call ended (at any stage): charges the rest and frees its slot.
    pub fn ended(&mut self, call: u64, now: Instant) {
        self.charge(call, now);
        self.calls.remove(&call);
    }

    /// Charges running calls up to `now`; call about once a second.
    pub fn tick(&mut self, now: Instant) -> Vec<RuleEvent> {
        let mut events = Vec::new();
        let ids: Vec<u64> = self.calls.keys().copied().collect();
        for call in ids {
            let Some((credit, rate_milli)) = self.charge(call, now) else {
                continue;
            };
            if rate_milli == 0 {
                continue;
            }
            let seconds_left = credit * 60 / rate_milli;
            if credit == 0 {
                events.push(RuleEvent::CutOff { call });
            } else if seconds_left <= self.config.warn_seconds_left {
                if let Some(c) = self.calls.get_mut(&call) {
                    if !c.warned {
                        c.warned = true;
                        events.push(RuleEvent::LowCredit { call, seconds_left });
                    }
                }
            }
        }
        events
    }
}

#[cfg(test)]
mod tests;
