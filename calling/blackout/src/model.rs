//! Segmentation models: the embedded MediaPipe models, loading from a file, validation.
//!
//! Both MediaPipe Selfie Segmentation models (converted to ONNX, see `model/SOURCES.md`) are
//! compiled into the binary, so the app needs no file at run time. A model can also be loaded
//! from a path (a user's own model, or a broken file in fault-injection tests); it must take
//! one f32 NHWC RGB image `[1, h, w, 3]` in 0..1 and give a person probability `[1, h, w, 1]`.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use tract_onnx::prelude::*;

/// The general model (input 256x256), `model/selfie_segmentation.onnx`.
pub static GENERAL_ONNX: &[u8] = include_bytes!("../model/selfie_segmentation.onnx");
/// The landscape model (input 256x144), `model/selfie_segmentation_landscape.onnx`.
pub static LANDSCAPE_ONNX: &[u8] = include_bytes!("../model/selfie_segmentation_landscape.onnx");

/// Which embedded model segments a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ModelChoice {
    /// By aspect ratio: landscape for frames wider than 3:2 (16:9, 16:10), general for the
    /// rest (4:3, 5:4, square, portrait). See [`ModelChoice::resolve`].
    #[default]
    Auto,
    /// Always the general model (256x256).
    General,
    /// Always the landscape model (256x144).
    Landscape,
}

/// Aspect ratio (width / height) above which `Auto` takes the landscape model: 3:2 sits
/// halfway (in log scale, squash distortion) between 4:3 and 16:9, so each frame goes to the
/// model whose input shape distorts it least.
const LANDSCAPE_MIN_ASPECT: (u32, u32) = (3, 2);

impl ModelChoice {
    /// The concrete model for a `width x height` frame: `Landscape` when
    /// `width / height > 3 / 2`, otherwise `General` (unless fixed).
    pub fn resolve(self, width: u32, height: u32) -> ModelChoice {
        match self {
            ModelChoice::Auto => {
                let (n, d) = LANDSCAPE_MIN_ASPECT;
                if u64::from(width) * u64::from(d) > u64::from(height) * u64::from(n) {
                    ModelChoice::Landscape
                } else {
                    ModelChoice::General
                }
            }
            fixed => fixed,
        }
    }
}

impl FromStr for ModelChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(ModelChoice::Auto),
            "general" => Ok(ModelChoice::General),
            "landscape" => Ok(ModelChoice::Landscape),
            _ => Err(format!(
                "unknown model {s:?} (expected general, landscape or auto)"
            )),
        }
    }
}

impl fmt::Display for ModelChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelChoice::Auto => "auto",
            ModelChoice::General => "general",
            ModelChoice::Landscape => "landscape",
        })
    }
}

/// Where the segmentation model comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ModelSource {
    /// The models compiled into the binary, chosen per frame by a [`ModelChoice`].
    #[default]
    Embedded,
    /// One ONNX model from a file, used for every frame.
    File(PathBuf),
}

/// Why a model could not be used. Any of these leaves the filter unavailable (all-black).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read model {path}: {message}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// Not a readable ONNX model (corrupt or truncated file).
    #[error("model {name} is not a valid ONNX model: {message}")]
    Parse {
        /// The model's name (file path or "general"/"landscape").
        name: String,
        /// tract's error chain.
        message: String,
    },
    /// The model does not have the expected inputs and outputs.
    #[error("model {name} has the wrong shape: {message}")]
    Shape {
        /// The model's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// tract could not optimise or plan the model.
    #[error("model {name} cannot be prepared: {message}")]
    Prepare {
        /// The model's name.
        name: String,
        /// tract's error chain.
        message: String,
    },
    /// Loading panicked (caught); the model is treated as corrupt.
    #[error("loading the model panicked: {0}")]
    Panicked(String),
}

/// A model ready to run: optimised, typed, planned once.
#[derive(Debug)]
pub(crate) struct LoadedModel {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) state: TypedSimpleState,
}

fn chain(e: &TractError) -> String {
    format!("{e:#}")
}

/// An optimised plan and its input size: immutable, shared; each user spawns its own state.
#[derive(Clone)]
pub(crate) struct Prepared {
    width: u32,
    height: u32,
    plan: Arc<TypedRunnableModel>,
}

impl Prepared {
    fn spawn(&self, name: &str) -> Result<LoadedModel, ModelError> {
        let state = self.plan.spawn().map_err(|e| ModelError::Prepare {
            name: name.to_string(),
            message: chain(&e),
        })?;
        Ok(LoadedModel {
            width: self.width,
            height: self.height,
            state,
        })
    }
}

/// The embedded models' plans, prepared once per process: parsing and optimising take a
/// large part of a second on the camera thread of every call, between "connected" and the
/// first filtered frame. Only the embedded (static) models are kept: a file may change.
fn prepared_embedded() -> &'static Mutex<HashMap<&'static str, Prepared>> {
    static PREPARED: OnceLock<Mutex<HashMap<&'static str, Prepared>>> = OnceLock::new();
    PREPARED.get_or_init(Default::default)
}

/// How many times each embedded plan (a segmentation model by name, the detector by input
/// size) began to be prepared in this process: the warm-up's test checks with it that a
/// call after the warm-up prepares nothing.
pub(crate) fn preparations() -> &'static Mutex<HashMap<String, usize>> {
    static STARTED: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    STARTED.get_or_init(Default::default)
}

/// Counts one preparation of the embedded plan `key` (see [`preparations`]).
pub(crate) fn count_preparation(key: String) {
    *preparations()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default() += 1;
}

/// An embedded model, prepared once per process and spawned for this user.
pub(crate) fn load_embedded(
    name: &'static str,
    bytes: &'static [u8],
) -> Result<LoadedModel, ModelError> {
    let known = prepared_embedded()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .cloned();
    let prepared = match known {
        Some(prepared) => prepared,
        None => {
            // Prepared outside the lock: two first users (the warm-up and a call that
            // started before it finished) may both prepare, never wait for each other.
            count_preparation(name.to_string());
            let prepared = prepare_model(name, bytes)?;
            // The first plan stored stays: every later user shares that one.
            prepared_embedded()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(name)
                .or_insert(prepared)
                .clone()
        }
    };
    prepared.spawn(name)
}

/// The plan of the embedded model `name` if it has been prepared (for tests).
#[cfg(test)]
pub(crate) fn prepared_plan(name: &str) -> Option<Arc<TypedRunnableModel>> {
    prepared_embedded()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .map(|p| p.plan.clone())
}

/// Parses, validates and optimises an ONNX model.
pub(crate) fn load_model(name: &str, bytes: &[u8]) -> Result<LoadedModel, ModelError> {
    prepare_model(name, bytes)?.spawn(name)
}

fn prepare_model(name: &str, bytes: &[u8]) -> Result<Prepared, ModelError> {
    let parse = |e: TractError| ModelError::Parse {
        name: name.to_string(),
        message: chain(&e),
    };
    let shape = |message: String| ModelError::Shape {
        name: name.to_string(),
        message,
    };
    let prepare = |e: TractError| ModelError::Prepare {
        name: name.to_string(),
        message: chain(&e),
    };
    let model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(parse)?;
    let model = model.into_typed().map_err(parse)?;
    if model.inputs.len() != 1 || model.outputs.len() != 1 {
        return Err(shape(format!(
            "expected 1 input and 1 output, found {} and {}",
            model.inputs.len(),
            model.outputs.len()
        )));
    }
    let input = model.input_fact(0).map_err(parse)?;
    let output = model.output_fact(0).map_err(parse)?;
    let in_shape = input.shape.as_concrete().map(<[usize]>::to_vec);
    let out_shape = output.shape.as_concrete().map(<[usize]>::to_vec);
    let (h, w) = match in_shape.as_deref() {
        Some(&[1, h, w, 3]) if input.datum_type == f32::datum_type() && h > 0 && w > 0 => (h, w),
        _ => {
            return Err(shape(format!(
                "input must be f32 [1, h, w, 3] (NHWC RGB), found {:?} {:?}",
                input.datum_type, input.shape
            )))
        }
    };
    match out_shape.as_deref() {
        Some(&[1, oh, ow, 1]) if oh == h && ow == w && output.datum_type == f32::datum_type() => {}
        _ => {
            return Err(shape(format!(
                "output must be f32 [1, {h}, {w}, 1] (person probability), found {:?} {:?}",
                output.datum_type, output.shape
            )))
        }
    }
    if h > 4096 || w > 4096 {
        return Err(shape(format!("input {w}x{h} is implausibly large")));
    }
    let plan: Arc<TypedRunnableModel> = model
        .into_optimized()
        .map_err(prepare)?
        .into_runnable()
        .map_err(prepare)?;
    Ok(Prepared {
        width: w as u32,
        height: h as u32,
        plan,
    })
}

/// Reads and loads a model file.
pub(crate) fn load_model_file(path: &std::path::Path) -> Result<LoadedModel, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    load_model(&path.display().to_string(), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_models_are_prepared_once_and_each_user_gets_its_own_state() {
        let first = load_embedded("general", GENERAL_ONNX).unwrap();
        let prepared = prepared_embedded().lock().unwrap().get("general").cloned();
        let plan = prepared.expect("kept after the first load").plan;
        let second = load_embedded("general", GENERAL_ONNX).unwrap();
        let again = prepared_embedded().lock().unwrap()["general"].plan.clone();
        assert!(Arc::ptr_eq(&plan, &again), "not prepared a second time");
        assert_eq!((first.width, first.height), (second.width, second.height));
        // A model from bytes (a file) is prepared on its own every time.
        assert!(load_model("broken", &GENERAL_ONNX[..GENERAL_ONNX.len() / 2]).is_err());
    }

    #[test]
    fn aspect_rule() {
        let auto = ModelChoice::Auto;
        assert_eq!(auto.resolve(1280, 720), ModelChoice::Landscape);
        assert_eq!(auto.resolve(1920, 1200), ModelChoice::Landscape);
        assert_eq!(auto.resolve(640, 480), ModelChoice::General);
        assert_eq!(auto.resolve(300, 200), ModelChoice::General); // exactly 3:2
        assert_eq!(auto.resolve(480, 640), ModelChoice::General);
        assert_eq!(
            ModelChoice::General.resolve(1280, 720),
            ModelChoice::General
        );
    }
}
