//! A small receive jitter buffer, sans-IO: packets go in by sequence number whenever they
//! arrive; the playout clock takes one slot per 20 ms.
//!
//! - Reorders within the buffer, drops duplicates and packets older than the playout point.
//! - A lost packet (a gap with later packets already buffered) plays as a missing frame,
//!   which the caller conceals with silence.
//! - When the buffer runs dry (the sender paused, e.g. during a DTMF event or on hold),
//!   playout stops and waits for [`PREFILL`] packets again, so resumed audio (whose
//!   sequence numbers continue where they stopped) is not thrown away as late.
//! - Bounded: more than [`MAX_DEPTH`] buffered frames (a sender running fast, or a burst)
//!   drops the oldest.

use std::collections::BTreeMap;

/// Frames buffered before playout starts: one, so the gateway adds no more than a frame
/// of delay (issue 19; the bench measured 42 ms phone-to-user with two). The time
/// between a packet's arrival and the next 20 ms tick absorbs a trunk's usual few ms of
/// jitter; a packet later than that rebuffers (one concealed frame), which the user's
/// side, with its own adaptive playout buffer, hears as a short gap.
pub const PREFILL: usize = 1;
/// Most frames held: 200 ms. Beyond that, latency matters more than completeness.
pub const MAX_DEPTH: usize = 10;

/// What one 20 ms playout tick yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot<T> {
    /// The frame due now.
    Frame(T),
    /// A frame is missing (lost, or not yet buffering): conceal it.
    Missing,
}

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets that arrived after their playout time.
    pub late: u64,
    /// Packets received twice.
    pub duplicate: u64,
    /// Frames dropped because the buffer was full.
    pub overflow: u64,
    /// Ticks with nothing to play while playing (losses).
    pub lost: u64,
}

/// The jitter buffer. `T` is the frame's payload.
#[derive(Debug)]
pub struct JitterBuffer<T> {
    /// Extended (unwrapped) sequence number -> frame.
    frames: BTreeMap<u64, T>,
    /// The extended sequence number due at the next tick, once playing.
    next: Option<u64>,
    /// The highest extended sequence number seen, the reference for unwrapping.
    highest: Option<u64>,
    stats: JitterStats,
}

impl<T> Default for JitterBuffer<T> {
    fn default() -> Self {
        JitterBuffer {
            frames: BTreeMap::new(),
            next: None,
            highest: None,
            stats: JitterStats::default(),
        }
    }
}

impl<T> JitterBuffer<T> {
    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Frames currently buffered.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether playout is running (not waiting for [`PREFILL`] before the first frame or
    /// after running dry).
    pub fn is_playing(&self) -> bool {
        self.next.is_some()
    }

    fn extend(&self, seq: u16) -> u64 {
        // Start well above zero so sequence numbers just below the first stay positive.
        let Some(highest) = self.highest else {
            return (1 << 32) + u64::from(seq);
        };
        let delta = seq.wrapping_sub(highest as u16) as i16;
        highest.wrapping_add_signed(i64::from(delta))
    }

    /// Stores a packet's frame.
    pub fn push(&mut self, seq: u16, frame: T) {
        let ext = self.extend(seq);
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        if self.next.is_some_and(|next| ext < next) {
            self.stats.late += 1;
            return;
        }
        if self.frames.contains_key(&ext) {
            self.stats.duplicate += 1;
            return;
        }
        self.frames.insert(ext, frame);
        while self.frames.len() > MAX_DEPTH {
            if let Some((&oldest, _)) = self.frames.iter().next() {
                self.frames.remove(&oldest);
                self.stats.overflow += 1;
                if self.next.is_some_and(|n| n <= oldest) {
                    self.next = Some(oldest + 1);
                }
            }
        }
    }

    /// Takes what is due at this 20 ms tick.
    pub fn pop(&mut self) -> Slot<T> {
        let next = match self.next {
            Some(next) => next,
            None if self.frames.len() >= PREFILL => match self.frames.keys().next() {
                Some(&first) => first,
                None => return Slot::Missing,
            },
            None => return Slot::Missing,
        };
        if let Some(frame) = self.frames.remove(&next) {
            self.next = Some(next + 1);
            return Slot::Frame(frame);
        }
        if self.frames.is_empty() {
            // Ran dry: re-buffer rather than run ahead of a paused sender.
            self.next = None;
        } else {
            self.stats.lost += 1;
            self.next = Some(next + 1);
        }
        Slot::Missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(jb: &mut JitterBuffer<u16>, ticks: usize) -> Vec<Option<u16>> {
        (0..ticks)
            .map(|_| match jb.pop() {
                Slot::Frame(f) => Some(f),
                Slot::Missing => None,
            })
            .collect()
    }

    #[test]
    fn reorders_and_drops_duplicates() {
        let mut jb = JitterBuffer::default();
        for seq in [10u16, 12, 11, 11, 13] {
            jb.push(seq, seq);
        }
        assert_eq!(jb.stats().duplicate, 1);
        assert_eq!(
            drain(&mut jb, 4),
            vec![Some(10), Some(11), Some(12), Some(13)]
        );
    }

    #[test]
    fn a_lost_packet_is_concealed_and_a_late_one_dropped() {
        let mut jb = JitterBuffer::default();
        for seq in [1u16, 2, 4, 5] {
            jb.push(seq, seq);
        }
        assert_eq!(drain(&mut jb, 3), vec![Some(1), Some(2), None]);
        jb.push(3, 3);
        assert_eq!(jb.stats().late, 1);
        assert_eq!(jb.stats().lost, 1);
        assert_eq!(drain(&mut jb, 2), vec![Some(4), Some(5)]);
    }

    #[test]
    fn waits_for_prefill_and_rebuffers_after_a_pause() {
        let mut jb = JitterBuffer::default();
        assert_eq!(drain(&mut jb, 1), vec![None], "nothing to play yet");
        jb.push(100, 100);
        jb.push(101, 101);
        assert_eq!(drain(&mut jb, 3), vec![Some(100), Some(101), None]);
        // The sender paused for a second; its sequence numbers continue.
        assert_eq!(drain(&mut jb, 50), vec![None; 50]);
        jb.push(102, 102);
        assert_eq!(
            drain(&mut jb, 1),
            vec![Some(102)],
            "one frame restarts playout"
        );
        jb.push(103, 103);
        assert_eq!(drain(&mut jb, 1), vec![Some(103)]);
        assert_eq!(jb.stats().late, 0);
    }

    #[test]
    fn wraps_around_and_stays_bounded() {
        let mut jb = JitterBuffer::default();
        for seq in (65530u16..=65535).chain(0..4) {
            jb.push(seq, seq);
        }
        assert_eq!(jb.len(), MAX_DEPTH);
        let out = drain(&mut jb, MAX_DEPTH);
        assert_eq!(out.first(), Some(&Some(65530)));
        assert_eq!(out.last(), Some(&Some(3)));
        for seq in 0..100u16 {
            jb.push(seq.wrapping_add(4), seq);
        }
        assert!(jb.len() <= MAX_DEPTH);
        assert!(jb.stats().overflow > 0);
    }
}
