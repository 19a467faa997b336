//! The pipeline benchmark behind `cargo bench -p blackout` and `phantomcall blackout --bench`.
//!
//! A real photograph (the astronaut test photo, embedded) is cropped to the frame's aspect
//! ratio, scaled to the frame size and packed in the frame's pixel format; the whole
//! [`BlackoutFilter::filter`](crate::BlackoutFilter) call is timed: copy, colour conversion,
//! downscale, inference, mask, composite, and the hand-over to and from the worker thread.
//! The deadline is lifted so that every frame is measured to its end. Each case runs with the
//! person detector (the issue-13 pipeline, "new") or without it (segmentation alone, "old").

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::convert::pack_rgb;
use crate::filter::{BlackoutFilter, FilterConfig, PrivacyFilter};
use crate::filtered::FrameOrigin;
use crate::frame::{PixelFormat, RawFrame};
use crate::model::ModelChoice;
use crate::schedule::DetectorConfig;

static PHOTO_PNG: &[u8] = include_bytes!("../model/testdata/astronaut.png");

/// One benchmark case.
#[derive(Debug, Clone, Copy)]
pub struct BenchCase {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Model.
    pub model: ModelChoice,
    /// Pixel format.
    pub format: PixelFormat,
    /// With the person detector (the new pipeline) or segmentation alone (the old one).
    pub detector: bool,
}

/// MediaPipe's own CPU time per frame for its segmentation models, measured on this machine
/// on one core at 640x480 (model/verify.py timing, README "Benchmark"): general 8.2 ms,
/// landscape 5.6 ms. Shown beside our figures as frames per second.
pub fn mediapipe_fps(model: ModelChoice) -> f64 {
    match model {
        ModelChoice::Landscape => 1000.0 / 5.6,
        _ => 1000.0 / 8.2,
    }
}

/// The standard cases: 640x480 and 1280x720 RGB24 (model by aspect ratio), old and new
/// pipeline side by side; then 1280x720 YUYV and NV12, new pipeline.
pub fn standard_cases() -> Vec<BenchCase> {
    let mut cases = Vec::new();
    for (width, height) in [(640, 480), (1280, 720)] {
        for detector in [false, true] {
            cases.push(BenchCase {
                width,
                height,
                model: ModelChoice::Auto,
                format: PixelFormat::Rgb24,
                detector,
            });
        }
    }
    for format in [PixelFormat::Yuyv, PixelFormat::Nv12] {
        cases.push(BenchCase {
            width: 1280,
            height: 720,
            model: ModelChoice::Auto,
            format,
            detector: true,
        });
    }
    cases
}

/// Figures for one case.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// The case.
    pub case: BenchCase,
    /// Frames timed.
    pub frames: usize,
    /// Frames per second over the timed frames.
    pub fps: f64,
    /// Median latency of one `filter()` call.
    pub median: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Frames slower than the default 1/24 s deadline (they would have been sent black).
    pub over_deadline: usize,
    /// Frames that came out black instead of filtered (should be 0).
    pub black: usize,
}

/// The test photo cropped to `width:height` and scaled to it, as RGB bytes.
pub fn photo_rgb(width: u32, height: u32) -> Vec<u8> {
    let img = image::load_from_memory(PHOTO_PNG)
        .expect("embedded photo decodes")
        .to_rgb8();
    let (pw, ph) = img.dimensions();
    // Largest crop of the photo's centre with the target aspect ratio.
    let (cw, ch) = if u64::from(pw) * u64::from(height) > u64::from(ph) * u64::from(width) {
        (
            (u64::from(ph) * u64::from(width) / u64::from(height)) as u32,
            ph,
        )
    } else {
        (
            pw,
            (u64::from(pw) * u64::from(height) / u64::from(width)) as u32,
        )
    };
    let crop = image::imageops::crop_imm(&img, (pw - cw) / 2, (ph - ch) / 2, cw, ch).to_image();
    image::imageops::resize(&crop, width, height, image::imageops::FilterType::Triangle).into_raw()
}

/// The case's frame (the photo packed in its format) and a filter for it: `base` with the
/// case's model, the detector for the new pipeline only, and time to load the models.
fn photo_and_filter(
    case: BenchCase,
    detector: Option<DetectorConfig>,
    base: FilterConfig,
) -> (Vec<u8>, BlackoutFilter) {
    let rgb = photo_rgb(case.width, case.height);
    let data = pack_rgb(&rgb, case.width, case.height, case.format);
    let config = FilterConfig {
        model_choice: case.model,
        load_timeout: Duration::from_secs(60),
        detector: if case.detector { detector } else { None },
        ..base
    };
    (data, BlackoutFilter::new(config))
}

/// Runs one case: `warmup` untimed frames, then `frames` timed ones; the new pipeline with
/// the default detector settings.
pub fn run_case(case: BenchCase, warmup: usize, frames: usize) -> BenchRow {
    run_case_with(
        case,
        FilterConfig::with_person_detector().detector,
        warmup,
        frames,
    )
}

/// [`run_case`] with these detector settings for the new pipeline (`case.detector`); the old
/// pipeline ignores them.
pub fn run_case_with(
    case: BenchCase,
    detector: Option<DetectorConfig>,
    warmup: usize,
    frames: usize,
) -> BenchRow {
    // The deadline is lifted: every frame is measured to its end.
    let (data, mut filter) = photo_and_filter(
        case,
        detector,
        FilterConfig {
            deadline: Duration::from_secs(30),
            stall_limit: Duration::from_secs(60),
            ..FilterConfig::default()
        },
    );
    let frame = RawFrame::tight(&data, case.width, case.height, case.format)
        .expect("packed frame has a valid layout");
    for _ in 0..warmup {
        std::hint::black_box(filter.filter(frame));
    }
    let mut times = Vec::with_capacity(frames);
    let mut black = 0;
    let all = Instant::now();
    for _ in 0..frames {
        let t = Instant::now();
        let out = filter.filter(frame);
        times.push(t.elapsed());
        black += usize::from(out.origin() != FrameOrigin::Filtered);
        drop(std::hint::black_box(out));
    }
    let total = all.elapsed();
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    BenchRow {
        case,
        frames,
        fps: frames as f64 / total.as_secs_f64(),
        median: at(0.5),
        p99: at(0.99),
        over_deadline: times
            .iter()
            .filter(|t| **t > crate::filter::DEFAULT_DEADLINE)
            .count(),
        black,
    }
}

/// A Markdown table of the figures. "new/old" is the new pipeline's fps over the old one's
/// for the same frame size and format (when both ran); "vs MediaPipe" is fps over
/// [`mediapipe_fps`] of the segmentation model used.
pub fn table(rows: &[BenchRow]) -> String {
    let mut s = String::from(
        "| frame | format | pipeline | model | fps | new/old | vs MediaPipe | median ms | p99 ms | over 1/24 s | black |\n\
         | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let model = r.case.model.resolve(r.case.width, r.case.height);
        let old = rows.iter().find(|o| {
            !o.case.detector
                && (o.case.width, o.case.height, o.case.format)
                    == (r.case.width, r.case.height, r.case.format)
        });
        let ratio = match old {
            Some(o) if r.case.detector => format!("{:.2}", r.fps / o.fps),
            _ => "-".to_string(),
        };
        let _ = writeln!(
            s,
            "| {}x{} | {} | {} | {}{} | {:.1} | {} | {:.2} | {:.2} | {:.2} | {}/{} | {} |",
            r.case.width,
            r.case.height,
            r.case.format,
            if r.case.detector {
                "new (segmenter + detector)"
            } else {
                "old (segmenter)"
            },
            model,
            if r.case.model == ModelChoice::Auto {
                " (auto)"
            } else {
                ""
            },
            r.fps,
            ratio,
            r.fps / mediapipe_fps(model),
            r.median.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.over_deadline,
            r.frames,
            r.black
        );
    }
    s
}

/// Figures for one case run as a camera would: frames handed over at a fixed rate with the
/// live deadline, so a frame the pipeline cannot finish in time is sent black (as in a call).
#[derive(Debug, Clone)]
pub struct PacedRow {
    /// The case.
    pub case: BenchCase,
    /// Label of the detector settings (the default, or the variant measured beside it).
    pub variant: &'static str,
    /// Frames handed over.
    pub frames: usize,
    /// Frames that came out black (late, or waiting for the detector).
    pub black: usize,
    /// 99th percentile of the `filter()` call (bounded by the deadline).
    pub p99: Duration,
}

/// Runs `frames` frames of `case` at `fps` (wall clock) through a filter with the live
/// deadline ([`crate::filter::DEFAULT_DEADLINE`]) and counts the frames sent black. The first
/// `warmup` frames (the models loading, the detector's first look) are not counted.
pub fn run_paced(
    case: BenchCase,
    detector: Option<DetectorConfig>,
    variant: &'static str,
    fps: f64,
    warmup: usize,
    frames: usize,
) -> PacedRow {
    let (data, mut filter) = photo_and_filter(case, detector, FilterConfig::default());
    let frame = RawFrame::tight(&data, case.width, case.height, case.format)
        .expect("packed frame has a valid layout");
    let period = Duration::from_secs_f64(1.0 / fps);
    let mut times = Vec::with_capacity(frames);
    let mut black = 0;
    let mut due = Instant::now();
    for n in 0..warmup + frames {
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        due += period;
        let t = Instant::now();
        let out = filter.filter(frame);
        if n >= warmup {
            times.push(t.elapsed());
            black += usize::from(out.origin() != FrameOrigin::Filtered);
        }
        drop(std::hint::black_box(out));
    }
    times.sort();
    PacedRow {
        case,
        variant,
        frames,
        black,
        p99: times[((times.len() - 1) as f64 * 0.99).round() as usize],
    }
}

/// A Markdown table of paced runs; "black vs first" is each row's black frames over the
/// first row of the same frame size (the detector at the filter's priority, measured in the same run).
pub fn paced_table(rows: &[PacedRow]) -> String {
    let mut s = String::from(
        "| frame | pipeline | detector | frames | sent black | black % | black vs first | p99 ms |\n\
         | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let first = rows
            .iter()
            .find(|o| (o.case.width, o.case.height) == (r.case.width, r.case.height))
            .expect("a row finds itself");
        let ratio = if first.black == 0 {
            "-".to_string()
        } else {
            format!("{:.2}", r.black as f64 / first.black as f64)
        };
        let _ = writeln!(
            s,
            "| {}x{} | {} | {} | {} | {} | {:.1} | {} | {:.1} |",
            r.case.width,
            r.case.height,
            if r.case.detector { "new" } else { "old" },
            if r.case.detector { r.variant } else { "-" },
            r.frames,
            r.black,
            100.0 * r.black as f64 / r.frames.max(1) as f64,
            ratio,
            r.p99.as_secs_f64() * 1e3,
        );
    }
    s
}

/// Largest detector interval and input side a benchmark override may ask for.
const MAX_OVERRIDE: u32 = 4096;

/// Parses detector settings for the benchmark (`BLACKOUT_BENCH_DETECTOR`), e.g.
/// `interval=6,long_side=256`: comma-separated `key=value` pairs over the defaults, keys
/// `interval`, `long_side`, `max_age` (whole numbers, 1..=4096) and `motion` (`on`/`off`).
/// Anything else is refused, so a typo cannot silently measure the defaults.
pub fn parse_detector_override(text: &str) -> Result<DetectorConfig, String> {
    let mut config = DetectorConfig::default();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not key=value"))?;
        let (key, value) = (key.trim(), value.trim());
        let number = || -> Result<u32, String> {
            let n: u32 = value
                .parse()
                .map_err(|_| format!("{key}: `{value}` is not a whole number"))?;
            if (1..=MAX_OVERRIDE).contains(&n) {
                Ok(n)
            } else {
                Err(format!("{key}: {n} is outside 1..={MAX_OVERRIDE}"))
            }
        };
        match key {
            "interval" => config.interval = number()?,
            "long_side" => {
                let n = number()?;
                if n % 32 != 0 {
                    return Err(format!("long_side: {n} is not a multiple of 32"));
                }
                config.long_side = n;
            }
            "max_age" => config.max_age = number()?,
            "motion" => {
                config.motion = match value {
                    "on" => Some(crate::motion::MotionConfig::default()),
                    "off" => None,
                    _ => return Err(format!("motion: `{value}` is not on or off")),
                }
            }
            _ => return Err(format!("unknown key `{key}`")),
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_override_sets_the_keys_given_and_keeps_the_rest() {
        let c = parse_detector_override("interval=6, long_side=256,motion=off").unwrap();
        assert_eq!((c.interval, c.long_side, c.motion), (6, 256, None));
        assert_eq!(c.max_age, DetectorConfig::default().max_age);
        assert_eq!(
            parse_detector_override("").unwrap(),
            DetectorConfig::default()
        );
    }

    #[test]
    fn detector_override_refuses_what_it_cannot_read() {
        for bad in [
            "interval",
            "interval=0",
            "interval=-3",
            "interval=6.5",
            "interval=99999",
            "long_side=250",
            "motion=maybe",
            "speed=11",
        ] {
            assert!(parse_detector_override(bad).is_err(), "{bad} accepted");
        }
    }
}
