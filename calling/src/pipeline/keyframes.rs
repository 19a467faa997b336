//! Keyframe requests: a receiver that lost part of the picture asks the sender for a
//! keyframe (RTCP PLI), and the sender answers with its next frame, instead of both waiting
//! for the periodic keyframe (up to `media::video::KEYFRAME_INTERVAL` of a damaged picture).

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

/// Answers the peer's keyframe requests for our camera on `track`: the encoder's next frame
/// is a keyframe, at most once per [`MIN_REQUEST_INTERVAL`]. The task runs until aborted.
pub(crate) fn answer_requests(
    track: LocalTrack,
    controls: Arc<Controls>,
    counters: Arc<Counters>,
    runtime: &Handle,
) -> tokio::task::JoinHandle<()> {
    runtime.spawn(async move {
        let mut answered: Option<Instant> = None;
        loop {
            track.keyframe_requested().await;
            Counters::bump(&counters.keyframe_requests_received);
            if answered.is_some_and(|at| at.elapsed() < MIN_REQUEST_INTERVAL) {
                continue;
            }
            answered = Some(Instant::now());
            Controls::set(&controls.force_keyframe, true);
        }
    })
}

/// Whether an encoded VP8 frame is a keyframe (RFC 6386 section 9.1: bit 0 of the frame
/// tag is 0 for a key frame).
pub(crate) fn is_vp8_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|tag| tag & 1 == 0)
}

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
}

impl PictureRepair {
    /// One frame came out of the sample builder: `lost` whether media packets before it
    /// were lost for good, `keyframe` whether it is a keyframe (`None`: the frame could not
    /// be opened, so it is lost too). Returns whether to send a keyframe request now.
    pub fn on_frame(&mut self, lost: bool, keyframe: Option<bool>, now: Instant) -> bool {
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
    fn vp8_keyframes_are_told_by_the_frame_tag() {
        assert!(is_vp8_keyframe(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]));
        assert!(!is_vp8_keyframe(&[0x31, 0x02, 0x00]));
        assert!(!is_vp8_keyframe(&[]));
    }
}
