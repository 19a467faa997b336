//! When the media task's 20 ms playout tick falls relative to the phone's packets.
//!
//! The tick used to run at whatever phase the call started with, so a packet waited
//! anywhere from 0 to 20 ms for it: the phone-to-user delay of a call was a draw (the
//! bench printed 5 ms one run, 22 ms the next), and so was how much jitter it could take.
//! And after one packet later than its wait the buffer re-buffered one frame behind and
//! stayed there. Here the tick follows the packets: playout starts [`MARGIN`] after the
//! packet that (re)starts it, and once a [`WINDOW`] it moves earlier when every packet of
//! the window waited longer than that. A late packet still costs one concealed frame and
//! restarts playout after it (the buffer grows to the jitter it saw); calm windows bring
//! the wait back down. Sans-IO: the media task feeds it instants and moves its interval.

use std::time::Duration;

use tokio::time::Instant;

/// How long the latest packet of a window waits for its tick: room for the scheduling
/// of the receive and tick branches and a trunk's small jitter.
pub const MARGIN: Duration = Duration::from_millis(5);
/// A window's packets must all have waited this much beyond [`MARGIN`] before the tick
/// moves (no churn over a millisecond).
pub const SLACK: Duration = Duration::from_millis(2);
/// Packets per window: 2 s of audio.
pub const WINDOW: u32 = 100;
/// One frame: the most the tick moves at once.
const FRAME: Duration = Duration::from_millis(20);

/// The playout clock's adjustments for one stream.
#[derive(Debug, Default)]
pub struct PlayoutClock {
    /// The shortest wait in the window so far.
    least: Option<Duration>,
    /// Packets seen in the window.
    seen: u32,
}

impl PlayoutClock {
    /// A packet arrived at `now` and (re)starts playout: the first tick to play it.
    pub fn start(&mut self, now: Instant) -> Instant {
        *self = Self::default();
        now + MARGIN
    }

    /// A packet arrived at `now` while playing and will be played at `plays_at` (the
    /// next tick, plus a frame for each frame buffered before it). At a window's end,
    /// the instant the next tick (due at `next_tick`) should move to, if earlier.
    pub fn arrived(
        &mut self,
        now: Instant,
        plays_at: Instant,
        next_tick: Instant,
    ) -> Option<Instant> {
        let wait = plays_at.saturating_duration_since(now);
        let least = self.least.map_or(wait, |l| l.min(wait));
        self.seen += 1;
        if self.seen < WINDOW {
            self.least = Some(least);
            return None;
        }
        *self = Self::default();
        (least > MARGIN + SLACK).then(|| next_tick - (least - MARGIN).min(FRAME))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playout_starts_a_margin_after_the_packet() {
        let now = Instant::now();
        assert_eq!(PlayoutClock::default().start(now), now + MARGIN);
    }

    #[test]
    fn a_window_of_long_waits_moves_the_tick_earlier_by_the_excess() {
        let mut clock = PlayoutClock::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut moved = None;
        for n in 0..WINDOW {
            // Packets every 20 ms, each waiting 15 to 17 ms for its tick.
            let now = t0 + ms(20 * u64::from(n));
            let next = now + ms(15 + u64::from(n % 3));
            moved = clock.arrived(now, next, next);
            assert!(moved.is_none() || n == WINDOW - 1);
        }
        let last_next = t0 + ms(20 * u64::from(WINDOW - 1) + 15 + u64::from((WINDOW - 1) % 3));
        assert_eq!(moved, Some(last_next - (ms(15) - MARGIN)));
    }

    #[test]
    fn one_short_wait_in_the_window_keeps_the_tick_where_it_is() {
        let mut clock = PlayoutClock::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        for n in 0..WINDOW {
            let now = t0 + ms(20 * u64::from(n));
            let wait = if n == 40 { ms(6) } else { ms(15) };
            assert_eq!(clock.arrived(now, now + wait, now + wait), None);
        }
    }

    #[test]
    fn a_frame_buffered_ahead_moves_the_tick_by_one_frame_at_most() {
        let mut clock = PlayoutClock::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut moved = None;
        for n in 0..WINDOW {
            let now = t0 + ms(20 * u64::from(n));
            // Next tick 10 ms away, one frame before this one: plays in 30 ms.
            moved = clock.arrived(now, now + ms(30), now + ms(10));
        }
        let now = t0 + ms(20 * u64::from(WINDOW - 1));
        assert_eq!(moved, Some(now + ms(10) - FRAME));
    }
}
