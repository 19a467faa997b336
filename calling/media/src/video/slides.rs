//! [`SyntheticScreen`]: a screen share for tests and the demo, where no display exists.

use std::time::Instant;

use super::screen::{ContentScaler, ScreenKind, ScreenTarget, SCREEN_FPS};
use super::source::Pacer;
use super::{ScreenFrame, ScreenSource, VideoError};

/// The synthetic screen's id in [`ScreenTarget`]s.
pub const SYNTHETIC_SCREEN_ID: u32 = 1;
/// Paper white of the slide.
const PAPER: [u8; 4] = [250, 250, 250, 255];
/// The title bar's colour (dark blue, saturated: never mistaken for black or grey).
const TITLE: [u8; 4] = [20, 60, 160, 255];
/// "Text" lines: dark grey strokes.
const INK: [u8; 4] = [40, 40, 40, 255];
/// A new slide every this many frames (two seconds at [`SCREEN_FPS`]).
const FRAMES_PER_SLIDE: u64 = 10;

/// A slide deck: white pages with a blue title bar and lines of "text" whose lengths change
/// from slide to slide, and a progress bar along the bottom that grows every frame. Mostly
/// static, like a real shared document, so it exercises the encoder's screen-content mode.
///
/// Paced at its frame rate by default; [`paced(false)`](Self::paced) returns at once.
#[derive(Debug)]
pub struct SyntheticScreen {
    width: u32,
    height: u32,
    pacer: Pacer,
    scaler: ContentScaler,
}

impl SyntheticScreen {
    /// A `width x height` deck at [`SCREEN_FPS`] (sizes are made even, at least 16).
    pub fn new(width: u32, height: u32) -> SyntheticScreen {
        let side = |v: u32| v.clamp(16, 4096) & !1;
        SyntheticScreen {
            width: side(width),
            height: side(height),
            pacer: Pacer::new(SCREEN_FPS, 1),
            scaler: ContentScaler::new(),
        }
    }

    /// Real-time pacing on (default) or off (tests, benchmarks).
    pub fn paced(mut self, paced: bool) -> SyntheticScreen {
        self.pacer.set_paced(paced);
        self
    }

    /// How the synthetic screen appears in a screen picker.
    pub fn target(width: u32, height: u32) -> ScreenTarget {
        ScreenTarget {
            kind: ScreenKind::Screen,
            id: SYNTHETIC_SCREEN_ID,
            name: "Demo slides".to_owned(),
            width,
            height,
        }
    }

    fn draw(&self, frame: u64) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let slide = frame / FRAMES_PER_SLIDE;
        let title_rows = h / 8;
        let line_height = (h / 24).max(2);
        let margin = w / 12;
        let progress = ((frame % FRAMES_PER_SLIDE + 1) as usize * w) / FRAMES_PER_SLIDE as usize;
        let mut rgba = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            for x in 0..w {
                let pixel = if y < title_rows {
                    TITLE
                } else if y >= h - line_height / 2 {
                    if x < progress {
                        TITLE
                    } else {
                        PAPER
                    }
                } else {
                    let line = (y - title_rows) / (line_height * 2);
                    let in_stroke = (y - title_rows) % (line_height * 2) < line_height;
                    // Each line's length (3 to 10 tenths of the text width) depends on the
                    // slide and the line, scrambled: text reflows from slide to slide.
                    let mix = (line as u64 + 1).wrapping_mul(0x9E37_79B9)
                        ^ slide.wrapping_mul(0x85EB_CA6B);
                    let tenths = 3 + (mix >> 7) % 8;
                    let length = margin + tenths as usize * (w - 2 * margin) / 10;
                    if in_stroke && x >= margin && x < length {
                        INK
                    } else {
                        PAPER
                    }
                };
                rgba.extend_from_slice(&pixel);
            }
        }
        rgba
    }
}

impl ScreenSource for SyntheticScreen {
    fn read_frame(&mut self) -> Result<ScreenFrame, VideoError> {
        let slot = self.pacer.wait();
        let rgba = self.draw(slot);
        self.scaler
            .frame(rgba, self.width, self.height, Instant::now())
    }

    fn describe(&self) -> String {
        format!("demo slides {}x{}", self.width, self.height)
    }

    fn fps(&self) -> u32 {
        self.pacer.fps()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slides_are_bright_and_change_from_slide_to_slide() {
        let mut screen = SyntheticScreen::new(320, 180).paced(false);
        let first = screen.read_frame().unwrap();
        assert_eq!((first.width(), first.height()), (320, 180));
        let mean = first.rgba().iter().map(|&v| u64::from(v)).sum::<u64>() as f64
            / first.rgba().len() as f64;
        assert!(mean > 150.0, "a page is mostly paper: mean {mean}");
        let frames: Vec<_> = (1..FRAMES_PER_SLIDE * 2)
            .map(|_| screen.read_frame().unwrap())
            .collect();
        assert_ne!(first.rgba(), frames[0].rgba(), "progress moves every frame");
        assert_ne!(first.rgba(), frames.last().unwrap().rgba());
    }
}
