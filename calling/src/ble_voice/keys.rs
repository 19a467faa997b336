//! The call's Bluetooth voice keys: an ephemeral X25519 key per side, whose public half
//! travels in the gift-wrapped offer and answer as an SDP attribute line
//!
//! ```text
//! a=x-phantomcall-ble-voice:<32 bytes, base64url without padding (43 characters)>
//! ```
//!
//! and, from the shared secret, one ChaCha20-Poly1305 key per direction:
//! HKDF-SHA-256 with the call id as salt and an info that names the protocol, the
//! direction and both shares (so a share cannot be moved into another call, and the two
//! directions never share a key, hence never a nonce).
//!
//! The offer and answer are signed by their authors inside the gift wrap, so whoever
//! runs the Bluetooth link cannot swap a share: the link is never trusted with the key.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{EphemeralSecret, PublicKey};
use zeroize::Zeroizing;

use super::crypto::{RecvKey, SendKey};

/// The SDP attribute's name.
pub const SDP_ATTRIBUTE: &str = "x-phantomcall-ble-voice";
/// The whole prefix of the attribute line.
const LINE_PREFIX: &str = "a=x-phantomcall-ble-voice:";
/// Characters of 32 bytes in base64url without padding.
const SHARE_CHARS: usize = 43;

/// HKDF info prefix: names the protocol and its version.
const KDF_LABEL: &[u8] = b"PhantomCall BLE voice v1";
const CALLER_TO_CALLEE: &[u8] = b" caller to callee";
const CALLEE_TO_CALLER: &[u8] = b" callee to caller";

/// Which side of the call we are (who sent the offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the offer.
    Caller,
    /// We sent the answer.
    Callee,
}

/// Why a share or an attribute line was refused. Any of these ends the Bluetooth voice
/// path for the call (there is no unencrypted fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The line is not `a=x-phantomcall-ble-voice:` and 43 base64url characters.
    #[error("malformed Bluetooth voice key attribute")]
    Malformed,
    /// The description carries the attribute more than once.
    #[error("the Bluetooth voice key attribute appears more than once")]
    Duplicate,
    /// The peer's share is our own (a reflection).
    #[error("the peer's Bluetooth voice share is our own")]
    Reflected,
    /// The share is a low-order point: the shared secret would be known to anyone.
    #[error("the peer's Bluetooth voice share is not a usable key")]
    NotContributory,
}

/// Our ephemeral key for one call, kept from our offer (or answer) until the peer's
/// share is known; [`BleVoiceKeys::agree`] consumes it.
pub struct BleVoiceKeys {
    secret: EphemeralSecret,
    public: PublicKey,
}

impl fmt::Debug for BleVoiceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BleVoiceKeys").finish_non_exhaustive()
    }
}

impl BleVoiceKeys {
    /// A fresh key pair from the system's random source.
    pub fn generate() -> Self {
        let secret = EphemeralSecret::random();
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }

    /// Our public share, for the offer or the answer.
    pub fn public_share(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// Our share as the SDP attribute line (without line ending).
    pub fn sdp_line(&self) -> String {
        encode_sdp_attribute(&self.public_share())
    }

    /// The session's keys from the peer's share, for `call_id`, as `role`.
    pub fn agree(
        self,
        peer_share: &[u8; 32],
        call_id: &str,
        role: Role,
    ) -> Result<SessionKeys, KeyError> {
        let ours = self.public_share();
        if *peer_share == ours {
            return Err(KeyError::Reflected);
        }
        let shared = self.secret.diffie_hellman(&PublicKey::from(*peer_share));
        if !shared.was_contributory() {
            return Err(KeyError::NotContributory);
        }
        let (caller, callee) = match role {
            Role::Caller => (&ours, peer_share),
            Role::Callee => (peer_share, &ours),
        };
        Ok(SessionKeys::derive(
            shared.as_bytes(),
            call_id,
            caller,
            callee,
            role,
        ))
    }
}

/// The two directional keys of one call, as one side holds them.
#[derive(Debug)]
pub struct SessionKeys {
    /// Seals what we send.
    pub send: SendKey,
    /// Opens what the peer sends.
    pub recv: RecvKey,
}

impl SessionKeys {
    /// HKDF-SHA-256 (salt: the call id) of `shared` into the caller-to-callee and
    /// callee-to-caller keys, handed out as `role` uses them.
    pub(crate) fn derive(
        shared: &[u8; 32],
        call_id: &str,
        caller_share: &[u8; 32],
        callee_share: &[u8; 32],
        role: Role,
    ) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(call_id.as_bytes()), shared);
        let key = |direction: &[u8]| {
            let mut info = Vec::with_capacity(KDF_LABEL.len() + direction.len() + 64);
            info.extend_from_slice(KDF_LABEL);
            info.extend_from_slice(direction);
            info.extend_from_slice(caller_share);
            info.extend_from_slice(callee_share);
            let mut out = Zeroizing::new([0u8; 32]);
            hkdf.expand(&info, out.as_mut())
                .expect("32 bytes is a valid HKDF-SHA-256 length");
            out
        };
        let (to_callee, to_caller) = (key(CALLER_TO_CALLEE), key(CALLEE_TO_CALLER));
        let (send, recv) = match role {
            Role::Caller => (&to_callee, &to_caller),
            Role::Callee => (&to_caller, &to_callee),
        };
        Self {
            send: SendKey::new(send),
            recv: RecvKey::new(recv),
        }
    }
}

/// `a=x-phantomcall-ble-voice:<base64url>` for `share`.
pub fn encode_sdp_attribute(share: &[u8; 32]) -> String {
    format!("{LINE_PREFIX}{}", URL_SAFE_NO_PAD.encode(share))
}

/// Reads one attribute line (a trailing `\r` is allowed; nothing else around it):
/// exactly 43 base64url characters in canonical form, no padding, no whitespace.
pub fn parse_sdp_attribute(line: &str) -> Result<[u8; 32], KeyError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let value = line.strip_prefix(LINE_PREFIX).ok_or(KeyError::Malformed)?;
    if value.len() != SHARE_CHARS
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(KeyError::Malformed);
    }
    // The engine refuses non-zero trailing bits, so each share has one spelling.
    let bytes = URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| KeyError::Malformed)?;
    bytes.try_into().map_err(|_| KeyError::Malformed)
}

/// Finds the attribute in a whole description: `Ok(None)` when absent (the peer does not
/// offer Bluetooth voice), an error when it is malformed or appears twice.
pub fn find_sdp_attribute(sdp: &str) -> Result<Option<[u8; 32]>, KeyError> {
    let name = format!("a={SDP_ATTRIBUTE}");
    let mut found = None;
    for line in sdp.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // Ours: the exact name, with its value (a bare name is malformed). Other
        // attributes that merely start alike are someone else's.
        if line != name && !line.starts_with(LINE_PREFIX) {
            continue;
        }
        let share = parse_sdp_attribute(line)?;
        if found.replace(share).is_some() {
            return Err(KeyError::Duplicate);
        }
    }
    Ok(found)
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
