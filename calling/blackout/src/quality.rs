//! Segmentation quality against MediaPipe's own masks on the test photographs.
//!
//! Ground truth: MediaPipe's mask for the same model, thresholded at 0.5. For each photo the
//! whole filter runs on the photo (RGB24), and the output is compared pixel by pixel:
//!
//! * leakage: person pixels (truth) that are not #000000 in the output, over all person
//!   pixels;
//! * background blacked: background pixels (truth) that the filter turned #000000, over all
//!   background pixels (pixels already #000000 in the photo are left out of both counts).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::filter::{BlackoutFilter, FilterConfig, PrivacyFilter};
use crate::filtered::FrameOrigin;
use crate::frame::{PixelFormat, RawFrame};
use crate::model::ModelChoice;

/// The photographs in `model/testdata` (file stems).
pub const TEST_PHOTOS: [&str; 4] = ["astronaut", "cameraman", "grace_hopper", "luispedro"];

/// Most person pixels allowed to stay visible, in percent.
pub const MAX_LEAKAGE_PCT: f64 = 0.5;
/// Most background allowed to be blacked out, in percent.
pub const MAX_BACKGROUND_BLACKED_PCT: f64 = 20.0;

/// Figures for one photo.
#[derive(Debug, Clone)]
pub struct QualityRow {
    /// Photo name.
    pub image: String,
    /// Model that segmented it.
    pub model: ModelChoice,
    /// Person pixels in the reference.
    pub person_px: u64,
    /// Person pixels left visible.
    pub leaked_px: u64,
    /// Background pixels in the reference.
    pub background_px: u64,
    /// Background pixels blacked out.
    pub background_blacked_px: u64,
}

impl QualityRow {
    /// Leaked person pixels, percent.
    pub fn leakage_pct(&self) -> f64 {
        pct(self.leaked_px, self.person_px)
    }

    /// Blacked background pixels, percent.
    pub fn background_blacked_pct(&self) -> f64 {
        pct(self.background_blacked_px, self.background_px)
    }

    /// Whether both bounds hold.
    pub fn passes(&self) -> bool {
        self.leakage_pct() <= MAX_LEAKAGE_PCT
            && self.background_blacked_pct() <= MAX_BACKGROUND_BLACKED_PCT
    }
}

fn pct(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    /// A test file could not be read.
    #[error("{path}: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: image::ImageError,
    },
    /// Photo and reference differ in size.
    #[error("{0}: reference mask and photo differ in size")]
    Size(String),
    /// The filter gave a black fallback instead of a filtered frame.
    #[error("{image}: the filter did not filter ({state})")]
    NotFiltered {
        /// Photo name.
        image: String,
        /// The filter's state.
        state: String,
    },
}

/// `model/testdata` of this crate.
pub fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("model/testdata")
}

fn open(path: &Path) -> Result<image::DynamicImage, QualityError> {
    image::open(path).map_err(|source| QualityError::Image {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs the filter built from `config` (its deadline raised: this measures quality, not
/// speed) on one photo and compares with the reference of the model it used.
pub fn measure(dir: &Path, name: &str, config: &FilterConfig) -> Result<QualityRow, QualityError> {
    let photo = open(&dir.join(format!("{name}.png")))?.to_rgb8();
    let (w, h) = photo.dimensions();
    let model = config.model_choice.resolve(w, h);
    let reference = open(&dir.join(format!("{name}.mask_{model}.png")))?.to_luma8();
    if reference.dimensions() != (w, h) {
        return Err(QualityError::Size(name.to_string()));
    }
    let config = FilterConfig {
        model_choice: model,
        deadline: Duration::from_secs(30),
        stall_limit: Duration::from_secs(60),
        // The first frame waits for the detector; on a loaded machine that can take longer
        // than the live limit, which would measure the fail-safe instead of the filter.
        detector: config.detector.map(|d| crate::DetectorConfig {
            max_wait: Duration::from_secs(60),
            ..d
        }),
        ..config.clone()
    };
    let mut filter = BlackoutFilter::new(config);
    let raw = RawFrame::tight(photo.as_raw(), w, h, PixelFormat::Rgb24)
        .expect("a decoded photo has a valid layout");
    let out = filter.filter(raw);
    if out.origin() != FrameOrigin::Filtered {
        return Err(QualityError::NotFiltered {
            image: name.to_string(),
            state: filter.state().to_string(),
        });
    }
    let mut row = QualityRow {
        image: name.to_string(),
        model,
        person_px: 0,
        leaked_px: 0,
        background_px: 0,
        background_blacked_px: 0,
    };
    let pixels = photo
        .as_raw()
        .chunks_exact(3)
        .zip(out.data().chunks_exact(3));
    for ((input, output), truth) in pixels.zip(reference.as_raw()) {
        if input == [0, 0, 0] {
            continue;
        }
        let black = output == [0, 0, 0];
        // round(255 * p) >= 128  <=>  p >= 0.5 (to the reference's 8-bit precision).
        if *truth >= 128 {
            row.person_px += 1;
            row.leaked_px += u64::from(!black);
        } else {
            row.background_px += 1;
            row.background_blacked_px += u64::from(black);
        }
    }
    Ok(row)
}

/// [`measure`] on every test photo.
pub fn measure_all(config: &FilterConfig) -> Result<Vec<QualityRow>, QualityError> {
    let dir = testdata_dir();
    TEST_PHOTOS
        .iter()
        .map(|n| measure(&dir, n, config))
        .collect()
}

/// A Markdown table of the figures.
pub fn table(rows: &[QualityRow]) -> String {
    let mut s = String::from(
        "| photo | model | person px | leakage % | background px | background blacked % | within bounds |\n\
         | --- | --- | ---: | ---: | ---: | ---: | --- |\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {} | {:.2} | {} |",
            r.image,
            r.model,
            r.person_px,
            r.leakage_pct(),
            r.background_px,
            r.background_blacked_pct(),
            if r.passes() { "yes" } else { "NO" }
        );
    }
    s
}
