//! 8 kHz (the phone) to 48 kHz (the call's Opus) and back: integer factor 6, a
//! windowed-sinc low-pass run as a polyphase filter, with state across frames.
//!
//! Written here rather than taken from a resampling crate: the ratio is fixed and
//! integer, the filter is 30 lines, and its delay is what the gateway adds to every
//! call, so it is kept to a known 2 ms each way (a block-based resampler adds a block).

/// Filter length: 192 taps at 48 kHz (32 per phase), about 2 ms of delay.
const TAPS: usize = 192;
/// The factor between the two rates.
pub const FACTOR: usize = 6;
/// The phone's band ends at 3.4 kHz; the cut-off sits between it and 4 kHz, where the
/// 8 kHz side folds.
const CUTOFF_HZ: f64 = 3_700.0;
const HIGH_RATE: f64 = 48_000.0;

/// The low-pass both directions share: windowed sinc (Blackman), unity gain at DC.
fn low_pass() -> Vec<f64> {
    let fc = CUTOFF_HZ / HIGH_RATE;
    let mid = (TAPS - 1) as f64 / 2.0;
    let mut taps: Vec<f64> = (0..TAPS)
        .map(|n| {
            let x = n as f64 - mid;
            let sinc = if x == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
            };
            let phase = 2.0 * std::f64::consts::PI * n as f64 / (TAPS - 1) as f64;
            let window = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
            sinc * window
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.iter_mut().for_each(|t| *t /= sum);
    taps
}

/// The last `len` samples, newest last, in a buffer that shifts only once per `len`
/// pushes (amortised constant time per sample).
struct History {
    len: usize,
    buf: Vec<f64>,
}

impl History {
    fn new(len: usize) -> Self {
        let mut buf = Vec::with_capacity(2 * len);
        buf.resize(len, 0.0);
        Self { len, buf }
    }

    fn push(&mut self, sample: f64) {
        if self.buf.len() == 2 * self.len {
            self.buf.drain(..self.len);
        }
        self.buf.push(sample);
    }

    /// Oldest first.
    fn window(&self) -> &[f64] {
        &self.buf[self.buf.len() - self.len..]
    }
}

fn to_i16(v: f64) -> i16 {
    v.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
}

/// 8 kHz to 48 kHz.
pub struct Upsampler {
    taps: Vec<f64>,
    /// The last `TAPS / FACTOR` input samples.
    history: History,
}

impl Default for Upsampler {
    fn default() -> Self {
        Self {
            // Zero-stuffing keeps one sample in six: gain 6 restores the level.
            taps: low_pass().iter().map(|t| t * FACTOR as f64).collect(),
            history: History::new(TAPS / FACTOR),
        }
    }
}

impl Upsampler {
    /// Six output samples per input sample.
    pub fn process(&mut self, input: &[i16]) -> Vec<i16> {
        let per_phase = TAPS / FACTOR;
        let mut out = Vec::with_capacity(input.len() * FACTOR);
        for &sample in input {
            self.history.push(f64::from(sample));
            let window = self.history.window();
            for phase in 0..FACTOR {
                // Output j = 6n + phase sees input m at tap 6(n - m) + phase.
                let acc: f64 = (0..per_phase)
                    .map(|k| self.taps[k * FACTOR + phase] * window[per_phase - 1 - k])
                    .sum();
                out.push(to_i16(acc));
            }
        }
        out
    }
}

/// 48 kHz to 8 kHz.
pub struct Downsampler {
    taps: Vec<f64>,
    /// The last `TAPS` input samples.
    history: History,
    /// Input samples taken since the last output (an output every sixth).
    phase: usize,
}

impl Default for Downsampler {
    fn default() -> Self {
        Self {
            taps: low_pass(),
            history: History::new(TAPS),
            phase: 0,
        }
    }
}

impl Downsampler {
    /// One output sample per six input samples (the phase carries across calls).
    pub fn process(&mut self, input: &[i16]) -> Vec<i16> {
        let mut out = Vec::with_capacity(input.len() / FACTOR + 1);
        for &sample in input {
            self.history.push(f64::from(sample));
            self.phase += 1;
            if self.phase == FACTOR {
                self.phase = 0;
                let acc: f64 = self
                    .taps
                    .iter()
                    .zip(self.history.window().iter().rev())
                    .map(|(t, x)| t * x)
                    .sum();
                out.push(to_i16(acc));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use media::audio::goertzel_power;

    use super::*;

    fn tone(hz: f64, rate: f64, samples: usize, amplitude: f64) -> Vec<i16> {
        (0..samples)
            .map(|n| (amplitude * (2.0 * std::f64::consts::PI * hz * n as f64 / rate).sin()) as i16)
            .collect()
    }

    fn rms(samples: &[i16]) -> f64 {
        (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
    }

    #[test]
    fn a_phone_tone_reaches_48_khz_at_its_level_without_images() {
        let mut up = Upsampler::default();
        let phone = tone(1_000.0, 8_000.0, 8_000, 8_000.0);
        let high: Vec<i16> = phone.chunks(160).flat_map(|f| up.process(f)).collect();
        assert_eq!(high.len(), 48_000);
        let settled = &high[4_800..];
        let level = rms(settled) / rms(&phone);
        assert!((0.95..1.05).contains(&level), "level {level}");
        let wanted = goertzel_power(settled, 1_000.0, 48_000);
        // Zero-stuffing images at 8k +- 1k; the filter must remove them.
        for image in [7_000.0, 9_000.0, 15_000.0] {
            let ratio = goertzel_power(settled, image, 48_000) / wanted;
            assert!(ratio < 1e-5, "image at {image} Hz: {ratio:e}");
        }
    }

    #[test]
    fn the_call_reaches_the_phone_without_aliasing() {
        let mut down = Downsampler::default();
        let call = tone(440.0, 48_000.0, 48_000, 8_000.0);
        let phone: Vec<i16> = call.chunks(960).flat_map(|f| down.process(f)).collect();
        assert_eq!(phone.len(), 8_000);
        let level = rms(&phone[800..]) / rms(&call);
        assert!((0.95..1.05).contains(&level), "level {level}");
        // 6 kHz at 48 kHz would fold onto 2 kHz at 8 kHz.
        let mut down = Downsampler::default();
        let high = tone(6_000.0, 48_000.0, 48_000, 8_000.0);
        let folded: Vec<i16> = high.chunks(960).flat_map(|f| down.process(f)).collect();
        let ratio = rms(&folded[800..]) / rms(&high);
        assert!(ratio < 0.001, "6 kHz leaks as {ratio}");
    }

    #[test]
    fn the_round_trip_delays_by_about_four_milliseconds() {
        let (mut up, mut down) = (Upsampler::default(), Downsampler::default());
        let mut impulse = vec![0i16; 160];
        impulse[0] = 16_000;
        let back: Vec<i16> = [impulse, vec![0; 160]]
            .iter()
            .flat_map(|f| down.process(&up.process(f)))
            .collect();
        let peak = (0..back.len())
            .max_by_key(|&i| back[i].unsigned_abs())
            .unwrap();
        // Each filter delays by (TAPS - 1) / 2 samples at 48 kHz, 2 ms: 4 ms for both, 32
        // samples at 8 kHz.
        assert!((30..=34).contains(&peak), "peak at {peak}");
    }
}
