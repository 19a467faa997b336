//! One test (or group) per invariant of DESIGN.md section 5 "Human blackout".

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blackout::{
    BlackFrameFilter, BlackoutFilter, FilterConfig, FilterState, FrameOrigin, ModelSource,
    PixelFormat, PrivacyFilter, RawFrame, UnavailableReason,
};
use common::*;

const W: u32 = 64;
const H: u32 = 48;

fn run_frames(filter: &mut dyn PrivacyFilter, frames: usize) -> Vec<blackout::FilteredFrame> {
    let pixels = bright_rgb(W, H);
    (0..frames)
        .map(|_| filter.filter(RawFrame::tight(&pixels, W, H, PixelFormat::Rgb24).unwrap()))
        .collect()
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("blackout-test-{}-{name}", std::process::id()))
}

fn assert_unavailable(filter: &dyn PrivacyFilter, permanent: bool) -> UnavailableReason {
    match filter.state() {
        FilterState::Unavailable { reason } => {
            assert_eq!(reason.is_permanent(), permanent, "{reason}");
            assert!(filter
                .state()
                .to_string()
                .starts_with("blackout unavailable: camera blacked out"));
            reason
        }
        other => panic!("expected unavailable, got {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// Invariant 1: no raw frame reaches an encoder, a socket, a remote preview or a file: only
// frames that passed the filter, or fully black frames. (The type side is also shown by the
// compile_fail doctests on `FilteredFrame`.)

/// Every public function of the crate that hands out a `FilteredFrame` is either a filter or
/// `FilteredFrame::black`; `FilteredFrame` has no public field and no conversion trait.
#[test]
fn invariant_1_no_raw_frame_reaches_encoder_only_filter_and_black_make_filtered_frames() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut makers = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        // No public field.
        if let Some(i) = code.find("pub struct FilteredFrame {") {
            let body = &code[i..i + code[i..].find('}').unwrap()];
            assert_eq!(
                body.matches("pub ").count(),
                1,
                "FilteredFrame has a public field"
            );
        }
        // No trait impls but Clone (of a filtered frame), Debug and Drop.
        for (i, _) in code.match_indices(" for FilteredFrame") {
            let line = code[..i].rsplit('\n').next().unwrap_or("");
            assert!(
                ["impl Clone", "impl std::fmt::Debug", "impl Drop"].contains(&line),
                "{}: unexpected `{line} for FilteredFrame`",
                path.display()
            );
        }
        // Public functions returning a FilteredFrame (or Self inside `impl FilteredFrame`):
        // `pub fn`, and every `fn` of a public trait or of a trait impl.
        for (i, _) in code.match_indices("fn ") {
            let line_start = code[..i].rfind('\n').map_or(0, |n| n + 1);
            let prefix = code[line_start..i].trim();
            if !matches!(prefix, "" | "pub") {
                continue; // pub(crate), or `fn` inside an expression / word
            }
            let container = ["\nimpl", "\npub trait", "\ntrait"]
                .iter()
                .filter_map(|k| code[..i].rfind(k).map(|s| &code[s + 1..]))
                .max_by_key(|c| code.len() - c.len())
                .unwrap_or("");
            let container = container.lines().next().unwrap_or("");
            let public = prefix == "pub"
                || container.starts_with("pub trait")
                || (container.starts_with("impl") && container.contains(" for "));
            let sig = &code[i..i + code[i..].find(['{', ';']).unwrap()];
            let ret = sig.rsplit_once("->").map(|(_, r)| r).unwrap_or("");
            let in_filtered_impl = container.starts_with("impl FilteredFrame {")
                || container.ends_with(" for FilteredFrame {");
            if public
                && (ret.contains("FilteredFrame") || (in_filtered_impl && ret.contains("Self")))
            {
                let name = sig["fn ".len()..].split(['(', '<']).next().unwrap();
                makers.push(format!("{name} in `{}`", container.trim_end_matches(" {")));
            }
        }
    }
    makers.sort();
    let expected = [
        "black in `impl FilteredFrame`",
        "clone in `impl Clone for FilteredFrame`",
        "filter in `impl PrivacyFilter for BlackFrameFilter`",
        "filter in `impl PrivacyFilter for BlackoutFilter`",
        "filter in `pub trait PrivacyFilter: Send`",
        "filter_bytes in `pub trait PrivacyFilter: Send`",
    ];
    assert_eq!(makers, expected, "public makers of FilteredFrame");
}

/// The always-black filter never lets a pixel through, whatever the input.
#[test]
fn invariant_1_no_raw_frame_reaches_encoder_black_frame_filter_is_all_black() {
    let mut filter = BlackFrameFilter::new();
    for format in PixelFormat::ALL {
        let data: Vec<u8> = (0..format.frame_len(W, H)).map(|i| i as u8 | 1).collect();
        let out = filter.filter(RawFrame::tight(&data, W, H, format).unwrap());
        assert_eq!((out.width(), out.height(), out.format()), (W, H, format));
        assert_eq!(out.origin(), FrameOrigin::Black);
        assert_all_black(&out);
    }
    assert_unavailable(&filter, true);
    assert_eq!(
        filter.state().to_string(),
        "blackout unavailable: camera blacked out (blackout is off)"
    );
}

/// A filtered frame is the input with the person painted: pixels the mask marks are black,
/// the others are the input's (the filter changes nothing else and adds nothing).
#[test]
fn invariant_1_no_raw_frame_reaches_encoder_filtered_frame_is_painted_input() {
    let frame_no = Arc::new(AtomicUsize::new(0));
    let seg = ScriptSegmenter {
        size: 16,
        script: |_, x, _| if x < 8 { 255 } else { 0 },
        frame: frame_no,
    };
    let mut filter = filter_with(
        FilterConfig {
            dilation: 0.0,
            ..relaxed()
        },
        seg,
    );
    let pixels = bright_rgb(W, H);
    let out = filter.filter(RawFrame::tight(&pixels, W, H, PixelFormat::Rgb24).unwrap());
    assert_eq!(out.origin(), FrameOrigin::Filtered);
    let mut painted = 0;
    for (i, (o, p)) in out
        .data()
        .chunks_exact(3)
        .zip(pixels.chunks_exact(3))
        .enumerate()
    {
        let x = i as u32 % W;
        if o == [0, 0, 0] {
            painted += 1;
        } else {
            assert_eq!(o, p, "an unpainted pixel must be the input's");
            assert!(x >= W / 2 - 2, "left half (person) visible at x={x}");
        }
    }
    assert!(painted >= (W * H / 2) as usize && painted < (W * H) as usize);
}

// ---------------------------------------------------------------------------------------
// Invariant 2: fail-safe. Missing or corrupt model, inference error or panic, a missed
// deadline, a stalled worker: fully black frames, never the input.

#[test]
fn invariant_2_fail_safe_missing_model_file_gives_black_frames() {
    let mut filter = BlackoutFilter::new(FilterConfig {
        model: ModelSource::File(temp_path("does-not-exist.onnx")),
        ..relaxed()
    });
    let reason = assert_unavailable(&filter, true);
    assert!(reason.to_string().contains("cannot read model"), "{reason}");
    for out in run_frames(&mut filter, 3) {
        assert_all_black(&out);
    }
    assert_unavailable(&filter, true);
}

#[test]
fn invariant_2_fail_safe_truncated_model_gives_black_frames() {
    let path = temp_path("truncated.onnx");
    std::fs::write(
        &path,
        &blackout::GENERAL_ONNX[..blackout::GENERAL_ONNX.len() / 2],
    )
    .unwrap();
    let mut filter = BlackoutFilter::new(FilterConfig {
        model: ModelSource::File(path.clone()),
        ..relaxed()
    });
    std::fs::remove_file(&path).ok();
    let reason = assert_unavailable(&filter, true);
    assert!(matches!(reason, UnavailableReason::Model(_)), "{reason}");
    for out in run_frames(&mut filter, 3) {
        assert_all_black(&out);
    }
}

#[test]
fn invariant_2_fail_safe_corrupt_model_gives_black_frames() {
    let path = temp_path("garbage.onnx");
    let garbage: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, garbage).unwrap();
    let mut filter = BlackoutFilter::new(FilterConfig {
        model: ModelSource::File(path.clone()),
        ..relaxed()
    });
    std::fs::remove_file(&path).ok();
    assert_unavailable(&filter, true);
    for out in run_frames(&mut filter, 2) {
        assert_all_black(&out);
    }
}

#[test]
fn invariant_2_fail_safe_model_that_errors_gives_black_frames() {
    let mut filter = filter_with(relaxed(), ErrorSegmenter);
    assert!(filter.state().is_active(), "loaded fine");
    for out in run_frames(&mut filter, 3) {
        assert_all_black(&out);
    }
    let reason = assert_unavailable(&filter, false);
    assert!(reason.to_string().contains("injected inference error"));
}

#[test]
fn invariant_2_fail_safe_panic_inside_inference_gives_black_frames_for_good() {
    let mut filter = filter_with(relaxed(), PanicSegmenter);
    for out in run_frames(&mut filter, 3) {
        assert_all_black(&out);
    }
    let reason = assert_unavailable(&filter, true);
    assert!(reason.to_string().contains("injected panic"), "{reason}");
}

#[test]
fn invariant_2_fail_safe_panic_while_loading_gives_black_frames() {
    let mut filter = BlackoutFilter::with_segmenter(relaxed(), || panic!("injected load panic"));
    let reason = assert_unavailable(&filter, true);
    assert!(
        reason.to_string().contains("injected load panic"),
        "{reason}"
    );
    for out in run_frames(&mut filter, 2) {
        assert_all_black(&out);
    }
}

#[test]
fn invariant_2_fail_safe_inference_past_deadline_gives_black_frames() {
    let slow = Arc::new(AtomicBool::new(true));
    let seg = SleepySegmenter {
        delay: Duration::from_millis(150),
        slow: slow.clone(),
    };
    let mut filter = filter_with(
        FilterConfig {
            deadline: Duration::from_millis(30),
            ..relaxed()
        },
        seg,
    );
    let out = &run_frames(&mut filter, 1)[0];
    assert_all_black(out);
    assert!(matches!(
        assert_unavailable(&filter, false),
        UnavailableReason::DeadlineMissed(_)
    ));
}

#[test]
fn invariant_2_fail_safe_stalled_worker_is_caught_by_watchdog() {
    let slow = Arc::new(AtomicBool::new(true));
    let seg = SleepySegmenter {
        delay: Duration::from_millis(700),
        slow: slow.clone(),
    };
    let mut filter = filter_with(
        FilterConfig {
            deadline: Duration::from_millis(20),
            stall_limit: Duration::from_millis(150),
            ..relaxed()
        },
        seg,
    );
    assert_all_black(&run_frames(&mut filter, 1)[0]);
    std::thread::sleep(Duration::from_millis(250));
    // The UI sees the stall without a frame being filtered...
    assert!(matches!(
        assert_unavailable(&filter, false),
        UnavailableReason::Stalled(_)
    ));
    // ...and frames submitted meanwhile are black at once.
    let t = Instant::now();
    assert_all_black(&run_frames(&mut filter, 1)[0]);
    assert!(t.elapsed() < Duration::from_millis(100));
    assert!(matches!(
        assert_unavailable(&filter, false),
        UnavailableReason::Stalled(_)
    ));
}

#[test]
fn invariant_2_fail_safe_bad_frames_give_an_error_and_black() {
    let mut filter = BlackoutFilter::new(relaxed());
    let rgb = vec![200u8; 64 * 48 * 3];
    let yuyv = vec![200u8; 63 * 48 * 2];
    // (bytes, width, height, format, stride)
    type Case<'a> = (&'a [u8], u32, u32, PixelFormat, Option<usize>);
    let cases: Vec<Case> = vec![
        (&rgb, 0, 48, PixelFormat::Rgb24, None),
        (&rgb, 64, 0, PixelFormat::Rgb24, None),
        (&yuyv, 63, 48, PixelFormat::Yuyv, None),
        (&rgb, 63, 47, PixelFormat::Nv12, None),
        (&rgb, 64, 48, PixelFormat::Rgb24, Some(100)),
        (&rgb[..rgb.len() - 1], 64, 48, PixelFormat::Rgb24, None),
        (&rgb, 64, 48, PixelFormat::Rgba, None),
        (&rgb, 64, 48, PixelFormat::Nv12, Some(64)),
        (&rgb, 100_000, 48, PixelFormat::Rgb24, None),
    ];
    for (data, w, h, format, stride) in cases {
        match filter.filter_bytes(data, w, h, format, stride) {
            Ok(_) => panic!("{w}x{h} {format} {stride:?} accepted"),
            Err(rejected) => {
                assert!(!rejected.error.to_string().is_empty());
                assert_all_black(&rejected.black);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invariant 3: over-segmentation. The mask is dilated; uncertain pixels count as person.

/// A person square in the middle of the mask: the painted area is the square grown by the
/// dilation radius in every direction, and no pixel of the square itself is visible.
#[test]
fn invariant_3_over_segmentation_mask_is_dilated() {
    let (w, h) = (256u32, 256u32);
    let seg = |frame: Arc<AtomicUsize>| ScriptSegmenter {
        size: 64,
        script: |_, x, y| {
            if (24..40).contains(&x) && (24..40).contains(&y) {
                255
            } else {
                0
            }
        },
        frame,
    };
    let painted_extent = |dilation: f32| {
        let mut filter = filter_with(
            FilterConfig {
                dilation,
                ..relaxed()
            },
            seg(Arc::new(AtomicUsize::new(0))),
        );
        let pixels = bright_rgb(w, h);
        let out = filter.filter(RawFrame::tight(&pixels, w, h, PixelFormat::Rgb24).unwrap());
        let black: Vec<bool> = out.data().chunks_exact(3).map(|p| p == [0, 0, 0]).collect();
        // The square (frame pixels 96..160) is entirely black.
        for y in 96..160 {
            for x in 96..160 {
                assert!(black[(y * w + x) as usize], "square pixel {x},{y} visible");
            }
        }
        // Extent of the painted area along the middle row.
        let row = &black[(128 * w) as usize..(129 * w) as usize];
        (
            row.iter().position(|&b| b).unwrap(),
            row.iter().rposition(|&b| b).unwrap(),
        )
    };
    let (l0, r0) = painted_extent(0.0);
    let (l1, r1) = painted_extent(0.05); // 12.8 px at 256 wide
    assert!(l0 >= 94 && r0 <= 161, "undilated extent {l0}..{r0}");
    assert!(
        l0 - l1 >= 12 && r1 - r0 >= 12,
        "dilated extent {l1}..{r1} vs {l0}..{r0}"
    );
    assert!(
        l0 - l1 <= 20 && r1 - r0 <= 20,
        "dilation too wide: {l1}..{r1}"
    );
}

/// Probabilities between the threshold (0.25) and MediaPipe's 0.5 count as person.
#[test]
fn invariant_3_over_segmentation_uncertain_pixels_count_as_person() {
    let black_fraction = |p: u8| {
        let seg = ScriptSegmenter {
            size: 32,
            script: move |_, _, _| p,
            frame: Arc::new(AtomicUsize::new(0)),
        };
        let mut filter = filter_with(relaxed(), seg);
        let out = &run_frames(&mut filter, 1)[0];
        assert_eq!(out.origin(), FrameOrigin::Filtered);
        out.data()
            .chunks_exact(3)
            .filter(|p| *p == [0, 0, 0])
            .count() as f64
            / (W * H) as f64
    };
    assert_eq!(black_fraction(77), 1.0, "p = 0.30 is person");
    assert_eq!(black_fraction(64), 1.0, "p = 0.25 is person");
    assert_eq!(black_fraction(51), 0.0, "p = 0.20 is background");
}

/// A pixel that was person in any of the last K frames stays black.
#[test]
fn invariant_3_over_segmentation_temporal_hold_keeps_recent_person_black() {
    let seg = ScriptSegmenter {
        size: 32,
        // The person is there in frame 0 only (left half).
        script: |n, x, _| if n == 0 && x < 16 { 255 } else { 0 },
        frame: Arc::new(AtomicUsize::new(0)),
    };
    let k = 4;
    let mut filter = filter_with(
        FilterConfig {
            hold_frames: k,
            dilation: 0.0,
            ..relaxed()
        },
        seg,
    );
    let outs = run_frames(&mut filter, k + 1);
    let left_black = |f: &blackout::FilteredFrame| {
        f.data()
            .chunks_exact(3)
            .enumerate()
            .filter(|(i, _)| (*i as u32 % W) < W / 2 - 2)
            .all(|(_, p)| p == [0, 0, 0])
    };
    for (n, out) in outs.iter().enumerate().take(k) {
        assert!(left_black(out), "frame {n}: held person visible");
    }
    assert!(!left_black(&outs[k]), "frame {k}: hold should have expired");
}

// ---------------------------------------------------------------------------------------
// Invariant 4: real time. At least 24 fps at 640x480 on one core (benchmark:
// `cargo bench -p blackout`); the pipeline drops to black rather than falling behind.

#[test]
fn invariant_4_real_time_drops_to_black_rather_than_falling_behind() {
    let slow = Arc::new(AtomicBool::new(true));
    let seg = SleepySegmenter {
        delay: Duration::from_millis(120),
        slow: slow.clone(),
    };
    let deadline = Duration::from_millis(25);
    let mut filter = filter_with(
        FilterConfig {
            deadline,
            ..relaxed()
        },
        seg,
    );
    // While inference is slow, every call returns by its deadline with a black frame,
    // and frames are dropped rather than queued.
    let mut reasons = Vec::new();
    for _ in 0..6 {
        let t = Instant::now();
        assert_all_black(&run_frames(&mut filter, 1)[0]);
        assert!(
            t.elapsed() < deadline + Duration::from_millis(40),
            "{:?}",
            t.elapsed()
        );
        reasons.push(assert_unavailable(&filter, false));
    }
    assert!(reasons
        .iter()
        .any(|r| matches!(r, UnavailableReason::FellBehind)));
    // Once inference is fast again, the filter catches up at once: the frame returned is
    // the current one, filtered (no backlog of old frames).
    slow.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    let pixels: Vec<u8> = vec![77; (W * H * 3) as usize];
    let out = filter.filter(RawFrame::tight(&pixels, W, H, PixelFormat::Rgb24).unwrap());
    assert_eq!(out.origin(), FrameOrigin::Filtered);
    assert_eq!(
        out.data(),
        &pixels[..],
        "the current frame, no person in it"
    );
    assert!(filter.state().is_active());
}

// The 24 fps floor itself is checked in tests/realtime.rs (its own binary, so that no other
// test competes for the CPU) and measured by `cargo bench -p blackout`.
