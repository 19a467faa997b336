//! VP8 encoder and decoder: round trips through the privacy filter, keyframes, bitrate,
//! and untrusted input.

use std::time::Duration;

use blackout::{
    pack_rgb, BlackFrameFilter, BlackoutFilter, FilterConfig, FilteredFrame, FrameOrigin,
    PixelFormat, PrivacyFilter, RgbImage, SegmentError, Segmenter,
};
use media::video::{
    CapturedFrame, DecodedFrame, EncodedFrame, EncoderConfig, TestPatternSource, VideoDecoder,
    VideoEncoder, VideoError, VideoSource, DEFAULT_BITRATE_KBPS, DEFAULT_BLACK_TOLERANCE,
    DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH, MAX_BITRATE_KBPS, MIN_BITRATE_KBPS,
};

/// A segmenter that finds nobody: the filter passes every pixel through. It is the honest
/// way to get non-black `FilteredFrame`s in a test (a scene without a person), without the
/// model.
struct NoPerson;

impl Segmenter for NoPerson {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (32, 32)
    }
    fn segment(&mut self, _: RgbImage<'_>, mask: &mut [u8]) -> Result<(), SegmentError> {
        mask.fill(0);
        Ok(())
    }
}

/// The blackout filter with [`NoPerson`], and deadlines generous enough for a loaded CI
/// machine (a missed deadline would turn the frame black and the test meaningless).
fn empty_room_filter() -> BlackoutFilter {
    let config = FilterConfig {
        deadline: Duration::from_secs(10),
        stall_limit: Duration::from_secs(20),
        ..FilterConfig::default()
    };
    BlackoutFilter::with_segmenter(config, || Ok(Box::new(NoPerson) as Box<dyn Segmenter>))
}

/// Filters a captured frame, asserting that the filter let it through.
fn pass(filter: &mut BlackoutFilter, frame: &CapturedFrame) -> FilteredFrame {
    let out = filter.filter(frame.as_raw().unwrap());
    assert_eq!(out.origin(), FrameOrigin::Filtered, "{}", filter.state());
    assert!(!out.is_all_black());
    out
}

fn pattern(width: u32, height: u32, fps: u32) -> TestPatternSource {
    TestPatternSource::new(width, height, fps).paced(false)
}

fn encoder(width: u32, height: u32, fps: u32, kbps: u32) -> VideoEncoder {
    VideoEncoder::new(EncoderConfig {
        width,
        height,
        fps,
        bitrate_kbps: kbps,
        ..EncoderConfig::new(width, height, fps)
    })
    .unwrap()
}

/// Encodes one frame, expecting exactly one packet (no frame dropping, no look-ahead).
fn encode_one(enc: &mut VideoEncoder, frame: &FilteredFrame, key: bool) -> EncodedFrame {
    let mut packets = enc.encode(frame, key).unwrap();
    assert_eq!(packets.len(), 1, "one frame in, one frame out");
    packets.pop().unwrap()
}

fn decode_one(dec: &mut VideoDecoder, data: &[u8]) -> DecodedFrame {
    let mut frames = dec.decode(data).unwrap();
    assert_eq!(frames.len(), 1);
    frames.pop().unwrap()
}

fn mean(values: &[u8]) -> f64 {
    values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64
}

#[test]
fn blacked_out_pattern_decodes_black_at_640x480() {
    let mut source = pattern(DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_FPS);
    let mut filter = BlackFrameFilter::new();
    let mut enc = VideoEncoder::new(EncoderConfig::default()).unwrap();
    let mut dec = VideoDecoder::new().unwrap();
    for n in 0..30 {
        let captured = source.read_frame().unwrap();
        // The pattern itself is far from black: the check below means something.
        let as_decoded = DecodedFrame {
            width: captured.width,
            height: captured.height,
            i420: captured.data.clone(),
        };
        assert!(!as_decoded.is_black(DEFAULT_BLACK_TOLERANCE));
        let filtered = filter.filter(captured.as_raw().unwrap());
        assert!(filtered.is_all_black());
        let packet = encode_one(&mut enc, &filtered, false);
        assert_eq!(packet.keyframe, n == 0, "frame {n}");
        let picture = decode_one(&mut dec, &packet.data);
        assert_eq!((picture.width, picture.height), (640, 480));
        assert!(
            picture.is_black(DEFAULT_BLACK_TOLERANCE),
            "frame {n}: max luma {}",
            picture.max_luma()
        );
    }
}

#[test]
fn unblacked_pattern_survives_the_round_trip() {
    let mut source = pattern(640, 480, 24);
    let mut filter = empty_room_filter();
    let mut enc = encoder(640, 480, 24, DEFAULT_BITRATE_KBPS);
    let mut dec = VideoDecoder::new().unwrap();
    for n in 0..24 {
        let captured = source.read_frame().unwrap();
        let filtered = pass(&mut filter, &captured);
        let packet = encode_one(&mut enc, &filtered, false);
        let picture = decode_one(&mut dec, &packet.data);
        assert!(!picture.is_black(DEFAULT_BLACK_TOLERANCE), "frame {n}");
        assert!(picture.max_luma() > 200, "frame {n}: the white box is gone");
        // Luma close to the source on average: the codec reproduces the picture.
        let luma = 640 * 480;
        let diff: f64 = captured.data[..luma]
            .iter()
            .zip(&picture.i420[..luma])
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / luma as f64;
        assert!(diff < 6.0, "frame {n}: mean luma error {diff:.1}");
        assert!((mean(&captured.data[..luma]) - picture.mean_luma()).abs() < 2.0);
    }
}

#[test]
fn every_filtered_format_is_encoded() {
    let (w, h) = (64, 48);
    // A picture with a gradient, packed in every camera format and passed through the filter.
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [(x * 4) as u8, (y * 5) as u8, 128]
        })
        .collect();
    let mut filter = empty_room_filter();
    let mut means = Vec::new();
    for format in PixelFormat::ALL {
        let packed = pack_rgb(&rgb, w, h, format);
        let filtered = filter.filter_bytes(&packed, w, h, format, None).unwrap();
        assert!(!filtered.is_all_black(), "{format}");
        let mut enc = encoder(w, h, 24, 300);
        let mut dec = VideoDecoder::new().unwrap();
        let picture = decode_one(&mut dec, &encode_one(&mut enc, &filtered, false).data);
        means.push((format, picture.mean_luma()));

        let black = FilteredFrame::black(w, h, format);
        let picture = decode_one(&mut dec, &encode_one(&mut enc, &black, false).data);
        assert!(picture.is_black(DEFAULT_BLACK_TOLERANCE), "{format}");
    }
    let reference = means[0].1;
    assert!(reference > 40.0);
    for (format, m) in means {
        assert!(
            (m - reference).abs() < 2.0,
            "{format}: {m:.1} vs {reference:.1}"
        );
    }
}

#[test]
fn keyframes_come_first_on_request_and_every_three_seconds() {
    let fps = 10;
    let mut source = pattern(160, 120, fps);
    let mut filter = BlackFrameFilter::new();
    let mut enc = encoder(160, 120, fps, 300);
    let keys: Vec<bool> = (0..50)
        .map(|n| {
            let frame = filter.filter(source.read_frame().unwrap().as_raw().unwrap());
            encode_one(&mut enc, &frame, n == 10).keyframe
        })
        .collect();
    let positions: Vec<usize> = (0..keys.len()).filter(|&n| keys[n]).collect();
    // The first frame, the forced one, then 3 s (30 frames) after it.
    assert_eq!(positions, [0, 10, 40], "{keys:?}");
}

#[test]
fn a_higher_bitrate_gives_bigger_frames() {
    let mut source = pattern(640, 480, 24);
    let mut filter = empty_room_filter();
    let frames: Vec<FilteredFrame> = (0..96)
        .map(|_| pass(&mut filter, &source.read_frame().unwrap()))
        .collect();
    // Average size of the interframes before and after switching the target bitrate from
    // `kbps` to `then` at frame `at`.
    let run = |kbps: u32, at: usize, then: u32| -> (f64, f64) {
        let mut enc = encoder(640, 480, 24, kbps);
        let packets: Vec<EncodedFrame> = frames
            .iter()
            .enumerate()
            .map(|(n, f)| {
                if n == at {
                    assert_eq!(enc.set_bitrate_kbps(then).unwrap(), then);
                }
                encode_one(&mut enc, f, false)
            })
            .collect();
        assert!(!packets[at].keyframe, "a bitrate change forces no keyframe");
        let avg = |r: std::ops::Range<usize>| {
            let inter: Vec<usize> = packets[r]
                .iter()
                .filter(|p| !p.keyframe)
                .map(|p| p.data.len())
                .collect();
            inter.iter().sum::<usize>() as f64 / inter.len() as f64
        };
        // Before the switch, and after the rate control has had half a second to follow.
        (avg(0..at), avg(at + 12..packets.len()))
    };
    let (low, high) = run(200, 48, 2000);
    assert!(
        high > 2.0 * low,
        "200 kbit/s: {low:.0} B, 2000 kbit/s: {high:.0} B"
    );
    // 2000 kbit/s at 24 fps is ~10 kB a frame; 200 kbit/s ~1 kB (CBR, within reason).
    assert!(low < 2500.0, "{low:.0}");
    let (before, after) = run(2000, 48, 200);
    assert!(before > 2.0 * after, "down: {before:.0} B -> {after:.0} B");
}

#[test]
fn bitrate_is_clamped() {
    let mut enc = encoder(64, 48, 24, 0);
    assert_eq!(enc.bitrate_kbps(), MIN_BITRATE_KBPS);
    assert_eq!(enc.config().bitrate_kbps, MIN_BITRATE_KBPS);
    assert_eq!(enc.set_bitrate_kbps(u32::MAX).unwrap(), MAX_BITRATE_KBPS);
    assert_eq!(enc.bitrate_kbps(), MAX_BITRATE_KBPS);
    assert_eq!(enc.set_bitrate_kbps(1).unwrap(), MIN_BITRATE_KBPS);
    assert_eq!(enc.set_bitrate_kbps(1000).unwrap(), 1000);
    // Still encodes after the changes.
    let frame = FilteredFrame::black(64, 48, PixelFormat::I420);
    encode_one(&mut enc, &frame, false);
}

#[test]
fn frames_of_another_size_are_refused() {
    let mut enc = encoder(640, 480, 24, 800);
    let frame = FilteredFrame::black(320, 240, PixelFormat::I420);
    let err = enc.encode(&frame, false).unwrap_err();
    assert!(matches!(err, VideoError::FrameSize { .. }), "{err:?}");
    assert!(err.to_string().contains("320x240"), "{err}");
    // The encoder is still usable.
    encode_one(
        &mut enc,
        &FilteredFrame::black(640, 480, PixelFormat::I420),
        false,
    );
}

#[test]
fn bad_configurations_are_refused() {
    for (w, h, fps) in [
        (641, 480, 24),
        (640, 0, 24),
        (0, 0, 24),
        (640, 480, 0),
        (640, 480, 1000),
        (9000, 480, 24),
    ] {
        let err = VideoEncoder::new(EncoderConfig::new(w, h, fps)).unwrap_err();
        assert!(
            matches!(err, VideoError::InvalidConfig(_)),
            "{w}x{h}@{fps}: {err}"
        );
    }
}

/// A deterministic byte generator (no dependency on a random crate for a handful of bytes).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn decoder_rejects_garbage_and_recovers() {
    let mut dec = VideoDecoder::new().unwrap();
    for bad in [
        &[][..],
        &[0],
        &[0, 0],
        &[1, 0, 0],                               // an interframe with nothing before it
        &[0, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02], // keyframe cut inside its header
        &[0, 0, 0, 0x12, 0x34, 0x56, 0x80, 0x02, 0xe0, 0x01], // no start code
        &[0, 0, 0, 0x9d, 0x01, 0x2a, 0xff, 0x3f, 0xff, 0x3f], // 16383x16383
        b"definitely not a VP8 frame",
    ] {
        let err = dec.decode(bad).unwrap_err();
        assert!(matches!(err, VideoError::Decode(_)), "{bad:?}: {err:?}");
    }
    for seed in 0..200 {
        let data = noise(seed, 1 + (seed as usize * 37) % 3000);
        // Anything but a panic; before any keyframe nothing can decode.
        assert!(dec.decode(&data).is_err(), "seed {seed}");
    }

    // A real stream, then damaged frames: errors or garbage pictures, never a panic.
    let mut enc = encoder(160, 120, 24, 300);
    let mut source = pattern(160, 120, 24);
    let mut filter = empty_room_filter();
    let packets: Vec<EncodedFrame> = (0..5)
        .map(|_| {
            encode_one(
                &mut enc,
                &pass(&mut filter, &source.read_frame().unwrap()),
                false,
            )
        })
        .collect();
    let key = &packets[0].data;
    decode_one(&mut dec, key);
    for cut in [10, 20, key.len() / 2, key.len() - 1] {
        let _ = dec.decode(&key[..cut]);
    }
    for seed in 0..100u64 {
        let mut damaged = packets[1 + seed as usize % 4].data.clone();
        for (i, b) in noise(seed, 8).into_iter().enumerate() {
            let at = (usize::from(b) * 31 + i * 7) % damaged.len();
            damaged[at] ^= b | 1;
        }
        if let Ok(frames) = dec.decode(&damaged) {
            for f in frames {
                assert_eq!((f.width, f.height), (160, 120));
            }
        }
        let mut interframe = noise(seed, 50 + seed as usize * 13);
        interframe[0] |= 1;
        let _ = dec.decode(&interframe);
    }
    // A fresh keyframe brings the decoder back.
    let fresh = encode_one(
        &mut enc,
        &pass(&mut filter, &source.read_frame().unwrap()),
        true,
    );
    assert!(fresh.keyframe);
    let picture = decode_one(&mut dec, &fresh.data);
    assert!(!picture.is_black(DEFAULT_BLACK_TOLERANCE));
}

#[test]
fn decoded_frames_save_as_readable_png() {
    let mut enc = encoder(64, 48, 24, 300);
    let mut dec = VideoDecoder::new().unwrap();
    let mut filter = empty_room_filter();
    let captured = pattern(64, 48, 24).read_frame().unwrap();
    let picture = decode_one(
        &mut dec,
        &encode_one(&mut enc, &pass(&mut filter, &captured), false).data,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.png");
    picture.save_png(&path).unwrap();
    let read = image::open(&path).unwrap().to_rgb8();
    assert_eq!(read.dimensions(), (64, 48));
    assert_eq!(read.into_raw(), picture.to_rgb24());

    // A directory that does not exist: an error naming the path, no panic.
    let err = picture
        .save_png(dir.path().join("missing/frame.png"))
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn screen_content_round_trips_sharp_at_the_shared_size() {
    use media::video::{ScreenSource, SyntheticScreen};
    let mut screen = SyntheticScreen::new(1280, 720).paced(false);
    let mut enc = VideoEncoder::new(EncoderConfig::screen(1280, 720, 5)).unwrap();
    let mut dec = VideoDecoder::new().unwrap();
    for n in 0..10 {
        let frame = screen.read_frame().unwrap();
        let mut packets = enc.encode_screen(&frame, false).unwrap();
        assert_eq!(packets.len(), 1, "one frame in, one frame out");
        let packet = packets.pop().unwrap();
        assert_eq!(packet.keyframe, n == 0);
        let picture = dec.decode(&packet.data).unwrap().pop().unwrap();
        assert_eq!((picture.width, picture.height), (1280, 720));
        assert!(!picture.is_black(media::video::DEFAULT_BLACK_TOLERANCE));
        // Paper stays paper: the top-left corner below the title bar is near white.
        let y = picture.i420[(200 * 1280 + 10) as usize];
        assert!(y > 220, "paper luma {y} in frame {n}");
    }
    // A screen frame of another size is refused, as for the camera.
    let other = SyntheticScreen::new(640, 360)
        .paced(false)
        .read_frame()
        .unwrap();
    assert!(matches!(
        enc.encode_screen(&other, false),
        Err(media::video::VideoError::FrameSize { .. })
    ));
}
