//! Pixel formats, strides, the composite in every format, the placeholder.

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use blackout::{
    pack_rgb, FilterConfig, FrameOrigin, PixelFormat, Placeholder, PrivacyFilter, RawFrame,
};
use common::*;

fn script(
    p: impl FnMut(usize, u32, u32) -> u8 + Send + 'static,
) -> ScriptSegmenter<impl FnMut(usize, u32, u32) -> u8 + Send> {
    ScriptSegmenter {
        size: 32,
        script: p,
        frame: Arc::new(AtomicUsize::new(0)),
    }
}

fn test_frame(format: PixelFormat, w: u32, h: u32) -> Vec<u8> {
    pack_rgb(&bright_rgb(w, h), w, h, format)
}

#[test]
fn everyone_is_black_in_every_format() {
    let (w, h) = (48, 32);
    let mut filter = filter_with(relaxed(), script(|_, _, _| 255));
    for format in PixelFormat::ALL {
        let data = test_frame(format, w, h);
        let out = filter.filter(RawFrame::tight(&data, w, h, format).unwrap());
        assert_eq!(out.origin(), FrameOrigin::Filtered, "{format}");
        assert_all_black(&out);
        assert!(out.is_all_black());
    }
}

#[test]
fn nobody_leaves_every_format_unchanged_and_strides_are_removed() {
    let (w, h) = (48, 32);
    let mut filter = filter_with(relaxed(), script(|_, _, _| 0));
    for format in PixelFormat::ALL {
        let data = test_frame(format, w, h);
        let out = filter.filter(RawFrame::tight(&data, w, h, format).unwrap());
        assert_eq!(out.data(), &data[..], "{format}");
        assert!(!out.is_all_black());
    }
    // A packed frame with 16 bytes of row padding comes out tight.
    let tight = test_frame(PixelFormat::Rgba, w, h);
    let stride = w as usize * 4 + 16;
    let mut padded = vec![0xEEu8; stride * h as usize];
    for y in 0..h as usize {
        padded[y * stride..y * stride + w as usize * 4]
            .copy_from_slice(&tight[y * w as usize * 4..(y + 1) * w as usize * 4]);
    }
    let out = filter.filter(RawFrame::packed(&padded, w, h, PixelFormat::Rgba, stride).unwrap());
    assert_eq!(out.data(), &tight[..]);
    // Planar I420 given plane by plane, with strided planes.
    let i420 = test_frame(PixelFormat::I420, w, h);
    let (luma, chroma) = ((w * h) as usize, (w * h / 4) as usize);
    let pad = |plane: &[u8], row: usize, extra: usize| -> Vec<u8> {
        plane
            .chunks(row)
            .flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(0xAB, extra)))
            .collect()
    };
    let y = pad(&i420[..luma], w as usize, 8);
    let u = pad(&i420[luma..luma + chroma], w as usize / 2, 4);
    let v = pad(&i420[luma + chroma..], w as usize / 2, 4);
    let frame = RawFrame::planar(
        w,
        h,
        PixelFormat::I420,
        &[
            (&y, w as usize + 8),
            (&u, w as usize / 2 + 4),
            (&v, w as usize / 2 + 4),
        ],
    )
    .unwrap();
    assert_eq!(filter.filter(frame).data(), &i420[..]);
}

/// Left half person: in YUV formats, luma 0 and neutral chroma there, the right half intact.
#[test]
fn half_person_in_yuv_formats_paints_luma_and_chroma() {
    let (w, h) = (64u32, 32u32);
    let config = FilterConfig {
        dilation: 0.0,
        ..relaxed()
    };
    let mut filter = filter_with(config, script(|_, x, _| if x < 16 { 255 } else { 0 }));
    for format in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::I420] {
        let data = test_frame(format, w, h);
        let out = filter.filter(RawFrame::tight(&data, w, h, format).unwrap());
        let o = out.data();
        for y in 0..h as usize {
            for x in 0..w as usize {
                let (luma_i, u_i, v_i) = match format {
                    PixelFormat::Yuyv => {
                        let pair = (y * w as usize / 2 + x / 2) * 4;
                        (pair + (x & 1) * 2, pair + 1, pair + 3)
                    }
                    PixelFormat::Nv12 => {
                        let uv = (w * h) as usize + (y / 2) * w as usize + (x / 2) * 2;
                        (y * w as usize + x, uv, uv + 1)
                    }
                    _ => {
                        let c = (y / 2) * w as usize / 2 + x / 2;
                        let l = (w * h) as usize;
                        (y * w as usize + x, l + c, l + l / 4 + c)
                    }
                };
                if x < 30 {
                    assert_eq!(
                        (o[luma_i], o[u_i], o[v_i]),
                        (0, 128, 128),
                        "{format} {x},{y}"
                    );
                } else if x >= 34 {
                    assert_eq!(
                        (o[luma_i], o[u_i], o[v_i]),
                        (data[luma_i], data[u_i], data[v_i]),
                        "{format} {x},{y}"
                    );
                }
            }
        }
    }
}

/// The real model on a real photo, in every format: the person is covered in all of them.
#[test]
fn real_photo_person_is_covered_in_every_format() {
    let dir = blackout::quality::testdata_dir();
    let photo = image::open(dir.join("astronaut.png")).unwrap().to_rgb8();
    let truth = image::open(dir.join("astronaut.mask_general.png"))
        .unwrap()
        .to_luma8();
    let (w, h) = photo.dimensions();
    let mut filter = blackout::BlackoutFilter::new(relaxed());
    for format in PixelFormat::ALL {
        let data = pack_rgb(photo.as_raw(), w, h, format);
        let out = filter.filter(RawFrame::tight(&data, w, h, format).unwrap());
        assert_eq!(
            out.origin(),
            FrameOrigin::Filtered,
            "{format}: {}",
            filter.state()
        );
        let o = out.data();
        let black_at = |x: usize, y: usize| -> bool {
            let (w, h) = (w as usize, h as usize);
            match format {
                PixelFormat::Rgb24 => o[(y * w + x) * 3..][..3] == [0, 0, 0],
                PixelFormat::Rgba | PixelFormat::Bgra => o[(y * w + x) * 4..][..3] == [0, 0, 0],
                PixelFormat::Yuyv => {
                    let pair = (y * w / 2 + x / 2) * 4;
                    o[pair + (x & 1) * 2] == 0 && o[pair + 1] == 128 && o[pair + 3] == 128
                }
                PixelFormat::Nv12 => {
                    let uv = w * h + (y / 2) * w + (x / 2) * 2;
                    o[y * w + x] == 0 && o[uv] == 128 && o[uv + 1] == 128
                }
                PixelFormat::I420 => {
                    let c = (y / 2) * w / 2 + x / 2;
                    o[y * w + x] == 0 && o[w * h + c] == 128 && o[w * h + w * h / 4 + c] == 128
                }
            }
        };
        let (mut person, mut leaked) = (0, 0);
        for (i, t) in truth.as_raw().iter().enumerate() {
            if *t >= 128 {
                person += 1;
                leaked += usize::from(!black_at(i % w as usize, i / w as usize));
            }
        }
        assert!(person > 10_000);
        assert!(
            leaked * 200 <= person,
            "{format}: {leaked} of {person} person pixels visible"
        );
    }
}

#[test]
fn placeholder_replaces_the_camera_and_is_itself_filtered() {
    let (w, h) = (40u32, 30u32);
    let white = Placeholder::from_rgb(4, 4, vec![250; 4 * 4 * 3]).unwrap();
    let config = FilterConfig {
        placeholder: Some(white),
        dilation: 0.0,
        ..relaxed()
    };
    // No person in the placeholder: every frame is the placeholder, whatever the camera sees.
    let mut filter = filter_with(config.clone(), script(|_, _, _| 0));
    let a = filter.filter(RawFrame::tight(&bright_rgb(w, h), w, h, PixelFormat::Rgb24).unwrap());
    let b = filter
        .filter(RawFrame::tight(&vec![9; (w * h * 3) as usize], w, h, PixelFormat::Rgb24).unwrap());
    assert_eq!(a.origin(), FrameOrigin::Placeholder);
    assert_eq!(a.data(), b.data());
    assert!(a.data().iter().all(|&v| v == 250));
    // A "person" in the placeholder (left half) is blacked out like in a camera frame.
    let mut filter = filter_with(
        config.clone(),
        script(|_, x, _| if x < 16 { 255 } else { 0 }),
    );
    let c = filter.filter(RawFrame::tight(&bright_rgb(w, h), w, h, PixelFormat::Rgb24).unwrap());
    assert_eq!(&c.data()[..3], &[0, 0, 0]);
    assert_eq!(&c.data()[c.data().len() - 3..], &[250, 250, 250]);
    // And a failing segmenter makes it black, not the unfiltered placeholder.
    let mut filter = filter_with(config, ErrorSegmenter);
    let d = filter.filter(RawFrame::tight(&bright_rgb(w, h), w, h, PixelFormat::Rgb24).unwrap());
    assert_all_black(&d);
}

#[test]
fn black_is_total_and_filtered_frames_expose_planes() {
    for format in PixelFormat::ALL {
        for (w, h) in [(0, 0), (1, 1), (3, 5), (64, 48), (u32::MAX, 2)] {
            let f = blackout::FilteredFrame::black(w, h, format);
            assert!(f.is_all_black());
            assert!(f.width() <= blackout::MAX_DIMENSION);
            assert_eq!(f.data().len(), format.frame_len(f.width(), f.height()));
        }
        let f = blackout::FilteredFrame::black(64, 48, format);
        let total: usize = (0..format.plane_count())
            .map(|p| f.plane(p).unwrap().0.len())
            .sum();
        assert_eq!(total, f.data().len());
        assert!(f.plane(format.plane_count()).is_none());
    }
}
