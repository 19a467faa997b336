//! Voice over a direct Bluetooth LE connection, for when two devices in range have no IP
//! network between them at all (issue 16, item 5).
//!
//! The offer and answer (gift-wrapped, over the BLE mesh or a relay) each carry an
//! ephemeral X25519 share ([`keys`], attribute `a=x-phantomcall-ble-voice`); the two
//! derive one ChaCha20-Poly1305 key per direction ([`crypto`]). Microphone audio is
//! encoded with Opus in 40 ms frames at 6-16 kbit/s ([`codec`]), sealed into one packet
//! per Bluetooth frame ([`packet`]) and sent to the peer's connection as a mesh voice
//! frame (`MeshNode::send_voice`: direct, never relayed). The receiver authenticates,
//! drops replays ([`replay`]), orders packets in a playout buffer tuned for Bluetooth
//! timing and decodes, concealing or rebuilding what was lost ([`receiver`]).
//!
//! - [`BleVoiceSender`] and [`BleVoiceReceiver`] are sans-IO: PCM in, packets out;
//!   packets in, PCM out on each pull, with the time given by the caller.
//! - [`BleVoiceCall`] runs both on Tokio over a `MeshNode`, with the microphone and
//!   speaker as the rest of calling has them (`MediaDevices`) or as channels.
//!
//! What it must never do: send audio unencrypted (there is no plaintext mode and no
//! fallback: without keys there is no call), reuse a nonce (the send key owns its
//! counter and refuses to wrap), or trust the link: every packet is length-checked and
//! authenticated before anything else looks at it, forged, replayed, truncated and
//! malformed packets are dropped and counted, never a panic; the link's neighbour ids
//! and timing decide nothing but where packets go and when they play.

pub mod call;
pub mod codec;
pub mod crypto;
pub mod keys;
pub mod packet;
pub mod receiver;
pub mod replay;
pub mod sender;

use std::time::Duration;

use media::audio::{AudioError, PlayoutConfig};

pub use call::{BleVoiceCall, BleVoiceIo, CallStats, PlayedFrame};
pub use codec::{FRAME_MS, FRAME_SAMPLES};
pub use crypto::{RecvKey, SealError, SendKey};
pub use keys::{
    encode_sdp_attribute, find_sdp_attribute, parse_sdp_attribute, BleVoiceKeys, KeyError, Role,
    SessionKeys, SDP_ATTRIBUTE,
};
pub use packet::Dropped;
pub use receiver::{BleVoiceReceiver, DropCounts, Pulled, ReceiverStats, Source};
pub use sender::{BleVoiceSender, Outgoing, SenderStats};

/// One frame of audio per packet: 40 ms.
pub const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);

/// The playout buffer's settings for Bluetooth timing.
///
/// Packets reach the peer in connection events, every 7.5-50 ms (phones mostly use
/// 30-50 ms, 11.25-15 ms when an app asks for high priority), and the link layer
/// retransmits a lost radio packet at the next event, so arrivals are late by up to one
/// interval, by two or three after missed events, and then come in bursts. Two 40 ms
/// frames (80 ms) play intervals up to 30 ms with a missed event without a gap; at
/// 50 ms with one event in seven missed the buffer conceals once and raises itself to
/// 120 ms (four times the measured jitter, in whole frames; this module's tests), up to
/// 320 ms (eight frames), beyond which talking over each other costs more than
/// concealing a late packet.
pub const PLAYOUT: PlayoutConfig = PlayoutConfig {
    target_delay: Duration::from_millis(80),
    max_delay: Duration::from_millis(320),
};

/// Settings of a Bluetooth voice call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BleVoiceConfig {
    /// Opus bitrate, 6000..=16000 bit/s.
    pub bitrate: i32,
    /// Loss the encoder prepares for, percent.
    pub expected_loss: u8,
    /// Repeat the previous frame in each packet (see [`codec`]): a single lost packet
    /// is rebuilt exactly, for one more Opus frame of airtime per packet.
    pub redundancy: bool,
    /// The playout buffer.
    pub playout: PlayoutConfig,
}

impl Default for BleVoiceConfig {
    fn default() -> Self {
        Self {
            bitrate: codec::DEFAULT_BITRATE,
            expected_loss: codec::DEFAULT_EXPECTED_LOSS,
            redundancy: true,
            playout: PLAYOUT,
        }
    }
}

impl BleVoiceConfig {
    /// Bytes one packet puts on the air, mesh header included, when Opus fills its
    /// constant-bitrate frame.
    pub fn air_bytes_per_packet(&self) -> usize {
        let opus = usize::try_from(self.bitrate).unwrap_or(0) * FRAME_MS as usize / 8_000;
        let frames = if self.redundancy { 2 * opus } else { opus };
        MESH_HEADER_LEN + packet::HEADER_LEN + 1 + frames + packet::TAG_LEN
    }
}

/// The mesh's frame header in front of every voice packet on the air.
pub const MESH_HEADER_LEN: usize = nostr_signal::ble_fallback::frame::HEADER_LEN;

/// Why a call's media could not be set up or a frame not be sent.
#[derive(Debug, thiserror::Error)]
pub enum BleVoiceError {
    /// The codec refused its settings or a frame.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The packet could not be sealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A device could not be opened or a thread started.
    #[error("Bluetooth voice: {0}")]
    Setup(String),
}

#[cfg(test)]
mod tests;
