//! The audio frame format shared by every source, sink and codec, and the error type.

use std::time::{Duration, Instant};

/// Sample rate of every frame in this module: Opus's native rate, so no resampling on the
/// call path.
pub const SAMPLE_RATE: u32 = 48_000;

/// Duration of one frame: 20 ms, the usual Opus packet duration for voice.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Samples in one mono frame at [`SAMPLE_RATE`] ([`FRAME_DURATION`] long).
pub const FRAME_SAMPLES: usize = 960;

// Keep the three constants consistent if one of them is ever changed.
const _: () = assert!(FRAME_SAMPLES as u64 * 1000 == SAMPLE_RATE as u64 * 20);

/// One 20 ms frame of mono audio at 48 kHz.
#[derive(Clone, Debug)]
pub struct AudioFrame {
    /// [`FRAME_SAMPLES`] mono samples.
    pub samples: Vec<i16>,
    /// When the first sample of the frame was captured.
    pub captured_at: Instant,
}

impl AudioFrame {
    /// The instant at which sample `index` of this frame was captured.
    pub fn instant_of(&self, index: usize) -> Instant {
        self.captured_at + samples_to_duration(index as u64)
    }
}

/// Duration of `samples` samples at [`SAMPLE_RATE`], exact to the nanosecond.
pub fn samples_to_duration(samples: u64) -> Duration {
    // Integer arithmetic: a float here would drift over a long call.
    let secs = samples / u64::from(SAMPLE_RATE);
    let rem = samples % u64::from(SAMPLE_RATE);
    Duration::new(secs, (rem * 1_000_000_000 / u64::from(SAMPLE_RATE)) as u32)
}

/// Number of whole samples at [`SAMPLE_RATE`] in `duration` (rounded to nearest).
pub fn duration_to_samples(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    ((nanos * u128::from(SAMPLE_RATE) + 500_000_000) / 1_000_000_000) as u64
}

/// Errors from audio devices, codecs and frame validation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The system has no usable device of this kind (no sound card, no default device).
    #[error("no {kind} found: {reason}")]
    NoDevice {
        /// "microphone" or "speaker".
        kind: &'static str,
        /// Why the default device could not be used, from the audio system.
        reason: String,
    },
    /// A device was asked for by name and no device has that name.
    #[error("{kind} {name:?} not found (available: {available})")]
    DeviceNotFound {
        /// "microphone" or "speaker".
        kind: &'static str,
        /// The name that was asked for.
        name: String,
        /// The names that exist, comma-separated.
        available: String,
    },
    /// The audio system or the device failed.
    #[error("{kind} error: {message}")]
    Device {
        /// "microphone", "speaker" or "audio host".
        kind: &'static str,
        /// What failed.
        message: String,
    },
    /// The device offers no sample format this module can convert.
    #[error("{kind} offers no usable format: {message}")]
    UnsupportedFormat {
        /// "microphone" or "speaker".
        kind: &'static str,
        /// What it offers.
        message: String,
    },
    /// The device stopped delivering audio.
    #[error("{kind} delivered no audio for {waited:?}")]
    Timeout {
        /// "microphone".
        kind: &'static str,
        /// How long we waited.
        waited: Duration,
    },
    /// A frame had the wrong number of samples.
    #[error("audio frame has {got} samples, expected {expected}")]
    FrameLength {
        /// The length that was required.
        expected: usize,
        /// The length that was given.
        got: usize,
    },
    /// An argument was out of range (bitrate, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The Opus encoder or decoder failed, or a packet could not be decoded.
    #[error("opus {operation} failed: {message}")]
    Codec {
        /// "encode", "decode", "encoder setup", ...
        operation: &'static str,
        /// The codec's description of the failure.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_duration_conversions_are_exact() {
        assert_eq!(samples_to_duration(FRAME_SAMPLES as u64), FRAME_DURATION);
        assert_eq!(
            samples_to_duration(48_000 * 3 + 48),
            Duration::from_millis(3001)
        );
        assert_eq!(duration_to_samples(FRAME_DURATION), FRAME_SAMPLES as u64);
        assert_eq!(duration_to_samples(Duration::from_micros(2500)), 120);
    }

    #[test]
    fn errors_read_clearly() {
        let e = AudioError::NoDevice {
            kind: "microphone",
            reason: "no sound card".into(),
        };
        assert_eq!(e.to_string(), "no microphone found: no sound card");
        let e = AudioError::FrameLength {
            expected: 960,
            got: 100,
        };
        assert_eq!(e.to_string(), "audio frame has 100 samples, expected 960");
    }
}
