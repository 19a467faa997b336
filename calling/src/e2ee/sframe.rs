//! [`SframeTransform`]: RFC 9605 frame encryption as a [`FrameTransform`] (the `sframe`
//! crate, ring backend, AES-128-GCM with SHA-256 by default).
//!
//! Each sender has its own key id (KID): ours encrypts what we send, the members' ids
//! select the key an incoming frame is decrypted with (RFC 9605 section 5.2: per-sender
//! KIDs under one base key per epoch). A frame under a key we do not hold, or that fails
//! authentication, is refused before the decoder; a frame seen before (same KID and
//! counter) is refused as a replay.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, RwLock};

use sframe::error::SframeError;
use sframe::frame::validation::{ReplayAttackProtectionStore, Tolerance};
use sframe::frame::{EncryptedFrameView, MediaFrameView, MonotonicCounter};
use sframe::header::KeyId;
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::CipherSuite;
use zeroize::Zeroizing;

use crate::pipeline::transform::{FrameKind, FrameTransform, TransformError};

/// The cipher suite of PhantomCall's SFrame: AES-128-GCM, HKDF-SHA-256, 128-bit tag (RFC
/// 9605's `AES_128_GCM_SHA256_128`, the one every implementation has).
pub const SFRAME_SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

/// How far back in counter order a frame may arrive and still be taken (reordered RTP
/// frames; a video frame's packets come together, so a small window suffices).
const REPLAY_TOLERANCE: usize = 128;

/// One sender's SFrame key: its key id and the secret it is derived from (a base key from
/// the MLS exporter, or from the 1:1 call's key agreement).
#[derive(Clone)]
pub struct SframeKey {
    /// The KID frames under this key carry.
    pub key_id: u64,
    /// The key material (wiped when dropped).
    pub secret: Zeroizing<Vec<u8>>,
}

impl SframeKey {
    /// A key for `key_id` from `secret`.
    pub fn new(key_id: u64, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            key_id,
            secret: Zeroizing::new(secret.into()),
        }
    }
}

impl fmt::Debug for SframeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("SframeKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

struct Sending {
    key: EncryptionKey,
    counter: MonotonicCounter,
}

struct Receiving {
    keys: HashMap<KeyId, DecryptionKey>,
    replay: ReplayAttackProtectionStore,
}

/// SFrame on every frame of a call, both ways.
pub struct SframeTransform {
    sending: Mutex<Sending>,
    receiving: RwLock<Receiving>,
}

impl fmt::Debug for SframeTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SframeTransform").finish_non_exhaustive()
    }
}

fn encryption_key(key: &SframeKey) -> Result<EncryptionKey, TransformError> {
    EncryptionKey::derive_from(SFRAME_SUITE, key.key_id, key.secret.as_slice())
        .map_err(|_| TransformError::NoKey)
}

impl SframeTransform {
    /// Encrypts what we send under `ours`; decrypts nothing until members' keys are added.
    pub fn new(ours: &SframeKey) -> Result<Self, TransformError> {
        Ok(Self {
            sending: Mutex::new(Sending {
                key: encryption_key(ours)?,
                counter: MonotonicCounter::default(),
            }),
            receiving: RwLock::new(Receiving {
                keys: HashMap::new(),
                replay: ReplayAttackProtectionStore::new(Tolerance::new(REPLAY_TOLERANCE)),
            }),
        })
    }

    /// Sends under `ours` from the next frame on (a new epoch). The counter starts again:
    /// a counter must be unique per key, not across keys.
    pub fn set_own_key(&self, ours: &SframeKey) -> Result<(), TransformError> {
        let key = encryption_key(ours)?;
        let mut sending = self.sending.lock().expect("sframe sending lock");
        *sending = Sending {
            key,
            counter: MonotonicCounter::default(),
        };
        Ok(())
    }

    /// Takes frames under `member`'s key from now on. A key replacing one under the same
    /// KID starts that KID's replay window afresh (its sender's counter restarted); a new
    /// epoch should rather come with a new KID, so frames of the old one still in flight
    /// decrypt.
    pub fn add_member_key(&self, member: &SframeKey) -> Result<(), TransformError> {
        let key = DecryptionKey::derive_from(SFRAME_SUITE, member.key_id, member.secret.as_slice())
            .map_err(|_| TransformError::NoKey)?;
        let key_id = KeyId::from(member.key_id);
        let mut receiving = self.receiving.write().expect("sframe receiving lock");
        if receiving.keys.insert(key_id, key).is_some() {
            receiving.replay.remove(key_id);
        }
        Ok(())
    }

    /// Refuses frames under `key_id` from now on (a member left, an epoch ended).
    pub fn remove_member_key(&self, key_id: u64) {
        let key_id = KeyId::from(key_id);
        let mut receiving = self.receiving.write().expect("sframe receiving lock");
        receiving.keys.remove(&key_id);
        receiving.replay.remove(key_id);
    }
}

impl FrameTransform for SframeTransform {
    fn outgoing(&self, _kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        let mut sending = self.sending.lock().expect("sframe sending lock");
        let Sending { key, counter } = &mut *sending;
        let media = MediaFrameView::try_new(counter, &frame).map_err(|_| TransformError::NoKey)?;
        let mut out = Vec::with_capacity(frame.len() + 32);
        media
            .encrypt_into(key, &mut out)
            .map_err(|_| TransformError::NoKey)?;
        Ok(out)
    }

    fn incoming(&self, _kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        let encrypted =
            EncryptedFrameView::try_new(&frame).map_err(|_| TransformError::Unauthenticated)?;
        // A write lock: the replay window records every frame that decrypts.
        let mut receiving = self.receiving.write().expect("sframe receiving lock");
        let Receiving { keys, replay } = &mut *receiving;
        if !keys.contains_key(&encrypted.header().key_id()) {
            return Err(TransformError::NoKey);
        }
        let mut out = Vec::with_capacity(frame.len());
        let media = encrypted
            .validated_decrypt_into(&*keys, &mut out, replay)
            .map_err(|error| match error {
                SframeError::FrameValidationFailed(_) => TransformError::Replayed,
                SframeError::MissingDecryptionKey { .. } => TransformError::NoKey,
                _ => TransformError::Unauthenticated,
            })?;
        Ok(media.payload().to_vec())
    }
}

#[cfg(test)]
#[path = "sframe_tests.rs"]
mod tests;
