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

/// The whole clip's result.
#[derive(Debug, Clone, Default)]
pub struct ClipReport {
    /// Per entry.
    pub entries: Vec<EntryRow>,
    /// Frames run.
    pub frames: usize,
    /// Frames that came out all black (deadline missed, detector late, ...).
    pub black_frames: usize,
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
}
