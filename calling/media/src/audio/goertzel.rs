//! Tone detection with the Goertzel algorithm: which frequency a signal carries, and when
//! bursts of a tone start (for mouth-to-ear latency).

use std::collections::VecDeque;
use std::f64::consts::TAU;
use std::time::Instant;

use super::frame::{samples_to_duration, SAMPLE_RATE};

/// Power of the `freq_hz` component of `samples`, in full-scale units: a full-scale sine
/// at that frequency gives about 0.5 (its mean power), silence 0.
///
/// Returns 0 for an empty slice, a zero sample rate or a non-finite frequency.
pub fn goertzel_power(samples: &[i16], freq_hz: f32, sample_rate: u32) -> f64 {
    goertzel_weighted(samples, freq_hz, sample_rate, |_| 1.0)
}

/// Goertzel with a per-sample weight (a window), normalised by the weight's sum so that
/// the result stays "mean power of the component" whatever the window.
fn goertzel_weighted(
    samples: &[i16],
    freq_hz: f32,
    sample_rate: u32,
    weight: impl Fn(usize) -> f64,
) -> f64 {
    if samples.is_empty() || sample_rate == 0 || !freq_hz.is_finite() {
        return 0.0;
    }
    let coeff = 2.0 * (TAU * f64::from(freq_hz) / f64::from(sample_rate)).cos();
    let (mut s1, mut s2, mut weight_sum) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &x) in samples.iter().enumerate() {
        let w = weight(i);
        weight_sum += w;
        let s0 = w * f64::from(x) / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if weight_sum <= 0.0 {
        return 0.0;
    }
    // |X(f)|^2; a sine of amplitude A gives |X| = A * weight_sum / 2, hence the scaling.
    let magnitude_sq = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    2.0 * magnitude_sq / (weight_sum * weight_sum)
}

/// Hann-windowed power: the window keeps a strong tone's leakage out of the other
/// candidates, so "dominant" means dominant and not "near a bin edge".
fn hann_power(samples: &[i16], freq_hz: f32) -> f64 {
    let n = samples.len();
    let denom = (n.max(2) - 1) as f64;
    goertzel_weighted(samples, freq_hz, SAMPLE_RATE, |i| {
        0.5 - 0.5 * (TAU * i as f64 / denom).cos()
    })
}

/// Result of [`ToneCheck::detect`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToneReport {
    /// Power at the expected frequency (full-scale units, see [`goertzel_power`]).
    pub expected_power: f64,
    /// The strongest power among the other candidate frequencies.
    pub best_other_power: f64,
    /// The candidate frequency that had `best_other_power`.
    pub best_other_hz: f32,
    /// Whether the expected frequency clearly dominates: at least [`ToneCheck::MIN_RATIO`]
    /// times the best other candidate and above [`ToneCheck::MIN_POWER`].
    pub dominant: bool,
}

/// Checks which of a set of candidate frequencies a 48 kHz signal carries.
#[derive(Clone, Copy, Debug)]
pub struct ToneCheck;

impl ToneCheck {
    /// Candidate frequencies compared with the expected one: speech-band tones a test may
    /// use, spaced so that a 20 ms window separates neighbours.
    pub const CANDIDATES: [f32; 12] = [
        200.0, 300.0, 440.0, 550.0, 660.0, 800.0, 1000.0, 1250.0, 1500.0, 2000.0, 2500.0, 3000.0,
    ];

    /// Minimum ratio of expected to best other power (10 dB).
    pub const MIN_RATIO: f64 = 10.0;

    /// Minimum power at the expected frequency: a sine of about 1% of full scale (-40 dBFS),
    /// so near-silence never "dominates".
    pub const MIN_POWER: f64 = 5e-5;

    /// Compares the power at `expected_hz` with the candidates that are not within 25% of
    /// it (closer ones share its energy in a short window).
    pub fn detect(samples: &[i16], expected_hz: f32) -> ToneReport {
        let expected_power = hann_power(samples, expected_hz);
        let (best_other_hz, best_other_power) = Self::CANDIDATES
            .iter()
            .filter(|&&f| (f - expected_hz).abs() > 0.25 * expected_hz.abs().max(f))
            .map(|&f| (f, hann_power(samples, f)))
            .fold(
                (0.0f32, 0.0f64),
                |best, cur| if cur.1 > best.1 { cur } else { best },
            );
        let dominant = expected_power >= Self::MIN_POWER
            && expected_power >= Self::MIN_RATIO * best_other_power;
        ToneReport {
            expected_power,
            best_other_power,
            best_other_hz,
            dominant,
        }
    }
}

/// Result of [`ToneCheck::detect_mix`].
#[derive(Clone, Debug, PartialEq)]
pub struct MixReport {
    /// Power at each expected frequency, in the order given.
    pub expected_powers: Vec<f64>,
    /// The strongest power among the candidates not near any expected frequency.
    pub best_other_power: f64,
    /// The candidate frequency that had `best_other_power`.
    pub best_other_hz: f32,
    /// Whether every expected frequency is present: each above [`ToneCheck::MIN_POWER`]
    /// and at least [`ToneCheck::MIN_RATIO`] times the best other candidate.
    pub all_present: bool,
}

impl ToneCheck {
    /// Checks that a mix carries every one of `expected_hz` (several people's tones mixed
    /// into one speaker) and no other candidate frequency of comparable power.
    pub fn detect_mix(samples: &[i16], expected_hz: &[f32]) -> MixReport {
        let expected_powers: Vec<f64> = expected_hz
            .iter()
            .map(|&f| hann_power(samples, f))
            .collect();
        let near_expected = |f: f32| {
            expected_hz
                .iter()
                .any(|&e| (f - e).abs() <= 0.25 * e.abs().max(f))
        };
        let (best_other_hz, best_other_power) = Self::CANDIDATES
            .iter()
            .filter(|&&f| !near_expected(f))
            .map(|&f| (f, hann_power(samples, f)))
            .fold(
                (0.0f32, 0.0f64),
                |best, cur| {
                    if cur.1 > best.1 {
                        cur
                    } else {
                        best
                    }
                },
            );
        let all_present = expected_powers
            .iter()
            .all(|&p| p >= Self::MIN_POWER && p >= Self::MIN_RATIO * best_other_power);
        MixReport {
            expected_powers,
            best_other_power,
            best_other_hz,
            all_present,
        }
    }
}

/// Length of the burst detector's analysis window: 2.5 ms.
pub const BURST_WINDOW: usize = 120;
/// Step between analysis windows: 0.625 ms.
const BURST_HOP: usize = 30;

/// Default power above which a burst starts: a sine of about 4.5% of full scale.
pub const BURST_ON_POWER: f64 = 1e-3;
/// Default power below which a burst has ended (hysteresis: a quarter of the on level).
pub const BURST_OFF_POWER: f64 = 2.5e-4;

#[derive(Clone, Copy, Debug, PartialEq)]
enum BurstState {
    Idle,
    /// Power crossed the on level in the window starting at this sample; waiting for the
    /// next window to measure the burst's full amplitude.
    Rising {
        window_start: u64,
        amplitude: f64,
    },
    Active,
}

/// Finds the onsets of bursts of one frequency in a played-out stream.
///
/// The signal is analysed in 2.5 ms windows every 0.625 ms. A burst starts when the power
/// at the frequency crosses the on level and ends when it falls below the off level. The
/// onset is then placed inside the crossing window by comparing its amplitude with the
/// next window's (fully inside the burst): a window the tone fills a fraction `p` of has
/// about `p` times the full amplitude. This keeps the estimate within a fraction of a
/// millisecond whatever the burst's level.
#[derive(Debug)]
pub struct BurstDetector {
    freq_hz: f32,
    on_power: f64,
    off_power: f64,
    /// Samples not yet fully analysed; `buffer[0]` is stream sample `buffer_start`.
    buffer: VecDeque<i16>,
    buffer_start: u64,
    /// Next window to analyse, as a stream sample index.
    next_window: u64,
    /// (first stream sample of a fed chunk, the instant it was played).
    anchors: VecDeque<(u64, Instant)>,
    total: u64,
    state: BurstState,
}

impl BurstDetector {
    /// A detector for `freq_hz` with the default levels ([`BURST_ON_POWER`],
    /// [`BURST_OFF_POWER`]).
    pub fn new(freq_hz: f32) -> Self {
        Self::with_levels(freq_hz, BURST_ON_POWER, BURST_OFF_POWER)
    }

    /// A detector with explicit on/off power levels (full-scale units, see
    /// [`goertzel_power`]); `off_power` is capped at `on_power`.
    pub fn with_levels(freq_hz: f32, on_power: f64, off_power: f64) -> Self {
        BurstDetector {
            freq_hz,
            on_power,
            off_power: off_power.min(on_power),
            buffer: VecDeque::new(),
            buffer_start: 0,
            next_window: 0,
            anchors: VecDeque::new(),
            total: 0,
            state: BurstState::Idle,
        }
    }

    /// Feeds played samples, `played_at` being the instant the first of them was played,
    /// and returns the onsets of the bursts found so far that had not been returned.
    ///
    /// An onset is reported once the 2.5 ms after its crossing window have been fed.
    pub fn feed(&mut self, samples: &[i16], played_at: Instant) -> Vec<Instant> {
        if samples.is_empty() {
            return Vec::new();
        }
        self.anchors.push_back((self.total, played_at));
        self.total += samples.len() as u64;
        self.buffer.extend(samples);
        let mut onsets = Vec::new();
        while self.next_window + BURST_WINDOW as u64 <= self.total {
            let start = self.next_window;
            let amplitude = self.window_power(start).sqrt();
            self.step(start, amplitude, &mut onsets);
            self.next_window += BURST_HOP as u64;
        }
        self.trim();
        onsets
    }

    fn step(&mut self, start: u64, amplitude: f64, onsets: &mut Vec<Instant>) {
        let power = amplitude * amplitude;
        match self.state {
            BurstState::Idle if power >= self.on_power => {
                self.state = BurstState::Rising {
                    window_start: start,
                    amplitude,
                };
            }
            BurstState::Idle => {}
            BurstState::Rising {
                window_start,
                amplitude: first,
            } => {
                // Decide only once the window right after the crossing one is in.
                if start < window_start + BURST_WINDOW as u64 {
                    return;
                }
                let full = amplitude.max(first);
                let filled = if full > 0.0 { first / full } else { 1.0 };
                let tone_samples = (filled * BURST_WINDOW as f64).round() as u64;
                let onset = window_start + BURST_WINDOW as u64 - tone_samples;
                if let Some(at) = self.instant_of(onset) {
                    onsets.push(at);
                }
                self.state = BurstState::Active;
                self.step(start, amplitude, onsets);
            }
            BurstState::Active if power < self.off_power => self.state = BurstState::Idle,
            BurstState::Active => {}
        }
    }

    fn window_power(&mut self, start: u64) -> f64 {
        let offset = (start - self.buffer_start) as usize;
        let window = &self.buffer.make_contiguous()[offset..offset + BURST_WINDOW];
        goertzel_power(window, self.freq_hz, SAMPLE_RATE)
    }

    fn instant_of(&self, sample: u64) -> Option<Instant> {
        let (first, at) = self
            .anchors
            .iter()
            .rev()
            .find(|(first, _)| *first <= sample)?;
        Some(*at + samples_to_duration(sample - first))
    }

    /// Drops samples and anchors that no future window or onset can refer to.
    fn trim(&mut self) {
        let mut keep_from = self.next_window;
        if let BurstState::Rising { window_start, .. } = self.state {
            keep_from = keep_from.min(window_start);
        }
        let drop = keep_from.saturating_sub(self.buffer_start) as usize;
        let drop = drop.min(self.buffer.len());
        self.buffer.drain(..drop);
        self.buffer_start += drop as u64;
        while self.anchors.len() > 1 && self.anchors[1].0 <= self.buffer_start {
            self.anchors.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sine(freq: f64, amplitude: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amplitude * 32767.0 * (TAU * freq * i as f64 / 48_000.0).sin()).round() as i16
            })
            .collect()
    }

    fn noise(n: usize, amplitude: f64, seed: u64) -> Vec<i16> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|_| ((rng.f64() * 2.0 - 1.0) * amplitude * 32767.0) as i16)
            .collect()
    }

    #[test]
    fn a_mix_of_three_tones_carries_each_and_misses_a_fourth() {
        let n = 24_000;
        let mix: Vec<i16> = sine(300.0, 0.2, n)
            .iter()
            .zip(sine(1000.0, 0.2, n))
            .zip(sine(2000.0, 0.2, n))
            .map(|((a, b), c)| a + b + c)
            .collect();
        assert!(ToneCheck::detect_mix(&mix, &[300.0, 1000.0, 2000.0]).all_present);
        // A tone that is not there fails the check; so does a stray strong one.
        let missing = ToneCheck::detect_mix(&mix, &[300.0, 1000.0, 2000.0, 550.0]);
        assert!(!missing.all_present, "{missing:?}");
        let stray = ToneCheck::detect_mix(&mix, &[300.0, 1000.0]);
        assert!(
            !stray.all_present,
            "2000 Hz is as strong as the expected ones"
        );
        assert_eq!(stray.best_other_hz, 2000.0);
        assert!(!ToneCheck::detect_mix(&vec![0; n], &[300.0]).all_present);
    }

    #[test]
    fn goertzel_power_is_the_mean_power_of_the_component() {
        let s = sine(1000.0, 1.0, 960);
        let p = goertzel_power(&s, 1000.0, 48_000);
        assert!((p - 0.5).abs() < 0.01, "full-scale sine power {p}");
        let p = goertzel_power(&sine(1000.0, 0.1, 960), 1000.0, 48_000);
        assert!((p - 0.005).abs() < 1e-4, "power {p}");
        assert!(goertzel_power(&s, 3000.0, 48_000) < 1e-4);
        assert_eq!(goertzel_power(&[], 1000.0, 48_000), 0.0);
        assert_eq!(goertzel_power(&s, f32::NAN, 48_000), 0.0);
        assert_eq!(goertzel_power(&s, 1000.0, 0), 0.0);
    }

    #[test]
    fn tone_check_tells_candidates_apart() {
        for &f in &[300.0f32, 440.0, 660.0, 1000.0] {
            let s = sine(f64::from(f), 0.3, 960);
            for &g in &[300.0f32, 440.0, 660.0, 1000.0] {
                let r = ToneCheck::detect(&s, g);
                assert_eq!(r.dominant, f == g, "signal {f} Hz, checked {g} Hz: {r:?}");
            }
        }
    }

    #[test]
    fn tone_check_rejects_noise_silence_and_mixtures() {
        let n = noise(960, 0.5, 7);
        for &f in &[300.0f32, 440.0, 660.0, 1000.0] {
            assert!(!ToneCheck::detect(&n, f).dominant, "noise passed as {f} Hz");
        }
        assert!(!ToneCheck::detect(&[0; 960], 440.0).dominant);
        assert!(!ToneCheck::detect(&sine(440.0, 0.001, 960), 440.0).dominant);
        let mix: Vec<i16> = sine(440.0, 0.3, 960)
            .iter()
            .zip(sine(660.0, 0.3, 960))
            .map(|(a, b)| a + b)
            .collect();
        assert!(!ToneCheck::detect(&mix, 440.0).dominant);
        // A tone in moderate noise (SNR about 10 dB) is still found.
        let noisy: Vec<i16> = sine(440.0, 0.3, 960)
            .iter()
            .zip(noise(960, 0.15, 9))
            .map(|(a, b)| a + b)
            .collect();
        assert!(ToneCheck::detect(&noisy, 440.0).dominant);
    }

    /// Silence, then bursts of `len` samples starting at each of `onsets`.
    fn burst_signal(total: usize, onsets: &[usize], len: usize, amplitude: f64) -> Vec<i16> {
        let mut s = vec![0i16; total];
        let tone = sine(1000.0, amplitude, len);
        for &o in onsets {
            s[o..o + len].copy_from_slice(&tone);
        }
        s
    }

    #[test]
    fn burst_onsets_are_found_within_a_millisecond() {
        let onsets = [1000usize, 10_123, 20_077, 30_960, 40_500];
        for amplitude in [0.05, 0.5, 0.9] {
            let s = burst_signal(48_000, &onsets, 2400, amplitude);
            let t0 = Instant::now();
            let mut d = BurstDetector::new(1000.0);
            let mut found = Vec::new();
            // Fed in frames of odd size, each with its own instant, as a playout thread does.
            for (i, chunk) in s.chunks(777).enumerate() {
                let at = t0 + samples_to_duration(i as u64 * 777);
                found.extend(d.feed(chunk, at));
            }
            assert_eq!(found.len(), onsets.len(), "amplitude {amplitude}");
            for (got, &want) in found.iter().zip(&onsets) {
                let want = t0 + samples_to_duration(want as u64);
                let err = if *got > want {
                    *got - want
                } else {
                    want - *got
                };
                assert!(
                    err < Duration::from_millis(1),
                    "amplitude {amplitude}: off by {err:?}"
                );
            }
        }
    }

    #[test]
    fn burst_detector_uses_each_chunks_own_instant() {
        // Two chunks with a 1 s gap in play-out time between them: the onset in the second
        // is timed from the second chunk's instant.
        let t0 = Instant::now();
        let mut d = BurstDetector::new(1000.0);
        assert!(d.feed(&[0; 960], t0).is_empty());
        let second = burst_signal(4800, &[300], 2400, 0.5);
        let t1 = t0 + Duration::from_secs(1);
        let found = d.feed(&second, t1);
        assert_eq!(found.len(), 1);
        let want = t1 + samples_to_duration(300);
        let err = if found[0] > want {
            found[0] - want
        } else {
            want - found[0]
        };
        assert!(err < Duration::from_millis(1), "off by {err:?}");
    }

    #[test]
    fn burst_detector_ignores_other_frequencies_and_counts_a_burst_once() {
        let t0 = Instant::now();
        let mut d = BurstDetector::new(1000.0);
        let other = sine(3000.0, 0.5, 4800);
        assert!(d.feed(&other, t0).is_empty(), "3 kHz taken for 1 kHz");
        let mut d = BurstDetector::new(1000.0);
        // A long burst with a brief dip that stays above the off level is one burst.
        let mut s = burst_signal(9600, &[100], 9000, 0.5);
        for x in &mut s[4000..4200] {
            *x /= 3;
        }
        assert_eq!(d.feed(&s, t0).len(), 1);
    }
}
