//! The voice packet on the Bluetooth link, and what is inside its ciphertext.
//!
//! ```text
//! version u8 | seq u16 | timestamp u32 | ciphertext | tag (16)      all big-endian
//! \________ header: associated data ___/
//! ```
//!
//! `seq` counts packets (the low 16 bits of the sender's 64-bit packet counter, which is
//! the AEAD nonce); `timestamp` is the capture time of the packet's first sample in
//! 48 kHz units. The header travels in the clear (the receiver needs it to order packets
//! and find the nonce) but is authenticated: changing one bit fails the tag.
//!
//! The plaintext is `primary_len u8 | primary | redundant`: this packet's Opus frame and,
//! when present, the previous packet's Opus frame again (RED-style redundancy, see
//! [`super::codec`]). Everything here is parsed from untrusted bytes: lengths are checked
//! before any slice is taken, and a bad packet is an error, never a panic.

/// The only packet version this code writes and reads.
pub const VERSION: u8 = 1;
/// Bytes of the header (version, seq, timestamp).
pub const HEADER_LEN: usize = 7;
/// Bytes of the AEAD tag (Poly1305).
pub const TAG_LEN: usize = 16;
/// Largest packet: what one Bluetooth voice frame carries on a connection with the usual
/// 247-byte ATT MTU (244-byte frames, less the mesh's 14-byte header). Longer packets
/// are refused on both ends, so a call works over any connection phones negotiate.
pub const MAX_PACKET_LEN: usize = 230;
/// Largest plaintext (primary length byte, primary and redundant frames).
pub const MAX_PLAINTEXT_LEN: usize = MAX_PACKET_LEN - HEADER_LEN - TAG_LEN;
/// Smallest packet: a header, the length byte and a one-byte Opus frame, and the tag.
pub const MIN_PACKET_LEN: usize = HEADER_LEN + 2 + TAG_LEN;

/// Why a received packet was dropped. Every drop is counted; none is fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// Shorter than [`MIN_PACKET_LEN`] (truncated).
    TooShort,
    /// Longer than [`MAX_PACKET_LEN`].
    TooLong,
    /// A version this code does not speak.
    UnknownVersion,
    /// The tag did not verify: the wrong key, a changed bit, or a forgery.
    Forged,
    /// Already received (within the replay window).
    Replayed,
    /// Older than the replay window: refused whether or not it was seen.
    TooOld,
    /// Authentic, but its plaintext is not a well-formed frame list.
    BadPlaintext,
    /// From a neighbour other than the call's peer.
    WrongNeighbor,
}

/// The clear header of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Low 16 bits of the packet counter.
    pub seq: u16,
    /// Capture time of the first sample, 48 kHz units (wraps).
    pub timestamp: u32,
}

impl Header {
    /// The header's bytes (also the AEAD's associated data).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1..3].copy_from_slice(&self.seq.to_be_bytes());
        out[3..7].copy_from_slice(&self.timestamp.to_be_bytes());
        out
    }
}

/// A packet split into its parts, not yet authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The header, as read.
    pub header: Header,
    /// The header's bytes (associated data).
    pub aad: &'a [u8],
    /// Ciphertext followed by the tag.
    pub sealed: &'a [u8],
}

/// Splits a received packet, checking its length and version.
pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, Dropped> {
    if bytes.len() < MIN_PACKET_LEN {
        return Err(Dropped::TooShort);
    }
    if bytes.len() > MAX_PACKET_LEN {
        return Err(Dropped::TooLong);
    }
    let (aad, sealed) = bytes.split_at(HEADER_LEN);
    if aad[0] != VERSION {
        return Err(Dropped::UnknownVersion);
    }
    let header = Header {
        seq: u16::from_be_bytes([aad[1], aad[2]]),
        timestamp: u32::from_be_bytes([aad[3], aad[4], aad[5], aad[6]]),
    };
    Ok(Parsed {
        header,
        aad,
        sealed,
    })
}

/// The Opus frames one packet carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frames<'a> {
    /// This packet's frame.
    pub primary: &'a [u8],
    /// The previous packet's frame again; empty when the sender had none to repeat.
    pub redundant: &'a [u8],
}

/// Builds a plaintext; `None` when the frames do not fit ([`MAX_PLAINTEXT_LEN`]) or the
/// primary frame is empty or longer than 255 bytes.
pub fn join_frames(primary: &[u8], redundant: &[u8]) -> Option<Vec<u8>> {
    let len = u8::try_from(primary.len()).ok().filter(|&l| l > 0)?;
    let total = 1 + primary.len() + redundant.len();
    if total > MAX_PLAINTEXT_LEN {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    out.push(len);
    out.extend_from_slice(primary);
    out.extend_from_slice(redundant);
    Some(out)
}

/// Reads an authenticated plaintext.
pub fn split_frames(plaintext: &[u8]) -> Result<Frames<'_>, Dropped> {
    let (&len, rest) = plaintext.split_first().ok_or(Dropped::BadPlaintext)?;
    let len = usize::from(len);
    if len == 0 || len > rest.len() {
        return Err(Dropped::BadPlaintext);
    }
    let (primary, redundant) = rest.split_at(len);
    Ok(Frames { primary, redundant })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_lengths_are_checked() {
        let header = Header {
            seq: 0xBEEF,
            timestamp: 0x0102_0304,
        };
        let mut packet = header.encode().to_vec();
        assert_eq!(packet, [1, 0xBE, 0xEF, 1, 2, 3, 4]);
        assert_eq!(parse(&packet), Err(Dropped::TooShort));
        packet.extend_from_slice(&[0; 18]);
        let parsed = parse(&packet).expect("25 bytes is the minimum");
        assert_eq!(parsed.header, header);
        assert_eq!(parsed.aad, &packet[..7]);
        assert_eq!(parsed.sealed.len(), 18);
        assert_eq!(parse(&packet[..24]), Err(Dropped::TooShort));
        packet.resize(MAX_PACKET_LEN, 0);
        assert!(parse(&packet).is_ok());
        packet.push(0);
        assert_eq!(parse(&packet), Err(Dropped::TooLong));
        packet.truncate(40);
        packet[0] = 2;
        assert_eq!(parse(&packet), Err(Dropped::UnknownVersion));
        assert_eq!(parse(&[]), Err(Dropped::TooShort));
    }

    #[test]
    fn frames_join_and_split_strictly() {
        let joined = join_frames(&[1, 2, 3], &[9, 9]).unwrap();
        assert_eq!(joined, [3, 1, 2, 3, 9, 9]);
        let frames = split_frames(&joined).unwrap();
        assert_eq!(
            (frames.primary, frames.redundant),
            (&[1, 2, 3][..], &[9, 9][..])
        );
        let alone = split_frames(&[2, 5, 6]).unwrap();
        assert!(alone.redundant.is_empty());
        for bad in [&[][..], &[0], &[0, 1], &[3, 1, 2]] {
            assert_eq!(split_frames(bad), Err(Dropped::BadPlaintext), "{bad:?}");
        }
        assert_eq!(join_frames(&[], &[1]), None, "no empty primary");
        assert_eq!(join_frames(&[0; 256], &[]), None, "length must fit a byte");
        let most = MAX_PLAINTEXT_LEN - 1;
        assert!(join_frames(&[7; 100], &vec![7; most - 100]).is_some());
        assert!(join_frames(&[7; 100], &vec![7; most - 99]).is_none());
    }
}
