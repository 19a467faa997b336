//! The [`VideoSource`] trait and the real-time pacing shared by the synthetic sources.

use std::time::{Duration, Instant};

use super::{CapturedFrame, VideoError};

/// Something that yields camera frames: the real camera ([`NokhwaCamera`](super::NokhwaCamera))
/// or a synthetic one ([`TestPatternSource`](super::TestPatternSource),
/// [`FileSource`](super::FileSource)).
///
/// [`read_frame`](Self::read_frame) blocks until the next frame is due, so a loop calling it
/// runs at the source's frame rate. Frames are raw: they must pass a
/// [`blackout::PrivacyFilter`] before anything may send, store or show them remotely.
pub trait VideoSource: Send + 'static {
    /// Blocks until the next frame and returns it.
    fn read_frame(&mut self) -> Result<CapturedFrame, VideoError>;
    /// A human-readable name ("test pattern 640x480 @ 24 fps", a file path, a camera name).
    fn describe(&self) -> String;
    /// `(width, height)` of the frames.
    fn resolution(&self) -> (u32, u32);
    /// Frames per second (rounded for fractional rates such as 30000/1001).
    fn fps(&self) -> u32;
}

impl<S: VideoSource + ?Sized> VideoSource for Box<S> {
    fn read_frame(&mut self) -> Result<CapturedFrame, VideoError> {
        (**self).read_frame()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn resolution(&self) -> (u32, u32) {
        (**self).resolution()
    }
    fn fps(&self) -> u32 {
        (**self).fps()
    }
}

/// Paces frames at `num / den` per second against the time of the first frame.
///
/// Each frame's due time is computed from the start and its index, never by adding a
/// period to the previous one, so rounding never accumulates into drift. A caller that falls
/// more than a frame behind skips the missed slots instead of getting a burst, as a camera
/// would.
#[derive(Debug)]
pub(crate) struct Pacer {
    num: u64,
    den: u64,
    paced: bool,
    start: Option<Instant>,
    next: u64,
}

impl Pacer {
    /// A pacer for `num / den` frames per second (both clamped to at least 1).
    pub(crate) fn new(num: u32, den: u32) -> Pacer {
        Pacer {
            num: u64::from(num.max(1)),
            den: u64::from(den.max(1)),
            paced: true,
            start: None,
            next: 0,
        }
    }

    /// Turns waiting on or off (off: every call returns at once, for tests and benchmarks).
    pub(crate) fn set_paced(&mut self, paced: bool) {
        self.paced = paced;
    }

    /// Frames per second, rounded.
    pub(crate) fn fps(&self) -> u32 {
        ((self.num + self.den / 2) / self.den).max(1) as u32
    }

    /// Time of slot `n` after the start.
    fn offset(&self, n: u64) -> Duration {
        let nanos = u128::from(n) * u128::from(self.den) * 1_000_000_000 / u128::from(self.num);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The slot in progress `elapsed` after the start.
    fn slot_at(&self, elapsed: Duration) -> u64 {
        let slot =
            elapsed.as_nanos() * u128::from(self.num) / (u128::from(self.den) * 1_000_000_000);
        u64::try_from(slot).unwrap_or(u64::MAX)
    }

    /// Waits until the next frame is due and returns its slot index (0 for the first frame,
    /// which is due at once). Unpaced, slots are simply counted.
    pub(crate) fn wait(&mut self) -> u64 {
        let mut n = self.next;
        if self.paced {
            let now = Instant::now();
            let start = *self.start.get_or_insert(now);
            let due = start + self.offset(n);
            if due > now {
                std::thread::sleep(due - now);
            } else {
                n = n.max(self.slot_at(now - start));
            }
        }
        self.next = n.saturating_add(1);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaced_counts_slots() {
        let mut p = Pacer::new(24, 1);
        p.set_paced(false);
        assert_eq!((p.wait(), p.wait(), p.wait()), (0, 1, 2));
    }

    #[test]
    fn slots_are_exact_multiples() {
        let p = Pacer::new(30000, 1001);
        assert_eq!(p.fps(), 30);
        // 30000 frames at 29.97 fps last exactly 1001 s: no rounding drift.
        assert_eq!(p.offset(30000), Duration::from_secs(1001));
        assert_eq!(p.slot_at(Duration::from_secs(1001)), 30000);
    }

    #[test]
    fn paced_keeps_the_rate_and_skips_when_late() {
        let mut p = Pacer::new(100, 1);
        let t0 = Instant::now();
        for _ in 0..5 {
            p.wait();
        }
        // Frames 0..=4 are due at 0, 10, ..., 40 ms.
        assert!(t0.elapsed() >= Duration::from_millis(40));
        std::thread::sleep(Duration::from_millis(55));
        // ~95 ms after the start: slots 5..=8 are gone, the next frame is slot 9 at once.
        let n = p.wait();
        assert!(n >= 9, "slot {n}");
    }
}
