//! Video pictures on their way to the screen: the peer's decoded frames and the local
//! preview (the privacy filter's output), converted to RGBA for an egui texture.

use blackout::{FilteredFrame, PixelFormat};
use media::video::DecodedFrame;

/// An RGBA picture, tightly packed.
#[derive(Clone, PartialEq, Eq)]
pub struct Picture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

impl Picture {
    /// The peer's decoded frame; `None` if its buffer does not match its size.
    pub fn from_decoded(frame: &DecodedFrame) -> Option<Picture> {
        from_rgb(frame.width, frame.height, &frame.to_rgb24())
    }

    /// What the privacy filter let through, so the preview shows exactly what is sent.
    pub fn from_filtered(frame: &FilteredFrame) -> Option<Picture> {
        let (w, h) = (frame.width(), frame.height());
        let data = frame.data();
        let n = (w as usize) * (h as usize);
        if n == 0 {
            return None;
        }
        let mut rgba = Vec::with_capacity(n * 4);
        match frame.format() {
            PixelFormat::Rgb24 => return from_rgb(w, h, data),
            PixelFormat::Rgba => rgba.extend_from_slice(data.get(..n * 4)?),
            PixelFormat::Bgra => {
                for px in data.get(..n * 4)?.chunks_exact(4) {
                    rgba.extend_from_slice(&[px[2], px[1], px[0], 255]);
                }
            }
            PixelFormat::I420 | PixelFormat::Nv12 | PixelFormat::Yuyv => {
                for y in 0..h as usize {
                    for x in 0..w as usize {
                        let (yy, u, v) =
                            yuv_at(frame.format(), data, w as usize, h as usize, x, y)?;
                        let [r, g, b] = yuv_to_rgb(yy, u, v);
                        rgba.extend_from_slice(&[r, g, b, 255]);
                    }
                }
            }
        }
        Some(Picture {
            width: w,
            height: h,
            rgba,
        })
    }
}

fn from_rgb(width: u32, height: u32, rgb: &[u8]) -> Option<Picture> {
    let n = (width as usize) * (height as usize);
    if n == 0 {
        return None;
    }
    let rgba = rgb
        .get(..n * 3)?
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    Some(Picture {
        width,
        height,
        rgba,
    })
}

/// Y, U, V of pixel (x, y) of a tight YUV frame; `None` if the buffer is short.
fn yuv_at(
    format: PixelFormat,
    data: &[u8],
    w: usize,
    h: usize,
    x: usize,
    y: usize,
) -> Option<(u8, u8, u8)> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match format {
        PixelFormat::I420 => {
            let c = (y / 2) * cw + x / 2;
            Some((
                *data.get(y * w + x)?,
                *data.get(w * h + c)?,
                *data.get(w * h + cw * ch + c)?,
            ))
        }
        PixelFormat::Nv12 => {
            let c = w * h + (y / 2) * cw * 2 + (x / 2) * 2;
            Some((*data.get(y * w + x)?, *data.get(c)?, *data.get(c + 1)?))
        }
        PixelFormat::Yuyv => {
            let pair = y * w * 2 + (x / 2) * 4;
            let luma = pair + if x.is_multiple_of(2) { 0 } else { 2 };
            Some((*data.get(luma)?, *data.get(pair + 1)?, *data.get(pair + 3)?))
        }
        _ => None,
    }
}

/// BT.601 limited range to RGB (what the codecs and the blackout filter use).
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 1.164 * (f32::from(y) - 16.0);
    let d = f32::from(u) - 128.0;
    let e = f32::from(v) - 128.0;
    let clamp = |x: f32| x.round().clamp(0.0, 255.0) as u8;
    [
        clamp(c + 1.596 * e),
        clamp(c - 0.392 * d - 0.813 * e),
        clamp(c + 2.017 * d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_frames_are_black_in_every_format() {
        for format in [
            PixelFormat::Rgb24,
            PixelFormat::Rgba,
            PixelFormat::Bgra,
            PixelFormat::I420,
            PixelFormat::Nv12,
            PixelFormat::Yuyv,
        ] {
            let frame = FilteredFrame::black(6, 4, format);
            let picture = Picture::from_filtered(&frame).expect("converts");
            assert_eq!(picture.rgba.len(), 6 * 4 * 4, "{format:?}");
            assert!(
                picture.rgba.chunks_exact(4).all(|p| p[..3] == [0, 0, 0]),
                "{format:?}"
            );
        }
        assert!(Picture::from_filtered(&FilteredFrame::black(0, 0, PixelFormat::I420)).is_none());
    }
}
