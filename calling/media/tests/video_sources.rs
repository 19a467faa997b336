//! Video sources: the test pattern, files (Y4M, PNG, JPEG) and the camera.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use blackout::{BlackFrameFilter, PixelFormat, PrivacyFilter};
use media::video::{
    list_cameras, CapturedFrame, DecodedFrame, FileSource, NokhwaCamera, TestPatternSource,
    VideoError, VideoSource, DEFAULT_BLACK_TOLERANCE,
};

fn as_picture(frame: &CapturedFrame) -> DecodedFrame {
    assert_eq!(frame.format, PixelFormat::I420);
    DecodedFrame {
        width: frame.width,
        height: frame.height,
        i420: frame.data.clone(),
    }
}

#[test]
fn test_pattern_moves_and_is_far_from_black() {
    let mut source = TestPatternSource::new(640, 480, 24).paced(false);
    assert_eq!(source.resolution(), (640, 480));
    assert_eq!(source.fps(), 24);
    assert!(source.describe().contains("640x480"));
    let frames: Vec<CapturedFrame> = (0..10).map(|_| source.read_frame().unwrap()).collect();
    for pair in frames.windows(2) {
        assert_ne!(pair[0].data, pair[1].data, "consecutive frames differ");
    }
    for frame in &frames {
        assert!(frame.as_raw().is_ok());
        let picture = as_picture(frame);
        assert!(!picture.is_black(DEFAULT_BLACK_TOLERANCE));
        assert_eq!(picture.max_luma(), 235, "the white box");
        assert!(picture.mean_luma() > 80.0, "{}", picture.mean_luma());
        // Colourful: chroma far from neutral somewhere.
        let chroma = &frame.data[640 * 480..];
        assert!(chroma.iter().any(|&c| c.abs_diff(128) > 60));
        // ...and the filter's black output is unmistakably different.
        let black = BlackFrameFilter::new().filter(frame.as_raw().unwrap());
        assert!(black.is_all_black());
        assert_ne!(black.data(), &frame.data[..]);
    }
    // Reproducible: the picture depends on the frame index only.
    assert_eq!(
        TestPatternSource::new(640, 480, 24).render(3).data,
        frames[3].data
    );
}

#[test]
fn test_pattern_is_paced_in_real_time() {
    let mut source = TestPatternSource::new(64, 48, 50);
    let start = Instant::now();
    for _ in 0..6 {
        source.read_frame().unwrap();
    }
    // Frames at 0, 20, ..., 100 ms.
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

/// A Y4M file: `header` line, then one "FRAME" per frame (the second one with a parameter).
fn write_y4m(dir: &Path, name: &str, header: &str, frames: &[Vec<u8>]) -> PathBuf {
    let mut bytes = format!("{header}\n").into_bytes();
    for (i, f) in frames.iter().enumerate() {
        bytes.extend_from_slice(if i == 1 { b"FRAME Ip\n" } else { b"FRAME\n" });
        bytes.extend_from_slice(f);
    }
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Tight I420 frames of 4x2 with distinct contents.
fn tiny_frames(n: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| (0..12).map(|b| i * 20 + b).collect())
        .collect()
}

#[test]
fn y4m_is_played_in_a_loop_at_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let frames = tiny_frames(3);
    let path = write_y4m(
        dir.path(),
        "clip.y4m",
        "YUV4MPEG2 W4 H2 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG",
        &frames,
    );
    let mut source = FileSource::open(&path, 7).unwrap().paced(false);
    assert_eq!(source.resolution(), (4, 2));
    assert_eq!(source.fps(), 25, "the header's rate, not the default");
    assert_eq!(source.frame_count(), 3);
    assert!(source.describe().contains("clip.y4m"));
    for i in 0..7 {
        let f = source.read_frame().unwrap();
        assert_eq!((f.width, f.height, f.format), (4, 2, PixelFormat::I420));
        assert_eq!(f.data, frames[i % 3], "frame {i}");
    }

    // No F: the rate given to open.
    let path = write_y4m(
        dir.path(),
        "norate.y4m",
        "YUV4MPEG2 W4 H2 C420",
        &frames[..1],
    );
    assert_eq!(FileSource::open(&path, 7).unwrap().fps(), 7);
    // NTSC rate, rounded.
    let path = write_y4m(
        dir.path(),
        "ntsc.y4m",
        "YUV4MPEG2 W4 H2 F30000:1001",
        &frames,
    );
    assert_eq!(FileSource::open(&path, 7).unwrap().fps(), 30);
}

/// Opens `bytes` as a file and expects a Y4M error whose text contains `why`.
fn expect_y4m_error(dir: &Path, bytes: &[u8], why: &str) {
    let path = dir.join("bad.y4m");
    std::fs::write(&path, bytes).unwrap();
    match FileSource::open(&path, 24) {
        Err(e @ VideoError::Y4m { .. }) => {
            let text = e.to_string();
            assert!(text.contains(why) && text.contains("bad.y4m"), "{text}");
        }
        other => panic!(
            "{:?}: expected a Y4M error, got {other:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

#[test]
fn broken_y4m_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let frame = [7u8; 12];
    let with = |header: &str, body: &[u8]| [format!("{header}\n").as_bytes(), body].concat();
    let good_frame = [&b"FRAME\n"[..], &frame].concat();

    expect_y4m_error(d, &with("YUV4MPEG2 W4 H2", b""), "no frames");
    expect_y4m_error(
        d,
        &with("YUV4MPEG2 W4 H2 C444", &good_frame),
        "unsupported colour space",
    );
    expect_y4m_error(d, &with("YUV4MPEG2 W3 H2", &good_frame), "odd width");
    expect_y4m_error(d, &with("YUV4MPEG2 H2", &good_frame), "no width");
    expect_y4m_error(d, &with("YUV4MPEG2 W4 H2 F0:0", &good_frame), "frame rate");
    expect_y4m_error(
        d,
        &with("YUV4MPEG2 W4 H2 Z9", &good_frame),
        "unknown header field",
    );
    expect_y4m_error(
        d,
        &with("YUV4MPEG2 W4 H2", &[&good_frame[..], b"FRAMX\n"].concat()),
        "frame 1: expected a FRAME header",
    );
    expect_y4m_error(
        d,
        &with("YUV4MPEG2 W4 H2", &good_frame[..good_frame.len() - 1]),
        "frame 0 is truncated: 11 of 12 bytes",
    );
    expect_y4m_error(
        d,
        &with(
            "YUV4MPEG2 W4 H2",
            &[&good_frame[..], &good_frame[..10]].concat(),
        ),
        "frame 1 is truncated",
    );
    expect_y4m_error(
        d,
        &with("YUV4MPEG2 W4 H2", b"FRAME"),
        "ends inside a header line",
    );
    // A frame bigger than the header says: the extra bytes do not look like "FRAME".
    expect_y4m_error(
        d,
        &with("YUV4MPEG2 W4 H2", &[&good_frame[..], b"xx"].concat()),
        "frame 1",
    );
    // The magic alone, then 2 KiB without a newline.
    let mut long = b"YUV4MPEG2 W4 H2 X".to_vec();
    long.extend(std::iter::repeat_n(b'a', 2048));
    expect_y4m_error(d, &long, "no newline within 1024 bytes");
}

#[test]
fn unreadable_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let err = FileSource::open(&missing, 24).unwrap_err();
    assert!(matches!(err, VideoError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.png"), "{err}");

    let junk = dir.path().join("junk.png");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\nthis is not really a PNG").unwrap();
    let err = FileSource::open(&junk, 24).unwrap_err();
    assert!(matches!(err, VideoError::Image { .. }), "{err:?}");

    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(FileSource::open(&empty, 24).is_err());

    // A 1-pixel-wide picture has no even crop.
    let thin = dir.path().join("thin.png");
    image::RgbImage::new(1, 8).save(&thin).unwrap();
    let err = FileSource::open(&thin, 24).unwrap_err();
    assert!(matches!(err, VideoError::Frame(_)), "{err:?}");
}

#[test]
fn still_images_repeat_cropped_to_even_size() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["red.png", "red.jpg"] {
        let path = dir.path().join(name);
        image::RgbImage::from_pixel(7, 5, image::Rgb([220, 20, 20]))
            .save(&path)
            .unwrap();
        let mut source = FileSource::open(&path, 15).unwrap().paced(false);
        assert_eq!(source.resolution(), (6, 4), "{name}");
        assert_eq!(source.fps(), 15);
        assert_eq!(source.frame_count(), 1);
        let a = source.read_frame().unwrap();
        let b = source.read_frame().unwrap();
        assert_eq!(a.data, b.data);
        assert_eq!((a.width, a.height, a.format), (6, 4, PixelFormat::I420));
        assert!(a.as_raw().is_ok());
        // Red: luma ~ 70, V (last plane) well above neutral.
        let rgb = as_picture(&a).to_rgb24();
        assert!(
            rgb[0] > 180 && rgb[1] < 70 && rgb[2] < 70,
            "{name}: {:?}",
            &rgb[..3]
        );
    }
}

#[test]
fn without_a_camera_opening_one_says_so() {
    let cameras = list_cameras().expect("listing cameras never fails for lack of them");
    if cameras.is_empty() {
        // This machine (CI): no /dev/video*.
        let err = NokhwaCamera::open(0, 640, 480, 24).unwrap_err();
        assert!(matches!(err, VideoError::NoCamera), "{err:?}");
        assert!(err.to_string().contains("no camera found"), "{err}");
    } else {
        // A developer machine with a camera: an index that does not exist.
        let err = NokhwaCamera::open(u32::MAX, 640, 480, 24).unwrap_err();
        assert!(matches!(err, VideoError::CameraNotFound { .. }), "{err:?}");
    }
}

#[test]
fn inconsistent_captured_frames_are_refused_by_as_raw() {
    let frame = CapturedFrame {
        width: 4,
        height: 2,
        format: PixelFormat::I420,
        data: vec![0; 11],
        captured_at: Instant::now(),
    };
    assert!(frame.as_raw().is_err());
}
