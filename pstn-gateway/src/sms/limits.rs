//! Abuse limits of the SMS bridge, against floods and overbilling: a sliding one-minute
//! window per number (inbound per sender, outbound per our number), a 24-hour budget of
//! outbound parts for the whole gateway, and alerts (a `warn` log line on the
//! `pstn_gateway::sms::alert` target and a counter) when a limit starts refusing.
//! The state is in memory: a restart forgets the window (documented in docs/sms-bridge.md).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::number::{Redacted, E164};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);
/// Numbers tracked at once; past this the oldest idle windows are dropped, so a flood of
/// distinct senders cannot grow memory without bound.
const MAX_TRACKED: usize = 10_000;

/// Per-number sliding window of events in the last minute.
#[derive(Debug)]
pub struct PerMinute {
    limit: usize,
    windows: HashMap<E164, VecDeque<Instant>>,
    alerted: HashMap<E164, Instant>,
    alerts: u64,
    what: &'static str,
}

impl PerMinute {
    /// A window allowing `limit` events per minute per number; `what` names it in alerts.
    pub fn new(limit: usize, what: &'static str) -> Self {
        PerMinute {
            limit,
            windows: HashMap::new(),
            alerted: HashMap::new(),
            alerts: 0,
            what,
        }
    }

    /// Counts an event for `number` at `now`; `false` if it is over the limit (not counted).
    pub fn allow(&mut self, number: &E164, now: Instant) -> bool {
        if self.windows.len() >= MAX_TRACKED && !self.windows.contains_key(number) {
            self.windows.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < MINUTE)
            });
            self.alerted
                .retain(|_, t| now.saturating_duration_since(*t) < MINUTE);
        }
        let q = self.windows.entry(number.clone()).or_default();
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
        {
            q.pop_front();
        }
        if q.len() < self.limit {
            q.push_back(now);
            return true;
        }
        // One alert per number per minute: the flood should not flood the log as well.
        let due = self
            .alerted
            .get(number)
            .is_none_or(|t| now.saturating_duration_since(*t) >= MINUTE);
        if due {
            self.alerts += 1;
            self.alerted.insert(number.clone(), now);
            tracing::warn!(
                target: "pstn_gateway::sms::alert",
                number = %Redacted(number.as_str()),
                limit_per_minute = self.limit,
                alerts = self.alerts,
                "sms: {} rate limit reached",
                self.what
            );
        }
        false
    }

    /// Alerts raised so far (the metric).
    pub fn alerts(&self) -> u64 {
        self.alerts
    }
}

/// The gateway-wide budget of outbound parts per 24 hours (what the provider bills).
#[derive(Debug)]
pub struct DailyBudget {
    limit: u64,
    spent: VecDeque<(Instant, u64)>,
    total: u64,
    alerted_at: Option<Instant>,
    alerts: u64,
}

impl DailyBudget {
    /// A budget of `limit` parts per rolling 24 hours.
    pub fn new(limit: u64) -> Self {
        DailyBudget {
            limit,
            spent: VecDeque::new(),
            total: 0,
            alerted_at: None,
            alerts: 0,
        }
    }

    /// Spends `parts` if the budget allows; `false` (nothing spent, alert raised) if not.
    pub fn spend(&mut self, parts: u64, now: Instant) -> bool {
        while let Some((t, n)) = self.spent.front().copied() {
            if now.saturating_duration_since(t) < DAY {
                break;
            }
            self.total -= n;
            self.spent.pop_front();
        }
        if self.total + parts <= self.limit {
            self.total += parts;
            self.spent.push_back((now, parts));
            // Warn once when three quarters are gone: the operator can act before refusals.
            if self.total * 4 >= self.limit * 3 && self.alerted_at.is_none() {
                self.alert(now, "75% of the daily SMS budget spent");
            }
            return true;
        }
        if self
            .alerted_at
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(3600))
        {
            self.alert(now, "daily SMS budget exhausted: sends refused");
        }
        false
    }

    fn alert(&mut self, now: Instant, message: &'static str) {
        self.alerts += 1;
        self.alerted_at = Some(now);
        tracing::warn!(
            target: "pstn_gateway::sms::alert",
            spent = self.total,
            limit = self.limit,
            alerts = self.alerts,
            "sms: {message}"
        );
    }

    /// Alerts raised so far.
    pub fn alerts(&self) -> u64 {
        self.alerts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_minute_window_refuses_then_recovers() {
        let n = E164::parse("+15550100199").unwrap();
        let other = E164::parse("+15550100198").unwrap();
        let mut w = PerMinute::new(2, "test");
        let t0 = Instant::now();
        assert!(w.allow(&n, t0));
        assert!(w.allow(&n, t0));
        assert!(!w.allow(&n, t0));
        assert!(!w.allow(&n, t0));
        assert_eq!(w.alerts(), 1, "one alert per window");
        assert!(w.allow(&other, t0), "another number has its own window");
        assert!(w.allow(&n, t0 + MINUTE));
    }

    #[test]
    fn daily_budget_refuses_past_the_limit_and_alerts() {
        let mut b = DailyBudget::new(10);
        let t0 = Instant::now();
        assert!(b.spend(7, t0));
        assert_eq!(b.alerts(), 0);
        assert!(b.spend(3, t0));
        assert_eq!(b.alerts(), 1, "75% warning");
        assert!(!b.spend(1, t0));
        assert!(b.spend(5, t0 + DAY));
    }
}
