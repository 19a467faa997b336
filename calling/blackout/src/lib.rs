//! Human blackout: paints every person in a video frame solid black (#000000) before the
//! frame may leave the machine, so that only the room stays visible (DESIGN.md section 5).
//!
//! A camera frame ([`RawFrame`]: RGB24, RGBA, BGRA, YUYV, NV12 or I420, with explicit size
//! and strides) goes through a [`PrivacyFilter`]: it is squashed to the input of MediaPipe
//! Selfie Segmentation (embedded in the binary, run by tract on a worker thread), the person
//! mask is dilated, held over the last frames, joined with the boxes of a person detector
//! (NanoDet, on its own thread every few frames) and with a motion mask (what changed since
//! the detector last looked), upsampled, and the person pixels are set to black. This crate must never let a raw frame out: the encoder, the network, files and the
//! remote preview accept only a [`FilteredFrame`], which can be obtained only from a filter or
//! as an all-black frame ([`FilteredFrame::black`]). Whenever the filter cannot vouch for a
//! frame — model missing or corrupt, inference error or panic, a frame past its deadline, a
//! stalled worker, a malformed frame — the output is all black and [`FilterState`] says why.
//!
//! Main types: [`PrivacyFilter`] (the trait the call engine uses), [`BlackoutFilter`] (the
//! segmentation filter, configured by [`FilterConfig`]), [`BlackFrameFilter`] (always black:
//! blackout off or unavailable), [`RawFrame`] / [`PixelFormat`] / [`FrameError`] (input),
//! [`FilteredFrame`] (output), [`FilterState`] (for the UI), [`Segmenter`] (the inference
//! backend, [`TractSegmenter`] in production), [`prepare_in_background`] (readies the
//! embedded models when the app starts, so the first call does not wait for them).
//!
//! ```
//! use blackout::{BlackoutFilter, FilterConfig, PixelFormat, PrivacyFilter, RawFrame};
//! let mut filter = BlackoutFilter::new(FilterConfig::default());
//! let pixels = vec![128u8; 64 * 48 * 3];
//! let frame = RawFrame::tight(&pixels, 64, 48, PixelFormat::Rgb24).unwrap();
//! let out = filter.filter(frame); // person pixels black, or all black
//! assert_eq!((out.width(), out.height()), (64, 48));
//! println!("{}", filter.state());
//! ```

#![warn(missing_docs)]

pub mod bench;
mod composite;
mod convert;
mod detector;
pub mod entry_eval;
pub mod eval;
mod filter;
mod filtered;
mod frame;
mod mask;
mod model;
mod motion;
mod pipeline;
mod placeholder;
mod priority;
pub mod quality;
mod resize;
mod schedule;
mod segmenter;
mod warm;
mod worker;

pub use convert::pack_rgb;
pub use detector::{
    detector_input_size, Detection, PersonDetector, TractDetector, PERSON_DETECTOR_ONNX,
};
pub use filter::{
    BlackFrameFilter, BlackoutFilter, FilterConfig, FilterState, PrivacyFilter, Rejected,
    UnavailableReason, DEFAULT_DEADLINE, DEFAULT_DILATION, DEFAULT_HOLD_FRAMES,
    DEFAULT_LOAD_TIMEOUT, DEFAULT_STALL_LIMIT, DEFAULT_THRESHOLD,
};
pub use filtered::{FilteredFrame, FrameOrigin};
pub use frame::{FrameError, PixelFormat, RawFrame, MAX_DIMENSION};
pub use model::{ModelChoice, ModelError, ModelSource, GENERAL_ONNX, LANDSCAPE_ONNX};
pub use motion::MotionConfig;
pub use placeholder::{Placeholder, PlaceholderError};
pub use schedule::DetectorConfig;
pub use segmenter::{RgbImage, SegmentError, Segmenter, TractSegmenter};
pub use warm::{prepare_in_background, Warmup};
