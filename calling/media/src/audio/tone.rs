//! Synthetic tone source: a continuous sine, or short bursts whose onsets are logged so a
//! test can measure mouth-to-ear latency against [`super::BurstDetector`].

use std::collections::VecDeque;
use std::f64::consts::TAU;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::frame::{duration_to_samples, AudioError, AudioFrame, FRAME_SAMPLES, SAMPLE_RATE};
use super::source::{pacing_suffix, AudioSource, Pacer};

/// Amplitude of [`ToneSource::bursts`]: loud enough to survive Opus, far from clipping.
pub const BURST_AMPLITUDE: f32 = 0.5;

/// Onsets kept by a [`BurstLog`]; a burst every 100 ms fills it in over two hours.
const BURST_LOG_LIMIT: usize = 65_536;

#[derive(Debug)]
struct Bursts {
    period: u64,
    len: u64,
    log: BurstLog,
}

/// A sine tone at 48 kHz, continuous or in bursts.
#[derive(Debug)]
pub struct ToneSource {
    freq_hz: f64,
    amplitude: f64,
    pacer: Pacer,
    bursts: Option<Bursts>,
}

/// Capture instants of the burst onsets a [`ToneSource::bursts`] source produced.
///
/// Clones share the same log, so the test keeps one while the source moves to its thread.
#[derive(Clone, Debug, Default)]
pub struct BurstLog {
    onsets: Arc<Mutex<VecDeque<Instant>>>,
}

impl BurstLog {
    fn record(&self, at: Instant) {
        let mut onsets = self.onsets.lock().unwrap_or_else(|p| p.into_inner());
        if onsets.len() == BURST_LOG_LIMIT {
            onsets.pop_front();
        }
        onsets.push_back(at);
    }

    /// The onsets so far, oldest first (the most recent 65,536).
    pub fn onsets(&self) -> Vec<Instant> {
        let onsets = self.onsets.lock().unwrap_or_else(|p| p.into_inner());
        onsets.iter().copied().collect()
    }

    /// Number of onsets kept.
    pub fn len(&self) -> usize {
        self.onsets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no burst has started yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ToneSource {
    /// A continuous sine of `freq_hz` with peak `amplitude` as a fraction of full scale.
    ///
    /// Out-of-range values are clamped rather than rejected: frequency to 0..=24 kHz,
    /// amplitude to 0..=1; a non-finite value becomes 0 (silence).
    pub fn new(freq_hz: f32, amplitude: f32) -> Self {
        ToneSource {
            freq_hz: clamp_finite(freq_hz, 0.0, f64::from(SAMPLE_RATE) / 2.0),
            amplitude: clamp_finite(amplitude, 0.0, 1.0),
            pacer: Pacer::new(),
            bursts: None,
        }
    }

    /// A tone that sounds for `burst_len` at the start of every `period`, at
    /// [`BURST_AMPLITUDE`], and the log of the capture instant of each onset.
    ///
    /// The first burst starts with the first sample. `period` is at least one sample and
    /// `burst_len` at most `period`.
    pub fn bursts(freq_hz: f32, period: Duration, burst_len: Duration) -> (ToneSource, BurstLog) {
        let log = BurstLog::default();
        let period = duration_to_samples(period).max(1);
        let len = duration_to_samples(burst_len).min(period);
        let mut source = ToneSource::new(freq_hz, BURST_AMPLITUDE);
        source.bursts = Some(Bursts {
            period,
            len,
            log: log.clone(),
        });
        (source, log)
    }

    /// Real-time pacing on (the default) or off (frames returned at once, for tests).
    pub fn paced(mut self, paced: bool) -> Self {
        self.pacer.set_paced(paced);
        self
    }

    fn sample(&self, phase_samples: u64) -> i16 {
        // Phase reduced to one cycle in f64: exact enough after days of samples.
        let cycles = (self.freq_hz * phase_samples as f64 / f64::from(SAMPLE_RATE)).fract();
        (self.amplitude * f64::from(i16::MAX) * (TAU * cycles).sin()).round() as i16
    }
}

fn clamp_finite(value: f32, min: f64, max: f64) -> f64 {
    if value.is_finite() {
        f64::from(value).clamp(min, max)
    } else {
        0.0
    }
}

impl AudioSource for ToneSource {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        let (index, captured_at) = self.pacer.next();
        let first = index * FRAME_SAMPLES as u64;
        let mut frame = AudioFrame {
            samples: Vec::with_capacity(FRAME_SAMPLES),
            captured_at,
        };
        for offset in 0..FRAME_SAMPLES {
            let n = first + offset as u64;
            let sample = match &self.bursts {
                None => self.sample(n),
                Some(b) => {
                    let within = n % b.period;
                    if within == 0 && b.len > 0 {
                        b.log.record(frame.instant_of(offset));
                    }
                    if within < b.len {
                        self.sample(within)
                    } else {
                        0
                    }
                }
            };
            frame.samples.push(sample);
        }
        Ok(frame)
    }

    fn describe(&self) -> String {
        let shape = match &self.bursts {
            None => String::new(),
            Some(b) => format!(
                " bursts of {} ms every {} ms",
                b.len * 1000 / u64::from(SAMPLE_RATE),
                b.period * 1000 / u64::from(SAMPLE_RATE)
            ),
        };
        format!(
            "tone {} Hz at {:.2} full scale{shape}{}",
            self.freq_hz,
            self.amplitude,
            pacing_suffix(&self.pacer)
        )
    }
}

/// `seconds` of a speech-like test signal, the same for the same `seed`: low-passed noise
/// whose loudness rises and falls four times a second like syllables, peaking near
/// -8 dBFS. An echo canceller converges on it as on speech, where a pure tone is its
/// worst case.
pub fn speech_like(seconds: usize, seed: u64) -> Vec<i16> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut smooth = 0.0f32;
    (0..seconds * SAMPLE_RATE as usize)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            let envelope = 0.55 + 0.45 * (std::f32::consts::TAU * 4.0 * t).sin();
            smooth = 0.8 * smooth + 0.2 * (rng.f32() * 2.0 - 1.0);
            (smooth * envelope * 12_000.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::frame::FRAME_DURATION;
    use crate::audio::goertzel::ToneCheck;

    #[test]
    fn tone_source_produces_its_frequency() {
        let mut tone = ToneSource::new(440.0, 0.5).paced(false);
        for _ in 0..3 {
            let frame = tone.read_frame().unwrap();
            assert_eq!(frame.samples.len(), FRAME_SAMPLES);
            let report = ToneCheck::detect(&frame.samples, 440.0);
            assert!(report.dominant, "440 Hz not dominant: {report:?}");
            assert!(!ToneCheck::detect(&frame.samples, 660.0).dominant);
        }
        let peak = tone
            .read_frame()
            .unwrap()
            .samples
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!((16_000..=16_384).contains(&peak), "peak {peak}");
    }

    #[test]
    fn bad_parameters_are_clamped_not_panics() {
        for (f, a) in [
            (f32::NAN, 0.5),
            (-5.0, 0.5),
            (1e9, 2.0),
            (440.0, f32::INFINITY),
        ] {
            let mut t = ToneSource::new(f, a).paced(false);
            assert_eq!(t.read_frame().unwrap().samples.len(), FRAME_SAMPLES);
        }
        let (t, _) = ToneSource::bursts(440.0, Duration::ZERO, Duration::from_secs(9));
        let mut t2 = ToneSource::bursts(440.0, Duration::from_millis(50), Duration::ZERO).0;
        assert_eq!(t.paced(false).read_frame().unwrap().samples.len(), 960);
        t2 = t2.paced(false);
        assert!(t2.read_frame().unwrap().samples.iter().all(|&s| s == 0));
    }

    #[test]
    fn burst_onsets_are_logged_at_the_exact_sample() {
        // Period 30 ms: onsets fall at samples 0, 1440, 2880, 4320 of a 4-frame run,
        // i.e. at offsets 0, 480, 0 and 480 within frames 0, 1, 3, 4.
        let (tone, log) =
            ToneSource::bursts(1000.0, Duration::from_millis(30), Duration::from_millis(10));
        let mut tone = tone.paced(false);
        let frames: Vec<AudioFrame> = (0..5).map(|_| tone.read_frame().unwrap()).collect();
        let t0 = frames[0].captured_at;
        let onsets = log.onsets();
        let expected: Vec<Instant> = (0..4u64)
            .map(|i| t0 + Duration::from_millis(30 * i))
            .collect();
        assert_eq!(onsets, expected);
        // Tone on exactly during the burst: sample 0 of a burst is sin(0) = 0, so look at
        // the first full cycle (48 samples) and at what follows the burst's 480 samples.
        let s = &frames[1].samples; // covers samples 960..1920; burst at 1440..1920
        assert!(s[..480].iter().all(|&x| x == 0));
        assert!(s[480..528].iter().any(|&x| x.abs() > 10_000));
        assert!(frames[0].samples[480..].iter().all(|&x| x == 0));
        assert_eq!(frames[1].captured_at - t0, FRAME_DURATION);
        assert!(!log.is_empty());
    }
}
