//! Issue 13's temporal measurement: people walking into the frame of a real clip must be
//! black from the first frame in which they are visible.
//!
//! The clip (`model/evaldata/vtest/NNNN.jpg`, 384x288) goes through one filter, frame after
//! frame, paced at `fps` (wall clock) or back to back; the detector runs on its own thread as
//! in a call, so its schedule and latency (in frames) are the real ones for that pace. `model/evaldata/vtest_entries.csv` lists, for every entry of a
//! person at the frame edge, the person's box in each of the entry's frames (from moving
//! pixels, see `model/make_evaldata.py`). A frame exposes the entering person when less than
//! [`COVERED_SHARE_PCT`] of that box is black; a frame sent all black covers everything.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::eval::evaldata_dir;
use crate::filter::{BlackoutFilter, FilterConfig, PrivacyFilter};
use crate::filtered::FrameOrigin;
use crate::frame::{PixelFormat, RawFrame};
use crate::quality::QualityError;

/// Share of an entering person's box that must be black for the frame to count as covered.
/// The box is tight around the person's moving pixels, so a covered person leaves at most
/// a few background pixels of it visible.
pub const COVERED_SHARE_PCT: f64 = 98.0;

/// One person entering the frame.
#[derive(Debug, Clone, Default)]
pub struct EntryRow {
    /// Entry number (from the CSV).
    pub entry: u32,
    /// Frame in which the person is first visible.
    pub first_frame: usize,
    /// Frames followed.
    pub frames: usize,
    /// Frames in which the person was not covered.
    pub exposed: usize,
    /// Lowest black share of the box over the followed frames, percent.
    pub min_covered_pct: f64,
}

/// Clip frames that have hand-checked truth (`vtestNNN.truth.png`, at twice the clip's size).
pub const TRUTH_FRAMES: [usize; 3] = [150, 450, 700];

/// Coverage of one clip frame against its truth, as it came out of the running filter.
#[derive(Debug, Clone, Default)]
pub struct TruthRow {
    /// Frame number in the clip.
    pub frame: usize,
    /// Person pixels (at the clip's size).
    pub person_px: u64,
    /// Person pixels left visible.
    pub leaked_px: u64,
    /// Background pixels.
    pub background_px: u64,
    /// Background pixels blacked out.
    pub background_blacked_px: u64,
}

/// The whole clip's result.
#[derive(Debug, Clone, Default)]
pub struct ClipReport {
    /// Per entry.
    pub entries: Vec<EntryRow>,
    /// Frames run.
    pub frames: usize,
    /// Frames that came out all black (deadline missed, detector late, ...).
    pub black_frames: usize,
    /// Sum over the frames of the share of pixels that are #000000 (people included).
    pub black_share_sum: f64,
    /// The frames with truth.
    pub truth: Vec<TruthRow>,
    /// Every exposed frame: entry, frame, black share of the entering person's box (%).
    pub exposures: Vec<(u32, usize, f64)>,
}

impl ClipReport {
    /// Mean share of each frame's pixels that came out black, percent (an upper bound on
    /// the background blacked: people count too).
    pub fn mean_black_pct(&self) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            100.0 * self.black_share_sum / self.frames as f64
        }
    }
}

/// The truth of clip frame `n` at the clip's size (`w x h`): per clip pixel 0 background,
/// 1 person, 2 ignore, from the 2x2 block of the full-size truth (person wins over ignore,
/// ignore over background: a block with any person pixel is person).
fn clip_truth(dir: &Path, n: usize, w: u32, h: u32) -> Result<Vec<u8>, QualityError> {
    let path = dir.join(format!("vtest{n}.truth.png"));
    let truth = image::open(&path)
        .map_err(|source| QualityError::Image { path, source })?
        .to_luma8();
    if truth.dimensions() != (2 * w, 2 * h) {
        return Err(QualityError::Size(format!("vtest{n}.truth")));
    }
    let mut out = vec![0u8; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let mut label = 0u8;
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                label = match truth.get_pixel(2 * x + dx, 2 * y + dy).0[0] {
                    0 => label,
                    255 if label == 1 => 1,
                    255 => 2,
                    _ => 1,
                };
            }
            out[(y * w + x) as usize] = label;
        }
    }
    Ok(out)
}

/// Compares one output frame (RGB24) with its truth; `all_black` frames cover everything.
fn truth_row(frame: usize, src: &[u8], out: &[u8], all_black: bool, labels: &[u8]) -> TruthRow {
    let mut row = TruthRow {
        frame,
        ..TruthRow::default()
    };
    for (i, &l) in labels.iter().enumerate() {
        let px = 3 * i..3 * i + 3;
        // Pixels black in the input say nothing about the filter.
        if l == 2 || src[px.clone()] == [0, 0, 0] {
            continue;
        }
        let covered = all_black || out[px] == [0, 0, 0];
        if l == 1 {
            row.person_px += 1;
            row.leaked_px += u64::from(!covered);
        } else {
            row.background_px += 1;
            row.background_blacked_px += u64::from(covered);
        }
    }
    row
}

struct Mark {
    entry: u32,
    frame: usize,
    b: [u32; 4],
}

fn read_marks(path: &Path) -> Result<Vec<Mark>, QualityError> {
    let text = std::fs::read_to_string(path).map_err(|e| QualityError::Image {
        path: path.to_path_buf(),
        source: image::ImageError::IoError(e),
    })?;
    let mut marks = Vec::new();
    for line in text.lines().skip(1) {
        let v: Vec<u32> = line
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        if let [entry, frame, x0, y0, x1, y1] = v[..] {
            marks.push(Mark {
                entry,
                frame: frame as usize,
                b: [x0, y0, x1, y1],
            });
        }
    }
    Ok(marks)
}

/// Runs the clip through a filter built from `config` at `fps` frames per second (wall
/// clock; `None`: as fast as the filter goes) and measures every entry.
pub fn measure_clip(config: &FilterConfig, fps: Option<f64>) -> Result<ClipReport, QualityError> {
    let dir = evaldata_dir();
    let marks = read_marks(&dir.join("vtest_entries.csv"))?;
    let mut filter = BlackoutFilter::new(FilterConfig {
        load_timeout: Duration::from_secs(60),
        ..config.clone()
    });
    let mut report = ClipReport::default();
    let start = Instant::now();
    for n in 0.. {
        let path = dir.join(format!("vtest/{n:04}.jpg"));
        if !path.exists() {
            break;
        }
        let img = image::open(&path)
            .map_err(|source| QualityError::Image { path, source })?
            .to_rgb8();
        if let Some(fps) = fps {
            let due = start + Duration::from_secs_f64(n as f64 / fps);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let (w, h) = img.dimensions();
        let frame = RawFrame::tight(img.as_raw(), w, h, PixelFormat::Rgb24)
            .expect("a decoded frame is valid");
        let out = filter.filter(frame);
        report.frames += 1;
        let all_black = out.origin() != FrameOrigin::Filtered;
        report.black_frames += usize::from(all_black);
        let black_px = if all_black {
            (w * h) as usize
        } else {
            out.data()
                .chunks_exact(3)
                .filter(|p| *p == [0, 0, 0])
                .count()
        };
        report.black_share_sum += black_px as f64 / f64::from(w * h);
        if TRUTH_FRAMES.contains(&n) {
            let labels = clip_truth(&dir, n, w, h)?;
            let row = truth_row(n, img.as_raw(), out.data(), all_black, &labels);
            report.truth.push(row);
        }
        for m in marks.iter().filter(|m| m.frame == n) {
            let covered = if all_black {
                100.0
            } else {
                box_black_pct(out.data(), w, h, m.b)
            };
            // Entries overlap in time: find this one's row (rows are in order of entry).
            let i = match report.entries.iter().position(|e| e.entry == m.entry) {
                Some(i) => i,
                None => {
                    report.entries.push(EntryRow {
                        entry: m.entry,
                        first_frame: n,
                        min_covered_pct: 100.0,
                        ..EntryRow::default()
                    });
                    report.entries.len() - 1
                }
            };
            if covered < COVERED_SHARE_PCT {
                report.exposures.push((m.entry, n, covered));
            }
            let row = &mut report.entries[i];
            row.frames += 1;
            row.exposed += usize::from(covered < COVERED_SHARE_PCT);
            row.min_covered_pct = row.min_covered_pct.min(covered);
        }
    }
    Ok(report)
}

/// Share of the box (x0, y0, x1, y1; exclusive ends) that is #000000 in an RGB24 frame.
fn box_black_pct(rgb: &[u8], w: u32, h: u32, b: [u32; 4]) -> f64 {
    let (x0, x1) = (b[0].min(w), b[2].min(w));
    let (y0, y1) = (b[1].min(h), b[3].min(h));
    let (mut n, mut black) = (0u64, 0u64);
    for y in y0..y1 {
        for x in x0..x1 {
            let i = 3 * (y as usize * w as usize + x as usize);
            n += 1;
            black += u64::from(rgb[i..i + 3] == [0, 0, 0]);
        }
    }
    if n == 0 {
        100.0
    } else {
        100.0 * black as f64 / n as f64
    }
}

/// The per-entry table in Markdown.
pub fn table(report: &ClipReport) -> String {
    let mut s = String::from(
        "| entry | first frame | frames followed | frames exposed | min box black % |\n\
         | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for e in &report.entries {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.1} |",
            e.entry, e.first_frame, e.frames, e.exposed, e.min_covered_pct
        );
    }
    let exposed: usize = report.entries.iter().map(|e| e.exposed).sum();
    let _ = writeln!(
        s,
        "\n{} entries, {} frames of exposure in all ({} with any); {} of {} frames sent all black",
        report.entries.len(),
        exposed,
        report.entries.iter().filter(|e| e.exposed > 0).count(),
        report.black_frames,
        report.frames
    );
    for (entry, frame, pct) in &report.exposures {
        let _ = writeln!(
            s,
            "entry {entry} exposed in frame {frame}: {pct:.1} % of its box black"
        );
    }
    let _ = writeln!(
        s,
        "mean share of each frame blacked (people included): {:.2} %",
        report.mean_black_pct()
    );
    for t in &report.truth {
        let _ = writeln!(
            s,
            "frame {} against its truth: leakage {:.2} % of {} person px, background blacked {:.2} % of {} px",
            t.frame,
            100.0 * t.leaked_px as f64 / t.person_px.max(1) as f64,
            t.person_px,
            100.0 * t.background_blacked_px as f64 / t.background_px.max(1) as f64,
            t.background_px
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_share_counts_black_pixels_inside_only() {
        let (w, h) = (4u32, 2u32);
        let mut rgb = vec![200u8; (w * h * 3) as usize];
        rgb[0..3].fill(0); // (0,0) black
        assert_eq!(box_black_pct(&rgb, w, h, [0, 0, 2, 1]), 50.0);
        assert_eq!(box_black_pct(&rgb, w, h, [1, 0, 4, 2]), 0.0);
        assert_eq!(box_black_pct(&rgb, w, h, [3, 3, 9, 9]), 100.0, "empty box");
    }

    #[test]
    fn truth_rows_count_leaks_and_blacked_background_and_skip_ignored() {
        // Pixels: person covered, person visible, background blacked, background kept,
        // ignored, background already black in the input.
        let labels = [1u8, 1, 0, 0, 2, 0];
        let src = [9u8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0];
        let out = [0u8, 0, 0, 9, 9, 9, 0, 0, 0, 9, 9, 9, 9, 9, 9, 0, 0, 0];
        let r = truth_row(7, &src, &out, false, &labels);
        assert_eq!(
            (
                r.person_px,
                r.leaked_px,
                r.background_px,
                r.background_blacked_px
            ),
            (2, 1, 2, 1)
        );
        let r = truth_row(7, &src, &out, true, &labels);
        assert_eq!((r.leaked_px, r.background_blacked_px), (0, 2));
    }
}
