//! The person detector beside the segmenter (issue 13): its boxes are blacked out, and a
//! detector that fails, panics or cannot load gives black frames (fail-safe, DESIGN.md
//! section 5, invariant 2).

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use blackout::{
    BlackoutFilter, Detection, FilterState, ModelError, PersonDetector, PixelFormat, PrivacyFilter,
    RawFrame, RgbImage, SegmentError, Segmenter, UnavailableReason, DEFAULT_DEADLINE,
};
use common::*;

const W: u32 = 64;
const H: u32 = 48;

/// Finds one person: the box given, every time.
struct BoxDetector(Detection);
impl PersonDetector for BoxDetector {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (32, 32)
    }
    fn detect(&mut self, _: RgbImage<'_>, out: &mut Vec<Detection>) -> Result<(), SegmentError> {
        out.clear();
        out.push(self.0);
        Ok(())
    }
}

struct FailingDetector;
impl PersonDetector for FailingDetector {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (32, 32)
    }
    fn detect(&mut self, _: RgbImage<'_>, _: &mut Vec<Detection>) -> Result<(), SegmentError> {
        Err(SegmentError("injected detector error".into()))
    }
}

struct PanickingDetector;
impl PersonDetector for PanickingDetector {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (32, 32)
    }
    fn detect(&mut self, _: RgbImage<'_>, _: &mut Vec<Detection>) -> Result<(), SegmentError> {
        panic!("injected detector panic")
    }
}

/// A segmenter that finds nobody.
fn nobody() -> Box<dyn Segmenter> {
    Box::new(ScriptSegmenter {
        size: 16,
        script: |_, _, _| 0,
        frame: Arc::new(AtomicUsize::new(0)),
    })
}

fn filter_with_detector<D: PersonDetector + 'static>(detector: D) -> BlackoutFilter {
    BlackoutFilter::with_models(
        relaxed(),
        || Ok::<_, ModelError>(nobody()),
        move || Ok::<Box<dyn PersonDetector>, ModelError>(Box::new(detector)),
    )
}

fn run(filter: &mut BlackoutFilter, frames: usize) -> Vec<blackout::FilteredFrame> {
    let pixels = bright_rgb(W, H);
    (0..frames)
        .map(|_| filter.filter(RawFrame::tight(&pixels, W, H, PixelFormat::Rgb24).unwrap()))
        .collect()
}

fn is_black(frame: &blackout::FilteredFrame, x: u32, y: u32) -> bool {
    let i = 3 * (y * W + x) as usize;
    frame.data()[i..i + 3] == [0, 0, 0]
}

#[test]
fn a_person_only_the_detector_sees_is_blacked_out() {
    let person = Detection {
        x0: 0.25,
        y0: 0.25,
        x1: 0.5,
        y1: 0.75,
        score: 0.9,
    };
    let mut filter = filter_with_detector(BoxDetector(person));
    for out in run(&mut filter, 5) {
        assert!(filter.state().is_active(), "{}", filter.state());
        // Inside the box: black; far from it: untouched (the segmenter found nobody).
        assert!(is_black(&out, 24, 24));
        assert!(is_black(&out, 17, 13));
        assert!(!is_black(&out, 60, 4));
        assert!(!is_black(&out, 2, 44));
    }
}

#[test]
fn a_detector_error_gives_black_frames() {
    let mut filter = filter_with_detector(FailingDetector);
    for out in run(&mut filter, 4) {
        assert_all_black(&out);
    }
    match filter.state() {
        FilterState::Unavailable { reason } => {
            assert!(
                reason.to_string().contains("injected detector error"),
                "{reason}"
            )
        }
        other => panic!("expected unavailable, got {other}"),
    }
}

#[test]
fn a_detector_panic_gives_black_frames_for_good() {
    let mut filter = filter_with_detector(PanickingDetector);
    for out in run(&mut filter, 4) {
        assert_all_black(&out);
    }
    let state = filter.state().to_string();
    assert!(state.contains("injected detector panic"), "{state}");
}

#[test]
fn a_detector_that_cannot_load_gives_black_frames() {
    let mut filter = BlackoutFilter::with_models(
        relaxed(),
        || Ok::<_, ModelError>(nobody()),
        || {
            Err::<Box<dyn PersonDetector>, ModelError>(ModelError::Panicked(
                "injected detector load failure".into(),
            ))
        },
    );
    for out in run(&mut filter, 2) {
        assert_all_black(&out);
    }
    match filter.state() {
        FilterState::Unavailable { reason } => {
            assert!(reason.is_permanent());
            assert!(reason
                .to_string()
                .contains("injected detector load failure"));
        }
        other => panic!("expected unavailable, got {other}"),
    }
}

#[test]
fn the_embedded_detector_loads_and_a_corrupt_one_is_refused() {
    blackout::TractDetector::load(blackout::PERSON_DETECTOR_ONNX, 320, 0.3)
        .expect("embedded detector loads");
    let half = &blackout::PERSON_DETECTOR_ONNX[..blackout::PERSON_DETECTOR_ONNX.len() / 2];
    assert!(blackout::TractDetector::load(half, 320, 0.3).is_err());
}

#[test]
fn the_deadline_reads_in_whole_milliseconds() {
    let text = UnavailableReason::DeadlineMissed(DEFAULT_DEADLINE).to_string();
    assert_eq!(text, "frame missed its 42 ms deadline");
}

/// Finds nobody: at once on its first run, then only after `delay` (a detector far slower
/// than the frames).
struct SlowEmptyDetector {
    runs: usize,
    delay: std::time::Duration,
}
impl PersonDetector for SlowEmptyDetector {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (32, 32)
    }
    fn detect(&mut self, _: RgbImage<'_>, out: &mut Vec<Detection>) -> Result<(), SegmentError> {
        if self.runs > 0 {
            std::thread::sleep(self.delay);
        }
        self.runs += 1;
        out.clear();
        Ok(())
    }
}

/// Frames of 128x96, the segmenter finds nobody (64x64 input: an 8x8 grid of motion cells),
/// the detector has seen the empty room once and then takes 1.5 s per run. On frame 5 a dark
/// figure appears at the left edge: returns whether its pixels and a far corner are black.
fn walk_in(motion: Option<blackout::MotionConfig>) -> (bool, bool) {
    let (w, h) = (128u32, 96u32);
    let config = blackout::FilterConfig {
        detector: Some(blackout::DetectorConfig {
            motion,
            ..blackout::DetectorConfig::default()
        }),
        ..relaxed()
    };
    let mut filter = BlackoutFilter::with_models(
        config,
        || {
            Ok::<Box<dyn Segmenter>, ModelError>(Box::new(ScriptSegmenter {
                size: 64,
                script: |_, _, _| 0,
                frame: Arc::new(AtomicUsize::new(0)),
            }))
        },
        || {
            Ok::<Box<dyn PersonDetector>, ModelError>(Box::new(SlowEmptyDetector {
                runs: 0,
                delay: std::time::Duration::from_millis(1500),
            }))
        },
    );
    let room = bright_rgb(w, h);
    let mut figure = room.clone();
    for y in 30..60 {
        for x in 0..12 {
            let i = 3 * (y * w + x) as usize;
            figure[i..i + 3].copy_from_slice(&[10, 20, 30]);
        }
    }
    let black = |f: &blackout::FilteredFrame, x: u32, y: u32| {
        let i = 3 * (y * w + x) as usize;
        f.data()[i..i + 3] == [0, 0, 0]
    };
    for _ in 0..4 {
        let out = filter.filter(RawFrame::tight(&room, w, h, PixelFormat::Rgb24).unwrap());
        assert!(filter.state().is_active(), "{}", filter.state());
        assert!(!black(&out, 64, 48), "an empty room is left visible");
    }
    let out = filter.filter(RawFrame::tight(&figure, w, h, PixelFormat::Rgb24).unwrap());
    assert!(filter.state().is_active(), "{}", filter.state());
    let figure_black = (30..60).all(|y| (0..12).all(|x| black(&out, x, y)));
    (figure_black, black(&out, 120, 5))
}

#[test]
fn a_person_walking_in_is_black_before_the_detector_has_looked() {
    let (figure, corner) = walk_in(Some(blackout::MotionConfig::default()));
    assert!(figure, "the figure walking in is visible");
    assert!(!corner, "the unchanged far corner went black");
    // Without the motion mask the figure would show until the detector's next run: this
    // test measures the motion mask, not the detector.
    let (figure, _) = walk_in(None);
    assert!(!figure, "the figure was black without the motion mask");
}

#[test]
fn a_detector_slower_than_its_wait_gives_black_frames() {
    let mut filter = BlackoutFilter::with_models(
        blackout::FilterConfig {
            detector: Some(blackout::DetectorConfig {
                max_wait: std::time::Duration::from_millis(50),
                ..blackout::DetectorConfig::default()
            }),
            ..relaxed()
        },
        || Ok::<_, ModelError>(nobody()),
        || {
            Ok::<Box<dyn PersonDetector>, ModelError>(Box::new(SlowEmptyDetector {
                runs: 1,
                delay: std::time::Duration::from_millis(400),
            }))
        },
    );
    for out in run(&mut filter, 3) {
        assert_all_black(&out);
    }
    let state = filter.state().to_string();
    assert!(state.contains("person detector too slow"), "{state}");
}
