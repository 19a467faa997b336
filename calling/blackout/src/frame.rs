//! Raw camera frames: pixel formats, plane layouts and their validation.
//!
//! A [`RawFrame`] borrows the pixels the capture thread got from the camera. It can only be
//! built through constructors that check the layout (size, strides, buffer lengths), so the
//! rest of the pipeline never indexes out of bounds. A `RawFrame` is never accepted by an
//! encoder: it must pass a [`PrivacyFilter`](crate::PrivacyFilter) to become a
//! [`FilteredFrame`](crate::FilteredFrame).

use std::fmt;
use std::str::FromStr;

/// Largest accepted width or height, in pixels (8K). Bigger frames are rejected: the bound
/// keeps every size computation far from overflow and every allocation sane.
pub const MAX_DIMENSION: u32 = 8192;

/// Pixel formats a camera hands over.
///
/// YUV formats are read as BT.601 limited range (what webcams produce); person pixels are
/// written as Y = 0, U = V = 128, which decodes to #000000 in both limited range (Y below 16 is
/// clamped to black) and full range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Packed 8-bit R, G, B (3 bytes per pixel).
    Rgb24,
    /// Packed 8-bit R, G, B, A (4 bytes per pixel). Blacked pixels get A = 255 (opaque).
    Rgba,
    /// Packed 8-bit B, G, R, A (4 bytes per pixel). Blacked pixels get A = 255 (opaque).
    Bgra,
    /// Packed 4:2:2, Y0 U Y1 V for each pair of pixels (2 bytes per pixel); even width.
    Yuyv,
    /// Planar 4:2:0: a Y plane, then one plane of interleaved U, V; even width and height.
    Nv12,
    /// Planar 4:2:0: Y, U and V planes; even width and height.
    I420,
}

impl PixelFormat {
    /// Every format, in a fixed order (tests, fuzzing, benchmarks).
    pub const ALL: [PixelFormat; 6] = [
        PixelFormat::Rgb24,
        PixelFormat::Rgba,
        PixelFormat::Bgra,
        PixelFormat::Yuyv,
        PixelFormat::Nv12,
        PixelFormat::I420,
    ];

    /// Number of planes (1 for packed formats, 2 for NV12, 3 for I420).
    pub fn plane_count(self) -> usize {
        match self {
            PixelFormat::Rgb24 | PixelFormat::Rgba | PixelFormat::Bgra | PixelFormat::Yuyv => 1,
            PixelFormat::Nv12 => 2,
            PixelFormat::I420 => 3,
        }
    }

    /// Whether the format subsamples chroma horizontally (needs an even width).
    pub fn needs_even_width(self) -> bool {
        matches!(
            self,
            PixelFormat::Yuyv | PixelFormat::Nv12 | PixelFormat::I420
        )
    }

    /// Whether the format subsamples chroma vertically (needs an even height).
    pub fn needs_even_height(self) -> bool {
        matches!(self, PixelFormat::Nv12 | PixelFormat::I420)
    }

    /// Bytes in one row of `plane` for a frame `width` pixels wide (odd widths rounded up).
    pub fn row_bytes(self, plane: usize, width: u32) -> usize {
        let w = width as usize;
        let half = w.div_ceil(2);
        match (self, plane) {
            (PixelFormat::Rgb24, 0) => w * 3,
            (PixelFormat::Rgba | PixelFormat::Bgra, 0) => w * 4,
            (PixelFormat::Yuyv, 0) => half * 4,
            (PixelFormat::Nv12 | PixelFormat::I420, 0) => w,
            (PixelFormat::Nv12, 1) => half * 2,
            (PixelFormat::I420, 1 | 2) => half,
            _ => 0,
        }
    }

    /// Rows in `plane` for a frame `height` pixels high (odd heights rounded up).
    pub fn plane_rows(self, plane: usize, height: u32) -> usize {
        let h = height as usize;
        match (self, plane) {
            (_, 0) => h,
            (PixelFormat::Nv12, 1) | (PixelFormat::I420, 1 | 2) => h.div_ceil(2),
            _ => 0,
        }
    }

    /// Length of a tightly packed frame (planes one after the other, no row padding).
    pub fn frame_len(self, width: u32, height: u32) -> usize {
        (0..self.plane_count())
            .map(|p| self.row_bytes(p, width) * self.plane_rows(p, height))
            .sum()
    }

    /// Lower-case name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Rgb24 => "rgb24",
            PixelFormat::Rgba => "rgba",
            PixelFormat::Bgra => "bgra",
            PixelFormat::Yuyv => "yuyv",
            PixelFormat::Nv12 => "nv12",
            PixelFormat::I420 => "i420",
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PixelFormat {
    type Err = FrameError;
    fn from_str(s: &str) -> Result<Self, FrameError> {
        PixelFormat::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| FrameError::UnknownFormat(s.to_string()))
    }
}

/// Why a frame was refused. A refused frame is never filtered: the caller gets this error and
/// a black frame (see [`PrivacyFilter::filter_bytes`](crate::PrivacyFilter::filter_bytes)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Width or height is zero.
    #[error("empty frame: {width}x{height}")]
    ZeroSize {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
    },
    /// Width or height above [`MAX_DIMENSION`].
    #[error("frame too large: {width}x{height} (at most {MAX_DIMENSION} per side)")]
    TooLarge {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
    },
    /// Odd width or height for a chroma-subsampled format.
    #[error("{format} needs an even {axis}, got {value}")]
    OddDimension {
        /// The format.
        format: PixelFormat,
        /// "width" or "height".
        axis: &'static str,
        /// The odd value.
        value: u32,
    },
    /// A row stride shorter than the row it must hold.
    #[error("plane {plane}: stride {stride} is smaller than a row ({min} bytes)")]
    StrideTooSmall {
        /// Plane index.
        plane: usize,
        /// Stride given.
        stride: usize,
        /// Bytes in one row.
        min: usize,
    },
    /// A plane (or the whole buffer) with a length the layout cannot explain.
    #[error("plane {plane}: buffer of {len} bytes, the layout needs {min}..={max}")]
    BufferLength {
        /// Plane index (0 for a single buffer).
        plane: usize,
        /// Length given.
        len: usize,
        /// Shortest acceptable length.
        min: usize,
        /// Longest acceptable length (at most one stride of padding per row).
        max: usize,
    },
    /// The number of planes given does not match the format.
    #[error("{format} has {expected} plane(s), got {got}")]
    PlaneCount {
        /// The format.
        format: PixelFormat,
        /// Planes the format has.
        expected: usize,
        /// Planes given.
        got: usize,
    },
    /// A format name that is not one of [`PixelFormat::ALL`].
    #[error("unknown pixel format {0:?} (expected rgb24, rgba, bgra, yuyv, nv12 or i420)")]
    UnknownFormat(String),
}

/// One plane of a raw frame: its bytes and its row stride.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlaneRef<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) stride: usize,
}

const EMPTY_PLANE: PlaneRef<'static> = PlaneRef {
    data: &[],
    stride: 0,
};

/// A camera frame as captured: borrowed pixels with a checked layout.
///
/// Build it with [`RawFrame::packed`], [`RawFrame::tight`] or [`RawFrame::planar`]; each checks
/// that the size is non-zero and at most [`MAX_DIMENSION`], that 4:2:2 / 4:2:0 sizes are even,
/// that strides hold a row and that every buffer has exactly the length the layout addresses
/// (up to one stride of trailing padding per row). There is no way to read the pixels back out
/// of a `RawFrame` outside this crate, and no way to turn one into a
/// [`FilteredFrame`](crate::FilteredFrame) except through a filter.
#[derive(Clone, Copy, Debug)]
pub struct RawFrame<'a> {
    width: u32,
    height: u32,
    format: PixelFormat,
    planes: [PlaneRef<'a>; 3],
}

impl<'a> RawFrame<'a> {
    /// A packed frame (RGB24, RGBA, BGRA, YUYV) whose rows are `stride` bytes apart.
    /// The last row may stop right after its pixels or run to a full stride.
    pub fn packed(
        data: &'a [u8],
        width: u32,
        height: u32,
        format: PixelFormat,
        stride: usize,
    ) -> Result<Self, FrameError> {
        if format.plane_count() != 1 {
            return Err(FrameError::PlaneCount {
                format,
                expected: format.plane_count(),
                got: 1,
            });
        }
        Self::planar(width, height, format, &[(data, stride)])
    }

    /// A frame packed with no padding: rows `row_bytes` apart, planes one after the other
    /// (Y then UV for NV12, Y then U then V for I420). `data` must be exactly
    /// [`PixelFormat::frame_len`] bytes.
    pub fn tight(
        data: &'a [u8],
        width: u32,
        height: u32,
        format: PixelFormat,
    ) -> Result<Self, FrameError> {
        check_size(width, height, format)?;
        let total = format.frame_len(width, height);
        if data.len() != total {
            return Err(FrameError::BufferLength {
                plane: 0,
                len: data.len(),
                min: total,
                max: total,
            });
        }
        let mut planes = [EMPTY_PLANE; 3];
        let mut offset = 0;
        for (p, plane) in planes.iter_mut().enumerate().take(format.plane_count()) {
            let stride = format.row_bytes(p, width);
            let len = stride * format.plane_rows(p, height);
            *plane = PlaneRef {
                data: &data[offset..offset + len],
                stride,
            };
            offset += len;
        }
        Ok(RawFrame {
            width,
            height,
            format,
            planes,
        })
    }

    /// A frame given plane by plane, each as `(bytes, stride)`: one plane for packed formats,
    /// (Y, UV) for NV12, (Y, U, V) for I420.
    pub fn planar(
        width: u32,
        height: u32,
        format: PixelFormat,
        planes: &[(&'a [u8], usize)],
    ) -> Result<Self, FrameError> {
        check_size(width, height, format)?;
        if planes.len() != format.plane_count() {
            return Err(FrameError::PlaneCount {
                format,
                expected: format.plane_count(),
                got: planes.len(),
            });
        }
        let mut out = [EMPTY_PLANE; 3];
        for (p, &(data, stride)) in planes.iter().enumerate() {
            let row = format.row_bytes(p, width);
            let rows = format.plane_rows(p, height);
            if stride < row {
                return Err(FrameError::StrideTooSmall {
                    plane: p,
                    stride,
                    min: row,
                });
            }
            // rows >= 1 and stride <= len are checked before multiplying, so no overflow:
            // a stride larger than the buffer is already a length error.
            let min = stride
                .checked_mul(rows - 1)
                .and_then(|v| v.checked_add(row));
            let max = stride.checked_mul(rows);
            match (min, max) {
                (Some(min), Some(max)) if data.len() >= min && data.len() <= max => {}
                _ => {
                    return Err(FrameError::BufferLength {
                        plane: p,
                        len: data.len(),
                        min: min.unwrap_or(usize::MAX),
                        max: max.unwrap_or(usize::MAX),
                    })
                }
            }
            out[p] = PlaneRef { data, stride };
        }
        Ok(RawFrame {
            width,
            height,
            format,
            planes: out,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Pixel format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Copies the pixels into `out` as a tight frame (see [`RawFrame::tight`]), reusing its
    /// allocation.
    pub(crate) fn copy_tight(&self, out: &mut Vec<u8>) {
        out.clear();
        for p in 0..self.format.plane_count() {
            let plane = self.planes[p];
            let row = self.format.row_bytes(p, self.width);
            let rows = self.format.plane_rows(p, self.height);
            if plane.stride == row {
                out.extend_from_slice(&plane.data[..row * rows]);
            } else {
                for r in 0..rows {
                    let start = r * plane.stride;
                    out.extend_from_slice(&plane.data[start..start + row]);
                }
            }
        }
    }
}

fn check_size(width: u32, height: u32, format: PixelFormat) -> Result<(), FrameError> {
    if width == 0 || height == 0 {
        return Err(FrameError::ZeroSize { width, height });
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(FrameError::TooLarge { width, height });
    }
    if format.needs_even_width() && width % 2 == 1 {
        return Err(FrameError::OddDimension {
            format,
            axis: "width",
            value: width,
        });
    }
    if format.needs_even_height() && height % 2 == 1 {
        return Err(FrameError::OddDimension {
            format,
            axis: "height",
            value: height,
        });
    }
    Ok(())
}

/// Offsets of the planes of a tight frame.
pub(crate) fn tight_offsets(format: PixelFormat, width: u32, height: u32) -> [usize; 3] {
    let mut offsets = [0; 3];
    let mut offset = 0;
    for (p, o) in offsets.iter_mut().enumerate().take(format.plane_count()) {
        *o = offset;
        offset += format.row_bytes(p, width) * format.plane_rows(p, height);
    }
    offsets
}

/// Fills a tight frame buffer with black (#000000; Y = 0, U = V = 128; A = 255).
pub(crate) fn fill_black(format: PixelFormat, width: u32, height: u32, buf: &mut [u8]) {
    match format {
        PixelFormat::Rgb24 => buf.fill(0),
        PixelFormat::Rgba | PixelFormat::Bgra => {
            for px in buf.chunks_exact_mut(4) {
                px.copy_from_slice(&[0, 0, 0, 255]);
            }
        }
        PixelFormat::Yuyv => {
            for px in buf.chunks_exact_mut(4) {
                px.copy_from_slice(&[0, 128, 0, 128]);
            }
        }
        PixelFormat::Nv12 | PixelFormat::I420 => {
            let luma = (width as usize * height as usize).min(buf.len());
            buf[..luma].fill(0);
            buf[luma..].fill(128);
        }
    }
}

/// Whether a tight frame buffer is entirely black as written by this crate.
pub(crate) fn is_black(format: PixelFormat, width: u32, height: u32, buf: &[u8]) -> bool {
    match format {
        PixelFormat::Rgb24 => buf.iter().all(|&b| b == 0),
        PixelFormat::Rgba | PixelFormat::Bgra => buf.chunks_exact(4).all(|p| p[..3] == [0, 0, 0]),
        PixelFormat::Yuyv => buf.chunks_exact(4).all(|p| p == [0, 128, 0, 128]),
        PixelFormat::Nv12 | PixelFormat::I420 => {
            let luma = (width as usize * height as usize).min(buf.len());
            buf[..luma].iter().all(|&b| b == 0) && buf[luma..].iter().all(|&b| b == 128)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tight_lengths() {
        assert_eq!(PixelFormat::Rgb24.frame_len(4, 2), 24);
        assert_eq!(PixelFormat::Yuyv.frame_len(4, 2), 16);
        assert_eq!(PixelFormat::Nv12.frame_len(4, 2), 12);
        assert_eq!(PixelFormat::I420.frame_len(4, 2), 12);
    }

    #[test]
    fn strided_copy_drops_padding() {
        let data: Vec<u8> = (0..2 * 8).map(|v| v as u8).collect();
        let frame = RawFrame::packed(&data[..14], 2, 2, PixelFormat::Rgb24, 8).unwrap();
        let mut out = Vec::new();
        frame.copy_tight(&mut out);
        assert_eq!(out, [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]);
    }

    #[test]
    fn format_names_round_trip() {
        for f in PixelFormat::ALL {
            assert_eq!(f.name().parse::<PixelFormat>().unwrap(), f);
        }
        assert!("xrgb".parse::<PixelFormat>().is_err());
    }
}
