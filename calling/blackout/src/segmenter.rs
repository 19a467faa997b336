//! The inference backend behind a trait, so that tests can inject failures.

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::model::{
    load_embedded, load_model_file, LoadedModel, ModelChoice, ModelError, ModelSource,
    GENERAL_ONNX, LANDSCAPE_ONNX,
};

/// An RGB image handed to a [`Segmenter`]: `width * height * 3` bytes, row-major, no padding.
#[derive(Clone, Copy, Debug)]
pub struct RgbImage<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// R, G, B bytes.
    pub pixels: &'a [u8],
}

/// An inference failure. The frame it happened on is replaced by a black frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SegmentError(pub String);

/// Person segmentation: an RGB image in, a person-probability mask out.
///
/// The pipeline asks [`input_size`](Segmenter::input_size) which size it wants for a frame,
/// squashes the frame to that size and calls [`segment`](Segmenter::segment). Implementations
/// run on the blackout worker thread; an error, a panic or a call that overruns the deadline
/// turns the frame black, so an implementation never has to be trusted to fail safely.
pub trait Segmenter: Send {
    /// The `(width, height)` of the image wanted for a `frame_width x frame_height` frame.
    fn input_size(&self, frame_width: u32, frame_height: u32) -> (u32, u32);

    /// Writes one value per pixel of `image` into `mask` (`width * height` bytes, row-major):
    /// `round(255 * p)` where `p` is the probability that the pixel shows a person.
    fn segment(&mut self, image: RgbImage<'_>, mask: &mut [u8]) -> Result<(), SegmentError>;
}

struct Slot {
    model: LoadedModel,
    /// Reused input tensor; `None` while tract still holds it.
    input: Option<Arc<Tensor>>,
}

/// The real backend: MediaPipe Selfie Segmentation run by tract, optimised once at load.
pub struct TractSegmenter {
    choice: ModelChoice,
    general: Option<Slot>,
    landscape: Option<Slot>,
    /// A model loaded from a file, used for every frame.
    single: Option<Slot>,
}

impl std::fmt::Debug for TractSegmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractSegmenter")
            .field("choice", &self.choice)
            .finish_non_exhaustive()
    }
}

fn slot(model: LoadedModel) -> Slot {
    Slot { model, input: None }
}

impl TractSegmenter {
    /// Loads, validates and optimises the model(s). With [`ModelSource::Embedded`] and
    /// [`ModelChoice::Auto`] both embedded models are prepared up front, so a change of frame
    /// shape never stalls a frame.
    pub fn load(source: &ModelSource, choice: ModelChoice) -> Result<TractSegmenter, ModelError> {
        let mut seg = TractSegmenter {
            choice,
            general: None,
            landscape: None,
            single: None,
        };
        match source {
            ModelSource::File(path) => seg.single = Some(slot(load_model_file(path)?)),
            ModelSource::Embedded => {
                if choice != ModelChoice::Landscape {
                    seg.general = Some(slot(load_embedded("general", GENERAL_ONNX)?));
                }
                if choice != ModelChoice::General {
                    seg.landscape = Some(slot(load_embedded("landscape", LANDSCAPE_ONNX)?));
                }
            }
        }
        Ok(seg)
    }

    fn slot_for(&self, width: u32, height: u32) -> Option<&Slot> {
        if self.single.is_some() {
            return self.single.as_ref();
        }
        match self.choice.resolve(width, height) {
            ModelChoice::Landscape => self.landscape.as_ref(),
            _ => self.general.as_ref(),
        }
    }
}

impl Segmenter for TractSegmenter {
    fn input_size(&self, frame_width: u32, frame_height: u32) -> (u32, u32) {
        self.slot_for(frame_width, frame_height)
            .map(|s| (s.model.width, s.model.height))
            .unwrap_or((256, 256))
    }

    fn segment(&mut self, image: RgbImage<'_>, mask: &mut [u8]) -> Result<(), SegmentError> {
        let slot = [&mut self.single, &mut self.general, &mut self.landscape]
            .into_iter()
            .flatten()
            .find(|s| s.model.width == image.width && s.model.height == image.height)
            .ok_or_else(|| {
                SegmentError(format!(
                    "no model takes a {}x{} image",
                    image.width, image.height
                ))
            })?;
        let (w, h) = (image.width as usize, image.height as usize);
        if image.pixels.len() != w * h * 3 || mask.len() != w * h {
            return Err(SegmentError("image or mask of the wrong length".into()));
        }
        let mut input = match slot.input.take() {
            Some(t) => t,
            None => Arc::new(Tensor::zero::<f32>(&[1, h, w, 3]).map_err(err)?),
        };
        {
            // tract releases its inputs after a run, so this succeeds in steady state.
            if Arc::get_mut(&mut input).is_none() {
                input = Arc::new(Tensor::zero::<f32>(&[1, h, w, 3]).map_err(err)?);
            }
            let tensor = Arc::get_mut(&mut input).expect("fresh tensor is exclusive");
            let mut view = tensor.try_as_plain_ram_mut().map_err(err)?;
            let dst = view.as_slice_mut::<f32>().map_err(err)?;
            const INV: f32 = 1.0 / 255.0;
            for (d, &s) in dst.iter_mut().zip(image.pixels) {
                *d = s as f32 * INV;
            }
        }
        let outputs = slot
            .model
            .state
            .run(tvec!(input.clone().into_tvalue()))
            .map_err(err)?;
        slot.input = Some(input);
        let out = outputs
            .first()
            .ok_or_else(|| SegmentError("model gave no output".into()))?;
        let view = out.try_as_plain_ram().map_err(err)?;
        let probs = view.as_slice::<f32>().map_err(err)?;
        if probs.len() != mask.len() {
            return Err(SegmentError(format!(
                "model gave {} values for {} pixels",
                probs.len(),
                mask.len()
            )));
        }
        for (m, &p) in mask.iter_mut().zip(probs) {
            // NaN maps to 255: an undefined probability counts as person.
            *m = if p.is_nan() {
                255
            } else {
                (p.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
            };
        }
        Ok(())
    }
}

fn err(e: TractError) -> SegmentError {
    SegmentError(format!("{e:#}"))
}
