//! Fuzzes everything a camera (or a file) hands the blackout filter: frame size, pixel
//! format, strides, plane layout and pixel bytes. Whatever the input: no panic; a refused
//! frame gives a `FrameError` and an all-black frame; an accepted one comes out with its own
//! size and format, and entirely black where the (fuzzed) segmenter says "person".
#![no_main]

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use blackout::{
    BlackoutFilter, FilterConfig, FilteredFrame, FrameOrigin, ModelError, PixelFormat,
    PrivacyFilter, RawFrame, RgbImage, SegmentError, Segmenter,
};
use libfuzzer_sys::fuzz_target;

/// A cheap segmenter: person probability = the red channel of the downscaled image, or
/// everywhere when `all` is set. Its input size comes from the fuzz input too.
struct RedSegmenter;

impl Segmenter for RedSegmenter {
    fn input_size(&self, w: u32, h: u32) -> (u32, u32) {
        ((w % 37).max(1), (h % 23).max(1))
    }
    fn segment(&mut self, image: RgbImage<'_>, mask: &mut [u8]) -> Result<(), SegmentError> {
        for (m, px) in mask.iter_mut().zip(image.pixels.chunks_exact(3)) {
            *m = px[0];
        }
        Ok(())
    }
}

fn filter() -> &'static Mutex<BlackoutFilter> {
    static FILTER: OnceLock<Mutex<BlackoutFilter>> = OnceLock::new();
    FILTER.get_or_init(|| {
        let config = FilterConfig {
            deadline: Duration::from_secs(60),
            stall_limit: Duration::from_secs(120),
            hold_frames: 2,
            ..FilterConfig::default()
        };
        Mutex::new(BlackoutFilter::with_segmenter(config, || {
            Ok::<Box<dyn Segmenter>, ModelError>(Box::new(RedSegmenter))
        }))
    })
}

fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = N.min(data.len());
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let [fmt, mode, w0, w1, h0, h1, s0, s1] = take::<8>(&mut data);
    let format = PixelFormat::ALL[fmt as usize % PixelFormat::ALL.len()];
    // Up to 511 x 511, sometimes absurd sizes.
    let mut width = u32::from(u16::from_le_bytes([w0, w1]) % 512);
    let mut height = u32::from(u16::from_le_bytes([h0, h1]) % 512);
    if mode & 0x80 != 0 {
        width = width.wrapping_mul(40_000);
        height %= 3;
    }
    let slack = usize::from(u16::from_le_bytes([s0, s1]) % 64);
    let pixels = data;

    let frame = match mode % 4 {
        // The pixels as a tight frame (length must match exactly).
        0 => RawFrame::tight(pixels, width, height, format),
        // Packed with a stride that may be too small or too large.
        1 => {
            let row = format.row_bytes(0, width);
            let stride = if mode & 0x40 != 0 {
                row.saturating_sub(slack)
            } else {
                row + slack
            };
            RawFrame::packed(pixels, width, height, format, stride)
        }
        // Planes cut from the buffer at fuzzed points.
        _ => {
            let n = format.plane_count();
            let mut planes = Vec::new();
            let mut rest = pixels;
            for p in 0..n {
                let row = format.row_bytes(p, width);
                let stride = row + slack * usize::from(mode & 0x20 != 0);
                let want = (stride * format.plane_rows(p, height)).min(rest.len());
                let cut = if p + 1 == n { rest.len() } else { want };
                let (plane, tail) = rest.split_at(cut);
                planes.push((plane, stride));
                rest = tail;
            }
            if mode & 0x10 != 0 {
                planes.pop(); // wrong plane count
            }
            RawFrame::planar(width, height, format, &planes)
        }
    };

    match frame {
        Ok(frame) => {
            let mut filter = filter().lock().unwrap();
            let out: FilteredFrame = filter.filter(frame);
            assert_eq!(
                (out.width(), out.height(), out.format()),
                (width, height, format)
            );
            assert_eq!(out.data().len(), format.frame_len(width, height));
            if out.origin() == FrameOrigin::Black {
                assert!(out.is_all_black());
            }
        }
        Err(error) => {
            assert!(!error.to_string().is_empty());
            let black = FilteredFrame::black(width, height, format);
            assert!(black.is_all_black());
        }
    }
});
