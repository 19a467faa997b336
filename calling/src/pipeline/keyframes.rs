//! Keyframe requests: a receiver that lost part of the picture asks the sender for a
//! keyframe (RTCP PLI), and the sender answers with its next frame, instead of both waiting
//! for the periodic keyframe (up to `media::video::KEYFRAME_INTERVAL` of a damaged picture).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use super::{Controls, Counters};
use crate::peer::LocalTrack;

/// The least time between two keyframe requests we send, and between two requests we
/// answer: a repair takes a round trip and a keyframe, and a peer asking on every frame
/// (by fault or on purpose) must not turn every frame into a keyframe.
pub(crate) const MIN_REQUEST_INTERVAL: Duration = Duration::from_millis(250);

/// Which of our encoders a track's keyframe requests are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoder {
    Camera,
    Screen,
}

/// Answers the peer's keyframe requests on `track` (our camera's or our screen's): that
/// encoder's next frame is a keyframe, at most once per [`MIN_REQUEST_INTERVAL`]. The
/// task runs until aborted; a request while nothing is shared only makes the next share
/// start with the keyframe it starts with anyway.
pub(crate) fn answer_requests(
    track: LocalTrack,
    encoder: Encoder,
    controls: Arc<Controls>,
    counters: Arc<Counters>,
    runtime: &Handle,
) -> tokio::task::JoinHandle<()> {
    runtime.spawn(async move {
        let mut answered: Option<Instant> = None;
        loop {
            track.keyframe_requested().await;
            Counters::bump(match encoder {
                Encoder::Camera => &counters.keyframe_requests_received,
                Encoder::Screen => &counters.screen_keyframe_requests_received,
            });
            if answered.is_some_and(|at| at.elapsed() < MIN_REQUEST_INTERVAL) {
                continue;
            }
            answered = Some(Instant::now());
            let flag = match encoder {
                Encoder::Camera => &controls.force_keyframe,
                Encoder::Screen => &controls.force_screen_keyframe,
            };
            Controls::set(flag, true);
        }
    })
}

/// Whether an encoded VP8 frame is a keyframe (RFC 6386 section 9.1: bit 0 of the frame
/// tag is 0 for a key frame).
pub(crate) fn is_vp8_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|tag| tag & 1 == 0)
}

/// How long a missing RTP packet may stay missing before it counts as lost for good: the
/// receiver asks for it again 5 times, 100 ms apart (`peer::MAX_NACKS_PER_PACKET`), and the
/// retransmission takes a round trip.
pub(crate) const RETRANSMISSION_GIVE_UP: Duration = Duration::from_millis(600);

/// Missing sequence numbers followed at once, at most; a larger gap counts as a loss at once.
const MAX_MISSING: usize = 512;

/// The receiving side's view of the picture: damaged from a lost packet (or a frame that
/// could not be opened or decoded) until a keyframe arrives; while damaged it asks for a
/// keyframe every [`MIN_REQUEST_INTERVAL`], so a lost request or a lost keyframe is asked
/// for again.
#[derive(Debug, Default)]
pub(crate) struct PictureRepair {
    damaged: bool,
    last_request: Option<Instant>,
    /// Set by the decoder thread when a frame did not decode.
    pub decode_failed: Arc<AtomicBool>,
    /// The newest RTP sequence number seen.
    highest: Option<u16>,
    /// Sequence numbers skipped over, and when the gap was seen (oldest first). A packet of
    /// its own frame lost whole leaves no trace in the sample builder (the next frame is
    /// complete), so the gaps are followed here.
    missing: VecDeque<(u16, Instant)>,
    /// A gap too large to follow was seen.
    gap_overflow: bool,
}

impl PictureRepair {
    /// One RTP packet arrived (a retransmission fills its gap).
    pub fn on_packet(&mut self, sequence_number: u16, now: Instant) {
        let Some(highest) = self.highest else {
            self.highest = Some(sequence_number);
            return;
        };
        let ahead = sequence_number.wrapping_sub(highest);
        if ahead == 0 {
            return;
        }
        if ahead < 0x8000 {
            for skipped in 1..ahead {
                if self.missing.len() >= MAX_MISSING {
                    self.gap_overflow = true;
                    break;
                }
                self.missing.push_back((highest.wrapping_add(skipped), now));
            }
            self.highest = Some(sequence_number);
        } else if let Some(i) = self.missing.iter().position(|(s, _)| *s == sequence_number) {
            // Late, reordered or retransmitted: the gap is filled.
            self.missing.remove(i);
        }
    }

    /// Whether a packet has been missing for longer than retransmission could bring it
    /// (such packets are then forgotten).
    fn lost_for_good(&mut self, now: Instant) -> bool {
        let mut lost = std::mem::take(&mut self.gap_overflow);
        while let Some(&(_, since)) = self.missing.front() {
            if now.duration_since(since) < RETRANSMISSION_GIVE_UP {
                break;
            }
            self.missing.pop_front();
            lost = true;
        }
        lost
    }

    /// One frame came out of the sample builder: `dropped` whether the builder dropped
    /// media packets before it, `keyframe` whether it is a keyframe (`None`: the frame could
    /// not be opened, so it is lost too). Returns whether to send a keyframe request now.
    pub fn on_frame(&mut self, dropped: bool, keyframe: Option<bool>, now: Instant) -> bool {
        let lost = self.lost_for_good(now) || dropped;
        let decode_failed = self.decode_failed.swap(false, Ordering::AcqRel);
        match keyframe {
            // A keyframe needs nothing before it: whatever was lost no longer matters.
            Some(true) => self.damaged = false,
            Some(false) => self.damaged |= lost || decode_failed,
            None => self.damaged = true,
        }
        if !self.damaged
            || self
                .last_request
                .is_some_and(|at| now.duration_since(at) < MIN_REQUEST_INTERVAL)
        {
            return false;
        }
        self.last_request = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_asks_for_a_keyframe_until_one_arrives_at_a_bounded_rate() {
        let mut repair = PictureRepair::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(!repair.on_frame(false, Some(false), at(0)), "nothing lost");
        assert!(repair.on_frame(true, Some(false), at(40)), "a loss asks");
        // Still damaged: asks again only after the interval, not on every frame.
        assert!(!repair.on_frame(false, Some(false), at(80)));
        assert!(!repair.on_frame(false, Some(false), at(280)));
        assert!(
            repair.on_frame(false, Some(false), at(300)),
            "the request was lost"
        );
        // The keyframe repairs the picture: no more requests.
        assert!(!repair.on_frame(false, Some(true), at(340)));
        assert!(!repair.on_frame(false, Some(false), at(900)));
    }

    #[test]
    fn a_frame_that_did_not_decode_or_open_damages_the_picture() {
        let mut repair = PictureRepair::default();
        let t0 = Instant::now();
        repair.decode_failed.store(true, Ordering::Release);
        assert!(repair.on_frame(false, Some(false), t0));
        let mut repair = PictureRepair::default();
        assert!(
            repair.on_frame(false, None, t0),
            "an unopened frame is a lost frame"
        );
        // Packets lost before a keyframe do not matter.
        let mut repair = PictureRepair::default();
        assert!(!repair.on_frame(true, Some(true), t0));
    }

    #[test]
    fn a_gap_not_filled_by_retransmission_in_time_is_a_loss() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut repair = PictureRepair::default();
        // 65534, 65535, (0 missing), 1: wraps around.
        for (seq, ms) in [(65_534u16, 0u64), (65_535, 10), (1, 20)] {
            repair.on_packet(seq, at(ms));
        }
        assert!(
            !repair.on_frame(false, Some(false), at(100)),
            "still retransmittable"
        );
        assert!(
            repair.on_frame(false, Some(false), at(620)),
            "gone for good"
        );

        // The same gap filled by a retransmission in time is no loss.
        let mut repair = PictureRepair::default();
        for (seq, ms) in [(10u16, 0u64), (12, 10), (11, 200)] {
            repair.on_packet(seq, at(ms));
        }
        assert!(!repair.on_frame(false, Some(false), at(700)));
        // Duplicates and very old packets are ignored.
        repair.on_packet(12, at(710));
        repair.on_packet(3, at(710));
        assert!(!repair.on_frame(false, Some(false), at(1500)));
    }

    #[test]
    fn a_gap_too_large_to_follow_is_a_loss_at_once() {
        let t0 = Instant::now();
        let mut repair = PictureRepair::default();
        repair.on_packet(0, t0);
        repair.on_packet(2_000, t0);
        assert!(repair.on_frame(false, Some(false), t0));
    }

    #[test]
    fn vp8_keyframes_are_told_by_the_frame_tag() {
        assert!(is_vp8_keyframe(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]));
        assert!(!is_vp8_keyframe(&[0x31, 0x02, 0x00]));
        assert!(!is_vp8_keyframe(&[]));
    }
}
