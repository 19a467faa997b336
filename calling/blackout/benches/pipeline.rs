//! `cargo bench -p blackout`: frames per second and latency of the whole blackout pipeline.
//! Pin it to one core to check the floor: `taskset -c 0 cargo bench -p blackout`.
//! `BLACKOUT_BENCH_FRAMES` sets the number of timed frames per case (default 200);
//! `BLACKOUT_BENCH_DETECTOR` other detector settings for the new pipeline.
//! Then frames are paced at 24 fps with the live deadline (as a camera would hand them over)
//! and the frames sent black are counted: with the detector at the filter's priority and at
//! its default lower one, and the old pipeline (`BLACKOUT_BENCH_PACED_FRAMES`, default 240).

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only smoke-test.
    let benching = std::env::args().any(|a| a == "--bench");
    let frames = std::env::var("BLACKOUT_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 200 } else { 3 });
    let warmup = if benching { 20 } else { 1 };
    // `BLACKOUT_BENCH_DETECTOR=interval=3,long_side=320`: other detector settings for the
    // new pipeline (see `parse_detector_override`).
    let detector = match std::env::var("BLACKOUT_BENCH_DETECTOR") {
        Ok(text) => match blackout::bench::parse_detector_override(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("BLACKOUT_BENCH_DETECTOR: {e}");
                std::process::exit(2);
            }
        },
        Err(_) => blackout::FilterConfig::with_person_detector().detector,
    };
    eprintln!("new pipeline's detector: {detector:?}");
    let mut rows = Vec::new();
    for case in blackout::bench::standard_cases() {
        let row = blackout::bench::run_case_with(case, detector, warmup, frames);
        eprintln!(
            "{}x{} {} {:?} detector {}: {:.1} fps",
            case.width, case.height, case.format, case.model, case.detector, row.fps
        );
        rows.push(row);
    }
    println!("{}", blackout::bench::table(&rows));
    if !benching {
        return;
    }
    let paced_frames = std::env::var("BLACKOUT_BENCH_PACED_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    let same_priority = detector.map(|d| blackout::DetectorConfig { nice: 0, ..d });
    let mut paced = Vec::new();
    for (width, height) in [(640, 480), (1280, 720)] {
        let case = |detector| blackout::bench::BenchCase {
            width,
            height,
            model: blackout::ModelChoice::Auto,
            format: blackout::PixelFormat::Rgb24,
            detector,
        };
        for (case, settings, variant) in [
            (case(true), same_priority, "same priority"),
            (case(true), detector, "lowered (default)"),
            (case(false), None, "-"),
        ] {
            let row = blackout::bench::run_paced(case, settings, variant, 24.0, 24, paced_frames);
            eprintln!(
                "paced {width}x{height} detector {} ({variant}): {} of {} sent black",
                case.detector, row.black, row.frames
            );
            paced.push(row);
        }
    }
    println!("{}", blackout::bench::paced_table(&paced));
}
