//! The person mask: dilation, temporal hold, and upsampling + threshold to frame rows.
//!
//! Everything up to the threshold stays at the model's resolution (256 px wide), on 8-bit
//! probabilities (`round(255 * p)`). Dilation is a grey-level max filter and the hold a max
//! over the last K maps: both commute with thresholding, so "max-filter then threshold" is
//! exactly "threshold then dilate", at a fraction of the cost of working on the full frame.
//! Bilinear upsampling of the held map is pointwise at least the upsampling of any frame's
//! map, so no pixel that any of these steps marks as person is lost on the way up.

use std::ops::Range;

/// Fixed-point precision of the upsampling weights (1/256 pixel).
const WEIGHT_BITS: u32 = 8;
const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;

/// Dilation + temporal hold on model-resolution probability maps.
#[derive(Debug, Default)]
pub(crate) struct MaskProcessor {
    dims: (u32, u32),
    history: Vec<Vec<u8>>,
    next: usize,
    /// Max over the history: the map that decides which pixels are painted.
    pub(crate) held: Vec<u8>,
    pad: Vec<u8>,
    g: Vec<u8>,
    h: Vec<u8>,
    line: Vec<u8>,
    widened: Vec<Vec<u8>>,
}

impl MaskProcessor {
    /// Forgets every past mask (the next frame starts a new hold).
    pub(crate) fn reset(&mut self) {
        self.history.clear();
        self.next = 0;
    }

    /// Adds this frame's raw map (`mw x mh`), dilated by `rx` / `ry` mask pixels, to the hold
    /// of the last `hold` frames (at least 1) and updates [`held`](Self::held).
    pub(crate) fn update(
        &mut self,
        raw: &[u8],
        mw: u32,
        mh: u32,
        rx: usize,
        ry: usize,
        hold: usize,
    ) {
        let hold = hold.max(1);
        if self.dims != (mw, mh) || self.history.len() > hold {
            // A new mask geometry (other model): old maps do not line up, start over.
            self.reset();
            self.dims = (mw, mh);
        }
        let (w, h) = (mw as usize, mh as usize);
        if self.history.len() < hold {
            self.history.push(Vec::new());
            self.next = self.history.len() - 1;
        }
        let mut current = std::mem::take(&mut self.history[self.next]);
        current.clear();
        current.extend_from_slice(raw);
        if rx <= MAX_ELLIPSE_RADIUS && ry <= MAX_ELLIPSE_RADIUS {
            self.dilate_ellipse(&mut current, w, h, rx, ry);
        } else {
            self.dilate_rect(&mut current, w, h, rx, ry);
        }
        self.history[self.next] = current;
        self.next = (self.next + 1) % hold;

        self.held.clear();
        self.held.resize(w * h, 0);
        for past in &self.history {
            for (held, &v) in self.held.iter_mut().zip(past) {
                *held = (*held).max(v);
            }
        }
    }
}

impl MaskProcessor {
    /// Grey dilation by the ellipse `(dx/rx)^2 + (dy/ry)^2 <= 1`: every pixel within the
    /// radius in every direction, and no more (a square would also take the corners, ~27 %
    /// more background for the same guaranteed radius). Rows are first max-filtered at every
    /// half-width 0..=rx (each from the previous by a 3-wide max), then each output row takes
    /// the max of the rows above and below at the ellipse's half-width for that offset.
    fn dilate_ellipse(&mut self, map: &mut [u8], w: usize, h: usize, rx: usize, ry: usize) {
        if rx == 0 && ry == 0 {
            return;
        }
        self.widened.resize_with(rx + 1, Vec::new);
        self.widened[0].clear();
        self.widened[0].extend_from_slice(map);
        for k in 1..=rx {
            let (done, rest) = self.widened.split_at_mut(k);
            let (prev, next) = (&done[k - 1], &mut rest[0]);
            next.clear();
            next.resize(w * h, 0);
            for (src, dst) in prev.chunks_exact(w).zip(next.chunks_exact_mut(w)) {
                widen_row(src, dst);
            }
        }
        let half_width = |dy: usize| -> usize {
            if ry == 0 {
                return rx;
            }
            let f = dy as f64 / ry as f64;
            (rx as f64 * (1.0 - f * f).max(0.0).sqrt() + 1e-9).floor() as usize
        };
        map.fill(0);
        for y in 0..h {
            let out = &mut map[y * w..(y + 1) * w];
            for sy in y.saturating_sub(ry)..=(y + ry).min(h - 1) {
                let src = &self.widened[half_width(sy.abs_diff(y))][sy * w..(sy + 1) * w];
                for (o, &v) in out.iter_mut().zip(src) {
                    *o = (*o).max(v);
                }
            }
        }
    }

    /// Separable rectangle dilation, for radii too large for the ellipse's tables.
    fn dilate_rect(&mut self, map: &mut [u8], w: usize, h: usize, rx: usize, ry: usize) {
        if rx > 0 {
            for row in map.chunks_exact_mut(w) {
                max_filter_line(row, rx, &mut self.pad, &mut self.g, &mut self.h);
            }
        }
        if ry > 0 {
            self.line.resize(h, 0);
            for x in 0..w {
                for y in 0..h {
                    self.line[y] = map[y * w + x];
                }
                max_filter_line(&mut self.line, ry, &mut self.pad, &mut self.g, &mut self.h);
                for y in 0..h {
                    map[y * w + x] = self.line[y];
                }
            }
        }
    }
}

/// Largest radius (mask pixels) dilated as an ellipse; beyond, a rectangle (memory for the
/// ellipse grows with the radius: one mask-sized table per pixel of radius).
const MAX_ELLIPSE_RADIUS: usize = 32;

/// `dst[x] = max(src[x-1], src[x], src[x+1])` (edges: the pixels that exist).
fn widen_row(src: &[u8], dst: &mut [u8]) {
    let n = src.len();
    dst.copy_from_slice(src);
    if n < 2 {
        return;
    }
    for (d, &s) in dst[..n - 1].iter_mut().zip(&src[1..]) {
        *d = (*d).max(s);
    }
    for (d, &s) in dst[1..].iter_mut().zip(&src[..n - 1]) {
        *d = (*d).max(s);
    }
}

/// In-place 1-D max filter of radius `r` (window `2r + 1`), outside the line counting as 0,
/// in O(n) whatever `r` (van Herk / Gil-Werman: block prefix and suffix maxima).
fn max_filter_line(line: &mut [u8], r: usize, pad: &mut Vec<u8>, g: &mut Vec<u8>, h: &mut Vec<u8>) {
    let n = line.len();
    if r == 0 || n == 0 {
        return;
    }
    let k = 2 * r + 1;
    let m = n + 2 * r;
    pad.clear();
    pad.resize(r, 0);
    pad.extend_from_slice(line);
    pad.resize(m, 0);
    g.resize(m, 0);
    h.resize(m, 0);
    for j in 0..m {
        g[j] = if j % k == 0 {
            pad[j]
        } else {
            g[j - 1].max(pad[j])
        };
    }
    for j in (0..m).rev() {
        h[j] = if j == m - 1 || (j + 1) % k == 0 {
            pad[j]
        } else {
            h[j + 1].max(pad[j])
        };
    }
    for (i, out) in line.iter_mut().enumerate() {
        *out = h[i].max(g[i + k - 1]);
    }
}

/// A run of frame columns `x_start..x_end` that all interpolate between mask columns `j0`
/// and `j1`.
#[derive(Clone, Copy, Debug)]
struct Cell {
    x_start: u32,
    x_end: u32,
    j0: u32,
    j1: u32,
}

/// Half-pixel-centred bilinear position (as `cv::resize` does): `(i0, i1, weight of i1)`.
fn half_pixel_tap(d: u32, dst: u32, src: u32) -> (u32, u32, u32) {
    let s = ((d as f64 + 0.5) * src as f64 / dst as f64 - 0.5).clamp(0.0, (src - 1) as f64);
    let i0 = s.floor() as u32;
    let w1 = ((s - i0 as f64) * WEIGHT_ONE as f64).round() as u32;
    (i0, (i0 + 1).min(src - 1), w1)
}

/// Upsamples a model-resolution map to frame rows and thresholds it into spans of person
/// pixels, with integer math and whole-cell shortcuts: a cell whose two ends are both above
/// (or both below) the threshold is entirely person (or background), since linear
/// interpolation stays between its ends; only cells crossing the threshold are looked at
/// pixel by pixel.
#[derive(Debug, Default)]
pub(crate) struct Upsampler {
    key: (u32, u32, u32, u32),
    rows: Vec<(u32, u32, u32)>,
    cells: Vec<Cell>,
    wx: Vec<u32>,
    vrow: Vec<u32>,
}

impl Upsampler {
    /// Prepares the tables for a `mw x mh` map and a `fw x fh` frame.
    pub(crate) fn prepare(&mut self, mw: u32, mh: u32, fw: u32, fh: u32) {
        let key = (mw, mh, fw, fh);
        if key == self.key && !self.rows.is_empty() {
            return;
        }
        self.key = key;
        self.rows = (0..fh).map(|y| half_pixel_tap(y, fh, mh)).collect();
        self.wx.clear();
        self.cells.clear();
        for x in 0..fw {
            let (i0, i1, w1) = half_pixel_tap(x, fw, mw);
            self.wx.push(w1);
            match self.cells.last_mut() {
                Some(c) if c.j0 == i0 && c.j1 == i1 => c.x_end = x + 1,
                _ => self.cells.push(Cell {
                    x_start: x,
                    x_end: x + 1,
                    j0: i0,
                    j1: i1,
                }),
            }
        }
        self.vrow.resize(mw as usize, 0);
    }

    /// Spans `[x0, x1)` of person pixels in the frame rows `rows` (a pixel counts if it is
    /// person in any of these rows), for `threshold` in 0..=1, merged and sorted.
    pub(crate) fn spans(
        &mut self,
        map: &[u8],
        rows: Range<u32>,
        threshold: f32,
        spans: &mut Vec<(u32, u32)>,
    ) {
        spans.clear();
        let mw = self.key.0 as usize;
        // vrow = max over the rows of the vertical interpolation (scale 256).
        self.vrow.fill(0);
        for y in rows {
            let (i0, i1, w1) = self.rows[y as usize];
            let r0 = &map[i0 as usize * mw..][..mw];
            let r1 = &map[i1 as usize * mw..][..mw];
            let w0 = WEIGHT_ONE - w1;
            for ((v, &a), &b) in self.vrow.iter_mut().zip(r0).zip(r1) {
                *v = (*v).max(a as u32 * w0 + b as u32 * w1);
            }
        }
        // Person iff interpolated value (scale 65536) >= t.
        let t = (threshold.clamp(0.0, 1.0) as f64 * 255.0 * 65536.0).ceil() as u32;
        let mut push = |x0: u32, x1: u32| match spans.last_mut() {
            Some(last) if last.1 == x0 => last.1 = x1,
            _ => spans.push((x0, x1)),
        };
        for c in &self.cells {
            let a = self.vrow[c.j0 as usize];
            let b = self.vrow[c.j1 as usize];
            let (pa, pb) = (a * WEIGHT_ONE >= t, b * WEIGHT_ONE >= t);
            if pa && pb {
                push(c.x_start, c.x_end);
            } else if pa || pb {
                for x in c.x_start..c.x_end {
                    let w1 = self.wx[x as usize];
                    if a * (WEIGHT_ONE - w1) + b * w1 >= t {
                        push(x, x + 1);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_max(line: &[u8], r: usize) -> Vec<u8> {
        (0..line.len())
            .map(|i| {
                let lo = i.saturating_sub(r);
                let hi = (i + r + 1).min(line.len());
                *line[lo..hi].iter().max().unwrap()
            })
            .collect()
    }

    #[test]
    fn max_filter_matches_naive() {
        let line: Vec<u8> = (0..97u32).map(|i| (i * 37 % 251) as u8).collect();
        for r in [1, 2, 3, 5, 8, 60, 200] {
            let mut got = line.clone();
            let (mut p, mut g, mut h) = (Vec::new(), Vec::new(), Vec::new());
            max_filter_line(&mut got, r, &mut p, &mut g, &mut h);
            assert_eq!(got, naive_max(&line, r), "r={r}");
        }
    }

    #[test]
    fn spans_match_per_pixel_bilinear() {
        let (mw, mh, fw, fh) = (16u32, 9u32, 101u32, 37u32);
        let map: Vec<u8> = (0..mw * mh).map(|i| (i * 97 % 256) as u8).collect();
        let mut up = Upsampler::default();
        up.prepare(mw, mh, fw, fh);
        let mut spans = Vec::new();
        for y in 0..fh {
            up.spans(&map, y..y + 1, 0.4, &mut spans);
            let mut covered = vec![false; fw as usize];
            for &(a, b) in &spans {
                covered[a as usize..b as usize].fill(true);
            }
            for x in 0..fw {
                let (x0, x1, wx) = half_pixel_tap(x, fw, mw);
                let (y0, y1, wy) = half_pixel_tap(y, fh, mh);
                let at = |xx: u32, yy: u32| map[(yy * mw + xx) as usize] as f64;
                let (wx, wy) = (wx as f64 / 256.0, wy as f64 / 256.0);
                let v = (at(x0, y0) * (1.0 - wx) + at(x1, y0) * wx) * (1.0 - wy)
                    + (at(x0, y1) * (1.0 - wx) + at(x1, y1) * wx) * wy;
                let want = v >= 0.4 * 255.0;
                // Values within rounding of the threshold may go either way.
                if (v - 102.0).abs() > 0.01 {
                    assert_eq!(covered[x as usize], want, "x={x} y={y} v={v}");
                }
            }
        }
    }

    #[test]
    fn ellipse_dilation_matches_naive() {
        let (w, h) = (23usize, 17usize);
        let map: Vec<u8> = (0..w * h)
            .map(|i| if i % 41 == 0 { (i % 200) as u8 + 50 } else { 0 })
            .collect();
        for (rx, ry) in [(0, 0), (3, 3), (5, 2), (0, 4), (4, 0), (7, 9)] {
            let mut got = map.clone();
            MaskProcessor::default().dilate_ellipse(&mut got, w, h, rx, ry);
            for y in 0..h {
                for x in 0..w {
                    let mut want = 0;
                    for sy in 0..h {
                        for sx in 0..w {
                            let (dx, dy) = (sx.abs_diff(x) as f64, sy.abs_diff(y) as f64);
                            let inside = match (rx, ry) {
                                (0, 0) => dx == 0.0 && dy == 0.0,
                                (_, 0) => dy == 0.0 && dx <= rx as f64,
                                (0, _) => dx == 0.0 && dy <= ry as f64,
                                _ => {
                                    (dx / rx as f64).powi(2) + (dy / ry as f64).powi(2)
                                        <= 1.0 + 1e-9
                                }
                            };
                            if inside {
                                want = want.max(map[sy * w + sx]);
                            }
                        }
                    }
                    assert_eq!(got[y * w + x], want, "rx={rx} ry={ry} x={x} y={y}");
                }
            }
        }
    }

    #[test]
    fn hold_keeps_the_max_of_the_last_frames() {
        let mut m = MaskProcessor::default();
        m.update(&[255, 0, 0, 0], 4, 1, 0, 0, 2);
        m.update(&[0, 0, 0, 0], 4, 1, 0, 0, 2);
        assert_eq!(m.held, [255, 0, 0, 0]);
        m.update(&[0, 0, 0, 0], 4, 1, 0, 0, 2);
        assert_eq!(m.held, [0, 0, 0, 0]);
    }
}
