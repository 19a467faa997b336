//! [`CapturedFrame`]: a frame as a source produced it, before the privacy filter.

use std::time::Instant;

use blackout::{FrameError, PixelFormat, RawFrame};

/// Default capture width (the issue asks for 640x480 at 24-30 fps).
pub const DEFAULT_WIDTH: u32 = 640;
/// Default capture height.
pub const DEFAULT_HEIGHT: u32 = 480;
/// Default frame rate: the bottom of the 24-30 fps range, which is also the rate the blackout
/// filter is specified to sustain on one core (DESIGN.md section 5).
pub const DEFAULT_FPS: u32 = 24;

/// One frame from a [`VideoSource`](super::VideoSource): raw camera pixels.
///
/// It deliberately has no way into the encoder: it must go through a
/// [`blackout::PrivacyFilter`] (via [`as_raw`](Self::as_raw)), whose output,
/// a [`blackout::FilteredFrame`], is the only thing [`VideoEncoder`](super::VideoEncoder)
/// accepts.
#[derive(Clone, Debug)]
pub struct CapturedFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel format of `data`.
    pub format: PixelFormat,
    /// Pixels, tightly packed (no row padding; planes one after the other), see
    /// [`RawFrame::tight`].
    pub data: Vec<u8>,
    /// When the frame was captured (read from the device or generated).
    pub captured_at: Instant,
}

impl CapturedFrame {
    /// The frame as the filter's input. Fails if the fields are inconsistent (the fields are
    /// public, so this is checked here rather than trusted).
    pub fn as_raw(&self) -> Result<RawFrame<'_>, FrameError> {
        RawFrame::tight(&self.data, self.width, self.height, self.format)
    }
}
