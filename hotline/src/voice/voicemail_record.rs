//! Recording a voicemail from the caller's decoded audio: 20 ms frames re-encoded with
//! Opus at 16 kbit/s as they arrive (about 2 KB a second, so a message is never held as
//! PCM), bounded in length and in bytes, and judged at the end: a message with no voice in
//! it (the caller hung up at once, or stayed silent) is not kept.

use std::time::Duration;

use media::audio::{AudioError, OpusEncoder, FRAME_SAMPLES};

use super::voicemail_wire::{MAX_RECORDED_PACKET, MAX_VOICEMAIL_BYTES};

/// Opus bitrate of recordings: clear speech at a sixth of a call's bitrate.
pub const VOICEMAIL_BITRATE: i32 = 16_000;
/// A frame whose loudest sample is above this (-36 dBFS) has voice (or tone) in it.
const VOICED_PEAK: u16 = 500;
/// A message needs this many voiced frames (a quarter second) to be kept.
const MIN_VOICED_FRAMES: usize = 12;
/// Room left in the byte budget for the AEAD tag.
const TAG_BYTES: usize = 16;

/// A finished recording: the Opus packets, in order, 20 ms each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The packets.
    pub packets: Vec<Vec<u8>>,
    /// Its length.
    pub duration: Duration,
}

/// Takes the caller's audio once armed (after the prompt tone has played).
pub struct Recorder {
    encoder: OpusEncoder,
    packets: Vec<Vec<u8>>,
    /// Framed bytes so far (each packet and its 2-byte length).
    bytes: usize,
    max_frames: usize,
    voiced_frames: usize,
    pending: Vec<i16>,
    armed: bool,
    full: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("frames", &self.packets.len())
            .field("armed", &self.armed)
            .field("full", &self.full)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder of at most `max`, not yet armed.
    pub fn new(max: Duration) -> Result<Self, AudioError> {
        let mut encoder = OpusEncoder::new(VOICEMAIL_BITRATE)?;
        // Nothing is lost between here and the file: no FEC to pay for.
        encoder.set_inband_fec(false)?;
        encoder.set_expected_loss(0)?;
        let max_frames = (max.as_millis() / 20).max(1) as usize;
        Ok(Self {
            encoder,
            packets: Vec::new(),
            bytes: 0,
            max_frames,
            voiced_frames: 0,
            pending: Vec::with_capacity(FRAME_SAMPLES),
            armed: false,
            full: false,
        })
    }

    /// Starts taking audio (the prompt tone has played).
    pub fn arm(&mut self) {
        self.armed = true;
    }

    /// Whether it takes audio now.
    pub fn is_armed(&self) -> bool {
        self.armed
    }

    /// Whether the maximum length or size is reached.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Takes decoded samples (any count; 48 kHz mono).
    pub fn write(&mut self, samples: &[i16]) {
        if !self.armed || self.full {
            return;
        }
        for chunk in samples.chunks(FRAME_SAMPLES) {
            let room = FRAME_SAMPLES - self.pending.len();
            let (now, later) = chunk.split_at(room.min(chunk.len()));
            self.pending.extend_from_slice(now);
            if self.pending.len() == FRAME_SAMPLES {
                self.encode_pending();
                if self.full {
                    return;
                }
            }
            self.pending.extend_from_slice(later);
        }
    }

    fn encode_pending(&mut self) {
        let voiced = frame_is_voiced(&self.pending);
        let encoded = self.encoder.encode(&self.pending);
        self.pending.clear();
        let packet = match encoded {
            Ok(p) if (1..=MAX_RECORDED_PACKET).contains(&p.len()) => p,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "voicemail frame not encoded");
                return;
            }
        };
        if self.bytes + packet.len() + 2 + TAG_BYTES > MAX_VOICEMAIL_BYTES {
            self.full = true;
            return;
        }
        self.voiced_frames += usize::from(voiced);
        self.bytes += packet.len() + 2;
        self.packets.push(packet);
        if self.packets.len() >= self.max_frames {
            self.full = true;
        }
    }

    /// The recording, or `None` when it holds no voice.
    pub fn finish(self) -> Option<Recorded> {
        if self.voiced_frames < MIN_VOICED_FRAMES || self.packets.is_empty() {
            return None;
        }
        let duration = Duration::from_millis(self.packets.len() as u64 * 20);
        Some(Recorded {
            packets: self.packets,
            duration,
        })
    }
}

fn frame_is_voiced(samples: &[i16]) -> bool {
    samples.iter().any(|s| s.unsigned_abs() > VOICED_PEAK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(frames: usize) -> Vec<i16> {
        (0..frames * FRAME_SAMPLES)
            .map(|i| ((i as f64 * 660.0 / 48_000.0 * std::f64::consts::TAU).sin() * 8000.0) as i16)
            .collect()
    }

    #[test]
    fn nothing_is_taken_before_the_recorder_is_armed() {
        let mut r = Recorder::new(Duration::from_secs(5)).unwrap();
        r.write(&tone(50));
        assert!(r.finish().is_none());
    }

    #[test]
    fn a_recording_stops_at_its_maximum_and_odd_writes_make_whole_frames() {
        let mut r = Recorder::new(Duration::from_secs(1)).unwrap();
        r.arm();
        // 70 ms at a time: frames are cut at 20 ms whatever the writes.
        for piece in tone(100).chunks(3_360) {
            r.write(piece);
        }
        assert!(r.is_full());
        let done = r.finish().unwrap();
        assert_eq!(done.packets.len(), 50);
        assert_eq!(done.duration, Duration::from_secs(1));
        // 16 kbit/s: about 40 bytes a frame, never the 1920 of PCM.
        let bytes: usize = done.packets.iter().map(Vec::len).sum();
        assert!(bytes < 50 * 120, "{bytes} bytes");
    }

    #[test]
    fn silence_is_not_a_message() {
        let mut r = Recorder::new(Duration::from_secs(5)).unwrap();
        r.arm();
        r.write(&vec![0; 100 * FRAME_SAMPLES]);
        assert!(r.finish().is_none());
        let mut r = Recorder::new(Duration::from_secs(5)).unwrap();
        r.arm();
        r.write(&tone(5));
        assert!(
            r.finish().is_none(),
            "a tenth of a second is a hang-up, not a message"
        );
    }
}
