//! Sealing and opening voice packets: ChaCha20-Poly1305 under one key per direction, the
//! nonce from a 64-bit packet counter, the clear header as associated data.
//!
//! ChaCha20-Poly1305 rather than AES-GCM: phones without AES instructions run it fast
//! and in constant time, and a 96-bit nonce built from a counter is exactly what it
//! wants. A [`SendKey`] owns its counter and is neither `Clone` nor rebuildable from the
//! outside, so no nonce is ever used twice under one key; a [`RecvKey`] owns the replay
//! window. Neither `Debug` output shows key material.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

use super::packet::{self, Dropped, Header, HEADER_LEN, MAX_PACKET_LEN, TAG_LEN};
use super::replay::ReplayWindow;

/// Why a packet could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The plaintext is empty or the packet would exceed [`MAX_PACKET_LEN`].
    #[error("voice plaintext of {0} bytes does not fit one packet")]
    Size(usize),
    /// All 2^64 counters are used up (never in practice): no more packets under this key.
    #[error("the voice key's packet counter is exhausted")]
    Exhausted,
}

fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::from(bytes)
}

fn fingerprint_of(key: &[u8; 32]) -> [u8; 8] {
    let digest = Sha256::new()
        .chain_update(b"PhantomCall BLE voice key fingerprint")
        .chain_update(key)
        .finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// A packet sealed by [`SendKey::seal`].
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The packet's bytes, ready for the link.
    pub bytes: Vec<u8>,
    /// The full counter (the nonce).
    pub counter: u64,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("len", &self.bytes.len())
            .field("counter", &self.counter)
            .finish()
    }
}

/// Our sending direction's key and packet counter.
pub struct SendKey {
    aead: ChaCha20Poly1305,
    next: u64,
    fingerprint: [u8; 8],
}

impl fmt::Debug for SendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendKey")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl SendKey {
    /// A sending key whose first packet uses counter 0. Only the key derivation makes one.
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            aead: ChaCha20Poly1305::new(Key::from_slice(key)),
            next: 0,
            fingerprint: fingerprint_of(key),
        }
    }

    /// Seals `plaintext` as the next packet, captured at `timestamp` (48 kHz units).
    pub fn seal(&mut self, timestamp: u32, plaintext: &[u8]) -> Result<Sealed, SealError> {
        let len = HEADER_LEN + plaintext.len() + TAG_LEN;
        if plaintext.is_empty() || len > MAX_PACKET_LEN {
            return Err(SealError::Size(plaintext.len()));
        }
        let counter = self.next;
        self.next = counter.checked_add(1).ok_or(SealError::Exhausted)?;
        let header = Header {
            seq: counter as u16,
            timestamp,
        }
        .encode();
        let ciphertext = self
            .aead
            .encrypt(
                &nonce(counter),
                Payload {
                    msg: plaintext,
                    aad: &header,
                },
            )
            .map_err(|_| SealError::Size(plaintext.len()))?;
        let mut bytes = Vec::with_capacity(len);
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&ciphertext);
        Ok(Sealed { bytes, counter })
    }

    /// The counter the next packet will use.
    pub fn next_counter(&self) -> u64 {
        self.next
    }

    /// A short digest of the key (equal to the peer's [`RecvKey::fingerprint`] for the
    /// same direction); never the key itself.
    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }
}

/// A packet that authenticated.
#[derive(Clone, PartialEq, Eq)]
pub struct Opened {
    /// Its header.
    pub header: Header,
    /// Its full counter.
    pub counter: u64,
    /// The plaintext (frames, see [`packet::split_frames`]).
    pub plaintext: Vec<u8>,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("header", &self.header)
            .field("counter", &self.counter)
            .field("len", &self.plaintext.len())
            .finish()
    }
}

/// The peer's sending direction's key, with the replay window.
pub struct RecvKey {
    aead: ChaCha20Poly1305,
    window: ReplayWindow,
    fingerprint: [u8; 8],
}

impl fmt::Debug for RecvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvKey")
            .field("highest", &self.window.highest())
            .finish_non_exhaustive()
    }
}

impl RecvKey {
    /// A receiving key. Only the key derivation makes one.
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            aead: ChaCha20Poly1305::new(Key::from_slice(key)),
            window: ReplayWindow::default(),
            fingerprint: fingerprint_of(key),
        }
    }

    /// Checks and decrypts one received packet. The replay window moves only for a packet
    /// that authenticated.
    pub fn open(&mut self, bytes: &[u8]) -> Result<Opened, Dropped> {
        let parsed = packet::parse(bytes)?;
        let counter = self.window.estimate(parsed.header.seq)?;
        self.window.check(counter)?;
        let plaintext = self
            .aead
            .decrypt(
                &nonce(counter),
                Payload {
                    msg: parsed.sealed,
                    aad: parsed.aad,
                },
            )
            .map_err(|_| Dropped::Forged)?;
        self.window.accept(counter);
        Ok(Opened {
            header: parsed.header,
            counter,
            plaintext,
        })
    }

    /// A short digest of the key; see [`SendKey::fingerprint`].
    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: u8) -> (SendKey, RecvKey) {
        (SendKey::new(&[key; 32]), RecvKey::new(&[key; 32]))
    }

    #[test]
    fn a_sealed_packet_opens_once_under_the_same_key_only() {
        let (mut send, mut recv) = pair(1);
        let sealed = send.seal(960, b"\x05opus!").unwrap();
        assert_eq!(sealed.counter, 0);
        assert_eq!(sealed.bytes.len(), HEADER_LEN + 6 + TAG_LEN);
        assert_eq!(&sealed.bytes[..7], &[1, 0, 0, 0, 0, 3, 0xC0]);
        let opened = recv.open(&sealed.bytes).unwrap();
        assert_eq!(opened.plaintext, b"\x05opus!");
        assert_eq!(opened.header.timestamp, 960);
        assert_eq!(recv.open(&sealed.bytes), Err(Dropped::Replayed));
        assert_eq!(send.fingerprint(), recv.fingerprint());

        let (_, mut other) = pair(2);
        assert_eq!(other.open(&sealed.bytes), Err(Dropped::Forged));
        assert_ne!(other.fingerprint(), send.fingerprint());
    }

    #[test]
    fn every_changed_bit_fails_and_does_not_move_the_window() {
        let (mut send, mut recv) = pair(3);
        let sealed = send.seal(0, b"\x02ab").unwrap();
        for bit in 0..sealed.bytes.len() * 8 {
            let mut bent = sealed.bytes.clone();
            bent[bit / 8] ^= 1 << (bit % 8);
            let result = recv.open(&bent);
            assert!(
                matches!(result, Err(Dropped::Forged | Dropped::UnknownVersion)),
                "bit {bit}: {result:?}"
            );
        }
        assert_eq!(
            recv.open(&sealed.bytes[..sealed.bytes.len() - 1]),
            Err(Dropped::Forged),
            "a truncated tag"
        );
        assert_eq!(recv.window.highest(), None);
        assert!(recv.open(&sealed.bytes).is_ok(), "the original still opens");
    }

    #[test]
    fn counters_run_on_across_the_16_bit_wrap() {
        let (mut send, mut recv) = pair(4);
        send.next = 65_530;
        // The receiver has followed the stream so far.
        recv.window.accept(65_529);
        for expected in 65_530..65_545u64 {
            let sealed = send.seal(0, b"\x01x").unwrap();
            assert_eq!(sealed.counter, expected);
            assert_eq!(recv.open(&sealed.bytes).unwrap().counter, expected);
        }
        assert_eq!(send.next_counter(), 65_545);
        send.next = u64::MAX;
        assert_eq!(send.seal(0, b"\x01x"), Err(SealError::Exhausted));
        assert_eq!(
            send.seal(0, b"\x01x"),
            Err(SealError::Exhausted),
            "never wraps"
        );
    }

    #[test]
    fn sizes_are_enforced_when_sealing() {
        let (mut send, _) = pair(5);
        assert_eq!(send.seal(0, b""), Err(SealError::Size(0)));
        let most = MAX_PACKET_LEN - HEADER_LEN - TAG_LEN;
        assert_eq!(
            send.seal(0, &vec![1; most]).unwrap().bytes.len(),
            MAX_PACKET_LEN
        );
        assert_eq!(
            send.seal(0, &vec![1; most + 1]),
            Err(SealError::Size(most + 1))
        );
        assert!(format!("{send:?}").starts_with("SendKey"));
    }
}
