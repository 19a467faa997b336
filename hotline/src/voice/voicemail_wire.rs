//! What voicemail puts on the wire and in the store, and its checks: the console's list of
//! voicemails, the header and chunks a dispatcher's client fetches, and the framing of the
//! recording's Opus packets inside the encrypted blob. Everything here comes from outside
//! (a hotline's message, a decrypted blob) and is bounded and checked before use; this
//! file depends on the wire's checks only, so the `hotline_control` fuzz target compiles it.

use serde::{Deserialize, Serialize};

use super::wire::{key_of, WireError};

/// Raw bytes of the encrypted recording per `voicemail-chunk` message: hex doubles them,
/// and the seal and the gift wrap add about 78 %, so a chunk's wrap stays under the 64 KiB
/// event size common relays accept.
pub const VOICEMAIL_CHUNK_BYTES: usize = 16 * 1024;
/// Largest encrypted recording (its tag included): the recorder stops before it.
pub const MAX_VOICEMAIL_BYTES: usize = 1024 * 1024;
/// Most chunks of one recording.
pub const MAX_VOICEMAIL_CHUNKS: usize = MAX_VOICEMAIL_BYTES.div_ceil(VOICEMAIL_CHUNK_BYTES);
/// Longest recording carried (the configuration allows at most 300 s; this is the bound
/// of a message, with room).
pub const MAX_VOICEMAIL_MS: u32 = 600_000;
/// Most voicemails a console snapshot lists (the newest).
pub const MAX_CONSOLE_VOICEMAILS: usize = 50;
/// Longest sealed content key: a NIP-44 v2 payload of a 64-hex-digit key is 176
/// characters of base64.
pub const MAX_SEALED_KEY_CHARS: usize = 256;
/// Largest Opus packet in a recording (what one RTP payload carries).
pub const MAX_RECORDED_PACKET: usize = 1500;
/// Most packets of a recording: 20 ms each.
pub const MAX_RECORDED_PACKETS: usize = MAX_VOICEMAIL_MS as usize / 20;
/// Smallest encrypted recording: the 16-byte tag and one framed packet.
const MIN_VOICEMAIL_BYTES: usize = 16 + 3;
/// Longest caller id listed (`c-` and hex), as the console's.
const MAX_CALLER_CHARS: usize = 40;

/// One voicemail in a console snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoicemailWire {
    /// The voicemail's id (to fetch, mark heard, delete).
    pub(crate) id: u64,
    /// The opaque caller id, short form.
    pub(crate) caller: String,
    /// When it was recorded, unix seconds.
    pub(crate) recorded_unix_secs: u64,
    /// Its length.
    pub(crate) duration_ms: u32,
    /// Whether a dispatcher marked it heard.
    pub(crate) heard: bool,
}

impl VoicemailWire {
    /// Checks the caller id and the length.
    pub fn check(&self) -> Result<(), WireError> {
        check_caller(&self.caller)?;
        check_duration(self.duration_ms)
    }
}

/// Checks a listed caller id: 1 to 40 characters, no control characters.
pub fn check_caller(caller: &str) -> Result<(), WireError> {
    (!caller.is_empty()
        && caller.chars().count() <= MAX_CALLER_CHARS
        && !caller.chars().any(char::is_control))
    .then_some(())
    .ok_or(WireError::TooLong("caller id"))
}

fn check_duration(ms: u32) -> Result<(), WireError> {
    (ms <= MAX_VOICEMAIL_MS)
        .then_some(())
        .ok_or(WireError::Malformed(
            "a voicemail length out of range".into(),
        ))
}

/// Checks a `voicemail-header`'s fields: the ephemeral key a valid point, the sealed key a
/// bounded base64 payload, the nonce 12 bytes of hex, the size within bounds.
pub fn check_header(
    ephemeral: &str,
    sealed_key: &str,
    nonce: &str,
    bytes: u32,
    duration_ms: u32,
    caller: &str,
) -> Result<(), WireError> {
    key_of(ephemeral, "voicemail ephemeral key")?;
    let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if sealed_key.is_empty()
        || sealed_key.len() > MAX_SEALED_KEY_CHARS
        || !sealed_key.bytes().all(base64)
    {
        return Err(WireError::Malformed("a sealed voicemail key".into()));
    }
    if nonce.len() != 24 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WireError::Malformed("a voicemail nonce".into()));
    }
    if !(MIN_VOICEMAIL_BYTES..=MAX_VOICEMAIL_BYTES).contains(&(bytes as usize)) {
        return Err(WireError::TooLong("voicemail"));
    }
    check_duration(duration_ms)?;
    check_caller(caller)
}

/// Checks a `voicemail-chunk`'s data: hex of 1 to [`VOICEMAIL_CHUNK_BYTES`] bytes, and
/// its index below [`MAX_VOICEMAIL_CHUNKS`].
pub fn check_chunk(index: u32, data: &str) -> Result<(), WireError> {
    if index as usize >= MAX_VOICEMAIL_CHUNKS {
        return Err(WireError::Malformed("a voicemail chunk index".into()));
    }
    if data.is_empty()
        || !data.len().is_multiple_of(2)
        || data.len() > 2 * VOICEMAIL_CHUNK_BYTES
        || !data.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(WireError::Malformed("a voicemail chunk".into()));
    }
    Ok(())
}

/// Checks a `voicemail-fetch`'s list of wanted chunks (empty: all).
pub fn check_wanted(chunks: &[u32]) -> Result<(), WireError> {
    if chunks.len() > MAX_VOICEMAIL_CHUNKS
        || chunks.iter().any(|&c| c as usize >= MAX_VOICEMAIL_CHUNKS)
    {
        return Err(WireError::Malformed("wanted voicemail chunks".into()));
    }
    Ok(())
}

/// How many chunks carry `bytes` bytes.
pub fn chunk_count(bytes: usize) -> usize {
    bytes.div_ceil(VOICEMAIL_CHUNK_BYTES)
}

/// The recording's packets as one byte string: each packet as a 2-byte big-endian length
/// and its bytes. Packets outside 1..=[`MAX_RECORDED_PACKET`] bytes are left out.
pub fn pack(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packets.iter().map(|p| p.len() + 2).sum());
    for packet in packets {
        if (1..=MAX_RECORDED_PACKET).contains(&packet.len()) {
            out.extend_from_slice(&(packet.len() as u16).to_be_bytes());
            out.extend_from_slice(packet);
        }
    }
    out
}

/// The packets of [`pack`]'s output: every length within bounds, at most
/// [`MAX_RECORDED_PACKETS`], nothing left over.
pub fn unpack(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
    let bad = || WireError::Malformed("a voicemail's packets".into());
    let mut packets = Vec::new();
    while !bytes.is_empty() {
        let [hi, lo, rest @ ..] = bytes else {
            return Err(bad());
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if !(1..=MAX_RECORDED_PACKET).contains(&len) || rest.len() < len {
            return Err(bad());
        }
        if packets.len() == MAX_RECORDED_PACKETS {
            return Err(WireError::TooLong("voicemail"));
        }
        packets.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    if packets.is_empty() {
        return Err(bad());
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_and_bad_framing_is_refused() {
        let packets = vec![vec![1u8; 40], vec![2u8; 1], vec![3u8; MAX_RECORDED_PACKET]];
        assert_eq!(unpack(&pack(&packets)).unwrap(), packets);
        for bad in [
            &[][..],
            &[0, 5, 1, 2][..],
            &[0, 0][..],
            &[0][..],
            &[0x05, 0xdd, 0][..],
        ] {
            assert!(unpack(bad).is_err(), "{bad:?}");
        }
        // Packets out of bounds are not packed at all.
        assert!(pack(&[Vec::new(), vec![0; MAX_RECORDED_PACKET + 1]]).is_empty());
    }

    #[test]
    fn chunks_and_headers_are_bounded() {
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(VOICEMAIL_CHUNK_BYTES + 1), 2);
        assert_eq!(chunk_count(MAX_VOICEMAIL_BYTES), MAX_VOICEMAIL_CHUNKS);
        assert!(check_chunk(0, "00ff").is_ok());
        assert!(check_chunk(0, "0").is_err());
        assert!(check_chunk(0, "zz").is_err());
        assert!(check_chunk(MAX_VOICEMAIL_CHUNKS as u32, "00").is_err());
        assert!(check_chunk(0, &"00".repeat(VOICEMAIL_CHUNK_BYTES + 1)).is_err());
        assert!(check_wanted(&[0, 3]).is_ok());
        assert!(check_wanted(&[MAX_VOICEMAIL_CHUNKS as u32]).is_err());
        let key = "82341f882b6eabcd2ba7f1ef90aad961cf074af15b9ef44a09f9d2a8fbfbe6a2";
        let nonce = "00".repeat(12);
        assert!(check_header(key, "QUJD", &nonce, 100, 1000, "c-00").is_ok());
        assert!(check_header(key, "QU JD", &nonce, 100, 1000, "c-00").is_err());
        assert!(check_header(key, "QUJD", "00", 100, 1000, "c-00").is_err());
        assert!(check_header(key, "QUJD", &nonce, 2, 1000, "c-00").is_err());
        assert!(check_header(key, "QUJD", &nonce, 100, u32::MAX, "c-00").is_err());
        assert!(check_header(&"0".repeat(64), "QUJD", &nonce, 100, 1000, "c-00").is_err());
    }
}
