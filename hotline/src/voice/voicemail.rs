//! Voicemail for dispatchers only: a recording is encrypted with a fresh random content key
//! (ChaCha20-Poly1305), and that key is sealed to each enrolled dispatcher with a NIP-44 v2
//! conversation key between a fresh ephemeral secret and the dispatcher's public key. The
//! content key and the ephemeral secret are dropped once sealed, so neither the operator's
//! disk nor the service can play a message afterwards; a dispatcher opens it with their own
//! secret key (docs/decisions.md, "Voicemail").

use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use media::audio::{AudioError, OpusDecoder};
use nostr_sdk::nips::nip44;
use nostr_sdk::{Keys, PublicKey};
use zeroize::Zeroize;

use super::voicemail_wire::{self, VoicemailWire, MAX_VOICEMAIL_BYTES};
use crate::ids::Npub;

/// Why a voicemail could not be sealed, fetched or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoicemailError {
    /// No packets to seal.
    #[error("an empty recording")]
    Empty,
    /// Over [`MAX_VOICEMAIL_BYTES`].
    #[error("a recording over the size bound")]
    TooLarge,
    /// No dispatcher to seal it to.
    #[error("no enrolled dispatcher to seal the voicemail to")]
    NoDispatcher,
    /// No randomness for the keys.
    #[error("no randomness for the voicemail keys")]
    Random,
    /// The content key is not sealed to this key, or the recording was changed.
    #[error("this key cannot open the voicemail")]
    CannotOpen,
    /// What opened is not a recording.
    #[error("malformed voicemail: {0}")]
    Malformed(String),
    /// The hotline has no such voicemail sealed to this dispatcher (deleted, or recorded
    /// before they were enrolled).
    #[error("no such voicemail for this dispatcher")]
    Unavailable,
    /// The hotline did not send it (whole) in time.
    #[error("the voicemail did not arrive in time")]
    Timeout,
    /// The request could not be sent.
    #[error("not sent: {0}")]
    Send(String),
}

/// A sealed recording, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The ephemeral public key (x-only).
    pub ephemeral: [u8; 32],
    /// The recording's nonce.
    pub nonce: [u8; 12],
    /// The encrypted recording, tag included.
    pub audio: Vec<u8>,
    /// The content key sealed to each dispatcher.
    pub sealed: Vec<(Npub, String)>,
}

/// Encrypts `packets` and seals the content key to each of `dispatchers`.
pub fn seal(packets: &[Vec<u8>], dispatchers: &[Npub]) -> Result<Sealed, VoicemailError> {
    let mut plain = voicemail_wire::pack(packets);
    if plain.is_empty() {
        return Err(VoicemailError::Empty);
    }
    let keys_of: Vec<(Npub, PublicKey)> = dispatchers
        .iter()
        .filter_map(|d| PublicKey::from_slice(d.as_bytes()).ok().map(|k| (*d, k)))
        .collect();
    if keys_of.is_empty() {
        return Err(VoicemailError::NoDispatcher);
    }
    let mut content_key = [0u8; 32];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut content_key).map_err(|_| VoicemailError::Random)?;
    getrandom::fill(&mut nonce).map_err(|_| VoicemailError::Random)?;
    let ephemeral = Keys::generate();
    let ephemeral_pub = ephemeral.public_key().to_bytes();
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&content_key));
    let audio = cipher.encrypt(
        Nonce::from_slice(&nonce),
        Payload {
            msg: &plain,
            aad: &ephemeral_pub,
        },
    );
    plain.zeroize();
    let mut key_hex = hex::encode(content_key);
    content_key.zeroize();
    let sealed: Result<Vec<(Npub, String)>, VoicemailError> = keys_of
        .iter()
        .map(|(npub, key)| {
            nip44::encrypt(ephemeral.secret_key(), key, &key_hex, nip44::Version::V2)
                .map(|s| (*npub, s))
                .map_err(|_| VoicemailError::Random)
        })
        .collect();
    key_hex.zeroize();
    drop(ephemeral);
    let audio = audio.map_err(|_| VoicemailError::TooLarge)?;
    if audio.len() > MAX_VOICEMAIL_BYTES {
        return Err(VoicemailError::TooLarge);
    }
    Ok(Sealed {
        ephemeral: ephemeral_pub,
        nonce,
        audio,
        sealed: sealed?,
    })
}

/// Opens a sealed recording with `keys` (a dispatcher's): its Opus packets.
pub fn open(
    keys: &Keys,
    ephemeral: &[u8; 32],
    sealed_key: &str,
    nonce: &[u8; 12],
    audio: &[u8],
) -> Result<Vec<Vec<u8>>, VoicemailError> {
    let ephemeral_key = PublicKey::from_slice(ephemeral).map_err(|_| VoicemailError::CannotOpen)?;
    let mut key_hex = nip44::decrypt(keys.secret_key(), &ephemeral_key, sealed_key)
        .map_err(|_| VoicemailError::CannotOpen)?;
    let mut content_key = [0u8; 32];
    let decoded = hex::decode_to_slice(&key_hex, &mut content_key);
    key_hex.zeroize();
    decoded.map_err(|_| VoicemailError::CannotOpen)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&content_key));
    let plain = cipher.decrypt(
        Nonce::from_slice(nonce),
        Payload {
            msg: audio,
            aad: ephemeral,
        },
    );
    content_key.zeroize();
    let plain = plain.map_err(|_| VoicemailError::CannotOpen)?;
    voicemail_wire::unpack(&plain).map_err(|e| VoicemailError::Malformed(e.to_string()))
}

/// A voicemail as a dispatcher's console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicemailListing {
    /// Its id (to fetch, mark heard, delete).
    pub id: u64,
    /// The opaque caller id, short form (never the caller's npub).
    pub caller: String,
    /// When it was recorded, unix seconds.
    pub recorded_unix_secs: u64,
    /// Its length.
    pub duration: Duration,
    /// Marked heard by a dispatcher.
    pub heard: bool,
}

impl From<&VoicemailWire> for VoicemailListing {
    fn from(w: &VoicemailWire) -> Self {
        Self {
            id: w.id,
            caller: w.caller.clone(),
            recorded_unix_secs: w.recorded_unix_secs,
            duration: Duration::from_millis(u64::from(w.duration_ms)),
            heard: w.heard,
        }
    }
}

impl From<&crate::store::VoicemailRow> for VoicemailWire {
    fn from(row: &crate::store::VoicemailRow) -> Self {
        Self {
            id: row.id,
            caller: row.caller_id.short(),
            recorded_unix_secs: row.recorded_ms / 1000,
            duration_ms: row.duration_ms,
            heard: row.heard,
        }
    }
}

/// A voicemail fetched and opened by a dispatcher's client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voicemail {
    /// Its id.
    pub id: u64,
    /// The opaque caller id, short form.
    pub caller: String,
    /// When it was recorded, unix seconds.
    pub recorded_unix_secs: u64,
    /// Its length.
    pub duration: Duration,
    /// The recording: Opus packets of 20 ms, in order.
    pub packets: Vec<Vec<u8>>,
}

impl Voicemail {
    /// The recording as 48 kHz mono PCM (to play through a speaker).
    pub fn decode(&self) -> Result<Vec<i16>, AudioError> {
        let mut decoder = OpusDecoder::new()?;
        let mut out = Vec::with_capacity(self.packets.len() * media::audio::FRAME_SAMPLES);
        for packet in &self.packets {
            // A packet that does not decode is concealed, as a lost one would be.
            match decoder.decode(Some(packet)) {
                Ok(samples) => out.extend(samples),
                Err(_) => out.extend(decoder.decode(None)?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npub(keys: &Keys) -> Npub {
        Npub::from_bytes(keys.public_key().to_bytes())
    }

    #[test]
    fn each_enrolled_dispatcher_opens_it_and_no_one_else_does() {
        let (d1, d2, stranger) = (Keys::generate(), Keys::generate(), Keys::generate());
        let packets = vec![vec![0xfc, 1, 2, 3], vec![0xfc, 4, 5]];
        let s = seal(&packets, &[npub(&d1), npub(&d2)]).unwrap();
        assert_eq!(s.sealed.len(), 2);
        for (keys, (who, sealed)) in [&d1, &d2].into_iter().zip(&s.sealed) {
            assert_eq!(*who, npub(keys));
            assert_eq!(
                open(keys, &s.ephemeral, sealed, &s.nonce, &s.audio).unwrap(),
                packets
            );
        }
        // The stranger cannot open any sealed key, nor d2 the one sealed to d1.
        for (_, sealed) in &s.sealed {
            assert_eq!(
                open(&stranger, &s.ephemeral, sealed, &s.nonce, &s.audio),
                Err(VoicemailError::CannotOpen)
            );
        }
        assert!(open(&d2, &s.ephemeral, &s.sealed[0].1, &s.nonce, &s.audio).is_err());
        // A changed recording or a swapped ephemeral key does not open.
        let mut changed = s.audio.clone();
        changed[0] ^= 1;
        assert!(open(&d1, &s.ephemeral, &s.sealed[0].1, &s.nonce, &changed).is_err());
        let other = Keys::generate().public_key().to_bytes();
        assert!(open(&d1, &other, &s.sealed[0].1, &s.nonce, &s.audio).is_err());
    }

    #[test]
    fn nothing_is_sealed_without_audio_or_dispatchers() {
        let d = Keys::generate();
        assert_eq!(seal(&[], &[npub(&d)]), Err(VoicemailError::Empty));
        assert_eq!(seal(&[vec![1]], &[]), Err(VoicemailError::NoDispatcher));
    }
}
