//! What the engine tells the UI: every call state change, every dropped input, media
//! events and live figures.

use std::time::{Duration, Instant};

use std::sync::Arc;

use nostr_signal::SignalError;
use phantomcall_schemas::{CallId, PrivacyMode};

use crate::e2ee::MediaKeys;
use crate::fsm::{CallEvent, Dropped};
use crate::peer::{PeerStats, SetupFailure};
use crate::policy::{ModePolicy, PolicyViolation, PrivacySummary};

/// One thing the UI may render. Received through [`crate::CallEngine::events`].
#[derive(Debug, Clone)]
// `Stats` is the large one and comes once a second per call: boxing it would cost every
// reader a different type for no measurable gain.
#[allow(clippy::large_enum_variant)]
pub enum EngineEvent {
    /// A call changed state (with its reason).
    Call(CallEvent),
    /// An input was dropped (with its reason); the calls go on.
    Dropped(Dropped),
    /// Something happened to a call's media.
    Media {
        /// The call.
        call_id: CallId,
        /// What.
        event: MediaEvent,
    },
    /// Live figures of a call, about once a second while it has media.
    Stats {
        /// The call.
        call_id: CallId,
        /// The figures.
        stats: CallStats,
    },
    /// Something happened in a group call (ringing, a member's connection, the end).
    Group(super::GroupEvent),
    /// A call message could not be sent (no relay accepted it in time).
    SignalingError {
        /// The call it was for.
        call_id: CallId,
        /// What the transport said (shared: the error itself is not `Clone`).
        error: Arc<SignalError>,
    },
}

/// Something that happened to a call's media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The media path was lost; the engine is trying to restore it.
    Reconnecting,
    /// We sent a new offer with fresh ICE credentials (ICE restart).
    IceRestartSent,
    /// The media path is back.
    Reconnected,
    /// A device or codec failed or could not be opened; the call goes on without it.
    DeviceError(DeviceFailure),
    /// The call's media path could not be set up as its mode demands (no TURN server, no
    /// proxy, proxy unreachable): the call ends before anything is sent, and this says
    /// what to fix.
    SetupFailed(SetupFailure),
    /// The privacy filter's state changed (`protected`: the person is being blacked out;
    /// otherwise the whole camera is black).
    Blackout {
        /// What to show ("blackout active", "blackout unavailable: camera blacked out").
        state: String,
        /// Whether segmentation is running.
        protected: bool,
    },
    /// A gathered local candidate the privacy mode forbids was withheld (never sent).
    CandidateWithheld(PolicyViolation),
    /// Our screen share started (or moved to another screen or window).
    ScreenShareStarted {
        /// What is shared ("Screen: HDMI-1 (1920x1080)").
        what: String,
    },
    /// We are not sharing (any more): the user stopped (`why` is `None`), or the share
    /// could not start or go on (the window closed, the peer cannot receive it).
    ScreenShareStopped {
        /// Why, when the user did not ask for it.
        why: Option<String>,
    },
    /// The peer's screen share started or stopped arriving.
    RemoteScreenShare {
        /// Whether it is coming in now.
        active: bool,
    },
    /// A candidate or SDP from the peer that the privacy mode forbids was refused; the
    /// call ends with [`crate::EndReason::PolicyViolation`].
    PolicyViolation(PolicyViolation),
    /// Our microphone's processing (echo cancellation, noise suppression) failed: the
    /// audio goes out unprocessed for that frame, the processor is rebuilt, or (`gave_up`)
    /// processing stays off for the rest of the call. The call never goes silent.
    VoiceProcessingFault {
        /// What failed.
        fault: String,
        /// Processing stopped for the rest of the call.
        gave_up: bool,
    },
    /// The peer started or stopped speaking, or muted or unmuted, as its audio shows
    /// (digital silence is a muted microphone, PhantomCall's and a WebRTC client's alike).
    RemoteVoice(crate::VoiceActivity),
    /// The offer and answer settled how the media is protected end to end: post-quantum
    /// SFrame keys, or DTLS-SRTP alone because the other app has no such layer (the user
    /// is told either way).
    MediaKeys(MediaKeys),
    /// No IP path reached the peer: the call's voice moved to a direct Bluetooth LE
    /// connection (voice only, end-to-end encrypted with keys from the offer and answer).
    VoiceOverBluetooth,
}

/// Which part of a call's media failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaPart {
    /// The microphone could not be opened or stopped delivering.
    Microphone,
    /// The speaker could not be opened or stopped playing.
    Speaker,
    /// The camera could not be opened or stopped delivering.
    Camera,
    /// The thread that encodes and sends audio could not start.
    AudioSender,
    /// The thread that decodes and plays audio could not start.
    AudioPlayout,
    /// The thread that filters, encodes and sends video could not start.
    VideoSender,
    /// The task that receives and decodes the peer's video could not start.
    VideoReceiver,
    /// The Opus encoder.
    OpusEncoder,
    /// The Opus decoder.
    OpusDecoder,
    /// The VP8 encoder.
    Vp8Encoder,
    /// The VP8 decoder.
    Vp8Decoder,
}

impl std::fmt::Display for MediaPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MediaPart::Microphone => "microphone",
            MediaPart::Speaker => "speaker",
            MediaPart::Camera => "camera",
            MediaPart::AudioSender => "audio thread",
            MediaPart::AudioPlayout => "playout thread",
            MediaPart::VideoSender => "video thread",
            MediaPart::VideoReceiver => "video decode",
            MediaPart::OpusEncoder => "Opus encoder",
            MediaPart::OpusDecoder => "Opus decoder",
            MediaPart::Vp8Encoder => "VP8 encoder",
            MediaPart::Vp8Decoder => "VP8 decoder",
        })
    }
}

/// A device or codec failure: which part, and what its driver said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {detail}")]
pub struct DeviceFailure {
    /// The part that failed.
    pub part: MediaPart,
    /// The driver's or codec's own words (never contains media or addresses).
    pub detail: String,
}

impl DeviceFailure {
    /// `part` failed with `error`.
    pub fn new(part: MediaPart, error: impl std::fmt::Display) -> Self {
        Self {
            part,
            detail: error.to_string(),
        }
    }
}

/// Live figures of one call.
#[derive(Debug, Clone, Default)]
pub struct CallStats {
    /// The call's privacy mode.
    pub mode: Option<PrivacyMode>,
    /// Time since the media path first came up.
    pub connected_for: Option<Duration>,
    /// Whether the media path is up now.
    pub media_up: bool,
    /// Connection figures (RTT, jitter, loss, candidate types).
    pub peer: PeerStats,
    /// Whether our side of the selected path is a TURN relay.
    pub relayed: bool,
    /// How the media is protected end to end.
    pub media_keys: MediaKeys,
    /// Audio frames sent.
    pub audio_frames_sent: u64,
    /// Audio packets received.
    pub audio_packets_received: u64,
    /// Audio frames decoded and played.
    pub audio_frames_played: u64,
    /// Audio frames concealed (lost or late, with nothing to rebuild them from).
    pub audio_frames_concealed: u64,
    /// Lost audio frames rebuilt from the next packet's in-band FEC.
    pub audio_frames_recovered: u64,
    /// Audio frames sent carrying in-band FEC (the peer's description asked for it).
    pub audio_frames_sent_with_fec: u64,
    /// The voice encoder's target bitrate now, kbit/s (raised with the loss the peer
    /// reports; 0 before the encoder starts).
    pub audio_bitrate_kbps: u32,
    /// Audio frames not sent because they were silence coded as DTX (the peer accepts
    /// discontinuous transmission).
    pub audio_frames_unsent_dtx: u64,
    /// Frames of the peer's silence played as comfort noise (it sent nothing: DTX); not
    /// concealment.
    pub audio_frames_comfort: u64,
    /// When the first decoded audio was played.
    pub first_audio_at: Option<Instant>,
    /// Video frames sent.
    pub video_frames_sent: u64,
    /// Camera keyframes sent (periodic, after a change, or asked for by the peer).
    pub video_keyframes_sent: u64,
    /// Video frames of the peer decoded.
    pub video_frames_decoded: u64,
    /// The peer's camera keyframes received.
    pub video_keyframes_received: u64,
    /// Keyframe requests (RTCP PLI) we sent after losing part of the peer's picture.
    pub keyframe_requests_sent: u64,
    /// Keyframe requests the peer sent for our camera (answered at most 4 times a second).
    pub keyframe_requests_received: u64,
    /// Keyframe requests the peer sent for our screen share (likewise).
    pub screen_keyframe_requests_received: u64,
    /// Decoded video frames per second over the last interval.
    pub video_fps: f64,
    /// Received bitrate over the last interval, kbit/s.
    pub bitrate_in_kbps: f64,
    /// Sent bitrate over the last interval, kbit/s.
    pub bitrate_out_kbps: f64,
    /// How much video we send (set by [`crate::CallEngine::set_video_quality`]).
    pub video_quality: VideoQuality,
    /// The VP8 encoder's target bitrate now, kbit/s (0 before the first frame is encoded).
    pub video_bitrate_kbps: u32,
    /// Whether our camera is off (by the user, or because Paranoid starts audio first).
    pub camera_off: bool,
    /// What we are sharing, while we share a screen or window.
    pub screen_share: Option<String>,
    /// Screen-share frames sent (this call, all shares).
    pub screen_frames_sent: u64,
    /// Screen-share keyframes sent (each share's first frame, a resized window, or asked
    /// for by the peer).
    pub screen_keyframes_sent: u64,
    /// The screen encoder's target bitrate, kbit/s (0 before the first shared frame).
    pub screen_bitrate_kbps: u32,
    /// Whether the peer's screen share is coming in now.
    pub remote_screen: bool,
    /// Frames of the peer's screen share decoded (this call).
    pub remote_screen_frames: u64,
}

/// How much video a call sends: the user's emergency brake on bandwidth or exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoQuality {
    /// As the congestion controller allows.
    #[default]
    Normal,
    /// Bitrate capped at [`LOW_VIDEO_KBPS`] whatever the network allows (a metered or
    /// shared connection, or to leave room for audio).
    Low,
    /// No video frames at all, not even black ones: audio only.
    Off,
}

/// The video bitrate cap of [`VideoQuality::Low`], kbit/s: VP8 still shows a face-sized
/// picture at 640x480, at a fraction of what a good link carries (up to 4 Mbit/s).
pub const LOW_VIDEO_KBPS: u32 = 150;

impl VideoQuality {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            VideoQuality::Normal => 0,
            VideoQuality::Low => 1,
            VideoQuality::Off => 2,
        }
    }

    pub(crate) fn from_u8(v: u8) -> VideoQuality {
        match v {
            1 => VideoQuality::Low,
            2 => VideoQuality::Off,
            _ => VideoQuality::Normal,
        }
    }
}

impl CallStats {
    /// What the call's mode means, in plain words for the UI ("Peer may see your IP" for
    /// Fast).
    pub fn privacy_summary(&self) -> Option<PrivacySummary> {
        self.mode.map(|mode| ModePolicy::for_mode(mode).summary())
    }
}
