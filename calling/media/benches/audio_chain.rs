//! `cargo bench -p media --bench audio_chain`: what the microphone's processing chain does
//! and costs, on a simulated room.
//!
//! The far end talks (speech-like: low-passed noise with a syllable envelope, 12 s); the
//! speaker's sound reaches the microphone 30 ms later at -10 dB with a reflection at
//! -20 dB, plus near-end room noise at -55 dBFS. Echo return loss enhancement (ERLE: echo
//! power in over echo power out) is measured over the last 4 s (after convergence) with
//! the echo canceller and without it (high-pass only), and CPU per 10 ms frame for the
//! whole chain (echo canceller, noise suppression, gain control, high-pass) and its parts.

use std::time::{Duration, Instant};

use media::audio::{speech_like, AudioChain, ProcessingConfig, FRAME_SAMPLES, SAMPLE_RATE};

const SECONDS: usize = 12;
const MEASURED: usize = 4;

/// The echo alone, and the microphone (echo plus room noise).
fn room(played: &[i16], seed: u64) -> (Vec<i16>, Vec<i16>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (direct, reflection) = (1440, 1440 + 576);
    let echo: Vec<i16> = (0..played.len())
        .map(|i| {
            let d = if i >= direct {
                f32::from(played[i - direct]) * 0.32
            } else {
                0.0
            };
            let r = if i >= reflection {
                f32::from(played[i - reflection]) * 0.1
            } else {
                0.0
            };
            (d + r) as i16
        })
        .collect();
    let mic = echo
        .iter()
        .map(|&e| e.saturating_add(((rng.f32() * 2.0 - 1.0) * 58.0) as i16))
        .collect();
    (echo, mic)
}

fn power(samples: &[i16]) -> f64 {
    samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64
}

/// Runs the room through a chain; returns what it sent and the time per 10 ms frame.
fn run(config: ProcessingConfig, played: &[i16], mic: &[i16]) -> (Vec<i16>, Duration) {
    let mut chain = AudioChain::sonora(config);
    let mut sent = Vec::with_capacity(mic.len());
    let mut busy = Duration::ZERO;
    for (far, near) in played
        .chunks_exact(FRAME_SAMPLES)
        .zip(mic.chunks_exact(FRAME_SAMPLES))
    {
        let mut frame = near.to_vec();
        let started = Instant::now();
        chain.far_end(far).expect("render");
        chain.capture(&mut frame).expect("capture");
        busy += started.elapsed();
        sent.extend_from_slice(&frame);
    }
    let frames_10ms = (played.len() / (FRAME_SAMPLES / 2)) as u32;
    (sent, busy / frames_10ms)
}

fn main() {
    let played = speech_like(SECONDS, 3);
    let (echo, mic) = room(&played, 5);
    let tail = MEASURED * SAMPLE_RATE as usize;
    let erle = |sent: &[i16]| {
        10.0 * (power(&echo[echo.len() - tail..]) / power(&sent[sent.len() - tail..])).log10()
    };
    let off = ProcessingConfig {
        echo_cancellation: false,
        noise_suppression: false,
        gain_control: false,
        high_pass: false,
        ..ProcessingConfig::default()
    };
    let cases = [
        (
            "high-pass only (no echo canceller)",
            ProcessingConfig {
                high_pass: true,
                ..off
            },
        ),
        (
            "echo canceller + high-pass",
            ProcessingConfig {
                echo_cancellation: true,
                high_pass: true,
                ..off
            },
        ),
        (
            "noise suppression alone",
            ProcessingConfig {
                noise_suppression: true,
                ..off
            },
        ),
        (
            "gain control alone",
            ProcessingConfig {
                gain_control: true,
                ..off
            },
        ),
        ("whole chain (the default)", ProcessingConfig::default()),
    ];
    println!(
        "Audio chain (sonora 0.2, 48 kHz mono) on a simulated room: echo 30 ms at -10 dB, reflection at -20 dB, room noise -55 dBFS; {SECONDS} s, ERLE over the last {MEASURED} s"
    );
    println!(
        "{:<36} {:>9} {:>22}",
        "chain", "ERLE", "CPU per 10 ms frame"
    );
    for (name, config) in cases {
        let (sent, per_frame) = run(config, &played, &mic);
        println!(
            "{name:<36} {:>6.1} dB {:>17.1} µs ({:.2} % of real time)",
            erle(&sent),
            per_frame.as_secs_f64() * 1e6,
            per_frame.as_secs_f64() / 0.010 * 100.0
        );
    }
}
