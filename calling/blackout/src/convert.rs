//! Packing RGB pictures into the camera pixel formats (placeholder, tests, benchmarks, CLI).

use crate::frame::{tight_offsets, PixelFormat};
use crate::resize::rgb_to_yuv;

/// Packs a `width x height` RGB picture (`width * height * 3` bytes) into a tight frame of
/// `format` (BT.601 limited range for YUV; chroma is the average of the pixels it covers;
/// alpha 255). Odd sizes of subsampled formats round the chroma planes up.
///
/// # Panics
/// If `rgb` is shorter than `width * height * 3`.
pub fn pack_rgb(rgb: &[u8], width: u32, height: u32, format: PixelFormat) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    assert!(rgb.len() >= w * h * 3, "RGB buffer too short");
    let mut out = vec![0u8; format.frame_len(width, height)];
    let px = |x: usize, y: usize| {
        let i = (y.min(h - 1) * w + x.min(w - 1)) * 3;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    };
    let yuv = |x: usize, y: usize| {
        let [r, g, b] = px(x, y);
        rgb_to_yuv(r, g, b)
    };
    let cw = w.div_ceil(2);
    match format {
        PixelFormat::Rgb24 => out.copy_from_slice(&rgb[..w * h * 3]),
        PixelFormat::Rgba | PixelFormat::Bgra => {
            for (i, o) in out.chunks_exact_mut(4).enumerate() {
                let [r, g, b] = px(i % w, i / w);
                let v = if format == PixelFormat::Rgba {
                    [r, g, b, 255]
                } else {
                    [b, g, r, 255]
                };
                o.copy_from_slice(&v);
            }
        }
        PixelFormat::Yuyv => {
            for y in 0..h {
                for c in 0..cw {
                    let (a, b) = (yuv(2 * c, y), yuv(2 * c + 1, y));
                    let i = (y * cw + c) * 4;
                    out[i..i + 4].copy_from_slice(&[
                        a[0],
                        (a[1] as u16 + b[1] as u16).div_ceil(2) as u8,
                        b[0],
                        (a[2] as u16 + b[2] as u16).div_ceil(2) as u8,
                    ]);
                }
            }
        }
        PixelFormat::Nv12 | PixelFormat::I420 => {
            let offsets = tight_offsets(format, width, height);
            for y in 0..h {
                for x in 0..w {
                    out[y * w + x] = yuv(x, y)[0];
                }
            }
            for cy in 0..h.div_ceil(2) {
                for cx in 0..cw {
                    let mut sum = [0u16; 2];
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let v = yuv(2 * cx + dx, 2 * cy + dy);
                        sum[0] += v[1] as u16;
                        sum[1] += v[2] as u16;
                    }
                    let (u, v) = (((sum[0] + 2) / 4) as u8, ((sum[1] + 2) / 4) as u8);
                    if format == PixelFormat::Nv12 {
                        let i = offsets[1] + (cy * cw + cx) * 2;
                        out[i] = u;
                        out[i + 1] = v;
                    } else {
                        out[offsets[1] + cy * cw + cx] = u;
                        out[offsets[2] + cy * cw + cx] = v;
                    }
                }
            }
        }
    }
    out
}
