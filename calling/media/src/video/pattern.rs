//! [`TestPatternSource`]: a synthetic camera for tests and the demo.

use std::time::Instant;

use blackout::{PixelFormat, MAX_DIMENSION};

use super::convert::rgb_to_yuv;
use super::source::Pacer;
use super::{CapturedFrame, VideoError, VideoSource};

/// Colours of the scrolling bars (RGB): saturated and bright, so that a black frame can never
/// be mistaken for the pattern, whichever part of it a test looks at.
const BARS: [[u8; 3]; 8] = [
    [192, 192, 192],
    [192, 192, 0],
    [0, 192, 192],
    [0, 192, 0],
    [192, 0, 192],
    [192, 0, 0],
    [0, 0, 192],
    [96, 96, 96],
];
/// Bars scroll left this many pixels per frame.
const BAR_SPEED: usize = 4;
/// The bright box moves this many pixels per frame on each axis (and bounces).
const BOX_SPEED: (usize, usize) = (7, 5);
/// Luma of the white box and of the light checker squares (BT.601 limited-range white).
const WHITE: u8 = 235;
/// Luma of the dark checker squares (limited-range black).
const DARK: u8 = 16;
/// Noise patch luma: `NOISE_BASE + 0..NOISE_SPAN`, mid grey. Faint enough that a low bitrate
/// can still code it, strong enough that a high one has detail to spend bits on.
const NOISE_BASE: u8 = 104;
const NOISE_SPAN: u8 = 48;
/// Side of a checker square, in pixels.
const CHECKER: usize = 8;

/// A moving, colourful test picture in I420 (what the encoder takes, so no conversion):
/// colour bars scrolling left, a fine moving checkerboard along the bottom quarter, a patch
/// of grey noise redrawn every frame (detail no prediction removes, so bitrate changes show
/// in the frame sizes), and a bright white box bouncing around. Consecutive frames always
/// differ.
///
/// Paced in real time at its frame rate by default; [`paced(false)`](Self::paced) makes
/// [`read_frame`](VideoSource::read_frame) return at once (tests, benchmarks). The picture
/// depends only on the frame's slot index, so unpaced runs are reproducible.
#[derive(Debug)]
pub struct TestPatternSource {
    width: u32,
    height: u32,
    pacer: Pacer,
    /// YUV of each bar colour.
    bars: [[u8; 3]; 8],
}

impl TestPatternSource {
    /// A `width x height` pattern at `fps`. Never fails: sizes are made even (4:2:0) and kept
    /// within 2..=[`MAX_DIMENSION`], and `fps` is at least 1.
    pub fn new(width: u32, height: u32, fps: u32) -> TestPatternSource {
        let fit = |v: u32| (v.clamp(2, MAX_DIMENSION)) & !1;
        TestPatternSource {
            width: fit(width),
            height: fit(height),
            pacer: Pacer::new(fps, 1),
            bars: BARS.map(rgb_to_yuv),
        }
    }

    /// Turns real-time pacing on (the default) or off.
    pub fn paced(mut self, paced: bool) -> TestPatternSource {
        self.pacer.set_paced(paced);
        self
    }

    /// The picture of frame `index` (the `index`-th frame slot since the start), as I420.
    pub fn render(&self, index: u64) -> CapturedFrame {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w / 2, h / 2);
        let n = index as usize;
        let mut data = vec![0u8; PixelFormat::I420.frame_len(self.width, self.height)];
        let (luma, chroma) = data.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);

        // Bars: one row of YUV per frame, copied down; chroma at half resolution.
        let shift = n.wrapping_mul(BAR_SPEED) % w;
        let bar = |x: usize| self.bars[((x + shift) % w) * BARS.len() / w];
        let y_row: Vec<u8> = (0..w).map(|x| bar(x)[0]).collect();
        let u_row: Vec<u8> = (0..cw).map(|x| bar(2 * x)[1]).collect();
        let v_row: Vec<u8> = (0..cw).map(|x| bar(2 * x)[2]).collect();
        for row in luma.chunks_exact_mut(w) {
            row.copy_from_slice(&y_row);
        }
        for (u, v) in u_plane
            .chunks_exact_mut(cw)
            .zip(v_plane.chunks_exact_mut(cw))
        {
            u.copy_from_slice(&u_row);
            v.copy_from_slice(&v_row);
        }

        // Checkerboard along the bottom quarter, moving right (neutral chroma: grey).
        let top = h - h / 4;
        for y in top..h {
            for (x, px) in luma[y * w..][..w].iter_mut().enumerate() {
                let light = ((x + w - n % w) / CHECKER + y / CHECKER).is_multiple_of(2);
                *px = if light { WHITE } else { DARK };
            }
        }
        for cy in top / 2..ch {
            u_plane[cy * cw..][..cw].fill(128);
            v_plane[cy * cw..][..cw].fill(128);
        }

        // Noise patch, new every frame: no prediction removes it, so the rate control spends
        // whatever bitrate it is given (a clean synthetic picture would not show a change).
        let (nx, ny, nw, nh) = ((w / 16) & !1, (h / 12) & !1, (w / 4) & !1, (h / 4) & !1);
        let mut state = (index ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1;
        for y in ny..ny + nh {
            for px in &mut luma[y * w + nx..][..nw] {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *px = NOISE_BASE + (state >> 56) as u8 % NOISE_SPAN;
            }
        }
        for cy in ny / 2..(ny + nh) / 2 {
            u_plane[cy * cw + nx / 2..][..nw / 2].fill(128);
            v_plane[cy * cw + nx / 2..][..nw / 2].fill(128);
        }

        // The white box, bouncing: even position and size so it covers whole chroma samples.
        let side = (w.min(h) / 5).max(2) & !1;
        let bounce = |travel: usize, speed: usize| {
            let range = (travel - side).max(1);
            let p = n.wrapping_mul(speed) % (2 * range);
            (if p < range { p } else { 2 * range - p }) & !1
        };
        let (bx, by) = (bounce(w, BOX_SPEED.0), bounce(h, BOX_SPEED.1));
        for y in by..(by + side).min(h) {
            luma[y * w + bx..][..side.min(w - bx)].fill(WHITE);
        }
        for cy in by / 2..((by + side) / 2).min(ch) {
            let len = (side / 2).min(cw - bx / 2);
            u_plane[cy * cw + bx / 2..][..len].fill(128);
            v_plane[cy * cw + bx / 2..][..len].fill(128);
        }

        CapturedFrame {
            width: self.width,
            height: self.height,
            format: PixelFormat::I420,
            data,
            captured_at: Instant::now(),
        }
    }
}

impl VideoSource for TestPatternSource {
    fn read_frame(&mut self) -> Result<CapturedFrame, VideoError> {
        let slot = self.pacer.wait();
        Ok(self.render(slot))
    }

    fn describe(&self) -> String {
        format!(
            "test pattern {}x{} @ {} fps",
            self.width,
            self.height,
            self.pacer.fps()
        )
    }

    fn resolution(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn fps(&self) -> u32 {
        self.pacer.fps()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_made_usable() {
        assert_eq!(TestPatternSource::new(641, 0, 0).resolution(), (640, 2));
        assert_eq!(TestPatternSource::new(641, 0, 0).fps(), 1);
        assert_eq!(
            TestPatternSource::new(u32::MAX, 3, 30).resolution(),
            (MAX_DIMENSION, 2)
        );
        // Tiny and huge indices render without panicking.
        for (w, h) in [(2, 2), (4, 6), (1280, 720)] {
            let p = TestPatternSource::new(w, h, 24);
            for n in [0, 1, 1000, u64::MAX] {
                let f = p.render(n);
                assert!(f.as_raw().is_ok());
            }
        }
    }
}
