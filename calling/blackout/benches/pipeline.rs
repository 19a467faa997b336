//! `cargo bench -p blackout`: frames per second and latency of the whole blackout pipeline.
//! Pin it to one core to check the floor: `taskset -c 0 cargo bench -p blackout`.
//! `BLACKOUT_BENCH_FRAMES` sets the number of timed frames per case (default 200).

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only smoke-test.
    let benching = std::env::args().any(|a| a == "--bench");
    let frames = std::env::var("BLACKOUT_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 200 } else { 3 });
    let warmup = if benching { 20 } else { 1 };
    let mut rows = Vec::new();
    for case in blackout::bench::standard_cases() {
        let row = blackout::bench::run_case(case, warmup, frames);
        eprintln!(
            "{}x{} {} {:?} detector {}: {:.1} fps",
            case.width, case.height, case.format, case.model, case.detector, row.fps
        );
        rows.push(row);
    }
    println!("{}", blackout::bench::table(&rows));
}
