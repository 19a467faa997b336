//! What we measure of each sender's decrypted audio: its level (active speaker) and its
//! dominant frequency (headless tests check each sender's tone apart from the mix).

use ::media::audio::{goertzel_power, OpusDecoder, SAMPLE_RATE};

/// Samples the frequency estimate looks at (100 ms: 10 Hz resolution).
const WINDOW: usize = 4800;
/// Frequencies scanned, Hz (voice band, 10 Hz steps).
const SCAN: (u32, u32, u32) = (100, 2000, 10);
/// Frames between two estimates (0.5 s).
const ESTIMATE_EVERY: u32 = 25;
/// RMS above which a sender counts as speaking (about -40 dBFS).
pub const SPEAKING_RMS: f32 = 0.01;

/// One sender's meter.
pub struct SenderMeter {
    decoder: Option<OpusDecoder>,
    window: Vec<i16>,
    frames: u32,
    /// Smoothed RMS level, full scale = 1.
    pub level: f32,
    /// The dominant frequency of the last estimate.
    pub tone_hz: Option<f32>,
}

impl Default for SenderMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl SenderMeter {
    /// A meter with its own Opus decoder (none if libopus refuses: then nothing is measured).
    pub fn new() -> Self {
        Self {
            decoder: OpusDecoder::new().ok(),
            window: Vec::with_capacity(WINDOW * 2),
            frames: 0,
            level: 0.0,
            tone_hz: None,
        }
    }

    /// Takes one decrypted Opus packet.
    pub fn push(&mut self, packet: &[u8]) {
        let Some(decoder) = self.decoder.as_mut() else {
            return;
        };
        let Ok(samples) = decoder.decode(Some(packet)) else {
            return;
        };
        let rms = rms(&samples);
        self.level = 0.7 * self.level + 0.3 * rms;
        self.window.extend_from_slice(&samples);
        if self.window.len() > WINDOW {
            let excess = self.window.len() - WINDOW;
            self.window.drain(..excess);
        }
        self.frames += 1;
        if self.frames.is_multiple_of(ESTIMATE_EVERY) && self.window.len() == WINDOW {
            self.tone_hz = dominant_hz(&self.window);
        }
    }
}

fn rms(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum();
    (sum / samples.len() as f64).sqrt() as f32
}

/// The strongest frequency of the scan, if anything stands above silence.
pub fn dominant_hz(samples: &[i16]) -> Option<f32> {
    let (from, to, step) = SCAN;
    let mut best = (0.0f64, 0u32);
    let mut f = from;
    while f <= to {
        let power = goertzel_power(samples, f as f32, SAMPLE_RATE);
        if power > best.0 {
            best = (power, f);
        }
        f += step;
    }
    (best.0 > 1e-5).then_some(best.1 as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::audio::OpusEncoder;

    fn tone(hz: f32, n: usize, offset: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = (i + offset) as f32 / SAMPLE_RATE as f32;
                (0.3 * 32767.0 * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn each_senders_tone_is_found_through_opus() {
        for hz in [440.0, 550.0, 660.0, 880.0] {
            let mut encoder = OpusEncoder::new(32_000).unwrap();
            let mut meter = SenderMeter::new();
            for frame in 0..50 {
                let samples = tone(hz, 960, frame * 960);
                meter.push(&encoder.encode(&samples).unwrap());
            }
            let found = meter.tone_hz.expect("a tone");
            assert!((found - hz).abs() <= 10.0, "{hz} Hz sent, {found} Hz found");
            assert!(meter.level > SPEAKING_RMS);
        }
        assert_eq!(dominant_hz(&[0; WINDOW]), None, "silence has no tone");
    }
}
