//! [`FilteredFrame`]: the only frame type an encoder, a socket, a file or a remote preview
//! accepts.
//!
//! Its fields are private and it has exactly one public constructor, [`FilteredFrame::black`].
//! Every other `FilteredFrame` comes out of a [`PrivacyFilter`](crate::PrivacyFilter) of this
//! crate. There is no `From<RawFrame>`, no `DerefMut` and no `&mut` access to its pixels.
//!
//! ```compile_fail
//! // A raw frame cannot be converted into a filtered one...
//! use blackout::{FilteredFrame, PixelFormat, RawFrame};
//! let pixels = vec![255u8; 4 * 4 * 3];
//! let raw = RawFrame::tight(&pixels, 4, 4, PixelFormat::Rgb24).unwrap();
//! let _leak: FilteredFrame = FilteredFrame::from(raw);
//! ```
//!
//! ```compile_fail
//! // ...nor built from raw pixels: its fields are private.
//! use blackout::{FilteredFrame, PixelFormat};
//! let _leak = FilteredFrame { width: 4, height: 4, format: PixelFormat::Rgb24, data: vec![255u8; 48] };
//! ```
//!
//! ```compile_fail
//! // ...nor painted over after filtering.
//! use blackout::{FilteredFrame, PixelFormat};
//! let mut frame = FilteredFrame::black(4, 4, PixelFormat::Rgb24);
//! frame.data_mut()[0] = 255;
//! ```

use std::sync::{Arc, Mutex};

use crate::frame::{fill_black, is_black, tight_offsets, PixelFormat, MAX_DIMENSION};

/// How a [`FilteredFrame`] came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameOrigin {
    /// A camera frame whose person pixels were painted black by the segmentation pipeline.
    Filtered,
    /// The static placeholder image (itself passed through the person filter).
    Placeholder,
    /// An all-black frame: blackout is off, unavailable, late, or the input was refused.
    Black,
}

/// A frame that is safe to send: it passed the blackout filter, or it is entirely black.
///
/// Pixels are stored tightly packed (see [`RawFrame::tight`](crate::RawFrame::tight)) in the
/// input's format. Read them with [`data`](Self::data) or [`plane`](Self::plane).
pub struct FilteredFrame {
    width: u32,
    height: u32,
    format: PixelFormat,
    origin: FrameOrigin,
    data: Vec<u8>,
    pool: Option<Arc<BufferPool>>,
}

impl FilteredFrame {
    /// An all-black frame (#000000; Y = 0, U = V = 128 in YUV; A = 255). Always succeeds:
    /// sizes above [`MAX_DIMENSION`] are clamped to it, odd sizes of subsampled formats round
    /// the chroma planes up, and a zero size gives an empty frame.
    pub fn black(width: u32, height: u32, format: PixelFormat) -> FilteredFrame {
        Self::black_in(width, height, format, Vec::new(), None)
    }

    /// A black frame in a buffer from `pool` (no allocation in steady state).
    pub(crate) fn black_pooled(
        width: u32,
        height: u32,
        format: PixelFormat,
        pool: &Arc<BufferPool>,
    ) -> FilteredFrame {
        Self::black_in(width, height, format, pool.take(), Some(pool.clone()))
    }

    /// Paints `data` (reused, resized) black and wraps it as a black frame.
    fn black_in(
        width: u32,
        height: u32,
        format: PixelFormat,
        mut data: Vec<u8>,
        pool: Option<Arc<BufferPool>>,
    ) -> FilteredFrame {
        let (width, height) = (width.min(MAX_DIMENSION), height.min(MAX_DIMENSION));
        data.clear();
        data.resize(format.frame_len(width, height), 0);
        fill_black(format, width, height, &mut data);
        FilteredFrame {
            width,
            height,
            format,
            origin: FrameOrigin::Black,
            data,
            pool,
        }
    }

    /// Wraps a tight buffer that the pipeline has filtered (or rendered from the placeholder).
    /// Crate-private: only the pipeline may vouch for pixels.
    pub(crate) fn from_pipeline(
        width: u32,
        height: u32,
        format: PixelFormat,
        origin: FrameOrigin,
        data: Vec<u8>,
        pool: Option<Arc<BufferPool>>,
    ) -> FilteredFrame {
        debug_assert_eq!(data.len(), format.frame_len(width, height));
        FilteredFrame {
            width,
            height,
            format,
            origin,
            data,
            pool,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Pixel format (the input frame's).
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Whether this frame was filtered, is the placeholder, or is a black fallback.
    pub fn origin(&self) -> FrameOrigin {
        self.origin
    }

    /// All pixels, tightly packed: planes one after the other, no row padding.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// One plane (`0` = the packed pixels or Y; `1` = UV or U; `2` = V) and its stride.
    pub fn plane(&self, index: usize) -> Option<(&[u8], usize)> {
        if index >= self.format.plane_count() {
            return None;
        }
        let offsets = tight_offsets(self.format, self.width, self.height);
        let stride = self.format.row_bytes(index, self.width);
        let len = stride * self.format.plane_rows(index, self.height);
        Some((&self.data[offsets[index]..offsets[index] + len], stride))
    }

    /// Whether every pixel is black (#000000).
    pub fn is_all_black(&self) -> bool {
        is_black(self.format, self.width, self.height, &self.data)
    }
}

impl Clone for FilteredFrame {
    fn clone(&self) -> Self {
        FilteredFrame {
            width: self.width,
            height: self.height,
            format: self.format,
            origin: self.origin,
            data: self.data.clone(),
            pool: None,
        }
    }
}

impl std::fmt::Debug for FilteredFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilteredFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Drop for FilteredFrame {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give(std::mem::take(&mut self.data));
        }
    }
}

/// Frame buffers handed back by dropped [`FilteredFrame`]s, so that steady-state filtering
/// allocates nothing. Buffers go back uncleared: the next user overwrites them entirely.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// Buffers kept for reuse: one in the encoder, one in the worker, one being captured, one
/// spare. More would only hold memory (a 1280x720 RGBA frame is 3.7 MB).
const POOL_CAPACITY: usize = 4;

impl BufferPool {
    /// A buffer to fill (possibly empty, possibly holding old pixels).
    pub(crate) fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_default()
    }

    /// Returns a buffer for reuse.
    pub(crate) fn give(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            if free.len() < POOL_CAPACITY {
                free.push(buf);
            }
        }
    }
}
