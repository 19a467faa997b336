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
