//! Screen share: what can be shared ([`ScreenTarget`]), the [`ScreenSource`] trait, and
//! [`ScreenFrame`], the one frame type besides the privacy filter's output that the encoder
//! takes.
//!
//! A screen share is content the user picked on purpose (a screen or a window), so it does
//! not pass the human-blackout filter. Its frames come only from a screen source in this
//! crate ([`XcapScreen`](super::XcapScreen), [`SyntheticScreen`](super::SyntheticScreen)):
//! nothing outside the crate can build a `ScreenFrame`, so a camera frame cannot be passed
//! off as one.
//!
//! ```compile_fail
//! // A camera frame cannot be turned into a screen frame...
//! use media::video::{ScreenFrame, TestPatternSource, VideoSource};
//! let captured = TestPatternSource::new(64, 48, 24).paced(false).read_frame().unwrap();
//! let _ = ScreenFrame { width: 64, height: 48, data: captured.data, captured_at: captured.captured_at };
//! ```
//!
//! ```compile_fail
//! // ...nor handed to the screen encoder path.
//! use media::video::{EncoderConfig, TestPatternSource, VideoEncoder, VideoSource};
//! let mut encoder = VideoEncoder::new(EncoderConfig::screen(64, 48, 5)).unwrap();
//! let captured = TestPatternSource::new(64, 48, 24).paced(false).read_frame().unwrap();
//! encoder.encode_screen(&captured, false).unwrap();
//! ```

use std::fmt;
use std::time::Instant;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::VideoError;

/// Frames per second of a screen share. Text stays sharp at any rate; what costs is motion,
/// and a shared document barely moves. Jitsi Meet shares at 5 fps by default for the same
/// reason; it also leaves the CPU to the camera's segmentation on older laptops.
pub const SCREEN_FPS: u32 = 5;
/// The largest shared picture, landscape (portrait screens get it turned): 1080p keeps
/// 12-point text readable and is what VP8 codes in real time on one core at [`SCREEN_FPS`].
pub const MAX_SCREEN_SIZE: (u32, u32) = (1920, 1080);
/// Smallest shareable side, pixels: below it there is nothing to read (and VP8 needs room
/// for a macroblock).
pub const MIN_SCREEN_SIDE: u32 = 16;

/// Whether a [`ScreenTarget`] is a whole screen or one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScreenKind {
    /// A whole monitor.
    Screen,
    /// One application window.
    Window,
}

/// Something the user can share: a screen or a window, as listed by
/// [`list_screen_targets`](super::list_screen_targets) (or a synthetic one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScreenTarget {
    /// Screen or window.
    pub kind: ScreenKind,
    /// The platform's id for it (the monitor's or the window's).
    pub id: u32,
    /// What the user recognises it by (monitor name, window title).
    pub name: String,
    /// Its size in pixels when it was listed.
    pub width: u32,
    /// Its size in pixels when it was listed.
    pub height: u32,
}

impl fmt::Display for ScreenTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ScreenKind::Screen => "Screen",
            ScreenKind::Window => "Window",
        };
        write!(f, "{kind}: {} ({}x{})", self.name, self.width, self.height)
    }
}

/// One frame of a screen share: RGBA, at most [`MAX_SCREEN_SIZE`], even sides. Only this
/// crate's screen sources make them.
#[derive(Clone)]
pub struct ScreenFrame {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
    captured_at: Instant,
}

impl fmt::Debug for ScreenFrame {
    // The pixels are the user's screen: never in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScreenFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl ScreenFrame {
    /// A frame from its parts (`rgba` tightly packed, `width * height * 4` bytes, even
    /// sides): for sources that transform another source's frames.
    pub(crate) fn from_parts(width: u32, height: u32, rgba: Vec<u8>, captured_at: Instant) -> Self {
        debug_assert_eq!(rgba.len(), width as usize * height as usize * 4);
        Self {
            width,
            height,
            rgba,
            captured_at,
        }
    }

    /// Width in pixels (even).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels (even).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels, RGBA, tightly packed.
    pub fn rgba(&self) -> &[u8] {
        &self.rgba
    }

    /// When it was captured.
    pub fn captured_at(&self) -> Instant {
        self.captured_at
    }
}

/// Something that yields screen-share frames: the real screen capture
/// ([`XcapScreen`](super::XcapScreen)) or a synthetic one
/// ([`SyntheticScreen`](super::SyntheticScreen)).
///
/// [`read_frame`](Self::read_frame) blocks until the next frame is due, so a loop calling
/// it runs at the source's rate.
pub trait ScreenSource: Send + 'static {
    /// Blocks until the next frame and returns it. An error means the share cannot go on
    /// (the window closed, capture was revoked).
    fn read_frame(&mut self) -> Result<ScreenFrame, VideoError>;
    /// What is being shared, for the user ("Screen: HDMI-1 (1920x1080)").
    fn describe(&self) -> String;
    /// Frames per second.
    fn fps(&self) -> u32;
}

impl<S: ScreenSource + ?Sized> ScreenSource for Box<S> {
    fn read_frame(&mut self) -> Result<ScreenFrame, VideoError> {
        (**self).read_frame()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn fps(&self) -> u32 {
        (**self).fps()
    }
}

/// The size a `width x height` capture is shared at: scaled down (never up) to fit
/// [`MAX_SCREEN_SIZE`] (turned for portrait), aspect kept, sides even. `None` when a side
/// would be under [`MIN_SCREEN_SIDE`].
pub fn shared_size(width: u32, height: u32) -> Option<(u32, u32)> {
    let (max_w, max_h) = if height > width {
        (MAX_SCREEN_SIZE.1, MAX_SCREEN_SIZE.0)
    } else {
        MAX_SCREEN_SIZE
    };
    let scale = (f64::from(max_w) / f64::from(width.max(1)))
        .min(f64::from(max_h) / f64::from(height.max(1)))
        .min(1.0);
    let side = |v: u32| ((f64::from(v) * scale).floor() as u32) & !1;
    let (w, h) = (side(width), side(height));
    (w >= MIN_SCREEN_SIDE && h >= MIN_SCREEN_SIDE).then_some((w, h))
}

/// Turns captures of any size into [`ScreenFrame`]s of the shared size: a downscale when
/// the capture is larger than [`MAX_SCREEN_SIZE`], otherwise at most a one-pixel crop to
/// even sides (a crop, not a resample, keeps text pixel-sharp).
pub(crate) struct ContentScaler {
    resizer: Resizer,
}

impl fmt::Debug for ContentScaler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentScaler")
    }
}

impl ContentScaler {
    pub(crate) fn new() -> ContentScaler {
        ContentScaler {
            resizer: Resizer::new(),
        }
    }

    /// A frame from a tightly packed RGBA capture. Fails on a buffer that does not match
    /// the size, or a capture too small to share.
    pub(crate) fn frame(
        &mut self,
        rgba: Vec<u8>,
        width: u32,
        height: u32,
        captured_at: Instant,
    ) -> Result<ScreenFrame, VideoError> {
        let expected = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(4));
        if expected != Some(rgba.len()) {
            return Err(VideoError::Screen(format!(
                "capture of {width}x{height} has {} bytes of pixels",
                rgba.len()
            )));
        }
        let (w, h) = shared_size(width, height).ok_or_else(|| {
            VideoError::Screen(format!(
                "{width}x{height} is too small to share (at least {MIN_SCREEN_SIDE} pixels a side)"
            ))
        })?;
        let rgba = if (w, h) == (width, height) {
            rgba
        } else if w >= width - 1 && h >= height - 1 {
            crop(&rgba, width, w, h)
        } else {
            self.downscale(&rgba, width, height, w, h)?
        };
        Ok(ScreenFrame {
            width: w,
            height: h,
            rgba,
            captured_at,
        })
    }

    pub(crate) fn downscale(
        &mut self,
        rgba: &[u8],
        width: u32,
        height: u32,
        w: u32,
        h: u32,
    ) -> Result<Vec<u8>, VideoError> {
        let scale_error = |e: &dyn fmt::Display| VideoError::Screen(format!("downscaling: {e}"));
        let src =
            ImageRef::new(width, height, rgba, PixelType::U8x4).map_err(|e| scale_error(&e))?;
        let mut dst = Image::new(w, h, PixelType::U8x4);
        // Bilinear: text stays legible at the usual 1.3-2x reductions, at a fraction of
        // Lanczos's cost.
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        self.resizer
            .resize(&src, &mut dst, &options)
            .map_err(|e| scale_error(&e))?;
        Ok(dst.into_vec())
    }
}

/// The top-left `w x h` of a tightly packed RGBA picture `width` pixels wide.
fn crop(rgba: &[u8], width: u32, w: u32, h: u32) -> Vec<u8> {
    let (row, keep) = (width as usize * 4, w as usize * 4);
    rgba.chunks_exact(row)
        .take(h as usize)
        .flat_map(|r| &r[..keep])
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_size_fits_1080p_keeps_aspect_and_even_sides() {
        assert_eq!(shared_size(1920, 1080), Some((1920, 1080)));
        assert_eq!(shared_size(3840, 2160), Some((1920, 1080)));
        assert_eq!(shared_size(2560, 1440), Some((1920, 1080)));
        // Ultra-wide: width-bound.
        assert_eq!(shared_size(5120, 1440), Some((1920, 540)));
        // Portrait monitor: the bound turns with it.
        assert_eq!(shared_size(1440, 2560), Some((1080, 1920)));
        // Small and odd: never scaled up, made even.
        assert_eq!(shared_size(801, 603), Some((800, 602)));
        assert_eq!(shared_size(10, 600), None);
        assert_eq!(shared_size(0, 0), None);
    }

    fn gradient(width: u32, height: u32) -> Vec<u8> {
        (0..height)
            .flat_map(|y| (0..width).flat_map(move |x| [x as u8, y as u8, 200, 255]))
            .collect()
    }

    #[test]
    fn odd_captures_are_cropped_not_resampled() {
        let mut scaler = ContentScaler::new();
        let frame = scaler
            .frame(gradient(33, 21), 33, 21, Instant::now())
            .unwrap();
        assert_eq!((frame.width(), frame.height()), (32, 20));
        // Pixel (31, 19) is what the capture had there.
        let at = (19 * 32 + 31) * 4;
        assert_eq!(&frame.rgba()[at..at + 4], &[31, 19, 200, 255]);
    }

    #[test]
    fn large_captures_are_downscaled_to_the_shared_size() {
        let mut scaler = ContentScaler::new();
        let frame = scaler
            .frame(vec![128; 2560 * 1440 * 4], 2560, 1440, Instant::now())
            .unwrap();
        assert_eq!((frame.width(), frame.height()), (1920, 1080));
        assert_eq!(frame.rgba().len(), 1920 * 1080 * 4);
        assert!(frame.rgba().iter().all(|&v| v == 128), "flat stays flat");
    }

    #[test]
    fn inconsistent_or_tiny_captures_are_refused() {
        let mut scaler = ContentScaler::new();
        let err = scaler.frame(vec![0; 10], 4, 4, Instant::now()).unwrap_err();
        assert!(err.to_string().contains("bytes"), "{err}");
        let err = scaler
            .frame(vec![0; 8 * 8 * 4], 8, 8, Instant::now())
            .unwrap_err();
        assert!(err.to_string().contains("too small"), "{err}");
    }

    #[test]
    fn debug_never_prints_pixels() {
        let mut scaler = ContentScaler::new();
        let frame = scaler
            .frame(vec![7; 16 * 16 * 4], 16, 16, Instant::now())
            .unwrap();
        let text = format!("{frame:?}");
        assert!(!text.contains("7, 7"), "{text}");
    }
}
