//! The optional static placeholder image that replaces every camera frame.
//!
//! It is not a way around the filter: the rendered placeholder passes through the same
//! person segmentation as a camera frame before it is sent, and if that fails the frame is
//! black.

use std::path::Path;
use std::sync::Arc;

use crate::convert::pack_rgb;
use crate::frame::{FrameError, PixelFormat, MAX_DIMENSION};
use crate::resize::Downscaler;

/// An RGB image sent instead of the camera picture.
#[derive(Clone, Debug)]
pub struct Placeholder {
    width: u32,
    height: u32,
    rgb: Arc<Vec<u8>>,
}

impl Placeholder {
    /// A placeholder from `width * height * 3` RGB bytes.
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<u8>) -> Result<Placeholder, FrameError> {
        if width == 0 || height == 0 {
            return Err(FrameError::ZeroSize { width, height });
        }
        if width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(FrameError::TooLarge { width, height });
        }
        let len = width as usize * height as usize * 3;
        if rgb.len() != len {
            return Err(FrameError::BufferLength {
                plane: 0,
                len: rgb.len(),
                min: len,
                max: len,
            });
        }
        Ok(Placeholder {
            width,
            height,
            rgb: Arc::new(rgb),
        })
    }

    /// A placeholder read from a PNG or JPEG file.
    pub fn open(path: &Path) -> Result<Placeholder, PlaceholderError> {
        let img = image::open(path)?.to_rgb8();
        let (w, h) = img.dimensions();
        Ok(Placeholder::from_rgb(w, h, img.into_raw())?)
    }

    /// The image squashed to `width x height` and packed in `format` (tight layout).
    pub(crate) fn render(&self, width: u32, height: u32, format: PixelFormat) -> Vec<u8> {
        let mut down = Downscaler::default();
        down.run(
            PixelFormat::Rgb24,
            self.width,
            self.height,
            &self.rgb,
            width,
            height,
        );
        pack_rgb(&down.rgb, width, height, format)
    }
}

/// Why a placeholder file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlaceholderError {
    /// Not a readable PNG/JPEG.
    #[error("cannot read the placeholder image: {0}")]
    Image(#[from] image::ImageError),
    /// Unusable size.
    #[error("unusable placeholder image: {0}")]
    Frame(#[from] FrameError),
}
