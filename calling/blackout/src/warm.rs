//! Preparing the embedded models before the first call needs them.
//!
//! A filter's models are parsed, optimised and planned once per process (`model.rs`,
//! `detector.rs`); without a warm-up the first video call of a process pays that on its
//! camera thread, between "connected" and its first filtered frame. The app starts
//! [`prepare_in_background`] when it starts, so the plans are usually ready by the time the
//! user places a call. The warm-up only fills those shared caches: a filter still loads (and
//! validates) its models itself, finds them ready, and still sends black frames if a model
//! cannot be used.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::detector::{detector_input_size, TractDetector, PERSON_DETECTOR_ONNX};
use crate::model::{ModelChoice, ModelError, ModelSource};
use crate::schedule::DetectorConfig;
use crate::segmenter::TractSegmenter;
use crate::worker::panic_message;

/// Nice value of the warm-up thread: it yields the CPU to anything at normal priority (the
/// UI, a call already running), yet still finishes within seconds on a busy machine. A
/// call never waits for it, so a late warm-up costs nothing but the head start.
const WARM_UP_NICE: u8 = 10;

/// The outcome of a warm-up, shared by every handle on it.
#[derive(Debug, Default)]
struct Outcome {
    result: Mutex<Option<Result<(), ModelError>>>,
    done: Condvar,
}

/// A handle on a background preparation started by [`prepare_in_background`].
#[derive(Debug, Clone)]
pub struct Warmup {
    outcome: Arc<Outcome>,
}

impl Warmup {
    /// Waits up to `timeout` for the preparation to finish: `None` if it is still running,
    /// otherwise its outcome (an error means the first filter will fail the same way and
    /// send black frames).
    pub fn wait(&self, timeout: Duration) -> Option<Result<(), ModelError>> {
        let deadline = Instant::now() + timeout;
        let mut result = self
            .outcome
            .result
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(done) = result.as_ref() {
                return Some(done.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            result = self
                .outcome
                .done
                .wait_timeout(result, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Whether the preparation has finished (well or not).
    pub fn is_finished(&self) -> bool {
        self.wait(Duration::ZERO).is_some()
    }

    fn finish(&self, result: Result<(), ModelError>) {
        *self
            .outcome
            .result
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(result);
        self.outcome.done.notify_all();
    }
}

/// Starts preparing, on a low-priority background thread, what a filter with the default
/// models ([`FilterConfig::default`](crate::FilterConfig), whatever its strength settings)
/// needs for `frame_width x frame_height` camera frames: both embedded segmentation models
/// and the person detector's plan for that frame shape. Returns at once.
///
/// Idempotent: a second call for a frame of the same shape returns a handle on the first
/// warm-up. Failures are logged (the filter that later meets the same failure turns its
/// frames black and says why); nothing here ever changes what a filter does with a frame.
pub fn prepare_in_background(frame_width: u32, frame_height: u32) -> Warmup {
    let detector = DetectorConfig::default();
    let input = detector_input_size(frame_width, frame_height, detector.long_side);
    static STARTED: OnceLock<Mutex<HashMap<(u32, u32), Warmup>>> = OnceLock::new();
    let mut started = STARTED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(warmup) = started.get(&input) {
        return warmup.clone();
    }
    let warmup = Warmup {
        outcome: Arc::default(),
    };
    started.insert(input, warmup.clone());
    drop(started);
    let handle = warmup.clone();
    let spawned = std::thread::Builder::new()
        .name("blackout-warmup".into())
        .spawn(move || {
            crate::priority::lower_this_thread(WARM_UP_NICE);
            let begun = Instant::now();
            let result = std::panic::catch_unwind(|| prepare(detector, input))
                .unwrap_or_else(|p| Err(ModelError::Panicked(panic_message(&*p))));
            match &result {
                Ok(()) => tracing::debug!(
                    ms = begun.elapsed().as_millis() as u64,
                    "blackout models prepared in advance"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "blackout models could not be prepared in advance")
                }
            }
            handle.finish(result);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no thread to prepare the blackout models in advance");
        warmup.finish(Err(ModelError::Prepare {
            name: "warm-up".into(),
            message: e.to_string(),
        }));
    }
    warmup
}

/// What a default filter's worker and detector thread load, for a detector input of
/// `input`; the states made here are dropped, the shared plans stay.
fn prepare(detector: DetectorConfig, input: (u32, u32)) -> Result<(), ModelError> {
    TractSegmenter::load(&ModelSource::Embedded, ModelChoice::Auto)?;
    let mut det =
        TractDetector::load(PERSON_DETECTOR_ONNX, detector.long_side, detector.min_score)?;
    det.plan(input.0, input.1)
        .map_err(|e| ModelError::Prepare {
            name: "person detector".into(),
            message: e.0,
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::detector_plan_key;
    use crate::model::{preparations, prepared_plan};
    use crate::{BlackoutFilter, FilterConfig, FilterState, PixelFormat, PrivacyFilter, RawFrame};

    fn counts(keys: &[String]) -> Vec<usize> {
        let started = preparations().lock().unwrap();
        keys.iter()
            .map(|k| started.get(k).copied().unwrap_or(0))
            .collect()
    }

    #[test]
    fn after_the_warm_up_the_first_filter_prepares_nothing_and_shares_its_plans() {
        let warmup = prepare_in_background(640, 480);
        assert!(
            Arc::ptr_eq(&warmup.outcome, &prepare_in_background(640, 480).outcome),
            "one warm-up per frame shape"
        );
        let outcome = warmup.wait(Duration::from_secs(120));
        assert!(matches!(outcome, Some(Ok(()))), "{outcome:?}");
        let (w, h) = detector_input_size(640, 480, DetectorConfig::default().long_side);
        let keys = [
            "general".to_string(),
            "landscape".to_string(),
            detector_plan_key(w, h),
        ];
        let before = counts(&keys);
        assert!(before.iter().all(|&n| n >= 1), "all prepared: {before:?}");
        let general = prepared_plan("general").expect("the general model's plan");

        // The first call's filter: default settings, camera frames of the warmed shape.
        // A generous deadline: a loaded test machine must not black frames out meanwhile.
        let mut filter = BlackoutFilter::new(FilterConfig {
            deadline: Duration::from_secs(2),
            ..FilterConfig::default()
        });
        let pixels = vec![90u8; 640 * 480 * 3];
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let frame = RawFrame::tight(&pixels, 640, 480, PixelFormat::Rgb24).unwrap();
            let _ = filter.filter(frame);
            if matches!(filter.state(), FilterState::Active) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "filter not active: {}",
                filter.state()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(counts(&keys), before, "the filter prepared nothing again");
        let again = prepared_plan("general").unwrap();
        assert!(
            Arc::ptr_eq(&general, &again),
            "the filter shares the warm plan"
        );
    }
}
