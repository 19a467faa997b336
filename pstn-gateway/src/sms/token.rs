//! SMS sender tokens: how the gateway names a phone to a hotline without giving its
//! number. A token is our number and the sender's, sealed with ChaCha20-Poly1305 under a
//! key only the gateway holds; the nonce is derived from the two numbers (a
//! synthetic-IV construction), so one phone writing to one number always gets the same
//! token (one conversation at the hotline) and no two pairs share a nonce. A hotline's
//! reply names the token: the gateway opens it, and a token it did not seal does not
//! open, so a hotline can text only phones that texted it.

use chacha20poly1305::aead::Aead;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use hmac::{Hmac, Mac};

use crate::number::E164;

const NONCE: usize = 12;
/// Longest token opened: two E.164 numbers (16 bytes each at most), a separator, the
/// nonce and the tag, in hex.
const MAX_TOKEN_HEX: usize = 2 * (NONCE + 16 + 1 + 16 + 16);

/// Seals and opens sender tokens.
pub struct SenderTokens {
    aead: ChaCha20Poly1305,
    nonce_key: [u8; 32],
}

impl SenderTokens {
    /// Tokens sealed with `seal` and nonces keyed by `nonce_key` (the gateway derives both
    /// from its SMS store's random key, [`crate::sms::SmsStore::derived_key`], so tokens
    /// stay valid across restarts as long as the database does).
    pub fn new(seal: [u8; 32], nonce_key: [u8; 32]) -> Self {
        Self {
            aead: ChaCha20Poly1305::new(Key::from_slice(&seal)),
            nonce_key,
        }
    }

    /// The token for `sender` writing to our number `ours`.
    pub fn seal(&self, ours: &E164, sender: &E164) -> String {
        let plain = format!("{} {}", ours.as_str(), sender.as_str());
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.nonce_key).expect("any key length");
        mac.update(plain.as_bytes());
        let nonce_bytes = mac.finalize().into_bytes();
        let nonce = Nonce::from_slice(&nonce_bytes[..NONCE]);
        let sealed = self
            .aead
            .encrypt(nonce, plain.as_bytes())
            .expect("ChaCha20-Poly1305 seals any short text");
        let mut token = hex_of(&nonce_bytes[..NONCE]);
        token.push_str(&hex_of(&sealed));
        token
    }

    /// Our number and the sender's in `token`; `None` for anything this gateway did not
    /// seal (a wrong key, a changed byte, not hex, too long).
    pub fn open(&self, token: &str) -> Option<(E164, E164)> {
        if token.len() > MAX_TOKEN_HEX {
            return None;
        }
        let bytes = bytes_of(token)?;
        if bytes.len() <= NONCE {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE);
        let plain = self.aead.decrypt(Nonce::from_slice(nonce), sealed).ok()?;
        let plain = String::from_utf8(plain).ok()?;
        let (ours, sender) = plain.split_once(' ')?;
        Some((E164::parse(ours).ok()?, E164::parse(sender).ok()?))
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bytes_of(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(seed: u8) -> SenderTokens {
        SenderTokens::new([seed; 32], [seed ^ 0x55; 32])
    }

    fn n(text: &str) -> E164 {
        E164::parse(text).unwrap()
    }

    #[test]
    fn a_token_opens_to_its_numbers_and_is_the_same_for_the_same_phone() {
        let t = tokens(1);
        let token = t.seal(&n("+15550100101"), &n("+15551234512"));
        assert_eq!(token, t.seal(&n("+15550100101"), &n("+15551234512")));
        assert_ne!(token, t.seal(&n("+15550100101"), &n("+15551234513")));
        assert!(!token.contains("5551234512"), "the number is not readable");
        assert_eq!(t.open(&token), Some((n("+15550100101"), n("+15551234512"))));
    }

    #[test]
    fn a_token_the_gateway_did_not_seal_does_not_open() {
        let token = tokens(1).seal(&n("+15550100101"), &n("+15551234512"));
        assert_eq!(tokens(2).open(&token), None, "another gateway's key");
        let mut changed = token.clone().into_bytes();
        let last = changed.len() - 1;
        changed[last] = if changed[last] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(changed).unwrap();
        for bad in [changed.as_str(), "", "00", "zz", &"0".repeat(4000), "é"] {
            assert_eq!(tokens(1).open(bad), None, "{bad}");
        }
    }
}
