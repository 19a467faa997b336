//! Channel mixing and a streaming linear resampler, to bring whatever a sound card offers
//! to 48 kHz mono and back.
//!
//! Linear interpolation is enough here: cards almost always offer 48 kHz (preferred when
//! the devices are opened, so this path is then a copy); for the rest (44.1 kHz, 16 kHz
//! headsets) voice energy lies far below where linear interpolation attenuates or aliases,
//! and it needs no dependency and no latency beyond one sample.

/// Converts a stream from one sample rate to another, one chunk at a time, with no
/// discontinuity between chunks.
#[derive(Debug, Clone)]
pub(crate) struct LinearResampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output, in input samples, where 0 is `last`.
    pos: f64,
    /// The last input sample of the previous chunk.
    last: Option<f32>,
    passthrough: bool,
}

impl LinearResampler {
    /// A resampler from `from_rate` to `to_rate` (a zero rate is treated as equal rates).
    pub(crate) fn new(from_rate: u32, to_rate: u32) -> Self {
        let passthrough = from_rate == to_rate || from_rate == 0 || to_rate == 0;
        LinearResampler {
            step: if passthrough {
                1.0
            } else {
                f64::from(from_rate) / f64::from(to_rate)
            },
            pos: 0.0,
            last: None,
            passthrough,
        }
    }

    /// Appends the resampled `input` to `out`.
    pub(crate) fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.passthrough {
            out.extend_from_slice(input);
            return;
        }
        let (Some(&first), Some(&final_sample)) = (input.first(), input.last()) else {
            return;
        };
        let last = *self.last.get_or_insert(first);
        let n = input.len();
        while self.pos < n as f64 {
            let i = self.pos as usize;
            let frac = (self.pos - i as f64) as f32;
            // Index i of the sequence [last, input...] is `last` for 0, input[i - 1] after.
            let a = if i == 0 { last } else { input[i - 1] };
            let b = input[i];
            out.push(a + (b - a) * frac);
            self.pos += self.step;
        }
        self.pos -= n as f64;
        self.last = Some(final_sample);
    }
}

/// Appends the average of each interleaved frame of `channels` samples (at least 1).
pub(crate) fn downmix(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    let channels = channels.max(1);
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32),
    );
}

/// Full-scale float to i16, clamped.
pub(crate) fn f32_to_i16(x: f32) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// i16 to full-scale float.
pub(crate) fn i16_to_f32(x: i16) -> f32 {
    f32::from(x) / 32768.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::goertzel::ToneCheck;

    fn sine(freq: f64, rate: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (0.5 * (std::f64::consts::TAU * freq * i as f64 / rate).sin()) as f32)
            .collect()
    }

    #[test]
    fn resampling_44100_to_48000_keeps_length_and_frequency() {
        let input = sine(440.0, 44_100.0, 44_100);
        let mut r = LinearResampler::new(44_100, 48_000);
        let mut out = Vec::new();
        // Odd chunk sizes, as a sound card delivers them.
        for chunk in input.chunks(441) {
            r.process(chunk, &mut out);
        }
        assert!(
            (out.len() as i64 - 48_000).abs() <= 1,
            "{} samples",
            out.len()
        );
        let frame: Vec<i16> = out[24_000..24_960].iter().map(|&x| f32_to_i16(x)).collect();
        assert!(ToneCheck::detect(&frame, 440.0).dominant);
        // No step at chunk boundaries: neighbours differ by at most the sine's slope.
        let max_step = out
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(max_step < 0.5 * 0.0577 + 1e-3, "step {max_step}");
    }

    #[test]
    fn downsampling_and_passthrough() {
        let input = sine(440.0, 48_000.0, 48_000);
        let mut r = LinearResampler::new(48_000, 16_000);
        let mut out = Vec::new();
        r.process(&input, &mut out);
        assert!((out.len() as i64 - 16_000).abs() <= 1);
        let mut p = LinearResampler::new(48_000, 48_000);
        let mut same = Vec::new();
        p.process(&input[..10], &mut same);
        assert_eq!(same, input[..10]);
        r.process(&[], &mut out);
    }

    #[test]
    fn downmix_averages_channels() {
        let mut out = Vec::new();
        downmix(&[1.0, 0.0, 0.5, 0.5, 0.2], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.5]);
        downmix(&[0.25], 0, &mut out);
        assert_eq!(out.last(), Some(&0.25));
        assert_eq!(f32_to_i16(2.0), 32767);
        assert_eq!(f32_to_i16(-2.0), -32768);
        assert_eq!(i16_to_f32(-32768), -1.0);
    }
}
