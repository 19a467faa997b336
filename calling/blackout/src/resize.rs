//! Colour conversion and downscaling of a frame to the segmenter's input size.
//!
//! The whole frame is squashed to the model size, as MediaPipe does (no letterbox): output
//! pixel `(x, y)` samples the frame at `(x * W / w, y * H / h)` with bilinear interpolation.
//! Only the `w * h * 4` frame pixels the samples touch are read and colour-converted, so the
//! cost does not grow with the frame size. YUV is read as BT.601 limited range.

use crate::frame::{tight_offsets, PixelFormat};

/// Fixed-point precision of the bilinear weights: 8 bits (1/256 pixel) is finer than the
/// model can see and keeps every product within u32.
const WEIGHT_BITS: u32 = 8;
const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;

/// One sample position along an axis: the two neighbours and the weight of the second.
#[derive(Clone, Copy, Debug, Default)]
struct Tap {
    i0: u32,
    i1: u32,
    w1: u32,
}

/// Reusable tables and the output image for downscaling frames of one size.
#[derive(Debug, Default)]
pub(crate) struct Downscaler {
    key: (u32, u32, u32, u32),
    xs: Vec<Tap>,
    ys: Vec<Tap>,
    /// RGB output, `out_w * out_h * 3` bytes.
    pub(crate) rgb: Vec<u8>,
}

fn taps(src: u32, dst: u32, out: &mut Vec<Tap>) {
    out.clear();
    let scale = src as f64 / dst as f64;
    for d in 0..dst {
        let s = (d as f64 * scale).clamp(0.0, (src - 1) as f64);
        let i0 = s.floor() as u32;
        let w1 = ((s - i0 as f64) * WEIGHT_ONE as f64).round() as u32;
        let i1 = (i0 + 1).min(src - 1);
        out.push(Tap { i0, i1, w1 });
    }
}

#[inline]
fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// BT.601 limited range YUV -> RGB, integer (8.8 fixed point).
#[inline]
pub(crate) fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (y as i32 - 16);
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    [
        clamp_u8((c + 409 * e + 128) >> 8),
        clamp_u8((c - 100 * d - 208 * e + 128) >> 8),
        clamp_u8((c + 516 * d + 128) >> 8),
    ]
}

/// RGB -> BT.601 limited range YUV, integer (used for the placeholder image).
#[inline]
pub(crate) fn rgb_to_yuv(r: u8, g: u8, b: u8) -> [u8; 3] {
    let (r, g, b) = (r as i32, g as i32, b as i32);
    [
        clamp_u8(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16),
        clamp_u8(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128),
        clamp_u8(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128),
    ]
}

/// Reads one pixel of a tight frame as three channels in the frame's own colour space
/// (RGB for RGB formats, YUV for YUV formats).
#[inline]
fn texel(
    format: PixelFormat,
    buf: &[u8],
    offsets: &[usize; 3],
    width: usize,
    x: usize,
    y: usize,
) -> [u8; 3] {
    match format {
        PixelFormat::Rgb24 => {
            let i = (y * width + x) * 3;
            [buf[i], buf[i + 1], buf[i + 2]]
        }
        PixelFormat::Rgba => {
            let i = (y * width + x) * 4;
            [buf[i], buf[i + 1], buf[i + 2]]
        }
        PixelFormat::Bgra => {
            let i = (y * width + x) * 4;
            [buf[i + 2], buf[i + 1], buf[i]]
        }
        PixelFormat::Yuyv => {
            let pair = (y * width.div_ceil(2) + x / 2) * 4;
            [buf[pair + (x & 1) * 2], buf[pair + 1], buf[pair + 3]]
        }
        PixelFormat::Nv12 => {
            let uv = offsets[1] + (y / 2) * width.div_ceil(2) * 2 + (x / 2) * 2;
            [buf[y * width + x], buf[uv], buf[uv + 1]]
        }
        PixelFormat::I420 => {
            let c = (y / 2) * width.div_ceil(2) + x / 2;
            [buf[y * width + x], buf[offsets[1] + c], buf[offsets[2] + c]]
        }
    }
}

impl Downscaler {
    /// Converts and squashes a tight frame to `out_w x out_h` RGB into `self.rgb`.
    pub(crate) fn run(
        &mut self,
        format: PixelFormat,
        width: u32,
        height: u32,
        frame: &[u8],
        out_w: u32,
        out_h: u32,
    ) {
        let key = (width, height, out_w, out_h);
        if key != self.key || self.xs.is_empty() {
            taps(width, out_w, &mut self.xs);
            taps(height, out_h, &mut self.ys);
            self.key = key;
        }
        self.rgb.resize(out_w as usize * out_h as usize * 3, 0);
        let offsets = tight_offsets(format, width, height);
        let w = width as usize;
        let yuv = matches!(
            format,
            PixelFormat::Yuyv | PixelFormat::Nv12 | PixelFormat::I420
        );
        let mut out = self.rgb.chunks_exact_mut(3);
        for ty in &self.ys {
            let (wy1, wy0) = (ty.w1, WEIGHT_ONE - ty.w1);
            for tx in &self.xs {
                let (wx1, wx0) = (tx.w1, WEIGHT_ONE - tx.w1);
                let (y0, y1) = (ty.i0 as usize, ty.i1 as usize);
                let (x0, x1) = (tx.i0 as usize, tx.i1 as usize);
                let a = texel(format, frame, &offsets, w, x0, y0);
                let b = texel(format, frame, &offsets, w, x1, y0);
                let c = texel(format, frame, &offsets, w, x0, y1);
                let d = texel(format, frame, &offsets, w, x1, y1);
                let mut px = [0u8; 3];
                for ch in 0..3 {
                    let top = a[ch] as u32 * wx0 + b[ch] as u32 * wx1;
                    let bottom = c[ch] as u32 * wx0 + d[ch] as u32 * wx1;
                    let v = (top * wy0 + bottom * wy1 + (1 << (2 * WEIGHT_BITS - 1)))
                        >> (2 * WEIGHT_BITS);
                    px[ch] = v as u8;
                }
                if yuv {
                    px = yuv_to_rgb(px[0], px[1], px[2]);
                }
                if let Some(o) = out.next() {
                    o.copy_from_slice(&px);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuv_round_trip_is_close() {
        for rgb in [[0u8, 0, 0], [255, 255, 255], [200, 30, 90], [10, 180, 240]] {
            let [y, u, v] = rgb_to_yuv(rgb[0], rgb[1], rgb[2]);
            let back = yuv_to_rgb(y, u, v);
            for ch in 0..3 {
                assert!(
                    (back[ch] as i32 - rgb[ch] as i32).abs() <= 3,
                    "{rgb:?} -> {back:?}"
                );
            }
        }
    }

    #[test]
    fn downscale_of_uniform_frame_is_uniform_in_every_format() {
        let (w, h) = (64u32, 48u32);
        for format in PixelFormat::ALL {
            let mut buf = vec![0u8; format.frame_len(w, h)];
            let [y, u, v] = rgb_to_yuv(200, 100, 50);
            match format {
                PixelFormat::Rgb24 => buf
                    .chunks_exact_mut(3)
                    .for_each(|p| p.copy_from_slice(&[200, 100, 50])),
                PixelFormat::Rgba => buf
                    .chunks_exact_mut(4)
                    .for_each(|p| p.copy_from_slice(&[200, 100, 50, 9])),
                PixelFormat::Bgra => buf
                    .chunks_exact_mut(4)
                    .for_each(|p| p.copy_from_slice(&[50, 100, 200, 9])),
                PixelFormat::Yuyv => buf
                    .chunks_exact_mut(4)
                    .for_each(|p| p.copy_from_slice(&[y, u, y, v])),
                PixelFormat::Nv12 => {
                    let l = (w * h) as usize;
                    buf[..l].fill(y);
                    buf[l..]
                        .chunks_exact_mut(2)
                        .for_each(|p| p.copy_from_slice(&[u, v]));
                }
                PixelFormat::I420 => {
                    let l = (w * h) as usize;
                    let c = l / 4;
                    buf[..l].fill(y);
                    buf[l..l + c].fill(u);
                    buf[l + c..].fill(v);
                }
            }
            let mut d = Downscaler::default();
            d.run(format, w, h, &buf, 16, 9);
            for px in d.rgb.chunks_exact(3) {
                for (got, want) in px.iter().zip([200u8, 100, 50]) {
                    assert!((*got as i32 - want as i32).abs() <= 3, "{format}: {px:?}");
                }
            }
        }
    }
}
