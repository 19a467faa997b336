//! Issue 13's evaluation: the whole filter on real photographs and a real video clip with
//! people, against hand-marked person regions (never a candidate model's output; see
//! `model/make_evaldata.py` and `model/evaldata/SOURCES.md`).
//!
//! Per image: leakage (person pixels not #000000 in the output, over person pixels), the
//! smallest share of any one person's torso and legs that is black, and background blacked
//! (background pixels turned #000000). "Ignore" pixels and pixels already #000000 in the
//! photo count for nothing. On the clip: for each person entering the frame, the number of
//! frames in which the entering person is not covered.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::filter::{BlackoutFilter, FilterConfig, PrivacyFilter};
use crate::filtered::FrameOrigin;
use crate::frame::{PixelFormat, RawFrame};
use crate::quality::QualityError;

/// Images of the evaluation set with people (file stems in `model/evaldata`).
pub const PEOPLE_IMAGES: [&str; 7] = [
    "basketball1",
    "basketball1_dark",
    "messi5",
    "vtest150",
    "vtest450",
    "vtest450_bright",
    "vtest700",
];
/// Images without anyone.
pub const EMPTY_IMAGES: [&str; 5] = ["fruits", "home", "baboon", "butterfly", "building"];

/// Acceptance bounds of issue 13, in percent.
pub const MAX_LEAKAGE_PCT: f64 = 0.5;
/// Smallest share of each person's torso and legs that must be black.
pub const MIN_TORSO_LEGS_PCT: f64 = 95.0;
/// Mean background blacked over the images with people.
pub const MAX_MEAN_BACKGROUND_PEOPLE_PCT: f64 = 35.0;
/// Background blacked on each image without anyone.
pub const MAX_BACKGROUND_EMPTY_PCT: f64 = 20.0;
/// The top share of a person's box taken as the head; the rest is "torso and legs".
const HEAD_SHARE: f64 = 0.2;
/// Label of "ignore" pixels in the truth images.
const IGNORE: u8 = 255;

/// Figures for one image.
#[derive(Debug, Clone)]
pub struct EvalRow {
    /// Image name.
    pub image: String,
    /// People marked.
    pub persons: usize,
    /// Person pixels.
    pub person_px: u64,
    /// Person pixels left visible.
    pub leaked_px: u64,
    /// Smallest black share of one person's torso and legs, percent (100 without people).
    pub min_torso_legs_pct: f64,
    /// Background pixels.
    pub background_px: u64,
    /// Background pixels blacked out.
    pub background_blacked_px: u64,
}

impl EvalRow {
    /// Leaked person pixels, percent.
    pub fn leakage_pct(&self) -> f64 {
        pct(self.leaked_px, self.person_px)
    }

    /// Blacked background, percent.
    pub fn background_blacked_pct(&self) -> f64 {
        pct(self.background_blacked_px, self.background_px)
    }

    /// The per-image bounds (leakage and torso-and-legs with people; background without).
    pub fn passes(&self) -> bool {
        if self.persons == 0 {
            self.background_blacked_pct() <= MAX_BACKGROUND_EMPTY_PCT
        } else {
            self.leakage_pct() <= MAX_LEAKAGE_PCT && self.min_torso_legs_pct >= MIN_TORSO_LEGS_PCT
        }
    }
}

fn pct(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

/// `model/evaldata` of this crate.
pub fn evaldata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("model/evaldata")
}

fn open(path: &Path) -> Result<image::DynamicImage, QualityError> {
    image::open(path).map_err(|source| QualityError::Image {
        path: path.to_path_buf(),
        source,
    })
}

/// `config` with deadlines raised: this measures coverage, not speed.
fn unhurried(config: &FilterConfig) -> FilterConfig {
    FilterConfig {
        deadline: Duration::from_secs(30),
        stall_limit: Duration::from_secs(60),
        load_timeout: Duration::from_secs(60),
        // The first frame waits for the detector: give it time on a loaded machine.
        detector: config.detector.map(|d| crate::DetectorConfig {
            max_wait: Duration::from_secs(60),
            ..d
        }),
        ..config.clone()
    }
}

/// Runs a fresh filter built from `config` on one image and compares with its truth.
pub fn measure(dir: &Path, name: &str, config: &FilterConfig) -> Result<EvalRow, QualityError> {
    let photo = open(&dir.join(format!("{name}.png")))?.to_rgb8();
    let truth = open(&dir.join(format!("{name}.truth.png")))?.to_luma8();
    let (w, h) = photo.dimensions();
    if truth.dimensions() != (w, h) {
        return Err(QualityError::Size(name.to_string()));
    }
    let mut filter = BlackoutFilter::new(unhurried(config));
    let frame = RawFrame::tight(photo.as_raw(), w, h, PixelFormat::Rgb24)
        .expect("a decoded photo is a valid frame");
    let out = filter.filter(frame);
    if out.origin() != FrameOrigin::Filtered {
        return Err(QualityError::NotFiltered {
            image: name.to_string(),
            state: filter.state().to_string(),
        });
    }
    let (src, dst, labels) = (photo.as_raw(), out.data(), truth.as_raw());
    let black = |i: usize, px: &[u8]| px[3 * i..3 * i + 3] == [0, 0, 0];
    // Per person: box (for the head cut), then torso-and-legs totals.
    let persons = labels
        .iter()
        .filter(|&&l| l != IGNORE)
        .max()
        .copied()
        .unwrap_or(0) as usize;
    let mut top = vec![u32::MAX; persons + 1];
    let mut bottom = vec![0u32; persons + 1];
    for (i, &l) in labels.iter().enumerate() {
        if l != 0 && l != IGNORE {
            let y = (i / w as usize) as u32;
            top[l as usize] = top[l as usize].min(y);
            bottom[l as usize] = bottom[l as usize].max(y + 1);
        }
    }
    let mut row = EvalRow {
        image: name.to_string(),
        persons: 0,
        person_px: 0,
        leaked_px: 0,
        min_torso_legs_pct: 100.0,
        background_px: 0,
        background_blacked_px: 0,
    };
    let mut body = vec![(0u64, 0u64); persons + 1];
    for (i, &l) in labels.iter().enumerate() {
        if l == IGNORE || black(i, src) {
            continue;
        }
        let covered = black(i, dst);
        if l == 0 {
            row.background_px += 1;
            row.background_blacked_px += u64::from(covered);
            continue;
        }
        row.person_px += 1;
        row.leaked_px += u64::from(!covered);
        let k = l as usize;
        let y = (i / w as usize) as f64;
        let cut = top[k] as f64 + HEAD_SHARE * (bottom[k] - top[k]) as f64;
        if y >= cut {
            body[k].0 += 1;
            body[k].1 += u64::from(covered);
        }
    }
    for &(total, covered) in body.iter().skip(1) {
        if total > 0 {
            row.persons += 1;
            row.min_torso_legs_pct = row.min_torso_legs_pct.min(pct(covered, total));
        }
    }
    Ok(row)
}

/// Measures every image of the set (people first).
pub fn measure_all(config: &FilterConfig) -> Result<Vec<EvalRow>, QualityError> {
    let dir = evaldata_dir();
    PEOPLE_IMAGES
        .iter()
        .chain(EMPTY_IMAGES.iter())
        .map(|name| measure(&dir, name, config))
        .collect()
}

/// Mean background blacked over the rows with (`people`) or without people.
pub fn mean_background_pct(rows: &[EvalRow], people: bool) -> f64 {
    let sel: Vec<f64> = rows
        .iter()
        .filter(|r| (r.persons > 0) == people)
        .map(EvalRow::background_blacked_pct)
        .collect();
    if sel.is_empty() {
        0.0
    } else {
        sel.iter().sum::<f64>() / sel.len() as f64
    }
}

/// The per-image table in Markdown, with the means at the end.
pub fn table(rows: &[EvalRow]) -> String {
    let mut s = String::from(
        "| image | persons | person px | leakage % | min torso+legs black % | background px | background blacked % | within bounds |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {:.1} | {} | {:.2} | {} |",
            r.image,
            r.persons,
            r.person_px,
            r.leakage_pct(),
            r.min_torso_legs_pct,
            r.background_px,
            r.background_blacked_pct(),
            if r.passes() { "yes" } else { "no" }
        );
    }
    let _ = writeln!(
        s,
        "\nmean background blacked: {:.2} % with people (max {MAX_MEAN_BACKGROUND_PEOPLE_PCT}), \
         {:.2} % without (max {MAX_BACKGROUND_EMPTY_PCT} each)",
        mean_background_pct(rows, true),
        mean_background_pct(rows, false)
    );
    s
}
