use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::*;
use crate::audio::{goertzel_power, speech_like};

/// What the microphone hears of `played` in a small room: the speaker's sound 30 ms later
/// at -10 dB, plus a reflection 12 ms after that at -20 dB.
fn room_echo(played: &[i16]) -> Vec<i16> {
    let (direct, reflection) = (1440, 1440 + 576);
    (0..played.len())
        .map(|i| {
            let d = if i >= direct {
                played[i - direct] as f32 * 0.32
            } else {
                0.0
            };
            let r = if i >= reflection {
                played[i - reflection] as f32 * 0.1
            } else {
                0.0
            };
            (d + r) as i16
        })
        .collect()
}

fn power(samples: &[i16]) -> f64 {
    samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64
}

/// Runs `played` and `mic` through `chain` frame by frame; returns what it sent.
fn run(chain: &mut AudioChain, played: &[i16], mic: &[i16]) -> Vec<i16> {
    let mut sent = Vec::with_capacity(mic.len());
    for (far, near) in played
        .chunks_exact(FRAME_SAMPLES)
        .zip(mic.chunks_exact(FRAME_SAMPLES))
    {
        chain.far_end(far).unwrap();
        let mut frame = near.to_vec();
        chain.capture(&mut frame).unwrap();
        sent.extend_from_slice(&frame);
    }
    sent
}

#[test]
fn the_echo_of_the_far_end_is_cancelled_by_at_least_20_db_after_convergence() {
    let played = speech_like(10, 7);
    let mic = room_echo(&played);
    let mut chain = AudioChain::sonora(ProcessingConfig {
        noise_suppression: false,
        gain_control: false,
        ..ProcessingConfig::default()
    });
    let sent = run(&mut chain, &played, &mic);
    let last = 3 * SAMPLE_RATE as usize;
    let erle = 10.0 * (power(&mic[mic.len() - last..]) / power(&sent[sent.len() - last..])).log10();
    assert!(erle >= 20.0, "echo return loss enhancement {erle:.1} dB");
}

#[test]
fn near_end_speech_passes_while_the_far_end_talks() {
    let played = speech_like(8, 11);
    let mut mic = room_echo(&played);
    // The local person speaks (a 440 Hz voice at -20 dBFS) over the last 3 s.
    let start = mic.len() - 3 * SAMPLE_RATE as usize;
    for (i, s) in mic[start..].iter_mut().enumerate() {
        let t = i as f32 / SAMPLE_RATE as f32;
        *s = s.saturating_add((3_300.0 * (std::f32::consts::TAU * 440.0 * t).sin()) as i16);
    }
    let mut chain = AudioChain::sonora(ProcessingConfig::default());
    let sent = run(&mut chain, &played, &mic);
    let voice_in = goertzel_power(&mic[start..], 440.0, SAMPLE_RATE);
    let voice_out = goertzel_power(&sent[start..], 440.0, SAMPLE_RATE);
    assert!(
        voice_out > voice_in * 0.1,
        "the local voice keeps most of its level: in {voice_in:e}, out {voice_out:e}"
    );
}

/// Negates its input (so processed frames are told from captured ones) and panics on the
/// capture whose number is in `panic_on`.
struct Flaky {
    captures: u32,
    panic_on: Vec<u32>,
}

impl Processor for Flaky {
    fn render(&mut self, _played: &[i16]) -> Result<(), ProcessingFault> {
        Ok(())
    }
    fn capture(&mut self, captured: &[i16], out: &mut [i16]) -> Result<(), ProcessingFault> {
        self.captures += 1;
        if self.panic_on.contains(&self.captures) {
            panic!("injected fault");
        }
        for (o, c) in out.iter_mut().zip(captured) {
            *o = c.saturating_neg();
        }
        Ok(())
    }
}

/// A factory of `Flaky` processors that each panic on their `panic_on` captures, and a
/// count of how many it built.
fn flaky(panic_on: Vec<u32>) -> (ProcessorFactory, Arc<AtomicU32>) {
    let built = Arc::new(AtomicU32::new(0));
    let count = built.clone();
    let factory: ProcessorFactory = Box::new(move || {
        count.fetch_add(1, Ordering::SeqCst);
        Box::new(Flaky {
            captures: 0,
            panic_on: panic_on.clone(),
        })
    });
    (factory, built)
}

fn frame(value: i16) -> Vec<i16> {
    vec![value; FRAME_SAMPLES]
}

#[test]
fn a_fault_leaves_the_frame_as_captured_and_the_processor_is_rebuilt() {
    // Each 20 ms frame is two captures: the fault hits the second frame's first half.
    let (factory, built) = flaky(vec![3]);
    let mut chain = AudioChain::new(factory);
    let mut first = frame(100);
    chain.capture(&mut first).unwrap();
    assert_eq!(first, frame(-100), "processed");

    let mut second = frame(200);
    let fault = chain.capture(&mut second).unwrap_err();
    assert!(fault.0.contains("injected fault"), "{fault}");
    assert_eq!(
        second,
        frame(200),
        "never silence: the frame goes out as captured"
    );
    assert_eq!(built.load(Ordering::SeqCst), 2, "a fresh processor");

    let mut third = frame(300);
    chain.capture(&mut third).unwrap();
    assert_eq!(
        third,
        frame(-300),
        "processing resumes on the fresh processor"
    );
}

#[test]
fn after_repeated_faults_the_chain_stops_and_audio_passes_unprocessed() {
    let (factory, built) = flaky(vec![1]);
    let mut chain = AudioChain::new(factory);
    for _ in 0..MAX_FAULTS {
        let mut f = frame(50);
        assert!(chain.capture(&mut f).is_err());
        assert_eq!(f, frame(50));
    }
    assert!(!chain.is_running());
    assert_eq!(built.load(Ordering::SeqCst), MAX_FAULTS);
    let mut later = frame(60);
    chain.capture(&mut later).unwrap();
    assert_eq!(later, frame(60), "unprocessed, not silent");
    chain.far_end(&frame(1)).unwrap();
}

#[test]
fn a_processor_that_cannot_be_built_leaves_audio_unprocessed() {
    let mut chain = AudioChain::new(Box::new(|| panic!("no processor")));
    assert!(!chain.is_running());
    let mut f = frame(70);
    chain.capture(&mut f).unwrap();
    assert_eq!(f, frame(70));
}

#[test]
fn a_frame_of_the_wrong_length_is_refused_and_left_alone() {
    let mut chain = AudioChain::sonora(ProcessingConfig::default());
    let mut short = vec![5i16; 100];
    assert!(chain.capture(&mut short).is_err());
    assert_eq!(short, vec![5i16; 100]);
    assert!(chain.is_running(), "not a processor fault");
}
