//! The video codec: VP8 (libvpx) with real-time settings.
//!
//! VP8 because every WebRTC endpoint must support it (RFC 7742) and it is royalty-free.
//! [`VideoEncoder::encode`] takes only a [`FilteredFrame`]: a raw camera frame does not
//! type-check, so none can reach the encoder.
//!
//! ```
//! use blackout::{BlackFrameFilter, PrivacyFilter};
//! use media::video::{EncoderConfig, TestPatternSource, VideoEncoder, VideoSource};
//! let mut encoder = VideoEncoder::new(EncoderConfig::new(64, 48, 24)).unwrap();
//! let captured = TestPatternSource::new(64, 48, 24).paced(false).read_frame().unwrap();
//! let filtered = BlackFrameFilter::new().filter(captured.as_raw().unwrap());
//! encoder.encode(&filtered, false).unwrap();
//! ```
//!
//! ```compile_fail
//! // A captured frame cannot be encoded...
//! use media::video::{EncoderConfig, TestPatternSource, VideoEncoder, VideoSource};
//! let mut encoder = VideoEncoder::new(EncoderConfig::new(64, 48, 24)).unwrap();
//! let captured = TestPatternSource::new(64, 48, 24).paced(false).read_frame().unwrap();
//! encoder.encode(&captured, false).unwrap();
//! ```
//!
//! ```compile_fail
//! // ...nor the raw frame the filter takes.
//! use media::video::{EncoderConfig, TestPatternSource, VideoEncoder, VideoSource};
//! let mut encoder = VideoEncoder::new(EncoderConfig::new(64, 48, 24)).unwrap();
//! let captured = TestPatternSource::new(64, 48, 24).paced(false).read_frame().unwrap();
//! encoder.encode(&captured.as_raw().unwrap(), false).unwrap();
//! ```

use std::path::Path;
use std::time::Duration;

use blackout::{FilteredFrame, FrameError, MAX_DIMENSION};

use super::convert::{i420_len, i420_to_rgb24, to_i420};
use super::vp8::{Vp8Decoder, Vp8Encoder, Vp8Settings, VpxError};
use super::{ScreenFrame, VideoError, DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH};

/// Default target bitrate: enough for 640x480 at 24-30 fps in VP8 real-time mode.
pub const DEFAULT_BITRATE_KBPS: u32 = 800;
/// Starting bitrate of a screen share: 1080p text at a few frames per second reads well
/// from about 1 Mbit/s; congestion control moves it from there.
pub const SCREEN_BITRATE_KBPS: u32 = 1200;
/// Lowest bitrate [`VideoEncoder::set_bitrate_kbps`] applies: below this VP8 at 640x480 is
/// a smear, and a congestion controller that asks for less should pause video instead.
pub const MIN_BITRATE_KBPS: u32 = 50;
/// Highest bitrate applied: 640x480 VP8 gains nothing visible above ~2.5 Mbit/s, and the cap
/// keeps a bogus bandwidth estimate from flooding the link.
pub const MAX_BITRATE_KBPS: u32 = 4000;
/// Longest time between keyframes: a receiver that joined late or lost a keyframe recovers
/// within this time even if it cannot ask for one.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_secs(3);
/// Luma of black in BT.601 limited range (what VP8 streams use). Blackout writes Y = 0,
/// which decodes to the same #000000.
pub const BLACK_LUMA: u8 = 16;
/// Tolerance for [`DecodedFrame::is_black`]: VP8 reproduces a flat black frame within a
/// level or two; 8 leaves margin for a noisy peer encoder, while anything visible is far
/// above `BLACK_LUMA + 8` = 24 (the test pattern's white box is Y = 235, even its blue bar is
/// Y = 35 with chroma far from neutral).
pub const DEFAULT_BLACK_TOLERANCE: u8 = 8;
/// Encoder threads: one, so a call leaves the other cores to blackout's segmentation.
const ENCODER_THREADS: u32 = 1;
/// Highest frame rate accepted.
const MAX_FPS: u32 = 240;

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Frame width (even, 2..=[`MAX_DIMENSION`]).
    pub width: u32,
    /// Frame height (even, 2..=[`MAX_DIMENSION`]).
    pub height: u32,
    /// Frames per second (1..=240); sets the keyframe interval and the rate control's clock.
    pub fps: u32,
    /// Target bitrate in kbit/s, clamped to [`MIN_BITRATE_KBPS`]..=[`MAX_BITRATE_KBPS`].
    pub bitrate_kbps: u32,
    /// What the picture is: camera motion or screen content.
    pub content: ContentHint,
}

/// What an encoder codes, which decides where it spends bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentHint {
    /// A camera: motion matters, edges may soften.
    #[default]
    Camera,
    /// A shared screen: text and edges must stay sharp, motion is rare.
    Screen,
}

impl EncoderConfig {
    /// `width x height` at `fps`, [`DEFAULT_BITRATE_KBPS`].
    pub fn new(width: u32, height: u32, fps: u32) -> EncoderConfig {
        EncoderConfig {
            width,
            height,
            fps,
            bitrate_kbps: DEFAULT_BITRATE_KBPS,
            content: ContentHint::Camera,
        }
    }

    /// A screen share of `width x height` at `fps`: screen-content coding, and a starting
    /// bitrate of [`SCREEN_BITRATE_KBPS`].
    pub fn screen(width: u32, height: u32, fps: u32) -> EncoderConfig {
        EncoderConfig {
            bitrate_kbps: SCREEN_BITRATE_KBPS,
            content: ContentHint::Screen,
            ..EncoderConfig::new(width, height, fps)
        }
    }
}

impl Default for EncoderConfig {
    /// 640x480 at 24 fps, 800 kbit/s.
    fn default() -> Self {
        EncoderConfig::new(DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_FPS)
    }
}

/// One VP8 frame, ready for RTP packetisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The compressed frame.
    pub data: Vec<u8>,
    /// Whether it is a keyframe (decodable on its own).
    pub keyframe: bool,
}

fn codec_error(operation: &'static str) -> impl FnOnce(VpxError) -> VideoError {
    move |e| VideoError::Codec {
        operation,
        message: e.0,
    }
}

/// A real-time VP8 encoder: CBR, no look-ahead (each frame comes out as it goes in), error
/// resilient (a lost frame does not corrupt the following ones' entropy state), a keyframe at
/// least every [`KEYFRAME_INTERVAL`], one thread.
///
/// Frames must have the configured size: a frame of another size is refused
/// ([`VideoError::FrameSize`]) rather than silently renegotiated; after a camera change, make
/// a new encoder (whose first frame is a keyframe). Any [`FilteredFrame`] format is converted
/// to I420.
#[derive(Debug)]
pub struct VideoEncoder {
    inner: Vp8Encoder,
    config: EncoderConfig,
    /// Conversion buffer, reused between frames.
    i420: Vec<u8>,
    /// Frames encoded so far (the presentation timestamp, in frames).
    frames: i64,
}

impl VideoEncoder {
    /// An encoder for `config`; the bitrate is clamped, other out-of-range values are an
    /// error ([`VideoError::InvalidConfig`]).
    pub fn new(config: EncoderConfig) -> Result<VideoEncoder, VideoError> {
        let EncoderConfig {
            width, height, fps, ..
        } = config;
        for (name, v) in [("width", width), ("height", height)] {
            if !(2..=MAX_DIMENSION).contains(&v) || v % 2 == 1 {
                return Err(VideoError::InvalidConfig(format!(
                    "{name} {v}: must be even and within 2..={MAX_DIMENSION}"
                )));
            }
        }
        if !(1..=MAX_FPS).contains(&fps) {
            return Err(VideoError::InvalidConfig(format!(
                "{fps} fps: must be within 1..={MAX_FPS}"
            )));
        }
        let config = EncoderConfig {
            bitrate_kbps: clamp_bitrate(config.bitrate_kbps),
            ..config
        };
        let keyframe_max_dist = (KEYFRAME_INTERVAL.as_secs() as u32).saturating_mul(fps);
        let inner = Vp8Encoder::new(Vp8Settings {
            width,
            height,
            fps,
            bitrate_kbps: config.bitrate_kbps,
            threads: ENCODER_THREADS,
            keyframe_max_dist,
            screen_content: config.content == ContentHint::Screen,
        })
        .map_err(codec_error("encoder initialisation"))?;
        Ok(VideoEncoder {
            inner,
            config,
            i420: Vec::new(),
            frames: 0,
        })
    }

    /// The configuration in use (with the bitrate as applied).
    pub fn config(&self) -> EncoderConfig {
        self.config
    }

    /// The target bitrate in use, kbit/s.
    pub fn bitrate_kbps(&self) -> u32 {
        self.config.bitrate_kbps
    }

    /// Changes the target bitrate (for congestion control) without a keyframe. The value is
    /// clamped to [`MIN_BITRATE_KBPS`]..=[`MAX_BITRATE_KBPS`]; returns the value applied.
    pub fn set_bitrate_kbps(&mut self, kbps: u32) -> Result<u32, VideoError> {
        let kbps = clamp_bitrate(kbps);
        if kbps != self.config.bitrate_kbps {
            self.inner
                .set_bitrate(kbps)
                .map_err(codec_error("bitrate change"))?;
            self.config.bitrate_kbps = kbps;
        }
        Ok(kbps)
    }

    /// Encodes one filtered frame; `force_keyframe` asks for a keyframe (a receiver lost
    /// packets, or one just joined). Returns the compressed frames produced (one in practice).
    pub fn encode(
        &mut self,
        frame: &FilteredFrame,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, VideoError> {
        self.encode_pixels(
            frame.data(),
            (frame.width(), frame.height()),
            frame.format(),
            force_keyframe,
        )
    }

    /// Encodes one frame of a screen share (which the user chose to show, so it has no
    /// privacy filter to pass); otherwise as [`encode`](Self::encode).
    pub fn encode_screen(
        &mut self,
        frame: &ScreenFrame,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, VideoError> {
        self.encode_pixels(
            frame.rgba(),
            (frame.width(), frame.height()),
            blackout::PixelFormat::Rgba,
            force_keyframe,
        )
    }

    fn encode_pixels(
        &mut self,
        data: &[u8],
        (got_width, got_height): (u32, u32),
        format: blackout::PixelFormat,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, VideoError> {
        let EncoderConfig { width, height, .. } = self.config;
        if (got_width, got_height) != (width, height) {
            return Err(VideoError::FrameSize {
                width,
                height,
                got_width,
                got_height,
            });
        }
        to_i420(data, width, height, format, &mut self.i420)?;
        let packets = self
            .inner
            .encode(&mut self.i420, self.frames, force_keyframe)
            .map_err(codec_error("encoding"))?;
        self.frames += 1;
        Ok(packets
            .into_iter()
            .map(|p| EncodedFrame {
                data: p.data,
                keyframe: p.keyframe,
            })
            .collect())
    }
}

fn clamp_bitrate(kbps: u32) -> u32 {
    kbps.clamp(MIN_BITRATE_KBPS, MAX_BITRATE_KBPS)
}

/// A VP8 decoder for what the peer sends. Input is untrusted: anything that is not a
/// decodable VP8 frame is an error ([`VideoError::Decode`]), never a panic, and keyframes
/// announcing more than [`MAX_DIMENSION`] pixels on a side are refused before libvpx
/// allocates for them.
#[derive(Debug)]
pub struct VideoDecoder {
    inner: Vp8Decoder,
}

impl VideoDecoder {
    /// A single-threaded decoder.
    pub fn new() -> Result<VideoDecoder, VideoError> {
        let inner = Vp8Decoder::new().map_err(codec_error("decoder initialisation"))?;
        Ok(VideoDecoder { inner })
    }

    /// Decodes one compressed frame (one [`EncodedFrame::data`], reassembled from RTP).
    /// Interframes before the first keyframe are an error.
    pub fn decode(&mut self, data: &[u8]) -> Result<Vec<DecodedFrame>, VideoError> {
        check_vp8_header(data).map_err(VideoError::Decode)?;
        let pictures = self
            .inner
            .decode(data, MAX_DIMENSION)
            .map_err(|e| VideoError::Decode(e.0))?;
        Ok(pictures
            .into_iter()
            .map(|p| DecodedFrame {
                width: p.width,
                height: p.height,
                i420: p.i420,
            })
            .collect())
    }
}

/// Checks the VP8 frame tag (RFC 6386 section 9.1) and, for keyframes, the start code and the
/// size, before libvpx sees the data.
fn check_vp8_header(data: &[u8]) -> Result<(), String> {
    let Some(tag) = data.get(..3) else {
        return Err(format!(
            "{} bytes: shorter than a VP8 frame tag",
            data.len()
        ));
    };
    let keyframe = tag[0] & 1 == 0;
    if !keyframe {
        return Ok(());
    }
    let Some(header) = data.get(3..10) else {
        return Err("keyframe shorter than its header".into());
    };
    if header[..3] != [0x9d, 0x01, 0x2a] {
        return Err("keyframe without the VP8 start code".into());
    }
    let width = u32::from(u16::from_le_bytes([header[3], header[4]]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([header[5], header[6]]) & 0x3fff);
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(format!(
            "keyframe announces {width}x{height} (at most {MAX_DIMENSION} per side)"
        ));
    }
    Ok(())
}

/// A decoded picture: tight I420 (BT.601 limited range), chroma planes rounded up for odd
/// sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Y plane, then U, then V, no padding.
    pub i420: Vec<u8>,
}

impl DecodedFrame {
    /// Whether `i420` has the length the size implies (the fields are public).
    fn is_consistent(&self) -> bool {
        self.i420.len() == i420_len(self.width, self.height)
    }

    /// The Y plane (as much of it as the buffer holds).
    fn luma(&self) -> &[u8] {
        let n = (self.width as usize * self.height as usize).min(self.i420.len());
        &self.i420[..n]
    }

    /// RGB24 pixels (`width * height * 3` bytes). Missing data reads as black.
    pub fn to_rgb24(&self) -> Vec<u8> {
        i420_to_rgb24(&self.i420, self.width, self.height)
    }

    /// Writes the picture as an RGB PNG.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<(), VideoError> {
        let path = path.as_ref();
        if !self.is_consistent() || self.width == 0 || self.height == 0 {
            let len = i420_len(self.width, self.height);
            return Err(FrameError::BufferLength {
                plane: 0,
                len: self.i420.len(),
                min: len,
                max: len,
            }
            .into());
        }
        image::save_buffer_with_format(
            path,
            &self.to_rgb24(),
            self.width,
            self.height,
            image::ExtendedColorType::Rgb8,
            image::ImageFormat::Png,
        )
        .map_err(|source| VideoError::Image {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Brightest luma value (0 for an empty frame).
    pub fn max_luma(&self) -> u8 {
        self.luma().iter().copied().max().unwrap_or(0)
    }

    /// Mean luma (0.0 for an empty frame).
    pub fn mean_luma(&self) -> f64 {
        let luma = self.luma();
        if luma.is_empty() {
            return 0.0;
        }
        luma.iter().map(|&v| u64::from(v)).sum::<u64>() as f64 / luma.len() as f64
    }

    /// Whether the whole picture is black: every luma value at most
    /// [`BLACK_LUMA`]` + tolerance` and every chroma value within `tolerance` of neutral (128),
    /// so a dark but coloured picture is not black. A frame whose buffer does not match its
    /// size is never black. See [`DEFAULT_BLACK_TOLERANCE`].
    pub fn is_black(&self, tolerance: u8) -> bool {
        if !self.is_consistent() {
            return false;
        }
        let luma = self.luma();
        let chroma = &self.i420[luma.len()..];
        self.max_luma() <= BLACK_LUMA.saturating_add(tolerance)
            && chroma.iter().all(|&c| c.abs_diff(128) <= tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check() {
        assert!(check_vp8_header(&[]).is_err());
        assert!(check_vp8_header(&[1, 0, 0]).is_ok(), "interframe tag");
        assert!(check_vp8_header(&[0, 0, 0, 0x9d, 0x01]).is_err(), "short");
        let key = |w: u16, h: u16| {
            let mut k = vec![0, 0, 0, 0x9d, 0x01, 0x2a];
            k.extend(w.to_le_bytes());
            k.extend(h.to_le_bytes());
            k
        };
        assert!(check_vp8_header(&key(640, 480)).is_ok());
        assert!(check_vp8_header(&key(0, 480)).is_err());
        assert!(check_vp8_header(&key(16383, 480)).is_err());
        let mut bad = key(640, 480);
        bad[3] = 0;
        assert!(check_vp8_header(&bad).is_err());
    }

    #[test]
    fn black_needs_neutral_chroma_and_a_consistent_buffer() {
        let mut f = DecodedFrame {
            width: 2,
            height: 2,
            i420: vec![16, 16, 16, 16, 128, 128],
        };
        assert!(f.is_black(0));
        f.i420[4] = 160; // dark blue-ish: luma black, chroma not
        assert!(!f.is_black(DEFAULT_BLACK_TOLERANCE));
        f.i420.pop();
        assert!(!f.is_black(255));
        assert_eq!(f.to_rgb24().len(), 12);
        assert!(f
            .save_png(std::env::temp_dir().join("never-written.png"))
            .is_err());
    }
}
