//! Post-quantum media keys for 1:1 calls: a hybrid X25519 + ML-KEM-768 key agreement (the
//! X-Wing KEM, `x-wing` crate) whose output keys SFrame on top of DTLS-SRTP.
//!
//! The caller puts an X-Wing encapsulation key in its offer; the callee encapsulates to it
//! and puts the ciphertext in its answer. Both messages are signed by their authors'
//! Nostr keys inside the gift wrap, so a relay cannot swap either share. The shared
//! secret, bound to the call id and both parties' keys, becomes one SFrame base key with
//! a key id per side.
//!
//! What it covers: a recording of the call's media today stays unreadable to whoever later
//! breaks X25519 (and DTLS's ECDHE) with a quantum computer, as long as ML-KEM-768 holds;
//! and to whoever breaks ML-KEM, as long as X25519 holds. What it does not: the Nostr
//! signatures (Schnorr on secp256k1) that authenticate the shares are not post-quantum, so
//! an attacker with a quantum computer *during* the call could impersonate a party; and
//! signaling metadata rides on NIP-44/NIP-59, which is classical.

use std::fmt;

use hkdf::Hkdf;
use kem::{Decapsulator, Encapsulate, Generate, KeyExport, TryDecapsulate, TryKeyInit};
use sha2::{Digest, Sha256};
use x_wing::{DecapsulationKeyRejectNonContrib, EncapsulationKey};
use zeroize::Zeroizing;

use super::sframe::{SframeKey, SframeTransform};
use crate::pipeline::transform::TransformError;

/// Bytes of the caller's share (an X-Wing encapsulation key: ML-KEM-768's 1184, then
/// X25519's 32).
pub const OFFER_SHARE_LEN: usize = x_wing::ENCAPSULATION_KEY_SIZE;
/// Bytes of the callee's share (an X-Wing ciphertext: ML-KEM-768's 1088, then X25519's 32).
pub const ANSWER_SHARE_LEN: usize = x_wing::CIPHERTEXT_SIZE;

/// The KID the caller's frames carry; the callee's is [`CALLEE_KEY_ID`].
pub const CALLER_KEY_ID: u64 = 0;
/// The KID the callee's frames carry.
pub const CALLEE_KEY_ID: u64 = 1;

/// Why a share could not be used. The call goes on without the post-quantum layer only if
/// the user is told; an invalid share from a peer that offered one ends the layer, never
/// silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PqError {
    /// The share is not the size X-Wing's encapsulation key or ciphertext has.
    #[error("post-quantum share of {got} bytes (expected {expected})")]
    WrongLength {
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The caller's share is not a valid ML-KEM-768 encapsulation key.
    #[error("the post-quantum share is not a valid key")]
    InvalidKey,
    /// The callee's ciphertext decapsulated to a degenerate X25519 secret.
    #[error("the post-quantum answer was refused")]
    Refused,
    /// The system's random source failed.
    #[error("no randomness for the post-quantum key")]
    NoRandomness,
}

/// Who the call is between: bound into the derived key so a share cannot be replayed into
/// another call or between other people.
#[derive(Debug, Clone, Copy)]
pub struct CallBinding<'a> {
    /// The call id of the offer.
    pub call_id: &'a str,
    /// The caller's Nostr public key (32 bytes, x-only).
    pub caller: [u8; 32],
    /// The callee's Nostr public key.
    pub callee: [u8; 32],
}

/// The caller's pending half: kept from the offer until the answer arrives.
pub struct PqOffer {
    decapsulation: DecapsulationKeyRejectNonContrib,
    share: Vec<u8>,
}

impl fmt::Debug for PqOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PqOffer").finish_non_exhaustive()
    }
}

impl PqOffer {
    /// A fresh key pair for one call.
    pub fn generate() -> Result<Self, PqError> {
        let decapsulation =
            DecapsulationKeyRejectNonContrib::try_generate().map_err(|_| PqError::NoRandomness)?;
        Ok(Self::from_key(decapsulation))
    }

    fn from_key(decapsulation: DecapsulationKeyRejectNonContrib) -> Self {
        let share = decapsulation.encapsulation_key().to_bytes().to_vec();
        Self {
            decapsulation,
            share,
        }
    }

    /// The share that goes in the offer.
    pub fn share(&self) -> &[u8] {
        &self.share
    }

    /// Takes the callee's share from the answer: the call's media keys.
    pub fn finish(
        self,
        answer_share: &[u8],
        binding: &CallBinding<'_>,
    ) -> Result<CallMediaKeys, PqError> {
        check_len(answer_share, ANSWER_SHARE_LEN)?;
        let ciphertext =
            x_wing::Ciphertext::try_from(answer_share).map_err(|_| PqError::WrongLength {
                got: answer_share.len(),
                expected: ANSWER_SHARE_LEN,
            })?;
        let shared = self
            .decapsulation
            .try_decapsulate(&ciphertext)
            .map_err(|_| PqError::Refused)?;
        Ok(CallMediaKeys::derive(
            &shared,
            &self.share,
            answer_share,
            binding,
        ))
    }
}

/// The callee's side: encapsulates to the caller's share. Returns the share for the
/// answer and the call's media keys.
pub fn respond(
    offer_share: &[u8],
    binding: &CallBinding<'_>,
) -> Result<(Vec<u8>, CallMediaKeys), PqError> {
    check_len(offer_share, OFFER_SHARE_LEN)?;
    let key = EncapsulationKey::new_from_slice(offer_share).map_err(|_| PqError::InvalidKey)?;
    let (ciphertext, shared) = key.encapsulate();
    let answer_share = ciphertext.to_vec();
    let keys = CallMediaKeys::derive(&shared, offer_share, &answer_share, binding);
    Ok((answer_share, keys))
}

fn check_len(share: &[u8], expected: usize) -> Result<(), PqError> {
    if share.len() == expected {
        Ok(())
    } else {
        Err(PqError::WrongLength {
            got: share.len(),
            expected,
        })
    }
}

/// The SFrame keys of a 1:1 call with the post-quantum layer: one base key, the caller's
/// and the callee's key ids.
#[derive(Clone)]
pub struct CallMediaKeys {
    base_key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for CallMediaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallMediaKeys").finish_non_exhaustive()
    }
}

/// Domain separation for the HKDF: names the protocol and its version.
const KDF_LABEL: &[u8] = b"PhantomCall 1:1 SFrame base key v1";

impl CallMediaKeys {
    fn derive(
        shared: &[u8],
        offer_share: &[u8],
        answer_share: &[u8],
        binding: &CallBinding<'_>,
    ) -> Self {
        // X-Wing's secret already binds its X25519 shares; the transcript adds the ML-KEM
        // shares, the call and the two identities.
        let mut info = Vec::with_capacity(KDF_LABEL.len() + 3 * 32 + 64 + binding.call_id.len());
        info.extend_from_slice(KDF_LABEL);
        info.extend_from_slice(&binding.caller);
        info.extend_from_slice(&binding.callee);
        info.extend_from_slice(&Sha256::digest(offer_share));
        info.extend_from_slice(&Sha256::digest(answer_share));
        info.extend_from_slice(binding.call_id.as_bytes());
        let mut base_key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, shared)
            .expand(&info, base_key.as_mut())
            .expect("32 bytes is a valid HKDF-SHA-256 length");
        Self { base_key }
    }

    /// The caller's sending key.
    pub fn caller_key(&self) -> SframeKey {
        SframeKey::new(CALLER_KEY_ID, self.base_key.to_vec())
    }

    /// The callee's sending key.
    pub fn callee_key(&self) -> SframeKey {
        SframeKey::new(CALLEE_KEY_ID, self.base_key.to_vec())
    }

    /// The frame transform for our side of the call: sends under our key id, opens the
    /// other side's.
    pub fn transform(&self, we_called: bool) -> Result<SframeTransform, TransformError> {
        let (ours, theirs) = if we_called {
            (self.caller_key(), self.callee_key())
        } else {
            (self.callee_key(), self.caller_key())
        };
        let transform = SframeTransform::new(&ours)?;
        transform.add_member_key(&theirs)?;
        Ok(transform)
    }

    /// A short digest of the key both sides can compare (shown as the call's safety
    /// number; never the key itself).
    pub fn fingerprint(&self) -> [u8; 8] {
        let digest = Sha256::new()
            .chain_update(b"PhantomCall key fingerprint")
            .chain_update(self.base_key.as_ref())
            .finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        out
    }
}

#[cfg(test)]
#[path = "pq_tests.rs"]
mod tests;
