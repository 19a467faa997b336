//! The sending half, sans-IO: 20 ms microphone frames in (the `AudioSource` format),
//! one sealed packet out for every two of them.

use std::fmt;
use std::time::Instant;

use media::audio::{duration_to_samples, AudioError, AudioFrame, FRAME_SAMPLES as MIC_FRAME};

use super::codec::{VoiceEncoder, FRAME_SAMPLES};
use super::crypto::SendKey;
use super::packet;
use super::{BleVoiceConfig, BleVoiceError};

/// A packet ready for the link.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The sealed packet.
    pub bytes: Vec<u8>,
    /// Its sequence number (low 16 bits of the counter).
    pub seq: u16,
    /// Its timestamp, 48 kHz units since the call's first frame.
    pub timestamp: u32,
    /// When its first sample was captured (stays here; for latency measurements).
    pub captured_at: Instant,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("len", &self.bytes.len())
            .field("seq", &self.seq)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// What the sender did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Microphone frames taken.
    pub frames_in: u64,
    /// Packets made.
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Packets that also carried the previous frame.
    pub with_redundancy: u64,
}

/// Encodes and seals our audio.
pub struct BleVoiceSender {
    key: SendKey,
    encoder: VoiceEncoder,
    redundancy: bool,
    /// The first half of the next 40 ms frame, and when it was captured.
    pending: Option<(Vec<i16>, Instant)>,
    /// Capture instant of the call's first frame: timestamp zero.
    epoch: Option<Instant>,
    /// The last Opus frame sent, repeated in the next packet.
    previous: Option<Vec<u8>>,
    stats: SenderStats,
}

impl fmt::Debug for BleVoiceSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BleVoiceSender")
            .field("key", &self.key)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl BleVoiceSender {
    /// A sender sealing with `key` (taken: no one else can send under it).
    pub fn new(key: SendKey, config: &BleVoiceConfig) -> Result<Self, BleVoiceError> {
        Ok(Self {
            key,
            encoder: VoiceEncoder::new(config.bitrate, config.expected_loss)?,
            redundancy: config.redundancy,
            pending: None,
            epoch: None,
            previous: None,
            stats: SenderStats::default(),
        })
    }

    /// Takes one 20 ms microphone frame; every second one completes a packet.
    pub fn push_frame(&mut self, frame: &AudioFrame) -> Result<Option<Outgoing>, BleVoiceError> {
        if frame.samples.len() != MIC_FRAME {
            return Err(AudioError::FrameLength {
                expected: MIC_FRAME,
                got: frame.samples.len(),
            }
            .into());
        }
        self.stats.frames_in += 1;
        match self.pending.take() {
            None => {
                self.pending = Some((frame.samples.clone(), frame.captured_at));
                Ok(None)
            }
            Some((mut samples, captured_at)) => {
                samples.extend_from_slice(&frame.samples);
                self.push_pcm(&samples, captured_at).map(Some)
            }
        }
    }

    /// Encodes and seals one whole 40 ms frame ([`FRAME_SAMPLES`]) captured from
    /// `captured_at` on.
    pub fn push_pcm(
        &mut self,
        samples: &[i16],
        captured_at: Instant,
    ) -> Result<Outgoing, BleVoiceError> {
        if samples.len() != FRAME_SAMPLES {
            return Err(AudioError::FrameLength {
                expected: FRAME_SAMPLES,
                got: samples.len(),
            }
            .into());
        }
        let epoch = *self.epoch.get_or_insert(captured_at);
        // Wraps after 24 h, as RTP timestamps do.
        let timestamp = duration_to_samples(captured_at.saturating_duration_since(epoch)) as u32;
        let primary = self.encoder.encode(samples)?;
        let repeat = match (&self.previous, self.redundancy) {
            (Some(previous), true) => previous.as_slice(),
            _ => &[],
        };
        // A repeat that would not fit is left out; the primary alone always fits.
        let (plaintext, repeated) = match packet::join_frames(&primary, repeat) {
            Some(joined) => (joined, !repeat.is_empty()),
            None => (
                packet::join_frames(&primary, &[]).ok_or(super::SealError::Size(primary.len()))?,
                false,
            ),
        };
        let sealed = self.key.seal(timestamp, &plaintext)?;
        self.previous = Some(primary);
        self.stats.packets += 1;
        self.stats.bytes += sealed.bytes.len() as u64;
        self.stats.with_redundancy += u64::from(repeated);
        Ok(Outgoing {
            seq: sealed.counter as u16,
            bytes: sealed.bytes,
            timestamp,
            captured_at,
        })
    }

    /// What the sender did so far.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }
}
