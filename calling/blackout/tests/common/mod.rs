//! Test segmenters (fault injection and scripted masks) and helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use blackout::{
    BlackoutFilter, FilterConfig, FilteredFrame, ModelError, PixelFormat, RgbImage, SegmentError,
    Segmenter,
};

/// Always fails.
pub struct ErrorSegmenter;
impl Segmenter for ErrorSegmenter {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (32, 32)
    }
    fn segment(&mut self, _: RgbImage<'_>, _: &mut [u8]) -> Result<(), SegmentError> {
        Err(SegmentError("injected inference error".into()))
    }
}

/// Panics inside inference.
pub struct PanicSegmenter;
impl Segmenter for PanicSegmenter {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (32, 32)
    }
    fn segment(&mut self, _: RgbImage<'_>, _: &mut [u8]) -> Result<(), SegmentError> {
        panic!("injected panic inside inference");
    }
}

/// Sleeps `delay` while `slow` is set, then reports "no person anywhere" (so a frame that
/// came out of it on time would show the input unchanged).
pub struct SleepySegmenter {
    pub delay: Duration,
    pub slow: Arc<AtomicBool>,
}
impl Segmenter for SleepySegmenter {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (32, 32)
    }
    fn segment(&mut self, _: RgbImage<'_>, mask: &mut [u8]) -> Result<(), SegmentError> {
        if self.slow.load(Ordering::SeqCst) {
            std::thread::sleep(self.delay);
        }
        mask.fill(0);
        Ok(())
    }
}

/// A scripted mask: for frame `n` (counted from 0), `script(n, x, y)` is the probability
/// (0..=255) at mask pixel (x, y) of a `size x size` mask.
pub struct ScriptSegmenter<F> {
    pub size: u32,
    pub script: F,
    pub frame: Arc<AtomicUsize>,
}
impl<F: FnMut(usize, u32, u32) -> u8 + Send> Segmenter for ScriptSegmenter<F> {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (self.size, self.size)
    }
    fn segment(&mut self, image: RgbImage<'_>, mask: &mut [u8]) -> Result<(), SegmentError> {
        let n = self.frame.fetch_add(1, Ordering::SeqCst);
        for y in 0..image.height {
            for x in 0..image.width {
                mask[(y * image.width + x) as usize] = (self.script)(n, x, y);
            }
        }
        Ok(())
    }
}

/// A filter around `segmenter` with a deadline that debug builds meet.
pub fn filter_with<S: Segmenter + 'static>(config: FilterConfig, segmenter: S) -> BlackoutFilter {
    BlackoutFilter::with_segmenter(config, move || {
        Ok::<Box<dyn Segmenter>, ModelError>(Box::new(segmenter))
    })
}

/// Config with a relaxed deadline (behaviour tests, not timing tests).
pub fn relaxed() -> FilterConfig {
    FilterConfig {
        deadline: Duration::from_secs(10),
        stall_limit: Duration::from_secs(20),
        ..FilterConfig::default()
    }
}

/// An RGB24 frame with no black pixel: a gradient of non-zero values.
pub fn bright_rgb(width: u32, height: u32) -> Vec<u8> {
    (0..width * height * 3)
        .map(|i| 40 + (i % 200) as u8)
        .collect()
}

/// Asserts that every pixel is black, decoding the bytes independently of the crate.
pub fn assert_all_black(frame: &FilteredFrame) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let data = frame.data();
    match frame.format() {
        PixelFormat::Rgb24 => {
            assert!(data.iter().all(|&b| b == 0), "a pixel is not #000000")
        }
        PixelFormat::Rgba | PixelFormat::Bgra => {
            assert!(data
                .chunks_exact(4)
                .all(|p| p[..3] == [0, 0, 0] && p[3] == 255))
        }
        PixelFormat::Yuyv => assert!(data.chunks_exact(4).all(|p| p == [0, 128, 0, 128])),
        PixelFormat::Nv12 | PixelFormat::I420 => {
            assert!(
                data[..w * h].iter().all(|&b| b == 0),
                "a luma sample is not 0"
            );
            assert!(
                data[w * h..].iter().all(|&b| b == 128),
                "a chroma sample is not 128"
            );
        }
    }
    assert_eq!(
        data.len(),
        frame.format().frame_len(frame.width(), frame.height())
    );
}
