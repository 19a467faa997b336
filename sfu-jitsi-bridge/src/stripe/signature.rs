//! The `Stripe-Signature` header: parsing and verification.
//!
//! The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`; other schemes (`v0`, future ones)
//! are ignored. Each `v1` is `HMAC-SHA256(key = endpoint secret, "{t}.{raw body}")` in hex;
//! during a secret roll Stripe sends one per active secret, and a match with any of them is
//! enough. The comparison is constant-time (`hmac`'s `verify_slice`). A timestamp more than
//! [`TOLERANCE_SECS`] from now, either way, is refused even when the signature matches, so a
//! captured delivery cannot be replayed later (the event-id check catches replays inside the
//! window).
//!
//! This file depends only on `std`, `hmac`, `sha2`, `hex` and `thiserror`, so the fuzz crate
//! compiles it on its own.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's SDK default tolerance (`DEFAULT_TOLERANCE` in stripe-node).
pub const TOLERANCE_SECS: i64 = 300;
/// Longest header read; a real one is under 200 bytes, a secret roll adds 68 per signature.
pub const MAX_HEADER_LEN: usize = 4096;
/// Most `v1` signatures considered.
pub const MAX_SIGNATURES: usize = 16;

/// A parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    /// The `v1` signatures that are well-formed (64 hex digits); malformed ones cannot match
    /// and are dropped.
    pub v1: Vec<[u8; 32]>,
}

/// Why a delivery's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Stripe-Signature header longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("Stripe-Signature header malformed: {0}")]
    Malformed(&'static str),
    #[error("Stripe-Signature header has no t= timestamp")]
    NoTimestamp,
    #[error("Stripe-Signature header has no v1 signature")]
    NoSignature,
    #[error("no v1 signature matches the payload under the endpoint secret")]
    Mismatch,
    #[error("Stripe-Signature timestamp is more than {TOLERANCE_SECS} s from now")]
    Stale,
    #[error("the webhook endpoint secret is empty")]
    NoSecret,
}

/// Parses the header value.
pub fn parse_header(value: &str) -> Result<SignatureHeader, SignatureError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(SignatureError::TooLong);
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let item = item.trim_matches(|c: char| c == ' ' || c == '\t');
        let Some((key, val)) = item.split_once('=') else {
            return Err(SignatureError::Malformed("an item without '='"));
        };
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed("two timestamps"));
                }
                timestamp = Some(parse_timestamp(val)?);
            }
            "v1" => {
                if v1.len() == MAX_SIGNATURES {
                    return Err(SignatureError::Malformed("too many signatures"));
                }
                let mut sig = [0u8; 32];
                if val.len() == 64 && hex::decode_to_slice(val, &mut sig).is_ok() {
                    v1.push(sig);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if v1.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    Ok(SignatureHeader { timestamp, v1 })
}

/// Decimal Unix seconds without sign or leading zero, so the text signed is the number's
/// canonical form.
fn parse_timestamp(val: &str) -> Result<i64, SignatureError> {
    let bad = SignatureError::Malformed("timestamp is not a plain decimal number");
    if val.is_empty() || val.len() > 12 || !val.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad);
    }
    if val.len() > 1 && val.starts_with('0') {
        return Err(bad);
    }
    val.parse().map_err(|_| bad)
}

/// The `v1` signature of `payload` at `timestamp` under `secret`, as Stripe computes it.
pub fn sign(payload: &[u8], timestamp: i64, secret: &str) -> [u8; 32] {
    mac(payload, timestamp, secret)
        .finalize()
        .into_bytes()
        .into()
}

fn mac(payload: &[u8], timestamp: i64, secret: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Verifies a delivery: the header parses, one `v1` matches `payload` under `secret`, and the
/// timestamp is within [`TOLERANCE_SECS`] of `now` (Unix seconds). Returns the timestamp.
pub fn verify(payload: &[u8], header: &str, secret: &str, now: i64) -> Result<i64, SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let parsed = parse_header(header)?;
    let expected = mac(payload, parsed.timestamp, secret);
    if !parsed
        .v1
        .iter()
        .any(|sig| expected.clone().verify_slice(sig).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    if (now - parsed.timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    Ok(parsed.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_timestamp_and_every_v1() {
        let a = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
        let b = "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39";
        let h = parse_header(&format!("t=1492774577,v1={a},v0={b}, v1={b}")).unwrap();
        assert_eq!(h.timestamp, 1492774577);
        assert_eq!(h.v1.len(), 2);
        assert_eq!(hex::encode(h.v1[0]), a);
        assert_eq!(hex::encode(h.v1[1]), b);
    }

    #[test]
    fn malformed_headers() {
        let sig = "00".repeat(32);
        assert_eq!(
            parse_header(""),
            Err(SignatureError::Malformed("an item without '='"))
        );
        assert_eq!(
            parse_header(&format!("v1={sig}")),
            Err(SignatureError::NoTimestamp)
        );
        assert_eq!(parse_header("t=1"), Err(SignatureError::NoSignature));
        assert_eq!(parse_header("t=1,v1=zz"), Err(SignatureError::NoSignature));
        assert_eq!(
            parse_header(&format!("t=1,v0={sig}")),
            Err(SignatureError::NoSignature)
        );
        for t in ["-1", "01", "1e3", "", "9999999999999", "+5"] {
            assert!(matches!(
                parse_header(&format!("t={t},v1={sig}")),
                Err(SignatureError::Malformed(_))
            ));
        }
        assert!(parse_header(&format!("t=1,t=2,v1={sig}")).is_err());
        let many = format!("t=1{}", format!(",v1={sig}").repeat(MAX_SIGNATURES + 1));
        assert!(parse_header(&many).is_err());
        assert_eq!(
            parse_header(&"x".repeat(5000)),
            Err(SignatureError::TooLong)
        );
    }

    #[test]
    fn sign_and_verify() {
        let body = br#"{"id":"evt_1"}"#;
        let secret = "whsec_test";
        let sig = hex::encode(sign(body, 1000, secret));
        let header = format!("t=1000,v1={sig}");
        assert_eq!(verify(body, &header, secret, 1000), Ok(1000));
        assert_eq!(verify(body, &header, secret, 1300), Ok(1000));
        assert_eq!(verify(body, &header, secret, 700), Ok(1000));
        assert_eq!(
            verify(body, &header, secret, 1301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(body, &header, secret, 699),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(body, &header, "whsec_other", 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"{}", &header, secret, 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(body, &header, "", 1000),
            Err(SignatureError::NoSecret)
        );
        // The timestamp is part of what is signed.
        let moved = format!("t=1001,v1={sig}");
        assert_eq!(
            verify(body, &moved, secret, 1000),
            Err(SignatureError::Mismatch)
        );
    }
}
