//! The frame that goes over the air: a 14-byte header and a bounded payload.
//!
//! Modelled on BitChat's binary packet (big-endian, version byte first, TTL that relays
//! decrement) but ours: no sender or recipient id in the header (the mesh knows only link
//! neighbours), a hop counter so the receiver can say how far a message came, and one
//! 8-byte id that names the message (the first bytes of the gift wrap's id) for
//! de-duplication, fragments and acknowledgements.
//!
//! ```text
//! version u8 | type u8 | ttl u8 | hops u8 | id [8] | payload_len u16 | payload
//! ```

use std::fmt;

/// The only wire version this code speaks.
pub const WIRE_VERSION: u8 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 14;
/// The most a frame may carry; the largest ATT MTU (517) minus the ATT write header,
/// rounded down. Anything longer from the air is refused before it is read.
pub const MAX_FRAME_LEN: usize = 512;
/// The most payload one frame may carry.
pub const MAX_PAYLOAD_LEN: usize = MAX_FRAME_LEN - HEADER_LEN;
/// The most hops a message may travel (BitChat's TTL 7).
pub const MAX_TTL: u8 = 7;

/// An 8-byte message id: the first bytes of the gift wrap's event id, or random for
/// frames that carry no wrap (announcements, voice).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 8]);

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("…")
    }
}

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// "A PhantomCall device is here", with a rotating id. Never relayed.
    Announce = 0x01,
    /// A whole message in one frame.
    Message = 0x02,
    /// One piece of a message too long for one frame.
    Fragment = 0x03,
    /// "I have the whole message `id`": the neighbour stops resending it.
    Ack = 0x04,
    /// "Of message `id` I miss these pieces": the neighbour resends only those.
    Nack = 0x05,
    /// One encrypted voice packet on a direct link. Never relayed.
    Voice = 0x06,
}

impl FrameType {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0x01 => Self::Announce,
            0x02 => Self::Message,
            0x03 => Self::Fragment,
            0x04 => Self::Ack,
            0x05 => Self::Nack,
            0x06 => Self::Voice,
            _ => return None,
        })
    }
}

/// One frame, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it is.
    pub kind: FrameType,
    /// Hops it may still travel.
    pub ttl: u8,
    /// Hops it has travelled.
    pub hops: u8,
    /// The message it belongs to.
    pub id: MessageId,
    /// What it carries.
    pub payload: Vec<u8>,
}

/// Why a frame from the air was dropped. Each is counted by the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FrameError {
    /// Shorter than the header.
    #[error("frame shorter than its header")]
    Truncated,
    /// Longer than any frame may be.
    #[error("frame longer than {MAX_FRAME_LEN} bytes")]
    TooLong,
    /// A version this code does not speak.
    #[error("unknown wire version")]
    UnknownVersion,
    /// A type this code does not know.
    #[error("unknown frame type")]
    UnknownType,
    /// The length field disagrees with the bytes that came.
    #[error("payload length field disagrees with the frame")]
    LengthMismatch,
    /// TTL above the mesh's limit, or TTL plus hops beyond it.
    #[error("TTL or hop count beyond the mesh's limit")]
    BadTtl,
}

impl Frame {
    /// A frame of `kind` for message `id`.
    pub fn new(kind: FrameType, ttl: u8, id: MessageId, payload: Vec<u8>) -> Self {
        Self {
            kind,
            ttl,
            hops: 0,
            id,
            payload,
        }
    }

    /// The bytes on the air.
    ///
    /// # Panics
    /// If the payload is longer than [`MAX_PAYLOAD_LEN`]: callers fragment first, so this is
    /// a bug in this crate, never input from outside.
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.payload.len() <= MAX_PAYLOAD_LEN, "unfragmented frame");
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        out.extend_from_slice(&[WIRE_VERSION, self.kind as u8, self.ttl, self.hops]);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&(self.payload.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Parses bytes from the air; everything is checked before it is used.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        if bytes.len() > MAX_FRAME_LEN {
            return Err(FrameError::TooLong);
        }
        if bytes.len() < HEADER_LEN {
            return Err(FrameError::Truncated);
        }
        if bytes[0] != WIRE_VERSION {
            return Err(FrameError::UnknownVersion);
        }
        let kind = FrameType::from_byte(bytes[1]).ok_or(FrameError::UnknownType)?;
        let (ttl, hops) = (bytes[2], bytes[3]);
        if ttl > MAX_TTL || u16::from(ttl) + u16::from(hops) > u16::from(MAX_TTL) + 1 {
            return Err(FrameError::BadTtl);
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[4..12]);
        let len = usize::from(u16::from_be_bytes([bytes[12], bytes[13]]));
        if HEADER_LEN + len != bytes.len() {
            return Err(FrameError::LengthMismatch);
        }
        Ok(Self {
            kind,
            ttl,
            hops,
            id: MessageId(id),
            payload: bytes[HEADER_LEN..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_survives_the_air() {
        let mut frame = Frame::new(
            FrameType::Fragment,
            5,
            MessageId(*b"abcdefgh"),
            vec![7; 300],
        );
        frame.hops = 2;
        assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
    }

    #[test]
    fn malformed_frames_are_refused_with_their_reason() {
        let good = Frame::new(FrameType::Message, 7, MessageId([1; 8]), vec![1, 2, 3]).encode();
        assert_eq!(Frame::decode(&good[..5]), Err(FrameError::Truncated));
        assert_eq!(
            Frame::decode(&[0; MAX_FRAME_LEN + 1]),
            Err(FrameError::TooLong)
        );
        let mut bad = good.clone();
        bad[0] = 2;
        assert_eq!(Frame::decode(&bad), Err(FrameError::UnknownVersion));
        let mut bad = good.clone();
        bad[1] = 0x7f;
        assert_eq!(Frame::decode(&bad), Err(FrameError::UnknownType));
        let mut bad = good.clone();
        bad[2] = 9;
        assert_eq!(Frame::decode(&bad), Err(FrameError::BadTtl));
        let mut bad = good.clone();
        bad[3] = 200;
        assert_eq!(Frame::decode(&bad), Err(FrameError::BadTtl));
        let mut bad = good.clone();
        bad.push(0);
        assert_eq!(Frame::decode(&bad), Err(FrameError::LengthMismatch));
    }
}
