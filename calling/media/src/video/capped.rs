//! A screen share held to a height: a conference plan caps screen shares (720p on the free
//! plan, 1080p on paid ones), so frames taller than the cap are scaled down before they
//! are encoded.

use super::screen::{ContentScaler, ScreenFrame, ScreenSource, MIN_SCREEN_SIDE};
use super::VideoError;

/// `inner`'s frames, scaled down (aspect kept, sides even) to at most `max_height` rows.
pub struct HeightCappedScreen<S> {
    inner: S,
    max_height: u32,
    scaler: ContentScaler,
}

impl<S: ScreenSource> HeightCappedScreen<S> {
    /// Caps `inner` at `max_height` (at least [`MIN_SCREEN_SIDE`]).
    pub fn new(inner: S, max_height: u32) -> Self {
        Self {
            inner,
            max_height: max_height.max(MIN_SCREEN_SIDE) & !1,
            scaler: ContentScaler::new(),
        }
    }
}

impl<S: ScreenSource> ScreenSource for HeightCappedScreen<S> {
    fn read_frame(&mut self) -> Result<ScreenFrame, VideoError> {
        let frame = self.inner.read_frame()?;
        let (width, height) = (frame.width(), frame.height());
        if height <= self.max_height {
            return Ok(frame);
        }
        let h = self.max_height;
        let w = ((u64::from(width) * u64::from(h) / u64::from(height)) as u32) & !1;
        if w < MIN_SCREEN_SIDE {
            return Err(VideoError::Screen(format!(
                "{width}x{height} is too narrow to share at {h} pixels high"
            )));
        }
        let rgba = self.scaler.downscale(frame.rgba(), width, height, w, h)?;
        Ok(ScreenFrame::from_parts(w, h, rgba, frame.captured_at()))
    }

    fn describe(&self) -> String {
        format!("{} (at most {}p)", self.inner.describe(), self.max_height)
    }

    fn fps(&self) -> u32 {
        self.inner.fps()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    struct Fixed(u32, u32);

    impl ScreenSource for Fixed {
        fn read_frame(&mut self) -> Result<ScreenFrame, VideoError> {
            let rgba = [90, 90, 90, 255].repeat((self.0 * self.1) as usize);
            Ok(ScreenFrame::from_parts(
                self.0,
                self.1,
                rgba,
                Instant::now(),
            ))
        }
        fn describe(&self) -> String {
            "fixed".into()
        }
        fn fps(&self) -> u32 {
            5
        }
    }

    #[test]
    fn taller_frames_are_scaled_to_the_cap_and_smaller_ones_pass() {
        let mut capped = HeightCappedScreen::new(Fixed(1920, 1080), 720);
        let frame = capped.read_frame().unwrap();
        assert_eq!((frame.width(), frame.height()), (1280, 720));
        assert_eq!(frame.rgba().len(), 1280 * 720 * 4);
        // A flat picture stays flat (bilinear rounding aside).
        assert!(frame.rgba()[..4]
            .iter()
            .zip([90, 90, 90, 255])
            .all(|(a, b)| a.abs_diff(b) <= 1));
        let mut small = HeightCappedScreen::new(Fixed(800, 600), 720);
        let frame = small.read_frame().unwrap();
        assert_eq!((frame.width(), frame.height()), (800, 600));
        assert_eq!(capped.describe(), "fixed (at most 720p)");
    }
}
