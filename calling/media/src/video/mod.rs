//! Video: devices and the codec.
//!
//! Frames flow one way: a [`VideoSource`] (the camera through [`NokhwaCamera`], or the
//! synthetic [`TestPatternSource`] / [`FileSource`] / [`SequenceSource`]) yields
//! [`CapturedFrame`]s; the call
//! engine passes each through a [`blackout::PrivacyFilter`] (via [`CapturedFrame::as_raw`]);
//! only the resulting [`blackout::FilteredFrame`] can be given to [`VideoEncoder::encode`],
//! which produces VP8 [`EncodedFrame`]s. On the receiving side [`VideoDecoder`] turns VP8 back
//! into [`DecodedFrame`]s (I420).
//!
//! Screen share is the one other way in: a [`ScreenSource`] ([`XcapScreen`], or the
//! synthetic [`SyntheticScreen`]) yields [`ScreenFrame`]s, which only this crate's screen
//! sources can make, for [`VideoEncoder::encode_screen`]. The user picked that content on
//! purpose, so it skips the blackout filter; a camera frame cannot take that path.
//!
//! ```
//! use blackout::{BlackFrameFilter, PrivacyFilter};
//! use media::video::{EncoderConfig, TestPatternSource, VideoDecoder, VideoEncoder, VideoSource};
//!
//! let mut camera = TestPatternSource::new(320, 240, 24).paced(false);
//! let mut filter = BlackFrameFilter::new(); // blackout off: every frame black
//! let mut encoder = VideoEncoder::new(EncoderConfig::new(320, 240, 24)).unwrap();
//! let mut decoder = VideoDecoder::new().unwrap();
//!
//! let captured = camera.read_frame().unwrap();
//! let filtered = filter.filter(captured.as_raw().unwrap());
//! for packet in encoder.encode(&filtered, false).unwrap() {
//!     for picture in decoder.decode(&packet.data).unwrap() {
//!         assert!(picture.is_black(media::video::DEFAULT_BLACK_TOLERANCE));
//!     }
//! }
//! ```

mod camera;
mod capped;
mod codec;
mod convert;
mod error;
mod file;
mod frame;
mod pattern;
mod screen;
mod sequence;
mod slides;
mod source;
mod vp8;
mod xcap_screen;

pub use camera::{list_cameras, CameraInfo, NokhwaCamera};
pub use capped::HeightCappedScreen;
pub use codec::{
    ContentHint, DecodedFrame, EncodedFrame, EncoderConfig, VideoDecoder, VideoEncoder, BLACK_LUMA,
    DEFAULT_BITRATE_KBPS, DEFAULT_BLACK_TOLERANCE, KEYFRAME_INTERVAL, MAX_BITRATE_KBPS,
    MIN_BITRATE_KBPS, SCREEN_BITRATE_KBPS,
};
pub use error::VideoError;
pub use file::FileSource;
pub use frame::{CapturedFrame, DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH};
pub use pattern::TestPatternSource;
pub use screen::{
    shared_size, ScreenFrame, ScreenKind, ScreenSource, ScreenTarget, MAX_SCREEN_SIZE,
    MIN_SCREEN_SIDE, SCREEN_FPS,
};
pub use sequence::{SequenceSource, MAX_SEQUENCE_FRAMES};
pub use slides::{SyntheticScreen, SYNTHETIC_SCREEN_ID};
pub use source::VideoSource;
pub use xcap_screen::{list_screen_targets, ScreenTargets, XcapScreen};
