//! `cargo bench -p media --bench video_codec`: VP8 encode and decode time per 640x480 frame
//! (one thread, real-time settings, 800 kbit/s), for the test pattern passed through the
//! real blackout filter and for all-black frames (blackout off). Pin it to one core to see
//! the floor: `taskset -c 0 cargo bench -p media --bench video_codec`.
//! `VIDEO_BENCH_FRAMES` sets the number of timed frames per case (default 240, 10 s of video).
//! A second table times screen-share coding: the synthetic slide deck at 1920x1080 (the
//! largest shared size) in screen-content mode at its starting bitrate.

use std::fmt::Write;
use std::time::{Duration, Instant};

use blackout::{
    BlackFrameFilter, BlackoutFilter, FilterConfig, FilteredFrame, PrivacyFilter, RawFrame,
};
use media::video::{
    CapturedFrame, EncodedFrame, EncoderConfig, ScreenSource, SyntheticScreen, TestPatternSource,
    VideoDecoder, VideoEncoder, VideoSource, DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH,
    MAX_SCREEN_SIZE, SCREEN_FPS,
};

/// Distinct input frames, cycled (filtering them all up front keeps the filter's own time
/// out of the figures).
const DISTINCT: usize = 96;

struct Row {
    case: &'static str,
    frames: usize,
    encode: Vec<Duration>,
    decode: Vec<Duration>,
    bytes: usize,
}

fn quantile(times: &mut [Duration], q: f64) -> f64 {
    times.sort();
    times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
}

/// Times `frames` encodes (cycling through `inputs`, with `encode`) and the decodes of what
/// they produced.
fn time_coding<T>(
    case: &'static str,
    config: EncoderConfig,
    inputs: &[T],
    frames: usize,
    encode: impl Fn(&mut VideoEncoder, &T) -> Vec<EncodedFrame>,
) -> Row {
    let mut encoder = VideoEncoder::new(config).expect("encoder");
    let mut decoder = VideoDecoder::new().expect("decoder");
    let mut row = Row {
        case,
        frames,
        encode: Vec::with_capacity(frames),
        decode: Vec::with_capacity(frames),
        bytes: 0,
    };
    for frame in inputs.iter().cycle().take(frames) {
        let t = Instant::now();
        let packets = encode(&mut encoder, frame);
        row.encode.push(t.elapsed());
        let t = Instant::now();
        for p in &packets {
            std::hint::black_box(decoder.decode(&p.data).expect("decode"));
            row.bytes += p.data.len();
        }
        row.decode.push(t.elapsed());
    }
    row
}

fn run(case: &'static str, inputs: &[FilteredFrame], frames: usize) -> Row {
    time_coding(case, EncoderConfig::default(), inputs, frames, |e, f| {
        e.encode(f, false).expect("encode")
    })
}

/// Screen-share coding of `frames` slides at the largest shared size.
fn run_screen(frames: usize) -> Row {
    let (w, h) = MAX_SCREEN_SIZE;
    let mut source = SyntheticScreen::new(w, h).paced(false);
    let inputs: Vec<_> = (0..frames.min(DISTINCT))
        .map(|_| source.read_frame().expect("slides"))
        .collect();
    let config = EncoderConfig::screen(w, h, SCREEN_FPS);
    time_coding(
        "slides (screen content)",
        config,
        &inputs,
        frames,
        |e, f| e.encode_screen(f, false).expect("encode"),
    )
}

/// A Markdown table of `rows` coded at `(w, h)`, bitrates at `fps`.
fn table(
    heading: &str,
    (w, h): (u32, u32),
    fps: u32,
    rows: impl IntoIterator<Item = Row>,
) -> String {
    let mut out = format!(
        "| {heading} | encode median ms | encode p99 ms | decode median ms | decode p99 ms | kbit/s at {fps} fps |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for mut row in rows {
        let kbps = row.bytes as f64 * 8.0 * f64::from(fps) / row.frames as f64 / 1e3;
        let _ = writeln!(
            out,
            "| {} {w}x{h}, {} frames | {:.2} | {:.2} | {:.2} | {:.2} | {kbps:.0} |",
            row.case,
            row.frames,
            quantile(&mut row.encode, 0.5),
            quantile(&mut row.encode, 0.99),
            quantile(&mut row.decode, 0.5),
            quantile(&mut row.decode, 0.99),
        );
    }
    out
}

fn raw(frame: &CapturedFrame) -> RawFrame<'_> {
    frame.as_raw().expect("valid frame")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only smoke-test.
    let benching = std::env::args().any(|a| a == "--bench");
    let frames = std::env::var("VIDEO_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 240 } else { 3 })
        .max(1);
    let (w, h) = (DEFAULT_WIDTH, DEFAULT_HEIGHT);
    let mut source = TestPatternSource::new(w, h, DEFAULT_FPS).paced(false);
    let captured: Vec<_> = (0..frames.min(DISTINCT))
        .map(|_| source.read_frame().expect("test pattern"))
        .collect();
    let mut blackout = BlackoutFilter::new(FilterConfig {
        deadline: Duration::from_secs(30),
        stall_limit: Duration::from_secs(60),
        ..FilterConfig::default()
    });
    let filtered: Vec<_> = captured.iter().map(|c| blackout.filter(raw(c))).collect();
    let black: Vec<_> = captured
        .iter()
        .map(|c| BlackFrameFilter::new().filter(raw(c)))
        .collect();

    let camera_rows = [
        run("test pattern through blackout", &filtered, frames),
        run("all black (blackout off)", &black, frames),
    ];
    println!("{}", table("frames", (w, h), DEFAULT_FPS, camera_rows));
    println!(
        "{}",
        table(
            "screen share",
            MAX_SCREEN_SIZE,
            SCREEN_FPS,
            [run_screen(frames)]
        )
    );
}
