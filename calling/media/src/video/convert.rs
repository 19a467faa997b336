//! Pixel conversions around the codec: every [`PixelFormat`] to I420 (the encoder's input),
//! and I420 back to RGB (PNG snapshots, previews).
//!
//! RGB to YUV reuses blackout's [`pack_rgb`] so that the whole pipeline agrees on one colour
//! conversion (BT.601 limited range, what webcams and VP8 assume). Buffers are tight
//! (see [`blackout::RawFrame::tight`]); chroma planes of odd sizes are rounded up.

use blackout::{pack_rgb, FrameError, PixelFormat};

/// Length of a tight I420 frame.
pub(crate) fn i420_len(width: u32, height: u32) -> usize {
    PixelFormat::I420.frame_len(width, height)
}

/// Checks that `data` is a tight `format` frame of `width x height`.
fn check_len(data: &[u8], width: u32, height: u32, format: PixelFormat) -> Result<(), FrameError> {
    let len = format.frame_len(width, height);
    if data.len() == len && width > 0 && height > 0 {
        Ok(())
    } else if width == 0 || height == 0 {
        Err(FrameError::ZeroSize { width, height })
    } else {
        Err(FrameError::BufferLength {
            plane: 0,
            len: data.len(),
            min: len,
            max: len,
        })
    }
}

/// BT.601 limited-range YUV of one RGB colour (through [`pack_rgb`], so it matches it).
pub(crate) fn rgb_to_yuv(rgb: [u8; 3]) -> [u8; 3] {
    let px: Vec<u8> = rgb.repeat(4);
    let yuv = pack_rgb(&px, 2, 2, PixelFormat::I420);
    [yuv[0], yuv[4], yuv[5]]
}

/// Converts a tight frame of any format to a tight I420 frame in `out` (resized).
pub(crate) fn to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    format: PixelFormat,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    check_len(data, width, height, format)?;
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    out.clear();
    match format {
        PixelFormat::I420 => out.extend_from_slice(data),
        PixelFormat::Rgb24 => *out = pack_rgb(data, width, height, PixelFormat::I420),
        PixelFormat::Rgba | PixelFormat::Bgra => {
            let order = if format == PixelFormat::Rgba {
                [0, 1, 2]
            } else {
                [2, 1, 0]
            };
            let rgb: Vec<u8> = data
                .chunks_exact(4)
                .flat_map(|p| order.map(|i| p[i]))
                .collect();
            *out = pack_rgb(&rgb, width, height, PixelFormat::I420);
        }
        PixelFormat::Nv12 => {
            out.extend_from_slice(&data[..w * h]);
            let uv = &data[w * h..];
            out.extend(uv.iter().step_by(2));
            out.extend(uv.iter().skip(1).step_by(2));
        }
        PixelFormat::Yuyv => {
            // Y0 U Y1 V: luma is every even byte; 4:2:2 chroma is averaged over row pairs.
            let row = cw * 4;
            out.extend(data.iter().step_by(2));
            for offset in [1, 3] {
                for cy in 0..ch {
                    let top = &data[2 * cy * row..][..row];
                    // An odd last row has no partner: it is its own average.
                    let bottom = if 2 * cy + 1 < h {
                        &data[(2 * cy + 1) * row..][..row]
                    } else {
                        top
                    };
                    out.extend((0..cw).map(|cx| {
                        let i = cx * 4 + offset;
                        (u16::from(top[i]) + u16::from(bottom[i])).div_ceil(2) as u8
                    }));
                }
            }
        }
    }
    debug_assert_eq!(out.len(), i420_len(width, height));
    Ok(())
}

/// Converts a tight I420 frame to RGB24 (BT.601 limited range). A buffer shorter than the
/// size says reads as black where it is missing, so this never panics on a bad frame.
pub(crate) fn i420_to_rgb24(i420: &[u8], width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let cw = w.div_ceil(2);
    let (u0, v0) = (w * h, w * h + cw * h.div_ceil(2));
    let at = |i: usize, default: u8| i420.get(i).copied().unwrap_or(default);
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let c = (y / 2) * cw + x / 2;
            out.extend(yuv_to_rgb(
                at(y * w + x, 16),
                at(u0 + c, 128),
                at(v0 + c, 128),
            ));
        }
    }
    out
}

/// BT.601 limited-range YUV to RGB, integer (the inverse of blackout's conversion).
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| x.clamp(0, 255) as u8;
    [
        clamp((c + 409 * e + 128) >> 8),
        clamp((c - 100 * d - 208 * e + 128) >> 8),
        clamp((c + 516 * d + 128) >> 8),
    ]
}

/// Crops an RGB24 picture to even width and height (dropping the last column / row), as
/// 4:2:0 needs. Returns the new size and pixels.
pub(crate) fn crop_even_rgb(rgb: Vec<u8>, width: u32, height: u32) -> (u32, u32, Vec<u8>) {
    let (ew, eh) = (width & !1, height & !1);
    if (ew, eh) == (width, height) {
        return (width, height, rgb);
    }
    let (w, ewu) = (width as usize * 3, ew as usize * 3);
    let out = rgb
        .chunks_exact(w)
        .take(eh as usize)
        .flat_map(|row| &row[..ewu])
        .copied()
        .collect();
    (ew, eh, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small RGB picture with distinct colours.
    fn rgb_picture(w: u32, h: u32) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| [(i * 30) as u8, (255 - i * 20) as u8, (i * 7) as u8])
            .collect()
    }

    #[test]
    fn every_format_converts_like_rgb() {
        // 4x3: an odd height exercises the unpaired last row (YUYV allows odd heights).
        for (w, h) in [(4, 2), (4, 3)] {
            let rgb = rgb_picture(w, h);
            let mut want = Vec::new();
            to_i420(&rgb, w, h, PixelFormat::Rgb24, &mut want).unwrap();
            assert_eq!(want, pack_rgb(&rgb, w, h, PixelFormat::I420));
            let luma = (w * h) as usize;
            for format in PixelFormat::ALL {
                let packed = pack_rgb(&rgb, w, h, format);
                let mut got = Vec::new();
                to_i420(&packed, w, h, format, &mut got).unwrap();
                assert_eq!(got.len(), i420_len(w, h), "{format}");
                // Luma is exact; chroma may differ by rounding of the two averaging steps.
                assert_eq!(got[..luma], want[..luma], "{format}");
                for (g, x) in got[luma..].iter().zip(&want[luma..]) {
                    assert!(g.abs_diff(*x) <= 1, "{format}: {got:?} vs {want:?}");
                }
            }
        }
    }

    #[test]
    fn wrong_length_is_an_error() {
        let mut out = Vec::new();
        assert!(to_i420(&[0; 11], 4, 2, PixelFormat::I420, &mut out).is_err());
        assert!(to_i420(&[], 0, 2, PixelFormat::I420, &mut out).is_err());
    }

    #[test]
    fn rgb_round_trip_is_close() {
        let rgb = [200u8, 40, 90].repeat(4);
        let back = i420_to_rgb24(&pack_rgb(&rgb, 2, 2, PixelFormat::I420), 2, 2);
        for (a, b) in back.iter().zip(&rgb) {
            assert!(a.abs_diff(*b) <= 3, "{back:?}");
        }
        assert_eq!(
            i420_to_rgb24(&[], 2, 2),
            vec![0; 12],
            "missing data reads black"
        );
    }

    #[test]
    fn crop_drops_last_column_and_row() {
        let rgb: Vec<u8> = (0..3 * 3 * 3).map(|v| v as u8).collect();
        let (w, h, out) = crop_even_rgb(rgb, 3, 3);
        assert_eq!((w, h), (2, 2));
        assert_eq!(out, [0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14]);
    }
}
