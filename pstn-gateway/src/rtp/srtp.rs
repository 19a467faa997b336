//! SRTP for the RTP leg (RFC 3711) with SDES keys ([`super::sdes`]): which `a=crypto`
//! line of the peer's SDP to use under a trunk's [`SrtpMode`], and the protect/unprotect
//! contexts of one call (webrtc-rs's `rtc-srtp`, ring-backed).
//!
//! Rules: `Required` refuses SDP without a usable line (the caller answers 488 or ends the
//! call), never plain RTP; `Optional` uses SRTP when the peer offers a usable line and
//! plain RTP otherwise; `Off` ignores `a=crypto` and refuses an RTP/SAVP stream (plain
//! RTP toward a peer that only accepts SRTP would be dropped or, worse, sent in clear).

use rtc_srtp::context::Context;
use rtc_srtp::option::srtp_replay_protection;
use rtc_srtp::protection_profile::ProtectionProfile;

use super::sdes::{CryptoAttribute, KEY_SALT_LEN};
use crate::config::SrtpMode;
use crate::sdp::{LocalCrypto, SdpError, SessionDescription};

/// Master key length of AES_CM_128_HMAC_SHA1_80; the rest of the 30 bytes is the salt.
const MASTER_KEY_LEN: usize = 16;
/// Replay window (packets), as libsrtp's default.
const REPLAY_WINDOW: usize = 128;

/// Picks the peer's key from its SDP under `mode`: `Ok(None)` means plain RTP.
pub fn pick(
    mode: SrtpMode,
    peer: &SessionDescription,
) -> Result<Option<CryptoAttribute>, SdpError> {
    let usable = || {
        peer.crypto
            .iter()
            .find_map(|value| CryptoAttribute::parse(value).ok())
    };
    match mode {
        SrtpMode::Off if peer.savp => Err(SdpError::NoUsableCrypto),
        SrtpMode::Off => Ok(None),
        SrtpMode::Optional => match usable() {
            Some(found) => Ok(Some(found)),
            None if peer.savp => Err(SdpError::NoUsableCrypto),
            None => Ok(None),
        },
        SrtpMode::Required => usable().map(Some).ok_or(SdpError::NoUsableCrypto),
    }
}

/// A fresh key with `tag`, from the operating system's CSPRNG (rand's `ThreadRng`, a
/// ChaCha CSPRNG seeded and reseeded from the OS).
pub fn generate(tag: u32) -> CryptoAttribute {
    let mut key_salt = [0u8; KEY_SALT_LEN];
    rand::Rng::fill(&mut rand::rng(), &mut key_salt[..]);
    CryptoAttribute { tag, key_salt }
}

/// Our answer's key to a peer's picked one (same tag, same profile as the offer), and
/// the call's SRTP contexts.
pub fn answer(remote: CryptoAttribute, savp: bool) -> Result<(LocalCrypto, SrtpSession), String> {
    let local = generate(remote.tag);
    let ours = LocalCrypto {
        attribute: local.to_value(),
        savp,
    };
    Ok((ours, SrtpSession::new(&SrtpKeys { local, remote })?))
}

/// Our offer's key under `mode` (`None` when SRTP is off): RTP/SAVP when required, RTP/AVP
/// with the key when optional, so a peer without SRTP can still answer.
pub fn offer(mode: SrtpMode) -> Option<(LocalCrypto, CryptoAttribute)> {
    let local = generate(1);
    let savp = match mode {
        SrtpMode::Off => return None,
        SrtpMode::Optional => false,
        SrtpMode::Required => true,
    };
    let ours = LocalCrypto {
        attribute: local.to_value(),
        savp,
    };
    Some((ours, local))
}

/// Our key and the peer's, once both are known.
#[derive(Clone)]
pub struct SrtpKeys {
    /// Protects what we send (ours, offered or answered in our SDP).
    pub local: CryptoAttribute,
    /// Unprotects what we receive (the peer's).
    pub remote: CryptoAttribute,
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrtpKeys(..)")
    }
}

/// The two SRTP contexts of one call.
pub struct SrtpSession {
    outbound: Context,
    inbound: Context,
}

fn context(key: &[u8; KEY_SALT_LEN], replay: bool) -> Result<Context, String> {
    let crypto = rtc_crypto::providers::RingCrypto;
    let option = replay.then(|| srtp_replay_protection(REPLAY_WINDOW));
    Context::new(
        &key[..MASTER_KEY_LEN],
        &key[MASTER_KEY_LEN..],
        ProtectionProfile::Aes128CmHmacSha1_80,
        option,
        None,
        &crypto,
    )
    .map_err(|e| e.to_string())
}

impl SrtpSession {
    /// Contexts from both keys.
    pub fn new(keys: &SrtpKeys) -> Result<Self, String> {
        Ok(SrtpSession {
            outbound: context(&keys.local.key_salt, false)?,
            // Replay protection on receive: a captured packet replayed is dropped.
            inbound: context(&keys.remote.key_salt, true)?,
        })
    }

    /// An RTP packet protected for sending (`None`: it could not be, e.g. not RTP).
    pub fn protect(&mut self, rtp: &[u8]) -> Option<Vec<u8>> {
        self.outbound.encrypt_rtp(rtp).ok().map(|b| b.to_vec())
    }

    /// A received SRTP packet checked and decrypted (`None`: forged, replayed, garbage).
    pub fn unprotect(&mut self, srtp: &[u8]) -> Option<Vec<u8>> {
        self.inbound.decrypt_rtp(srtp).ok().map(|b| b.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::packet::RtpPacket;

    fn offer(savp: bool, crypto: &[&str]) -> SessionDescription {
        let mut sdp = format!(
            "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/{}AVP 0\r\n",
            if savp { "S" } else { "" }
        );
        for line in crypto {
            sdp += &format!("a=crypto:{line}\r\n");
        }
        crate::sdp::parse(sdp.as_bytes()).unwrap()
    }

    #[test]
    fn required_refuses_sdp_without_a_usable_key() {
        let ours = generate(3).to_value();
        assert_eq!(
            pick(SrtpMode::Required, &offer(false, &[])),
            Err(SdpError::NoUsableCrypto)
        );
        let other_suite = ours.replace("_80", "_32");
        assert_eq!(
            pick(SrtpMode::Required, &offer(true, &[&other_suite])),
            Err(SdpError::NoUsableCrypto)
        );
        let picked = pick(SrtpMode::Required, &offer(true, &[&other_suite, &ours])).unwrap();
        assert_eq!(picked.map(|c| c.tag), Some(3));
    }

    #[test]
    fn optional_falls_back_only_for_plain_rtp_offers() {
        assert_eq!(pick(SrtpMode::Optional, &offer(false, &[])), Ok(None));
        assert_eq!(
            pick(SrtpMode::Optional, &offer(true, &[])),
            Err(SdpError::NoUsableCrypto)
        );
        let key = generate(1).to_value();
        assert!(pick(SrtpMode::Optional, &offer(false, &[&key]))
            .unwrap()
            .is_some());
    }

    #[test]
    fn off_ignores_keys_but_refuses_savp() {
        let key = generate(1).to_value();
        assert_eq!(pick(SrtpMode::Off, &offer(false, &[&key])), Ok(None));
        assert_eq!(
            pick(SrtpMode::Off, &offer(true, &[&key])),
            Err(SdpError::NoUsableCrypto)
        );
    }

    fn rtp(seq: u16) -> Vec<u8> {
        RtpPacket {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: 160 * u32::from(seq),
            ssrc: 0x1234,
            payload: &[0x55; 160],
        }
        .to_bytes()
    }

    #[test]
    fn packets_protected_by_one_side_unprotect_on_the_other_once() {
        let a = generate(1);
        let b = generate(1);
        let mut alice = SrtpSession::new(&SrtpKeys {
            local: a.clone(),
            remote: b.clone(),
        })
        .unwrap();
        let mut bob = SrtpSession::new(&SrtpKeys {
            local: b,
            remote: a,
        })
        .unwrap();
        let sent = alice.protect(&rtp(7)).unwrap();
        assert_ne!(&sent[12..172], &rtp(7)[12..], "the payload is encrypted");
        assert_eq!(bob.unprotect(&sent), Some(rtp(7)));
        assert_eq!(bob.unprotect(&sent), None, "a replay is dropped");
        let mut forged = alice.protect(&rtp(8)).unwrap();
        forged[20] ^= 1;
        assert_eq!(
            bob.unprotect(&forged),
            None,
            "a changed packet fails its tag"
        );
        assert_eq!(bob.unprotect(b"not rtp"), None);
    }
}
