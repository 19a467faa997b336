//! `phantomcall blackout`: run the human-blackout filter on a photo or a Y4M video, or
//! benchmark it.
//!
//! * `phantomcall blackout --input photo.jpg --output out.png`: PNG or JPEG in, PNG out.
//! * `phantomcall blackout --input in.y4m --output out.y4m`: every frame filtered (4:2:0).
//! * `phantomcall blackout --bench`: frames per second and latency of the whole pipeline.
//!
//! Exit status 2 when any frame came out black because the filter could not vouch for it
//! (the output is still written, with those frames black).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use blackout::{
    BlackoutFilter, FilterConfig, FilteredFrame, FrameOrigin, ModelChoice, ModelSource,
    PixelFormat, Placeholder, PrivacyFilter, RawFrame,
};

/// Arguments of `phantomcall blackout`.
#[derive(clap::Args, Debug)]
pub struct BlackoutArgs {
    /// Photo (PNG, JPEG) or video (.y4m, 4:2:0) to filter.
    #[arg(long, required_unless_present = "bench")]
    pub input: Option<PathBuf>,
    /// Where to write the result: PNG for a photo, .y4m for a video.
    #[arg(long, required_unless_present = "bench")]
    pub output: Option<PathBuf>,
    /// Benchmark the pipeline (640x480 and 1280x720, both models) instead.
    #[arg(long, conflicts_with_all = ["input", "output"])]
    pub bench: bool,
    /// Timed frames per benchmark case.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    /// Embedded model: general (256x256), landscape (256x144) or auto (by aspect ratio).
    #[arg(long, default_value = "auto")]
    pub model: ModelChoice,
    /// Use this ONNX model file instead of the embedded ones.
    #[arg(long)]
    pub model_file: Option<PathBuf>,
    /// Person probability from which a pixel is painted black (0..1).
    #[arg(long, default_value_t = blackout::DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Dilation radius as a fraction of the frame width.
    #[arg(long, default_value_t = blackout::DEFAULT_DILATION)]
    pub dilation: f32,
    /// Frames a person pixel stays black after it was last seen (video).
    #[arg(long, default_value_t = blackout::DEFAULT_HOLD_FRAMES)]
    pub hold: usize,
    /// Replace every frame by this image (itself filtered).
    #[arg(long)]
    pub placeholder: Option<PathBuf>,
    /// Apply the live 1/24 s per-frame deadline (late frames come out black). Off by default
    /// for files, where every frame may take as long as it needs.
    #[arg(long)]
    pub realtime: bool,
}

/// Runs the command.
pub fn run(args: BlackoutArgs) -> Result<ExitCode> {
    if args.bench {
        return bench(args.frames);
    }
    let (Some(input), Some(output)) = (args.input.clone(), args.output.clone()) else {
        bail!("--input and --output are needed (or --bench)");
    };
    let config = config(&args)?;
    let is_y4m = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("y4m"));
    let mut filter = BlackoutFilter::new(config);
    eprintln!("{}", filter.state());
    let (frames, black) = if is_y4m(&input) {
        if !is_y4m(&output) {
            bail!("a .y4m input needs a .y4m output");
        }
        filter_y4m(&mut filter, &input, &output)?
    } else {
        if !output
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        {
            bail!("a photo is written as PNG: give --output a .png name");
        }
        filter_photo(&mut filter, &input, &output)?
    };
    eprintln!(
        "{frames} frame(s) written to {}; {}",
        output.display(),
        filter.state()
    );
    if black > 0 {
        eprintln!("warning: {black} frame(s) could not be filtered and were written black");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn config(args: &BlackoutArgs) -> Result<FilterConfig> {
    let mut config = FilterConfig {
        model_choice: args.model,
        threshold: args.threshold,
        dilation: args.dilation,
        hold_frames: args.hold,
        ..FilterConfig::default()
    };
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!("--threshold must be within 0..1");
    }
    if !(0.0..=0.5).contains(&args.dilation) {
        bail!("--dilation must be within 0..0.5");
    }
    if let Some(path) = &args.model_file {
        config.model = ModelSource::File(path.clone());
    }
    if let Some(path) = &args.placeholder {
        config.placeholder = Some(Placeholder::open(path)?);
    }
    if !args.realtime {
        config.deadline = Duration::from_secs(30);
        config.stall_limit = Duration::from_secs(60);
    }
    Ok(config)
}

/// PNG/JPEG -> PNG. Returns (frames, black fallback frames).
fn filter_photo(
    filter: &mut BlackoutFilter,
    input: &Path,
    output: &Path,
) -> Result<(usize, usize)> {
    let photo = image::open(input)
        .with_context(|| format!("cannot read {}", input.display()))?
        .to_rgb8();
    let (w, h) = photo.dimensions();
    let out = match RawFrame::tight(photo.as_raw(), w, h, PixelFormat::Rgb24) {
        Ok(frame) => filter.filter(frame),
        Err(e) => {
            eprintln!("warning: {e}");
            FilteredFrame::black(w, h, PixelFormat::Rgb24)
        }
    };
    image::save_buffer_with_format(
        output,
        out.data(),
        out.width(),
        out.height(),
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .with_context(|| format!("cannot write {}", output.display()))?;
    Ok((1, usize::from(out.origin() != FrameOrigin::Filtered)))
}

/// Longest Y4M header or frame line accepted.
const MAX_Y4M_LINE: u64 = 4096;

fn read_line(reader: &mut impl BufRead) -> Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader.take(MAX_Y4M_LINE).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        bail!("Y4M line too long or truncated");
    }
    line.pop();
    Ok(Some(
        String::from_utf8(line).context("Y4M header is not text")?,
    ))
}

/// Y4M (4:2:0) -> Y4M, every frame filtered. Returns (frames, black fallback frames).
fn filter_y4m(filter: &mut BlackoutFilter, input: &Path, output: &Path) -> Result<(usize, usize)> {
    let file = File::open(input).with_context(|| format!("cannot read {}", input.display()))?;
    let mut reader = BufReader::new(file);
    let header = read_line(&mut reader)?.context("empty Y4M file")?;
    let mut params = header.split(' ');
    if params.next() != Some("YUV4MPEG2") {
        bail!("not a Y4M file (no YUV4MPEG2 signature)");
    }
    let (mut width, mut height) = (0u32, 0u32);
    for param in params {
        let mut chars = param.chars();
        let tag = chars.next();
        let value = chars.as_str();
        match tag {
            Some('W') => width = value.parse().context("bad Y4M width")?,
            Some('H') => height = value.parse().context("bad Y4M height")?,
            Some('C') if !value.starts_with("420") => {
                bail!("Y4M colour space C{value} not supported (4:2:0 only)")
            }
            _ => {}
        }
    }
    if width == 0
        || height == 0
        || width > blackout::MAX_DIMENSION
        || height > blackout::MAX_DIMENSION
    {
        bail!("unusable Y4M frame size {width}x{height}");
    }
    let len = PixelFormat::I420.frame_len(width, height);
    let out_file =
        File::create(output).with_context(|| format!("cannot write {}", output.display()))?;
    let mut writer = BufWriter::new(out_file);
    writeln!(writer, "{header}")?;
    let mut buf = vec![0u8; len];
    let (mut frames, mut black) = (0, 0);
    while let Some(line) = read_line(&mut reader)? {
        if !line.starts_with("FRAME") {
            bail!("frame {frames}: expected FRAME, found {line:?}");
        }
        reader
            .read_exact(&mut buf)
            .with_context(|| format!("frame {frames} truncated"))?;
        let out = match filter.filter_bytes(&buf, width, height, PixelFormat::I420, None) {
            Ok(out) => out,
            Err(rejected) => rejected.black,
        };
        black += usize::from(out.origin() != FrameOrigin::Filtered);
        writer.write_all(b"FRAME\n")?;
        writer.write_all(out.data())?;
        frames += 1;
    }
    writer.flush()?;
    Ok((frames, black))
}

fn bench(frames: usize) -> Result<ExitCode> {
    if frames == 0 {
        bail!("--frames must be at least 1");
    }
    eprintln!("blackout benchmark: whole pipeline, real photo, {frames} frames per case");
    eprintln!(
        "(pin to one core for the DESIGN.md floor: taskset -c 0 phantomcall blackout --bench)"
    );
    let mut rows = Vec::new();
    for case in blackout::bench::standard_cases() {
        let row = blackout::bench::run_case(case, frames.min(20), frames);
        eprintln!(
            "  {}x{} {} {}: {:.1} fps",
            case.width, case.height, case.format, case.model, row.fps
        );
        rows.push(row);
    }
    println!("{}", blackout::bench::table(&rows));
    let slowest = rows.iter().map(|r| r.fps).fold(f64::INFINITY, f64::min);
    if slowest < 24.0 {
        eprintln!("warning: below the 24 fps floor ({slowest:.1} fps)");
    }
    Ok(ExitCode::SUCCESS)
}
