//! The receiving half, sans-IO: packets in as they arrive, 40 ms of audio out on every
//! pull (once per frame, from the playout clock).
//!
//! Each packet is authenticated and checked against the replay window first; only then
//! does it reach the playout buffer (media's [`PlayoutBuffer`], in 40 ms turns with
//! [`super::PLAYOUT`]'s Bluetooth settings). A lost packet is rebuilt from the repeated
//! copy in the packet after it when there is one, else from that packet's in-band FEC,
//! else concealed.

use std::time::Instant;

use media::audio::{Playout, PlayoutBuffer, PlayoutStats};

use super::codec::{VoiceDecoder, FRAME_SAMPLES};
use super::crypto::RecvKey;
use super::packet::{self, Dropped};
use super::{BleVoiceConfig, BleVoiceError, FRAME};

/// Dropped packets, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// Shorter than a header, a frame and a tag.
    pub too_short: u64,
    /// Longer than one Bluetooth frame carries.
    pub too_long: u64,
    /// Another packet version.
    pub unknown_version: u64,
    /// Failed authentication.
    pub forged: u64,
    /// Seen before.
    pub replayed: u64,
    /// Behind the replay window.
    pub too_old: u64,
    /// Authentic but not a well-formed frame list.
    pub bad_plaintext: u64,
    /// From another neighbour than the peer's.
    pub wrong_neighbor: u64,
}

impl DropCounts {
    /// Counts one drop.
    pub fn count(&mut self, reason: Dropped) {
        let counter = match reason {
            Dropped::TooShort => &mut self.too_short,
            Dropped::TooLong => &mut self.too_long,
            Dropped::UnknownVersion => &mut self.unknown_version,
            Dropped::Forged => &mut self.forged,
            Dropped::Replayed => &mut self.replayed,
            Dropped::TooOld => &mut self.too_old,
            Dropped::BadPlaintext => &mut self.bad_plaintext,
            Dropped::WrongNeighbor => &mut self.wrong_neighbor,
        };
        *counter += 1;
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.too_short
            + self.too_long
            + self.unknown_version
            + self.forged
            + self.replayed
            + self.too_old
            + self.bad_plaintext
            + self.wrong_neighbor
    }
}

/// Where a pulled frame's audio came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Its own packet.
    Packet,
    /// The copy repeated in the next packet (exact).
    Redundancy,
    /// The next packet's in-band FEC (libopus conceals when it has none).
    Fec,
    /// Concealment: its packet and the next one were missing, or it did not decode.
    Concealed,
    /// Nothing to play yet (priming) or any more (the peer stopped): silence.
    Waiting,
}

/// One pull's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// [`FRAME_SAMPLES`] samples (silence while waiting).
    pub samples: Vec<i16>,
    /// Where they came from.
    pub source: Source,
    /// The frame's timestamp (48 kHz units of the sender's clock) when known.
    pub timestamp: Option<u32>,
}

/// What the receiver did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReceiverStats {
    /// Packets that authenticated.
    pub accepted: u64,
    /// Packets dropped, by reason.
    pub dropped: DropCounts,
    /// Frames played from their own packet.
    pub played: u64,
    /// Lost frames rebuilt from the next packet's repeated copy.
    pub from_redundancy: u64,
    /// Lost frames taken from the next packet's in-band FEC.
    pub from_fec: u64,
    /// Frames concealed (lost, or undecodable).
    pub concealed: u64,
    /// Authentic frames the decoder refused (concealed instead).
    pub undecodable: u64,
    /// Pulls with nothing to play.
    pub waiting: u64,
    /// The playout buffer's own counters.
    pub playout: PlayoutStats,
}

/// Authenticates, buffers and decodes the peer's audio.
#[derive(Debug)]
pub struct BleVoiceReceiver {
    key: RecvKey,
    buffer: PlayoutBuffer,
    decoder: VoiceDecoder,
    stats: ReceiverStats,
}

/// Buffered entries are the timestamp, then the plaintext (already checked by
/// [`packet::split_frames`]).
fn entry_parts(entry: &[u8]) -> Option<(u32, packet::Frames<'_>)> {
    let (timestamp, plaintext) = entry.split_first_chunk::<4>()?;
    let frames = packet::split_frames(plaintext).ok()?;
    Some((u32::from_be_bytes(*timestamp), frames))
}

impl BleVoiceReceiver {
    /// A receiver opening with `key`.
    pub fn new(key: RecvKey, config: &BleVoiceConfig) -> Result<Self, BleVoiceError> {
        Ok(Self {
            key,
            buffer: PlayoutBuffer::with_frame_duration(config.playout, FRAME),
            decoder: VoiceDecoder::new()?,
            stats: ReceiverStats::default(),
        })
    }

    /// Takes a packet from the link, arrived at `now`. A dropped packet is counted and
    /// changes nothing else.
    pub fn push(&mut self, bytes: &[u8], now: Instant) -> Result<(), Dropped> {
        let result = self.accept(bytes, now);
        if let Err(reason) = result {
            self.stats.dropped.count(reason);
        }
        result
    }

    /// Counts a packet that was refused before it got here (another neighbour's).
    pub fn count_drop(&mut self, reason: Dropped) {
        self.stats.dropped.count(reason);
    }

    fn accept(&mut self, bytes: &[u8], now: Instant) -> Result<(), Dropped> {
        let opened = self.key.open(bytes)?;
        packet::split_frames(&opened.plaintext)?;
        self.stats.accepted += 1;
        let mut entry = Vec::with_capacity(4 + opened.plaintext.len());
        entry.extend_from_slice(&opened.header.timestamp.to_be_bytes());
        entry.extend_from_slice(&opened.plaintext);
        self.buffer
            .push(opened.header.seq, opened.header.timestamp, entry, now);
        Ok(())
    }

    /// The next 40 ms to play, at `now`; call once per frame.
    pub fn pull(&mut self, now: Instant) -> Pulled {
        let (samples, source, timestamp) = match self.buffer.pop(now) {
            Playout::Packet(entry) => match entry_parts(&entry) {
                Some((timestamp, frames)) => match self.decoder.decode(frames.primary) {
                    Ok(samples) => (samples, Source::Packet, Some(timestamp)),
                    Err(_) => self.undecodable(Some(timestamp)),
                },
                None => self.undecodable(None),
            },
            Playout::Recover(next) => match entry_parts(&next) {
                Some((next_ts, frames)) => {
                    let timestamp = Some(next_ts.wrapping_sub(FRAME_SAMPLES as u32));
                    if frames.redundant.is_empty() {
                        let samples = self.decoder.recover(frames.primary);
                        (samples, Source::Fec, timestamp)
                    } else {
                        match self.decoder.decode(frames.redundant) {
                            Ok(samples) => (samples, Source::Redundancy, timestamp),
                            Err(_) => self.undecodable(timestamp),
                        }
                    }
                }
                None => self.undecodable(None),
            },
            // Comfort never comes: our entries are never DTX frames (4-byte prefix).
            Playout::Conceal | Playout::Comfort => {
                (self.decoder.conceal(), Source::Concealed, None)
            }
            Playout::Wait => (vec![0; FRAME_SAMPLES], Source::Waiting, None),
        };
        match source {
            Source::Packet => self.stats.played += 1,
            Source::Redundancy => self.stats.from_redundancy += 1,
            Source::Fec => self.stats.from_fec += 1,
            Source::Concealed => self.stats.concealed += 1,
            Source::Waiting => self.stats.waiting += 1,
        }
        Pulled {
            samples,
            source,
            timestamp,
        }
    }

    fn undecodable(&mut self, timestamp: Option<u32>) -> (Vec<i16>, Source, Option<u32>) {
        self.stats.undecodable += 1;
        (self.decoder.conceal(), Source::Concealed, timestamp)
    }

    /// What the receiver did so far, with the playout buffer's counters.
    pub fn stats(&self) -> ReceiverStats {
        ReceiverStats {
            playout: self.buffer.stats(),
            ..self.stats
        }
    }
}
