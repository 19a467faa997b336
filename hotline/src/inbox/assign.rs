//! Which dispatcher a new conversation goes to: the voice queue's strategies, read for
//! messages (a message cannot ring, so ring-all picks the dispatcher with fewest open).

use crate::core::Strategy;
use crate::ids::Npub;

/// A dispatcher as the inbox sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxDispatcher {
    /// Enrolled npub.
    pub npub: Npub,
    /// Takes new conversations now.
    pub available: bool,
    /// When they were last given a conversation (Unix ms); `None`: never.
    pub last_assigned_ms: Option<u64>,
    /// Open or pending conversations they hold.
    pub active: usize,
}

/// The dispatcher (index into `roster`, enrolment order) a new conversation goes to, or
/// `None` when nobody available has room. `cursor` is round-robin's memory: the index of
/// the dispatcher given the previous conversation.
pub fn pick(
    strategy: Strategy,
    roster: &[InboxDispatcher],
    max_per_dispatcher: usize,
    cursor: Option<usize>,
) -> Option<usize> {
    let free = |d: &InboxDispatcher| d.available && d.active < max_per_dispatcher;
    // Longest idle: never assigned beats any time; ties keep enrolment order.
    let idle_key = |i: usize| {
        (
            roster[i].last_assigned_ms.is_some(),
            roster[i].last_assigned_ms,
            i,
        )
    };
    match strategy {
        Strategy::RoundRobin => {
            let n = roster.len();
            let start = cursor.map_or(0, |c| c + 1);
            (0..n).map(|k| (start + k) % n).find(|&i| free(&roster[i]))
        }
        Strategy::LongestIdle => (0..roster.len())
            .filter(|&i| free(&roster[i]))
            .min_by_key(|&i| idle_key(i)),
        Strategy::FewestCalls | Strategy::RingAll => (0..roster.len())
            .filter(|&i| free(&roster[i]))
            .min_by_key(|&i| (roster[i].active, idle_key(i))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster(last: &[Option<u64>]) -> Vec<InboxDispatcher> {
        last.iter()
            .enumerate()
            .map(|(i, &t)| InboxDispatcher {
                npub: Npub::from_bytes([i as u8 + 1; 32]),
                available: true,
                last_assigned_ms: t,
                active: 0,
            })
            .collect()
    }

    #[test]
    fn longest_idle_prefers_never_assigned_then_oldest() {
        let r = roster(&[Some(50), None, Some(10)]);
        assert_eq!(pick(Strategy::LongestIdle, &r, 5, None), Some(1));
        let r = roster(&[Some(50), Some(40), Some(10)]);
        assert_eq!(pick(Strategy::LongestIdle, &r, 5, None), Some(2));
    }

    #[test]
    fn round_robin_resumes_after_the_cursor_and_skips_the_unavailable_and_full() {
        let mut r = roster(&[None, None, None]);
        assert_eq!(pick(Strategy::RoundRobin, &r, 5, Some(0)), Some(1));
        r[1].available = false;
        assert_eq!(pick(Strategy::RoundRobin, &r, 5, Some(0)), Some(2));
        r[2].active = 5;
        assert_eq!(pick(Strategy::RoundRobin, &r, 5, Some(0)), Some(0));
        r[0].active = 5;
        assert_eq!(pick(Strategy::RoundRobin, &r, 5, Some(0)), None);
    }
}
