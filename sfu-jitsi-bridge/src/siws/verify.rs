//! Server-side verification of a signed Sign-In With Solana message.
//!
//! The checks, in order (the first failure is the error returned):
//! 1. the bytes parse strictly as a SIWS message ([`SiwsMessage::parse`]);
//! 2. its domain is ours (ASCII case-insensitive, as host names are);
//! 3. it has a `URI:` whose origin (scheme, host, port) is ours;
//! 4. if we require a chain, it names that chain (`mainnet` and `solana:mainnet` are one);
//! 5. if the client reported the signing account, the message names that same address;
//! 6. it has `Issued At` within ±10 minutes of now (Phantom's threshold), and
//!    `Expiration Time` / `Not Before` are consistent and respected;
//! 7. it has a `Nonce`;
//! 8. the signature verifies with `verify_strict` over the raw bytes, under the key the
//!    message's address names;
//! 9. the nonce is consumed in the store: it must be ours, unused and unexpired.
//!
//! **The nonce is consumed only when everything else has passed.** A failed check, a bad
//! signature included, leaves it usable: a nonce is not secret (it travels in the challenge),
//! so consuming it on a failed signature would let anyone who saw it cancel the real user's
//! sign-in, while leaving it costs nothing, since without the wallet's key no signature for
//! it can ever verify. A correctly signed message is accepted once; presented again it fails
//! with [`SiwsError::ReusedNonce`].

use ed25519_dalek::{Signature, VerifyingKey};
use time::OffsetDateTime;

use super::message::{ChainId, ParseError, SiwsMessage};
use crate::logsafe::{ShortAddress, WalletAddress};
use crate::store::{NonceState, Store, StoreError};

/// Allowed distance between `Issued At` and now, either way (Phantom's threshold).
pub const ISSUED_AT_TOLERANCE_SECS: i64 = 10 * 60;

/// What the service expects of a sign-in.
#[derive(Debug, Clone, Copy)]
pub struct SiwsExpectations<'a> {
    /// Our domain as messages name it: `host` or `host:port` (RFC 3986 authority).
    pub domain: &'a str,
    /// Our origin, e.g. `https://meet.example.org`: the message's `URI:` must share it.
    pub origin: &'a str,
    /// A chain every message must name, or `None` to accept any (or none).
    pub chain_id: Option<ChainId>,
    /// The signing account the wallet reported (wallet-standard's `account.address`), when
    /// the client sent it; the message must name the same address.
    pub account: Option<&'a str>,
}

/// A verified sign-in.
#[derive(Debug, Clone)]
pub struct VerifiedSignIn {
    pub address: WalletAddress,
    pub message: SiwsMessage,
}

/// Why a sign-in was refused. Messages are safe to log and to show: addresses appear only
/// shortened.
#[derive(Debug, thiserror::Error)]
pub enum SiwsError {
    #[error(transparent)]
    Malformed(#[from] ParseError),
    #[error("wrong domain: the message signs in to {found}, not to this service")]
    WrongDomain { found: String },
    #[error("wrong URI: the message's URI is not on this service's origin")]
    WrongUri,
    #[error("wrong chain: the message names {found:?}, this service requires {expected}")]
    WrongChain {
        found: Option<&'static str>,
        expected: &'static str,
    },
    #[error("the message has no {0} field, which this service requires")]
    MissingField(&'static str),
    #[error("wrong address: the message names {message}, but the signing account is {account}")]
    WrongAddress { message: String, account: String },
    #[error("the message's address is not a valid Ed25519 public key")]
    InvalidAddress,
    #[error("bad signature: it does not verify under the message's address")]
    BadSignature,
    #[error("issued-at is more than 10 minutes away from now")]
    IssuedAtOutOfRange,
    #[error("expired message: its expiration time has passed")]
    Expired,
    #[error("the message is not valid yet (not-before is in the future)")]
    NotYetValid,
    #[error("the message's expiration time is before its issued-at or not-before")]
    InconsistentTimes,
    #[error("unknown nonce: this service did not issue it (or it was purged)")]
    UnknownNonce,
    #[error("reused nonce: this sign-in message was already used")]
    ReusedNonce,
    #[error("the nonce expired before the message was signed and sent")]
    NonceExpired,
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Verifies a wallet's sign-in output: the exact bytes it signed, its 64-byte signature, and
/// the service's expectations; consumes the nonce on success (see the module documentation).
pub fn verify(
    raw_message: &[u8],
    signature: &[u8],
    expected: &SiwsExpectations<'_>,
    nonces: &dyn Store,
    now: OffsetDateTime,
) -> Result<VerifiedSignIn, SiwsError> {
    let msg = SiwsMessage::parse(raw_message)?;

    if !msg.domain.eq_ignore_ascii_case(expected.domain) {
        return Err(SiwsError::WrongDomain {
            found: msg.domain.clone(),
        });
    }
    let uri = msg.uri.as_deref().ok_or(SiwsError::MissingField("URI"))?;
    if origin_of(uri).is_none() || origin_of(uri) != origin_of(expected.origin) {
        return Err(SiwsError::WrongUri);
    }
    if let Some(want) = expected.chain_id {
        if msg.chain_id.map(ChainId::network) != Some(want.network()) {
            return Err(SiwsError::WrongChain {
                found: msg.chain_id.map(ChainId::as_str),
                expected: want.as_str(),
            });
        }
    }
    if let Some(account) = expected.account {
        if account != msg.address {
            return Err(SiwsError::WrongAddress {
                message: ShortAddress(&msg.address).to_string(),
                account: ShortAddress(account).to_string(),
            });
        }
    }

    check_times(&msg, now)?;
    let nonce = msg
        .nonce
        .as_deref()
        .ok_or(SiwsError::MissingField("Nonce"))?;

    let address = WalletAddress::parse(&msg.address).map_err(|_| SiwsError::InvalidAddress)?;
    let key = VerifyingKey::from_bytes(address.key()).map_err(|_| SiwsError::InvalidAddress)?;
    let signature: [u8; 64] = signature.try_into().map_err(|_| SiwsError::BadSignature)?;
    key.verify_strict(raw_message, &Signature::from_bytes(&signature))
        .map_err(|_| SiwsError::BadSignature)?;

    match nonces.consume_nonce(nonce, now.unix_timestamp())? {
        NonceState::Consumed => Ok(VerifiedSignIn {
            address,
            message: msg,
        }),
        NonceState::Unknown => Err(SiwsError::UnknownNonce),
        NonceState::AlreadyUsed => Err(SiwsError::ReusedNonce),
        NonceState::Expired => Err(SiwsError::NonceExpired),
    }
}

fn origin_of(uri: &str) -> Option<url::Origin> {
    let origin = url::Url::parse(uri).ok()?.origin();
    origin.is_tuple().then_some(origin)
}

fn check_times(msg: &SiwsMessage, now: OffsetDateTime) -> Result<(), SiwsError> {
    let issued = msg
        .issued_at
        .as_ref()
        .ok_or(SiwsError::MissingField("Issued At"))?
        .at();
    if (issued - now).whole_seconds().abs() > ISSUED_AT_TOLERANCE_SECS {
        return Err(SiwsError::IssuedAtOutOfRange);
    }
    let not_before = msg.not_before.as_ref().map(|t| t.at());
    if let Some(exp) = msg.expiration_time.as_ref().map(|t| t.at()) {
        if exp < issued || not_before.is_some_and(|nbf| nbf > exp) {
            return Err(SiwsError::InconsistentTimes);
        }
        if exp <= now {
            return Err(SiwsError::Expired);
        }
    }
    if not_before.is_some_and(|nbf| now < nbf) {
        return Err(SiwsError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siws::Timestamp;
    use time::macros::datetime;

    const ADDR: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn msg(issued: &str, exp: Option<&str>, nbf: Option<&str>) -> SiwsMessage {
        let mut m = SiwsMessage::new("meet.example.org", ADDR);
        m.issued_at = Timestamp::parse(issued);
        m.expiration_time = exp.and_then(Timestamp::parse);
        m.not_before = nbf.and_then(Timestamp::parse);
        m
    }

    #[test]
    fn time_rules() {
        let ok = |m: &SiwsMessage| check_times(m, NOW);
        assert!(ok(&msg("2026-03-01T11:50:00Z", None, None)).is_ok());
        assert!(ok(&msg("2026-03-01T12:10:00+00:00", None, None)).is_ok());
        assert!(ok(&msg("2026-03-01T13:09:00+01:00", None, None)).is_ok());
        assert!(matches!(
            ok(&msg("2026-03-01T11:49:59Z", None, None)),
            Err(SiwsError::IssuedAtOutOfRange)
        ));
        assert!(matches!(
            ok(&msg(
                "2026-03-01T11:59:00Z",
                Some("2026-03-01T12:00:00Z"),
                None
            )),
            Err(SiwsError::Expired)
        ));
        assert!(ok(&msg(
            "2026-03-01T11:59:00Z",
            Some("2026-03-01T12:00:01Z"),
            None
        ))
        .is_ok());
        assert!(matches!(
            ok(&msg(
                "2026-03-01T11:59:00Z",
                Some("2026-03-01T11:58:00Z"),
                None
            )),
            Err(SiwsError::InconsistentTimes)
        ));
        assert!(matches!(
            ok(&msg(
                "2026-03-01T11:59:00Z",
                Some("2026-03-01T12:05:00Z"),
                Some("2026-03-01T12:06:00Z")
            )),
            Err(SiwsError::InconsistentTimes)
        ));
        assert!(matches!(
            ok(&msg(
                "2026-03-01T11:59:00Z",
                None,
                Some("2026-03-01T12:00:01Z")
            )),
            Err(SiwsError::NotYetValid)
        ));
        assert!(ok(&msg(
            "2026-03-01T11:59:00Z",
            None,
            Some("2026-03-01T12:00:00Z")
        ))
        .is_ok());
        let mut none = msg("2026-03-01T11:59:00Z", None, None);
        none.issued_at = None;
        assert!(matches!(
            ok(&none),
            Err(SiwsError::MissingField("Issued At"))
        ));
    }

    #[test]
    fn origins() {
        let o = |u| origin_of(u);
        assert_eq!(
            o("https://meet.example.org/login?x=1"),
            o("https://meet.example.org")
        );
        assert_eq!(
            o("https://meet.example.org:443/"),
            o("https://MEET.example.org")
        );
        assert_ne!(o("http://meet.example.org/"), o("https://meet.example.org"));
        assert_ne!(
            o("https://meet.example.org:8443/"),
            o("https://meet.example.org")
        );
        assert_ne!(
            o("https://meet.example.org.evil.test/"),
            o("https://meet.example.org")
        );
        assert_eq!(o("urn:phantomcall:x"), None);
        assert_eq!(o("data:text/plain,hi"), None);
    }
}
