//! DTMF (keypad) tones: the tones themselves (ITU-T Q.23 frequency pairs) and an in-band
//! detector (Q.24-style checks) for audio that crossed a voice codec.
//!
//! A phone gateway sends keypad presses to the telephone as RFC 4733 events, but the
//! PhantomCall side of a call has only its audio: the app plays the tone into its
//! outgoing voice, and the gateway finds it there.

use super::goertzel::goertzel_power;

/// The keys, in keypad order.
pub const DTMF_KEYS: &str = "123A456B789C*0#D";
const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// How long one key sounds, and the silence after it.
pub const TONE_MS: u32 = 100;
/// The silence after each tone, so that two equal keys stay two.
pub const GAP_MS: u32 = 60;
/// Each of the two components' amplitude (-12 dBFS each, -6 dBFS together): loud enough
/// to survive a voice codec's gain, well below clipping.
const AMPLITUDE: f64 = 0.25 * 32767.0;

/// The frequency pair of `key`, if it is a DTMF key (case-insensitive for A-D).
pub fn dtmf_frequencies(key: char) -> Option<(f32, f32)> {
    let at = DTMF_KEYS.find(key.to_ascii_uppercase())?;
    Some((LOW[at / 4], HIGH[at % 4]))
}

/// `key` as [`TONE_MS`] of tone and [`GAP_MS`] of silence at `sample_rate`; `None` for
/// a character that is not a key.
pub fn dtmf_tone(key: char, sample_rate: u32) -> Option<Vec<i16>> {
    let (low, high) = dtmf_frequencies(key)?;
    let rate = f64::from(sample_rate.max(1));
    let tone = (rate * f64::from(TONE_MS) / 1000.0) as usize;
    let gap = (rate * f64::from(GAP_MS) / 1000.0) as usize;
    let mut samples: Vec<i16> = (0..tone)
        .map(|n| {
            let t = n as f64 / rate;
            let v = (std::f64::consts::TAU * f64::from(low) * t).sin()
                + (std::f64::consts::TAU * f64::from(high) * t).sin();
            (AMPLITUDE * v) as i16
        })
        .collect();
    samples.resize(tone + gap, 0);
    Some(samples)
}

/// Finds keys in audio, block by block (20 ms). A key counts once when it held for two
/// blocks in a row, and again only after a block without it.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    sample_rate: u32,
    block: usize,
    pending: Vec<i16>,
    /// The key of the last block, and whether it was already reported.
    last: Option<(char, bool)>,
}

/// The weakest component that counts (-30 dBFS mean power per component).
const MIN_COMPONENT_POWER: f64 = 1e-3;
/// Each component must be this much stronger than the other frequencies of its group
/// (9 dB): speech spreads its energy, a key does not.
const GROUP_MARGIN: f64 = 8.0;
/// The two components may differ by at most this much (twist, 8 dB).
const MAX_TWIST: f64 = 6.3;
/// The pair must carry this share of the block's power: talk-off protection.
const MIN_SHARE: f64 = 0.6;

impl DtmfDetector {
    /// A detector for audio at `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        let block = (sample_rate as usize / 50).max(1);
        Self {
            sample_rate,
            block,
            pending: Vec::with_capacity(block),
            last: None,
        }
    }

    /// Feeds `samples`; returns the keys that completed.
    pub fn push(&mut self, samples: &[i16]) -> Vec<char> {
        let mut found = Vec::new();
        for &s in samples {
            self.pending.push(s);
            if self.pending.len() == self.block {
                let key = self.key_in_block();
                self.pending.clear();
                match (key, self.last) {
                    (Some(k), Some((prev, reported))) if k == prev => {
                        if !reported {
                            found.push(k);
                        }
                        self.last = Some((k, true));
                    }
                    (Some(k), _) => self.last = Some((k, false)),
                    (None, _) => self.last = None,
                }
            }
        }
        found
    }

    fn key_in_block(&self) -> Option<char> {
        let block = &self.pending;
        let power = |f: f32| goertzel_power(block, f, self.sample_rate);
        let low: Vec<f64> = LOW.iter().map(|&f| power(f)).collect();
        let high: Vec<f64> = HIGH.iter().map(|&f| power(f)).collect();
        let strongest = |p: &[f64]| {
            let (at, &best) = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("four frequencies");
            let next = p
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != at)
                .map(|(_, &v)| v)
                .fold(0.0, f64::max);
            (at, best, next)
        };
        let (li, lp, lnext) = strongest(&low);
        let (hi, hp, hnext) = strongest(&high);
        let mean_power = block
            .iter()
            .map(|&s| (f64::from(s) / 32768.0).powi(2))
            .sum::<f64>()
            / block.len().max(1) as f64;
        let valid = lp >= MIN_COMPONENT_POWER
            && hp >= MIN_COMPONENT_POWER
            && lp >= GROUP_MARGIN * lnext
            && hp >= GROUP_MARGIN * hnext
            && lp <= MAX_TWIST * hp
            && hp <= MAX_TWIST * lp
            && lp + hp >= MIN_SHARE * mean_power;
        valid.then(|| DTMF_KEYS.as_bytes()[li * 4 + hi] as char)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{OpusDecoder, OpusEncoder, FRAME_SAMPLES, SAMPLE_RATE};

    fn keys_in(samples: &[i16], rate: u32) -> String {
        DtmfDetector::new(rate).push(samples).into_iter().collect()
    }

    #[test]
    fn every_key_is_found_once_at_8_and_48_khz() {
        for rate in [8_000, 48_000] {
            let dialled = "0123456789*#ABCD5500";
            let audio: Vec<i16> = dialled
                .chars()
                .flat_map(|k| dtmf_tone(k, rate).unwrap())
                .collect();
            assert_eq!(keys_in(&audio, rate), dialled, "at {rate} Hz");
        }
        assert_eq!(dtmf_tone('x', 8_000), None);
        assert_eq!(dtmf_frequencies('a'), Some((697.0, 1633.0)));
    }

    #[test]
    fn keys_survive_opus_and_tones_that_are_not_keys_do_not_count() {
        let mut encoder = OpusEncoder::new(32_000).unwrap();
        let mut decoder = OpusDecoder::new().unwrap();
        let dialled = "159#";
        let mut audio: Vec<i16> = dialled
            .chars()
            .flat_map(|k| dtmf_tone(k, SAMPLE_RATE).unwrap())
            .collect();
        audio.resize(audio.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES, 0);
        let decoded: Vec<i16> = audio
            .chunks(FRAME_SAMPLES)
            .flat_map(|f| decoder.decode(Some(&encoder.encode(f).unwrap())).unwrap())
            .collect();
        assert_eq!(keys_in(&decoded, SAMPLE_RATE), dialled);

        // One component alone, a chord of three, and a sweep are not keys.
        let rate = 8_000.0;
        let sine = |hz: f64, n: usize| {
            (0.3 * 32767.0 * (std::f64::consts::TAU * hz * n as f64 / rate).sin()) as i16
        };
        let single: Vec<i16> = (0..8_000).map(|n| sine(770.0, n)).collect();
        let chord: Vec<i16> = (0..8_000)
            .map(|n| sine(770.0, n) / 2 + sine(1336.0, n) / 2 + sine(400.0, n))
            .collect();
        let sweep: Vec<i16> = (0..8_000)
            .map(|n| sine(300.0 + n as f64 * 0.3, n))
            .collect();
        for (what, audio) in [("single", single), ("chord", chord), ("sweep", sweep)] {
            assert_eq!(keys_in(&audio, 8_000), "", "{what}");
        }
    }
}
