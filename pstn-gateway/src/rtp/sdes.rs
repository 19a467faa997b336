//! SDES key exchange (RFC 4568): the `a=crypto` attribute for the one suite the gateway
//! speaks, AES_CM_128_HMAC_SHA1_80 (RFC 4568 section 6.2.1, supported by every trunk and
//! phone that does SDES), with the key inline in base64.
//!
//! The value comes from carriers and from anyone who can reach the SIP port: parsing is
//! strict, bounded and never panics (fuzzed with the SDP parser:
//! `fuzz/fuzz_targets/pstn_sdp.rs`). A line we cannot honour exactly (another suite, an
//! MKI, session parameters such as UNENCRYPTED_SRTP) is not usable, so the caller looks
//! at the next one or refuses the offer; it is never half-applied.
//!
//! Depends on `std` and `base64` only, so the fuzz target includes it by path (new keys
//! are made in [`super::srtp::generate`]).

use base64::Engine as _;

/// The crypto suite offered and accepted.
pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";
/// Master key (16 bytes) followed by master salt (14 bytes).
pub const KEY_SALT_LEN: usize = 30;
/// Longest attribute value read (a usable one is about 70 bytes).
const MAX_LEN: usize = 256;

/// Why an `a=crypto` value is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// Not `tag suite key-params`, or a field is malformed.
    Malformed(&'static str),
    /// Valid syntax, but something the gateway does not do (another suite, MKI, several
    /// keys, session parameters).
    Unsupported(&'static str),
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptoError::Malformed(what) => write!(f, "a=crypto malformed: {what}"),
            CryptoError::Unsupported(what) => write!(f, "a=crypto not supported: {what}"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// One usable `a=crypto` line: its tag and master key and salt.
#[derive(Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// The tag the answer must repeat (RFC 4568 section 5.1).
    pub tag: u32,
    /// Master key then master salt.
    pub key_salt: [u8; KEY_SALT_LEN],
}

impl std::fmt::Debug for CryptoAttribute {
    // The key is a secret: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoAttribute")
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl CryptoAttribute {
    /// The attribute value, `<tag> AES_CM_128_HMAC_SHA1_80 inline:<base64>` (contains
    /// the key: goes into SDP only, never into a log).
    pub fn to_value(&self) -> String {
        let key = base64::engine::general_purpose::STANDARD.encode(self.key_salt);
        format!("{} {SUITE} inline:{key}", self.tag)
    }

    /// Parses an attribute value (what follows `a=crypto:`).
    pub fn parse(value: &str) -> Result<Self, CryptoError> {
        if value.len() > MAX_LEN {
            return Err(CryptoError::Malformed("too long"));
        }
        let mut fields = value.split_ascii_whitespace();
        let (Some(tag), Some(suite), Some(key_params)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(CryptoError::Malformed("fields"));
        };
        // RFC 4568: tag is 1*9DIGIT.
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CryptoError::Malformed("tag"));
        }
        let tag: u32 = tag.parse().map_err(|_| CryptoError::Malformed("tag"))?;
        if suite != SUITE {
            return Err(CryptoError::Unsupported("suite"));
        }
        if fields.next().is_some() {
            // Session parameters (UNENCRYPTED_SRTP, KDR, ...) change what the key means.
            return Err(CryptoError::Unsupported("session parameters"));
        }
        if key_params.contains(';') {
            return Err(CryptoError::Unsupported("several keys"));
        }
        let info = key_params
            .strip_prefix("inline:")
            .ok_or(CryptoError::Malformed("key method"))?;
        let mut parts = info.split('|');
        let key = parts.next().unwrap_or("");
        for part in parts {
            // A lifetime (`2^31` or a number) is fine: a call never gets near it. An
            // MKI (`1:4`) would put bytes in every packet that the SRTP context does not
            // expect.
            if part.contains(':') {
                return Err(CryptoError::Unsupported("MKI"));
            }
            let lifetime_ok = match part.strip_prefix("2^") {
                Some(exp) => exp.parse::<u8>().is_ok_and(|e| e <= 48),
                None => {
                    !part.is_empty() && part.len() <= 15 && part.bytes().all(|b| b.is_ascii_digit())
                }
            };
            if !lifetime_ok {
                return Err(CryptoError::Malformed("lifetime"));
            }
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(key))
            .map_err(|_| CryptoError::Malformed("key base64"))?;
        let key_salt: [u8; KEY_SALT_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::Malformed("key length"))?;
        Ok(CryptoAttribute { tag, key_salt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARESIP_STYLE: &str =
        "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn a_written_attribute_parses_back_to_the_same_key() {
        let ours = CryptoAttribute {
            tag: 7,
            key_salt: std::array::from_fn(|i| i as u8 * 7),
        };
        assert_eq!(CryptoAttribute::parse(&ours.to_value()).unwrap(), ours);
    }

    #[test]
    fn the_rfc_example_with_a_lifetime_is_usable() {
        let a = CryptoAttribute::parse(&format!("{BARESIP_STYLE}|2^20")).unwrap();
        assert_eq!(a.tag, 1);
        assert!(CryptoAttribute::parse(&format!("{BARESIP_STYLE}|1048576")).is_ok());
    }

    #[test]
    fn lines_the_gateway_cannot_honour_are_unsupported() {
        let unsupported =
            |v: &str| matches!(CryptoAttribute::parse(v), Err(CryptoError::Unsupported(_)));
        assert!(unsupported(&BARESIP_STYLE.replace("_80", "_32")));
        assert!(unsupported(&format!("{BARESIP_STYLE}|2^20|1:4")));
        assert!(unsupported(&format!("{BARESIP_STYLE} UNENCRYPTED_SRTP")));
        assert!(unsupported(&format!("{BARESIP_STYLE};inline:AAAA")));
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        for bad in [
            "",
            "1",
            "1 AES_CM_128_HMAC_SHA1_80",
            "x AES_CM_128_HMAC_SHA1_80 inline:AAAA",
            "1234567890 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
            "1 AES_CM_128_HMAC_SHA1_80 uri:https://x",
            "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!",
            "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^99",
            "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|",
        ] {
            assert!(
                matches!(CryptoAttribute::parse(bad), Err(CryptoError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(CryptoAttribute::parse(&"1 ".repeat(200)).is_err());
    }

    #[test]
    fn debug_output_hides_the_key() {
        let a = CryptoAttribute::parse(BARESIP_STYLE).unwrap();
        let debug = format!("{a:?}");
        assert!(
            !debug.contains("key_salt") && !debug.contains('['),
            "{debug}"
        );
    }
}
