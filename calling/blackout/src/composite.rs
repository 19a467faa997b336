//! Painting person pixels black in the frame buffer the encoder will read.
//!
//! RGB: #000000 (alpha set to 255, so nothing shows through). YUV: Y = 0, U = V = 128, which
//! decodes to #000000 both as full range and as limited range (Y below 16 clamps to black).
//! Chroma is shared by 2 (4:2:2) or 2x2 (4:2:0) pixels: a chroma block with any person pixel
//! is painted whole, so no person colour survives in a neighbour's chroma.

use crate::frame::{tight_offsets, PixelFormat};
use crate::mask::Upsampler;

/// Paints the person pixels of a tight frame black, following `map` (model resolution,
/// already dilated and held) thresholded at `threshold`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn paint(
    format: PixelFormat,
    width: u32,
    height: u32,
    frame: &mut [u8],
    map: &[u8],
    up: &mut Upsampler,
    threshold: f32,
    spans: &mut Vec<(u32, u32)>,
) {
    let w = width as usize;
    // Rows painted together: 2 for 4:2:0 (a chroma row covers two luma rows), else 1.
    let group = if format.needs_even_height() { 2 } else { 1 };
    let offsets = tight_offsets(format, width, height);
    let mut y = 0;
    while y < height {
        let rows = y..(y + group).min(height);
        up.spans(map, rows.clone(), threshold, spans);
        if !spans.is_empty() {
            for &(x0, x1) in spans.iter() {
                let (mut x0, mut x1) = (x0 as usize, x1 as usize);
                if format.needs_even_width() {
                    // Widen to whole chroma blocks.
                    x0 &= !1;
                    x1 = (x1 + 1).min(w.div_ceil(2) * 2) & !1;
                }
                for yy in rows.clone() {
                    let yy = yy as usize;
                    match format {
                        PixelFormat::Rgb24 => frame[(yy * w + x0) * 3..(yy * w + x1) * 3].fill(0),
                        PixelFormat::Rgba | PixelFormat::Bgra => {
                            for px in
                                frame[(yy * w + x0) * 4..(yy * w + x1) * 4].chunks_exact_mut(4)
                            {
                                px.copy_from_slice(&[0, 0, 0, 255]);
                            }
                        }
                        PixelFormat::Yuyv => {
                            let row = yy * w.div_ceil(2) * 4;
                            for px in frame[row + x0 * 2..row + x1 * 2].chunks_exact_mut(4) {
                                px.copy_from_slice(&[0, 128, 0, 128]);
                            }
                        }
                        PixelFormat::Nv12 | PixelFormat::I420 => {
                            frame[yy * w + x0..yy * w + x1].fill(0)
                        }
                    }
                }
                let cy = (y / 2) as usize;
                let cw = w.div_ceil(2);
                match format {
                    PixelFormat::Nv12 => {
                        let row = offsets[1] + cy * cw * 2;
                        frame[row + x0..row + x1].fill(128);
                    }
                    PixelFormat::I420 => {
                        let (c0, c1) = (x0 / 2, x1 / 2);
                        frame[offsets[1] + cy * cw + c0..offsets[1] + cy * cw + c1].fill(128);
                        frame[offsets[2] + cy * cw + c0..offsets[2] + cy * cw + c1].fill(128);
                    }
                    _ => {}
                }
            }
        }
        y += group;
    }
}
