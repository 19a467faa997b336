//! Identifiers: npubs (strictly checked), the opaque per-hotline caller id, entry and call
//! ids. Caller keys and the caller-id secret have no revealing `Debug`: logs and views must
//! never carry a caller's npub by accident.

use std::fmt;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A Nostr public key (32-byte x-only key), as an npub names it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Npub([u8; 32]);

/// Why a string is not an npub.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NpubError {
    /// Not bech32 with a valid checksum (bech32m and mixed case are refused too).
    #[error("not a valid bech32 string")]
    Bech32,
    /// Bech32, but for something other than a public key (`nsec`, `note`, …).
    #[error("expected an npub, found the prefix {0:?}")]
    WrongPrefix(String),
    /// An npub must carry exactly 32 bytes.
    #[error("an npub carries 32 bytes, this one {0}")]
    WrongLength(usize),
}

impl Npub {
    /// The key from its 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses a bech32 `npub1…` strictly: plain bech32 checksum (NIP-19), the `npub`
    /// prefix, 32 bytes.
    pub fn parse(text: &str) -> Result<Self, NpubError> {
        let checked =
            CheckedHrpstring::new::<Bech32>(text.trim()).map_err(|_| NpubError::Bech32)?;
        let hrp = checked.hrp();
        if hrp.to_lowercase() != "npub" {
            return Err(NpubError::WrongPrefix(hrp.to_lowercase()));
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| NpubError::WrongLength(bytes.len()))?;
        Ok(Self(array))
    }

    /// The `npub1…` form.
    pub fn to_bech32(&self) -> String {
        let hrp = Hrp::parse_unchecked("npub");
        // Encoding 32 bytes under a fixed valid prefix cannot fail.
        bech32::encode::<Bech32>(hrp, &self.0).unwrap_or_default()
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Dispatcher npubs are staff identities and may appear in logs, shortened.
impl fmt::Debug for Npub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = self.to_bech32();
        write!(f, "{}…", &full[..12.min(full.len())])
    }
}

/// A caller's npub, kept only in the entry that needs it to re-ring or call back. `Debug`
/// never shows it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallerKey(Npub);

impl CallerKey {
    /// Wraps the caller's key.
    pub const fn new(npub: Npub) -> Self {
        Self(npub)
    }

    /// The key, for the driver that must address the caller (re-offer, callback).
    pub fn npub(&self) -> Npub {
        self.0
    }
}

impl fmt::Debug for CallerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallerKey(redacted)")
    }
}

/// The per-hotline secret that keys caller ids. No `Debug`, no `Display`.
#[derive(Clone)]
pub struct CallerIdKey([u8; 32]);

impl CallerIdKey {
    /// The secret from its bytes (kept by the store).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw secret, for the store that keeps it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The opaque id of `caller` on this hotline: HMAC-SHA256(secret, npub bytes), first
    /// 16 bytes. Stable for one hotline, unlinkable across hotlines, and not reversible to
    /// the npub without the secret (a plain hash of a public key would be: anyone can hash
    /// a list of known npubs and compare).
    pub fn caller_id(&self, caller: &Npub) -> CallerId {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(b"phantomcall-hotline-caller-id-v1");
        mac.update(caller.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut id = [0u8; 16];
        id.copy_from_slice(&out[..16]);
        CallerId(id)
    }

    /// The opaque id of the telephone `phone` calling through the phone gateway
    /// `gateway`: keyed like [`Self::caller_id`] (so not linkable to the gateway's
    /// reference without this hotline's secret), distinct per gateway and per phone.
    pub fn phone_caller_id(
        &self,
        gateway: &Npub,
        phone: &phantomcall_schemas::PhoneRef,
    ) -> CallerId {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(b"phantomcall-hotline-phone-caller-id-v1");
        mac.update(gateway.as_bytes());
        mac.update(phone.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut id = [0u8; 16];
        id.copy_from_slice(&out[..16]);
        CallerId(id)
    }
}

/// An opaque per-hotline caller id (see [`CallerIdKey::caller_id`]). What the console,
/// the stats and the store use instead of npubs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallerId([u8; 16]);

impl CallerId {
    /// From the stored bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Full lowercase hex (32 characters), the form an operator copies to block a caller.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the full hex form.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text.trim()).ok()?;
        Some(Self(bytes.as_slice().try_into().ok()?))
    }

    /// The short form shown on the console: `c-` and 12 hex digits.
    pub fn short(&self) -> String {
        format!("c-{}", hex::encode(&self.0[..6]))
    }
}

impl fmt::Debug for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl fmt::Display for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

/// A queue entry's id: increasing, never reused (also across restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u64);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The id of the caller's call to the hotline (NIP-AC call id). `Debug` shortens it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub String);

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short: String = self.0.chars().take(8).collect();
        write!(f, "CallId({short}…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npub_round_trips_and_strict_parsing_refuses_lookalikes() {
        let key = Npub::from_bytes([7; 32]);
        let text = key.to_bech32();
        assert!(text.starts_with("npub1"));
        assert_eq!(Npub::parse(&text), Ok(key));
        assert_eq!(Npub::parse(&text.to_uppercase()), Ok(key));
        // one character changed: checksum fails
        let mut broken = text.clone().into_bytes();
        let last = broken.len() - 1;
        broken[last] = if broken[last] == b'q' { b'p' } else { b'q' };
        assert_eq!(
            Npub::parse(std::str::from_utf8(&broken).unwrap()),
            Err(NpubError::Bech32)
        );
        let nsec = bech32::encode::<Bech32>(Hrp::parse_unchecked("nsec"), &[7; 32]).unwrap();
        assert_eq!(
            Npub::parse(&nsec),
            Err(NpubError::WrongPrefix("nsec".into()))
        );
        let short = bech32::encode::<Bech32>(Hrp::parse_unchecked("npub"), &[7; 31]).unwrap();
        assert_eq!(Npub::parse(&short), Err(NpubError::WrongLength(31)));
        let m = bech32::encode::<bech32::Bech32m>(Hrp::parse_unchecked("npub"), &[7; 32]).unwrap();
        assert_eq!(Npub::parse(&m), Err(NpubError::Bech32));
    }

    #[test]
    fn caller_ids_depend_on_the_hotline_secret() {
        let caller = Npub::from_bytes([1; 32]);
        let a = CallerIdKey::from_bytes([2; 32]).caller_id(&caller);
        let b = CallerIdKey::from_bytes([3; 32]).caller_id(&caller);
        assert_ne!(a, b);
        assert_eq!(a, CallerIdKey::from_bytes([2; 32]).caller_id(&caller));
        assert_eq!(CallerId::from_hex(&a.to_hex()), Some(a));
        assert!(!format!("{:?}", CallerKey::new(caller)).contains(&caller.to_hex()[..8]));
    }
}
