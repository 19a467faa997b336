//! The motion mask: what changed since the frame the person detector last looked at is black
//! until the detector has looked again (issue 13, people walking in).
//!
//! The detector runs every few frames and takes several frames to answer, so a person who
//! walks in is visible to it only after a delay. The motion mask closes that gap on every
//! frame, at the segmenter's input resolution, on a coarse grid of cells:
//!
//! * the reference is the frame the newest detector result was computed on (its image is kept
//!   when the frame is handed to the detector). Everything that looks as it did then has been
//!   judged by the detector (boxed or found empty); a cell whose colour changed markedly since
//!   is not yet judged and is painted black, with its neighbours (a person's edge may sit in a
//!   cell that has not changed enough yet);
//! * a marked cell remembers the frame of its last change and stays black until a detector
//!   result computed on that frame or a newer one has arrived: it is released by evidence,
//!   never by time;
//! * when most of the frame changed (camera moved, lights switched) or there is no reference
//!   (first frame, new frame size) every cell is marked: the whole frame is black until the
//!   detector has seen the new scene. Covering too much is the safe side.

/// Settings of the motion mask (part of [`DetectorConfig`](crate::DetectorConfig)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionConfig {
    /// Side of a cell, in pixels of the segmenter's input (default 10: a 26x26 grid for the
    /// general model, 26x15 for the landscape one; with `spread` 1 a change is covered 10 to
    /// 20 px around, 4-8 % of the width). Clamped to 1..=64. 8 left a strip of one entering
    /// person's box visible on the clip (README).
    pub cell: u32,
    /// Difference (0..255) from the reference in any of R, G, B at which a pixel counts as
    /// changed (default 24: well above sensor and compression noise, well below a person
    /// against a wall; per channel, so that blue jeans on a yellow kerb of the same luma
    /// count). 0 counts every pixel as changed.
    pub pixel_threshold: u8,
    /// Changed pixels that make a cell count as changed (default 3, of 100). At least 1.
    pub min_changed: u32,
    /// Cells around a changed cell that are marked too, on each side (default 1).
    pub spread: u32,
    /// Share of changed cells (0..=1) from which the whole frame is marked (default 0.5).
    /// NaN marks the whole frame on every change.
    pub global_share: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            cell: 10,
            pixel_threshold: 24,
            min_changed: 3,
            spread: 1,
            global_share: 0.5,
        }
    }
}

impl MotionConfig {
    /// The settings made safe: out-of-range values are clamped toward marking more.
    fn checked(&self) -> MotionConfig {
        MotionConfig {
            cell: self.cell.clamp(1, 64),
            pixel_threshold: self.pixel_threshold,
            min_changed: self.min_changed.max(1),
            spread: self.spread.min(64),
            global_share: if self.global_share.is_nan() {
                0.0
            } else {
                self.global_share.clamp(0.0, 1.0)
            },
        }
    }
}

/// The motion mask's state across frames (one per pipeline).
#[derive(Debug)]
pub(crate) struct MotionMask {
    cfg: MotionConfig,
    /// Size of the maps, pixels of the segmenter input.
    dims: (usize, usize),
    /// Size of the grid, cells.
    grid: (usize, usize),
    /// This frame's RGB.
    rgb: Vec<u8>,
    /// RGB of frames handed to the detector, by frame number, oldest first.
    kept: Vec<(u64, Vec<u8>)>,
    /// Per cell: frame number of its last change (0: none).
    changed_at: Vec<u64>,
    counts: Vec<u32>,
}

impl MotionMask {
    pub(crate) fn new(cfg: MotionConfig) -> MotionMask {
        MotionMask {
            cfg: cfg.checked(),
            dims: (0, 0),
            grid: (0, 0),
            rgb: Vec::new(),
            kept: Vec::new(),
            changed_at: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Takes this frame's image (`mw x mh` RGB, the segmenter's input). A new size starts
    /// over: nothing seen before lines up with it.
    pub(crate) fn load(&mut self, rgb: &[u8], mw: usize, mh: usize) {
        if self.dims != (mw, mh) {
            let cell = self.cfg.cell as usize;
            self.dims = (mw, mh);
            self.grid = (mw.div_ceil(cell), mh.div_ceil(cell));
            self.kept.clear();
            self.changed_at.clear();
            self.changed_at.resize(self.grid.0 * self.grid.1, 0);
        }
        self.rgb.clear();
        self.rgb
            .extend_from_slice(&rgb[..rgb.len().min(mw * mh * 3)]);
        // A short buffer (never expected) reads as black: it differs, so it marks more.
        self.rgb.resize(mw * mh * 3, 0);
    }

    /// This frame (`frame_no`) was handed to the detector: keep its image as the reference
    /// for when its result arrives.
    pub(crate) fn keep(&mut self, frame_no: u64) {
        let mut image = if self.kept.len() >= 3 {
            self.kept.remove(0).1
        } else {
            Vec::new()
        };
        image.clear();
        image.extend_from_slice(&self.rgb);
        self.kept.push((frame_no, image));
    }

    /// Marks the cells of this frame (`frame_no`) that changed since the frame of the newest
    /// detector result (`newest`), or every cell when there is no such reference or when
    /// most of them changed.
    pub(crate) fn observe(&mut self, frame_no: u64, newest: Option<u64>) {
        // Frames older than the newest result will never be a reference again.
        if let Some(n) = newest {
            self.kept.retain(|(f, _)| *f >= n);
        }
        let reference = newest.and_then(|n| self.kept.iter().find(|(f, _)| *f == n));
        let Some((_, reference)) = reference else {
            self.changed_at.fill(frame_no);
            return;
        };
        let (mw, _) = self.dims;
        let (gw, gh) = self.grid;
        let cell = self.cfg.cell as usize;
        let threshold = self.cfg.pixel_threshold;
        self.counts.clear();
        self.counts.resize(gw * gh, 0);
        for (y, (row, ref_row)) in self
            .rgb
            .chunks_exact(mw * 3)
            .zip(reference.chunks_exact(mw * 3))
            .enumerate()
        {
            let counts = &mut self.counts[(y / cell) * gw..(y / cell + 1) * gw];
            for (x, (a, b)) in row.chunks_exact(3).zip(ref_row.chunks_exact(3)).enumerate() {
                let d = a[0]
                    .abs_diff(b[0])
                    .max(a[1].abs_diff(b[1]))
                    .max(a[2].abs_diff(b[2]));
                if d >= threshold {
                    counts[x / cell] += 1;
                }
            }
        }
        let min = self.cfg.min_changed;
        let changed = self.counts.iter().filter(|&&c| c >= min).count();
        if changed > 0 && changed as f32 >= self.cfg.global_share * (gw * gh) as f32 {
            self.changed_at.fill(frame_no);
            return;
        }
        let s = self.cfg.spread as usize;
        for cy in 0..gh {
            for cx in 0..gw {
                if self.counts[cy * gw + cx] < min {
                    continue;
                }
                for ny in cy.saturating_sub(s)..(cy + s + 1).min(gh) {
                    self.changed_at[ny * gw + cx.saturating_sub(s)..ny * gw + (cx + s + 1).min(gw)]
                        .fill(frame_no);
                }
            }
        }
    }

    /// Paints (255) every cell whose last change is newer than the frame of the newest
    /// detector result into `mask` (`mw x mh`, the size given to [`load`](Self::load)).
    pub(crate) fn paint(&self, mask: &mut [u8], newest: Option<u64>) {
        let (mw, mh) = self.dims;
        if mask.len() != mw * mh {
            // A mismatch is a bug: cover everything rather than paint the wrong cells.
            mask.fill(255);
            return;
        }
        let seen = newest.unwrap_or(0);
        let (gw, _) = self.grid;
        let cell = self.cfg.cell as usize;
        for (y, row) in mask.chunks_exact_mut(mw).enumerate() {
            let cells = &self.changed_at[(y / cell) * gw..(y / cell + 1) * gw];
            for (cx, &at) in cells.iter().enumerate() {
                if at > seen {
                    let x0 = cx * cell;
                    row[x0..(x0 + cell).min(mw)].fill(255);
                }
            }
        }
    }

    /// Number of cells painted for `newest`.
    #[cfg(test)]
    fn painted_cells(&self, newest: Option<u64>) -> usize {
        let seen = newest.unwrap_or(0);
        self.changed_at.iter().filter(|&&at| at > seen).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 64;
    const H: usize = 48;

    /// A textured grey frame (luma varies by less than the threshold between neighbours).
    fn scene() -> Vec<u8> {
        (0..W * H)
            .flat_map(|i| {
                let v = 100 + (i % 7) as u8;
                [v, v, v]
            })
            .collect()
    }

    /// `scene` with a dark block over pixels x0..x1, y0..y1.
    fn with_block(x0: usize, y0: usize, x1: usize, y1: usize) -> Vec<u8> {
        let mut f = scene();
        for y in y0..y1 {
            for x in x0..x1 {
                f[3 * (y * W + x)..3 * (y * W + x) + 3].fill(20);
            }
        }
        f
    }

    fn painted(m: &MotionMask, newest: Option<u64>) -> Vec<u8> {
        let mut mask = vec![0u8; W * H];
        m.paint(&mut mask, newest);
        mask
    }

    /// Cells of 8 px (the pixel positions below are chosen for them).
    fn config() -> MotionConfig {
        MotionConfig {
            cell: 8,
            ..MotionConfig::default()
        }
    }

    /// Frame 1 loaded, kept and judged by the detector: the reference.
    fn judged() -> MotionMask {
        let mut m = MotionMask::new(config());
        m.load(&scene(), W, H);
        m.keep(1);
        m.observe(1, Some(1));
        m
    }

    #[test]
    fn without_a_reference_everything_is_black_until_a_result_for_it() {
        let mut m = MotionMask::new(config());
        m.load(&scene(), W, H);
        m.observe(1, None);
        assert!(painted(&m, None).iter().all(|&v| v == 255));
        // A result for a frame we have no image of gives no reference either.
        m.observe(2, Some(1));
        assert!(painted(&m, Some(1)).iter().all(|&v| v == 255));
        m.keep(3);
        m.observe(3, Some(3));
        assert!(painted(&m, Some(3)).iter().all(|&v| v == 0));
    }

    #[test]
    fn an_unchanged_frame_paints_nothing() {
        let mut m = judged();
        m.load(&scene(), W, H);
        m.observe(2, Some(1));
        assert_eq!(m.painted_cells(Some(1)), 0);
    }

    #[test]
    fn a_change_is_black_with_its_neighbour_cells_and_nothing_far_away() {
        let mut m = judged();
        // Pixels 20..28 x 20..28: cells (2..4, 2..4) of 8 px, spread by one cell.
        m.load(&with_block(20, 20, 28, 28), W, H);
        m.observe(2, Some(1));
        let mask = painted(&m, Some(1));
        let at = |x: usize, y: usize| mask[y * W + x];
        for y in 20..28 {
            for x in 20..28 {
                assert_eq!(at(x, y), 255, "changed pixel {x},{y} not painted");
            }
        }
        assert_eq!(at(8, 8), 255, "neighbour cell");
        assert_eq!(at(39, 39), 255, "neighbour cell");
        assert_eq!(at(7, 7), 0, "two cells away");
        assert_eq!(at(40, 20), 0, "two cells away");
        assert_eq!(at(60, 44), 0);
    }

    #[test]
    fn a_marked_cell_is_released_only_by_a_result_at_least_as_new() {
        let mut m = judged();
        m.load(&with_block(20, 20, 28, 28), W, H);
        m.observe(5, Some(1));
        // The person left again and results for older frames arrive: still black.
        m.load(&scene(), W, H);
        m.keep(4);
        m.observe(6, Some(4));
        assert!(m.painted_cells(Some(4)) > 0, "released by an older result");
        for frame in 7..40 {
            m.observe(frame, Some(4));
        }
        assert!(m.painted_cells(Some(4)) > 0, "released by time");
        // A result on frame 5 (or later) has judged that area.
        m.keep(40);
        m.observe(41, Some(40));
        assert_eq!(m.painted_cells(Some(40)), 0);
    }

    #[test]
    fn a_change_of_colour_alone_marks() {
        let mut m = judged();
        // Same luma, other colour: grey 100 -> (60, 110, 140)-ish blue of about the same Y.
        let mut f = scene();
        for y in 0..8 {
            for x in 0..8 {
                f[3 * (y * W + x)..3 * (y * W + x) + 3].copy_from_slice(&[60, 110, 140]);
            }
        }
        m.load(&f, W, H);
        m.observe(2, Some(1));
        assert_eq!(painted(&m, Some(1))[0], 255);
    }

    #[test]
    fn small_changes_do_not_mark() {
        let mut m = judged();
        let mut f = scene();
        for v in f.iter_mut() {
            *v += 15; // lighter by less than the threshold
        }
        // Two pixels changing a lot are below min_changed (3) in their cell.
        f[3 * (10 * W + 10)..3 * (10 * W + 10) + 3].fill(250);
        f[3 * (11 * W + 10)..3 * (11 * W + 10) + 3].fill(250);
        m.load(&f, W, H);
        m.observe(2, Some(1));
        assert_eq!(m.painted_cells(Some(1)), 0);
    }

    /// `scene` with independent noise of about `sigma` on every channel of every pixel
    /// (sum of 4 uniform draws: close to normal), from a fixed seed.
    fn noisy(seed: u64, sigma: f64) -> Vec<u8> {
        let mut state = seed | 1;
        let mut draw = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // A uniform draw on 0..1 has variance 1/12: four of them, centred, have 1/3.
        scene()
            .iter()
            .map(|&v| {
                let n = (draw() + draw() + draw() + draw() - 2.0) * sigma * 3f64.sqrt();
                (v as f64 + n).round().clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    /// Marks left by noise of `sigma` over 28 frames against one reference.
    fn noise_marks(sigma: f64) -> usize {
        let mut m = MotionMask::new(config());
        m.load(&noisy(1, sigma), W, H);
        m.keep(1);
        m.observe(1, Some(1));
        for frame in 2..30 {
            m.load(&noisy(frame, sigma), W, H);
            m.observe(frame, Some(1));
        }
        m.painted_cells(Some(1))
    }

    #[test]
    fn sensor_noise_of_4_levels_does_not_mark_but_8_does() {
        // The limit of this change test (README, "still open"): 4 levels of noise per
        // channel at the model input are ignored, 8 (a dim room) mark cells.
        assert_eq!(noise_marks(4.0), 0, "noise of 4 levels marked cells");
        assert!(
            noise_marks(8.0) > 0,
            "the test no longer measures the limit"
        );
    }

    #[test]
    fn a_change_over_most_of_the_frame_blacks_all_of_it() {
        let mut m = judged();
        // The left 40 of 64 columns: 5 of 8 cell columns changed (more than half).
        m.load(&with_block(0, 0, 40, H), W, H);
        m.observe(2, Some(1));
        assert!(painted(&m, Some(1)).iter().all(|&v| v == 255));
        // A quarter of the frame is not "most": the far side stays visible.
        let mut m = judged();
        m.load(&with_block(0, 0, 16, H), W, H);
        m.observe(2, Some(1));
        assert_eq!(painted(&m, Some(1))[W - 1], 0);
    }

    #[test]
    fn a_new_size_starts_over_with_everything_black() {
        let mut m = judged();
        let small: Vec<u8> = scene()[..32 * 24 * 3].to_vec();
        m.load(&small, 32, 24);
        m.observe(2, Some(1));
        let mut mask = vec![0u8; 32 * 24];
        m.paint(&mut mask, Some(1));
        assert!(mask.iter().all(|&v| v == 255));
    }

    #[test]
    fn a_mask_of_the_wrong_size_is_covered_whole() {
        let m = judged();
        let mut mask = vec![0u8; 10];
        m.paint(&mut mask, Some(1));
        assert!(mask.iter().all(|&v| v == 255));
    }

    #[test]
    fn unsafe_settings_are_made_safe() {
        let c = MotionConfig {
            cell: 0,
            min_changed: 0,
            global_share: f32::NAN,
            ..MotionConfig::default()
        }
        .checked();
        assert_eq!((c.cell, c.min_changed, c.global_share), (1, 1, 0.0));
    }
}
