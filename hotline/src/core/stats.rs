//! Service-level statistics. Counters only: no caller identities, no npubs.

use std::collections::VecDeque;
use std::time::Duration;

/// Counters since the hotline's store was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HotlineStats {
    /// Entries queued (live and callback).
    pub queued: u64,
    /// Live calls answered by a dispatcher.
    pub answered: u64,
    /// Of those, answered within the service-level threshold.
    pub answered_within_sl: u64,
    /// Callers who hung up while waiting.
    pub abandoned: u64,
    /// Callers sent to voicemail by overflow.
    pub voicemail: u64,
    /// Callback entries created (by overflow or request).
    pub callbacks_created: u64,
    /// Callback entries a dispatcher took to call back.
    pub callbacks_placed: u64,
    /// Calls refused by abuse limits (never for being busy).
    pub refused: u64,
    /// Calls and callbacks ended by a dispatcher or the caller after assignment.
    pub completed: u64,
    /// Sum of the waits of answered live calls, in milliseconds.
    pub total_wait_ms: u64,
    /// Sum of handle times (answer to end), in milliseconds.
    pub total_handle_ms: u64,
    /// The most recent handle times in milliseconds (the rolling window).
    pub recent_handle_ms: VecDeque<u64>,
}

impl HotlineStats {
    /// Average wait of answered live calls.
    pub fn average_wait(&self) -> Option<Duration> {
        (self.answered > 0).then(|| Duration::from_millis(self.total_wait_ms / self.answered))
    }

    /// Average handle time over every completed call.
    pub fn average_handle(&self) -> Option<Duration> {
        (self.completed > 0).then(|| Duration::from_millis(self.total_handle_ms / self.completed))
    }

    /// Share of live calls answered within the threshold, among answered and abandoned
    /// ones (an abandoned caller was not served in time either).
    pub fn service_level(&self) -> Option<f64> {
        let base = self.answered + self.abandoned;
        (base > 0).then(|| self.answered_within_sl as f64 / base as f64)
    }

    /// The rolling average handle time, or `prior` before any call ended.
    pub fn rolling_handle(&self, prior: Duration) -> Duration {
        if self.recent_handle_ms.is_empty() {
            return prior;
        }
        let sum: u64 = self.recent_handle_ms.iter().sum();
        Duration::from_millis(sum / self.recent_handle_ms.len() as u64)
    }

    pub(crate) fn record_answer(&mut self, wait: Duration, threshold: Duration) {
        self.answered += 1;
        self.total_wait_ms += millis(wait);
        if wait <= threshold {
            self.answered_within_sl += 1;
        }
    }

    pub(crate) fn record_handle(&mut self, handle: Duration, window: usize) {
        self.completed += 1;
        let ms = millis(handle);
        self.total_handle_ms += ms;
        self.recent_handle_ms.push_back(ms);
        while self.recent_handle_ms.len() > window.max(1) {
            self.recent_handle_ms.pop_front();
        }
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The estimated wait of the entry at 1-based `position`, given `staffed` dispatchers
/// signed in (not away), `free` of them free now, and the rolling average handle time.
///
/// `wait = ceil((position - free) / staffed) * handle`, 0 when a free dispatcher is
/// waiting for this entry, `None` with nobody signed in. Each staffed dispatcher frees up
/// about once per handle time, so the callers ahead are served `staffed` at a time.
pub fn estimate_wait(
    position: usize,
    staffed: usize,
    free: usize,
    handle: Duration,
) -> Option<Duration> {
    if staffed == 0 {
        return None;
    }
    if position <= free {
        return Some(Duration::ZERO);
    }
    let rounds = (position - free).div_ceil(staffed);
    Some(handle * u32::try_from(rounds).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_follows_the_documented_formula() {
        let h = Duration::from_secs(100);
        assert_eq!(estimate_wait(1, 0, 0, h), None);
        assert_eq!(estimate_wait(2, 3, 2, h), Some(Duration::ZERO));
        assert_eq!(estimate_wait(1, 3, 0, h), Some(h));
        assert_eq!(estimate_wait(3, 3, 0, h), Some(h));
        assert_eq!(estimate_wait(4, 3, 0, h), Some(h * 2));
        assert_eq!(estimate_wait(7, 2, 1, h), Some(h * 3));
    }

    #[test]
    fn service_level_counts_abandoned_callers_as_missed() {
        let mut s = HotlineStats::default();
        s.record_answer(Duration::from_secs(5), Duration::from_secs(20));
        s.record_answer(Duration::from_secs(30), Duration::from_secs(20));
        s.abandoned = 2;
        assert_eq!(s.service_level(), Some(0.25));
        assert_eq!(s.average_wait(), Some(Duration::from_millis(17_500)));
    }

    #[test]
    fn rolling_handle_keeps_only_the_window() {
        let mut s = HotlineStats::default();
        assert_eq!(
            s.rolling_handle(Duration::from_secs(9)),
            Duration::from_secs(9)
        );
        for secs in [100, 200, 300] {
            s.record_handle(Duration::from_secs(secs), 2);
        }
        assert_eq!(s.rolling_handle(Duration::ZERO), Duration::from_secs(250));
        assert_eq!(s.average_handle(), Some(Duration::from_secs(200)));
    }
}
