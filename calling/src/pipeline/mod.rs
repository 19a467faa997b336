//! The media pipelines of one call, each on its own thread so that capture, coding and
//! playout never wait on the async runtime or the UI:
//!
//! - audio out: microphone -> echo cancellation, noise suppression, gain control
//!   ([`processing`]) -> Opus -> RTP ([`audio::spawn_sender`]);
//! - audio in: RTP -> the stream's playout buffer ([`audio::read_track`]); every 20 ms the
//!   render stage decodes each remote stream, mixes them, gives the mix to the far-end tap
//!   and plays it ([`render::RenderStage`]), and follows each stream's voice activity
//!   ([`voice::VoiceMeter`]: speaking, muted);
//! - video out: camera -> privacy filter, once ([`camera::CameraStage`]), fanned out to one
//!   VP8 encoder -> RTP per peer connection ([`video::spawn_sender`]); the encoder only
//!   takes the filter's output type, so no raw frame can reach it;
//! - video in: RTP -> VP8 -> remote view ([`video::spawn_receiver`]);
//! - screen share out: screen -> VP8 (screen content) -> RTP ([`screen::spawn_sender`]);
//!   in, it is video in with its own view.

pub(crate) mod audio;
pub(crate) mod camera;
pub(crate) mod keyframes;
pub(crate) mod loss;
pub mod processing;
pub mod render;
pub(crate) mod screen;
pub(crate) mod shared;
pub mod transform;
pub(crate) mod video;
pub mod voice;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

/// Least loss the encoder's FEC is sized for once the peer reports (percent).
pub(crate) const MIN_EXPECTED_LOSS: u8 = 1;
/// Most loss the encoder's FEC is sized for (percent).
pub(crate) const MAX_EXPECTED_LOSS: u8 = 40;

/// Switches the pipelines read on every frame.
#[derive(Debug, Default)]
pub(crate) struct Controls {
    /// Send silence instead of the microphone.
    pub muted: AtomicBool,
    /// Send the microphone unprocessed (the user turned echo cancellation and noise
    /// suppression off for this call).
    pub voice_processing_off: AtomicBool,
    /// Send black frames instead of the (filtered) camera.
    pub camera_off: AtomicBool,
    /// The media path is up: frames are sent (before that they would only queue).
    pub connected: AtomicBool,
    /// Threads end at their next frame.
    pub stop: AtomicBool,
    /// The next video frame is a keyframe (after connecting, after an ICE restart).
    pub force_keyframe: AtomicBool,
    /// The same for the screen share's encoder.
    pub force_screen_keyframe: AtomicBool,
    /// A screen share is being sent: the camera leaves it most of the video bitrate.
    pub screen_sharing: AtomicBool,
    /// [`crate::VideoQuality`] as its `u8`.
    video_quality: AtomicU8,
    /// The loss the Opus encoder prepares its FEC for, percent, from the peer's receiver
    /// reports; 0 until the first one (the encoder's default stands).
    expected_loss_pct: AtomicU8,
    /// Keypad tones waiting to go out in place of the microphone (48 kHz samples).
    dtmf: Mutex<std::collections::VecDeque<i16>>,
}

/// Keypad tones queued at most (about 20 keys): a stuck button cannot queue minutes.
const MAX_DTMF_SAMPLES: usize = 20 * 48 * (media::audio::TONE_MS + media::audio::GAP_MS) as usize;

impl Controls {
    /// Queues keypad `keys` (the characters that are DTMF keys) to be sent as tones in
    /// place of the microphone, muted or not. Returns how many were queued.
    pub fn queue_dtmf(&self, keys: &str) -> usize {
        let mut queue = self
            .dtmf
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut queued = 0;
        for key in keys.chars() {
            let Some(tone) = media::audio::dtmf_tone(key, media::audio::SAMPLE_RATE) else {
                continue;
            };
            if queue.len() + tone.len() > MAX_DTMF_SAMPLES {
                break;
            }
            queue.extend(tone);
            queued += 1;
        }
        queued
    }

    /// Replaces `frame` with the next queued keypad tone samples, if any are queued.
    pub fn take_dtmf(&self, frame: &mut [i16]) -> bool {
        let mut queue = self
            .dtmf
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if queue.is_empty() {
            return false;
        }
        for sample in frame.iter_mut() {
            *sample = queue.pop_front().unwrap_or(0);
        }
        true
    }

    pub fn get(flag: &AtomicBool) -> bool {
        flag.load(Ordering::Acquire)
    }

    pub fn set(flag: &AtomicBool, value: bool) {
        flag.store(value, Ordering::Release);
    }

    pub fn video_quality(&self) -> crate::VideoQuality {
        crate::VideoQuality::from_u8(self.video_quality.load(Ordering::Acquire))
    }

    pub fn set_video_quality(&self, quality: crate::VideoQuality) {
        let before = self.video_quality.swap(quality.to_u8(), Ordering::AcqRel);
        // Video coming back after Off starts with a keyframe: the peer's decoder has
        // nothing to predict from.
        if before == crate::VideoQuality::Off.to_u8() && quality != crate::VideoQuality::Off {
            self.request_keyframes();
        }
    }

    /// Takes the share of our audio the peer reported lost (0..=1): the encoder's FEC is
    /// then sized for one and a half times that (loss comes in bursts, and reports lag by
    /// a second), at least [`MIN_EXPECTED_LOSS`] (a clean path keeps a trace of FEC and
    /// gives the speech its bits) and at most [`MAX_EXPECTED_LOSS`] (past that FEC takes
    /// bits the speech itself needs).
    pub fn note_peer_audio_loss(&self, reported: Option<f64>) {
        if let Some(loss) = reported.filter(|l| l.is_finite()) {
            let percent = (loss.clamp(0.0, 1.0) * 150.0).ceil() as u8;
            let percent = percent.clamp(MIN_EXPECTED_LOSS, MAX_EXPECTED_LOSS);
            self.expected_loss_pct.store(percent, Ordering::Release);
        }
    }

    /// The loss to size FEC for, percent; `None` before the peer's first report.
    pub fn expected_loss_pct(&self) -> Option<u8> {
        Some(self.expected_loss_pct.load(Ordering::Acquire)).filter(|&p| p > 0)
    }

    /// The next frame of every video encoder (camera and screen) is a keyframe.
    pub fn request_keyframes(&self) {
        Controls::set(&self.force_keyframe, true);
        Controls::set(&self.force_screen_keyframe, true);
    }
}

/// Counters the pipelines keep, read for the stats the UI shows.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub audio_frames_sent: AtomicU64,
    pub audio_packets_received: AtomicU64,
    pub audio_frames_played: AtomicU64,
    pub audio_frames_concealed: AtomicU64,
    pub audio_frames_recovered: AtomicU64,
    /// Audio frames sent with in-band FEC on (the peer asked for it).
    pub audio_frames_sent_with_fec: AtomicU64,
    /// The Opus encoder's target bitrate, kbit/s.
    pub audio_bitrate_kbps: AtomicU64,
    /// Audio frames not sent: DTX frames after the first of a silence.
    pub audio_frames_unsent_dtx: AtomicU64,
    /// Turns played as comfort noise through the peer's DTX silence.
    pub audio_frames_comfort: AtomicU64,
    pub first_audio_at: Mutex<Option<Instant>>,
    pub video_frames_sent: AtomicU64,
    /// Camera keyframes sent (periodic, asked for, or after a change).
    pub video_keyframes_sent: AtomicU64,
    pub video_frames_decoded: AtomicU64,
    /// The peer's camera keyframes received.
    pub video_keyframes_received: AtomicU64,
    /// Keyframe requests (RTCP PLI) we sent for a damaged picture of the peer's.
    pub keyframe_requests_sent: AtomicU64,
    /// The peer's keyframe requests for our camera.
    pub keyframe_requests_received: AtomicU64,
    /// The peer's keyframe requests for our screen share.
    pub screen_keyframe_requests_received: AtomicU64,
    pub video_frames_dropped: AtomicU64,
    /// The encoder's target bitrate, kbit/s.
    pub video_bitrate_kbps: AtomicU64,
    pub screen_frames_sent: AtomicU64,
    /// Screen-share keyframes sent (a share's first frame, a resize, or asked for).
    pub screen_keyframes_sent: AtomicU64,
    pub screen_frames_decoded: AtomicU64,
    pub screen_frames_dropped: AtomicU64,
    /// The screen encoder's target bitrate, kbit/s.
    pub screen_bitrate_kbps: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Something a pipeline tells the call (device trouble, filter state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PipelineNote {
    /// A device failed or could not be opened; the rest of the call goes on.
    DeviceError(crate::engine::DeviceFailure),
    /// The privacy filter's state, when it changes (for the "protected" badge).
    Filter(String, bool),
    /// A screen share (by its number within the call) ended by itself (window closed,
    /// capture failed), with why.
    ScreenShareEnded(u64, String),
    /// The peer's voice started or stopped, or it muted or unmuted (from its audio).
    RemoteVoice(voice::VoiceActivity),
    /// The microphone's processing failed: that frame went out unprocessed; `gave_up`
    /// once processing stopped for the rest of the call.
    VoiceProcessingFault { fault: String, gave_up: bool },
}

impl PipelineNote {
    /// `part` failed with `error`.
    pub(crate) fn device(part: crate::engine::MediaPart, error: impl std::fmt::Display) -> Self {
        PipelineNote::DeviceError(crate::engine::DeviceFailure::new(part, error))
    }
}

pub(crate) type Notes = UnboundedSender<PipelineNote>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VideoQuality;

    #[test]
    fn video_quality_round_trips_and_video_back_after_off_starts_with_a_keyframe() {
        let controls = Controls::default();
        assert_eq!(controls.video_quality(), VideoQuality::Normal);
        controls.set_video_quality(VideoQuality::Low);
        assert_eq!(controls.video_quality(), VideoQuality::Low);
        assert!(
            !Controls::get(&controls.force_keyframe),
            "Low keeps the stream"
        );
        controls.set_video_quality(VideoQuality::Off);
        assert_eq!(controls.video_quality(), VideoQuality::Off);
        assert!(!Controls::get(&controls.force_keyframe));
        controls.set_video_quality(VideoQuality::Normal);
        assert!(
            Controls::get(&controls.force_keyframe),
            "back from Off: keyframe"
        );
    }

    #[test]
    fn fec_is_sized_from_the_peers_reports_within_bounds() {
        let controls = Controls::default();
        assert_eq!(controls.expected_loss_pct(), None, "no report yet");
        controls.note_peer_audio_loss(None);
        assert_eq!(controls.expected_loss_pct(), None);
        controls.note_peer_audio_loss(Some(0.0));
        assert_eq!(controls.expected_loss_pct(), Some(MIN_EXPECTED_LOSS));
        controls.note_peer_audio_loss(Some(0.10));
        assert_eq!(controls.expected_loss_pct(), Some(15));
        controls.note_peer_audio_loss(Some(0.9));
        assert_eq!(controls.expected_loss_pct(), Some(MAX_EXPECTED_LOSS));
        // A report that makes no sense changes nothing.
        controls.note_peer_audio_loss(Some(f64::NAN));
        assert_eq!(controls.expected_loss_pct(), Some(MAX_EXPECTED_LOSS));
    }
}
