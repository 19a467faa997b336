//! Single-use sign-in nonces.
//!
//! The service issues a nonce with each sign-in challenge, stores it with its expiry, and a
//! sign-in is accepted only if its message carries a nonce that is known, unused and
//! unexpired; accepting it consumes it atomically in the store ([`Store::consume_nonce`]), so
//! a signed message can be used once, by one service instance.
//!
//! Nonces are 22 characters of `[A-Za-z0-9]` (about 131 bits from the operating system's
//! random source), which satisfies the SIWS ABNF (at least 8 letters or digits) and cannot be
//! guessed.

use time::OffsetDateTime;

use crate::store::{Store, StoreError};

/// How long a nonce may wait for its signature: enough to read the wallet's prompt and
/// approve, short enough that an unused challenge does not linger.
pub const NONCE_TTL_SECS: i64 = 5 * 60;

/// Characters in a nonce: 62^22 ≈ 2^131.
pub const NONCE_LEN: usize = 22;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A nonce handed out with a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedNonce {
    pub value: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A fresh random nonce (not yet stored).
///
/// Rejection sampling: bytes of 248 or more are dropped so that each of the 62 characters is
/// equally likely (248 = 4 × 62).
pub fn generate() -> String {
    let mut out = String::with_capacity(NONCE_LEN);
    let mut buf = [0u8; 32];
    while out.len() < NONCE_LEN {
        getrandom::fill(&mut buf).expect("the operating system's random source is available");
        for &b in &buf {
            if b < 248 && out.len() < NONCE_LEN {
                out.push(ALPHABET[usize::from(b % 62)] as char);
            }
        }
    }
    out
}

/// Generates a nonce, stores it with an expiry of [`NONCE_TTL_SECS`] after `now`, and returns
/// it. A collision with a stored nonce (impossible in practice) is retried.
pub fn issue(store: &dyn Store, now: OffsetDateTime) -> Result<IssuedNonce, StoreError> {
    let expires_at = now.unix_timestamp() + NONCE_TTL_SECS;
    loop {
        let value = generate();
        match store.issue_nonce(&value, expires_at) {
            Ok(()) => return Ok(IssuedNonce { value, expires_at }),
            Err(StoreError::DuplicateNonce) => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NonceState, SqliteStore};
    use std::collections::HashSet;
    use time::macros::datetime;

    #[test]
    fn nonces_are_long_alphanumeric_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let n = generate();
            assert_eq!(n.len(), NONCE_LEN);
            assert!(n.bytes().all(|c| c.is_ascii_alphanumeric()));
            assert!(seen.insert(n));
        }
    }

    #[test]
    fn every_character_appears() {
        let all: String = (0..400).map(|_| generate()).collect();
        for &c in ALPHABET {
            assert!(all.contains(c as char), "{} never drawn", c as char);
        }
    }

    #[test]
    fn issued_nonce_is_consumed_once_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let now = datetime!(2026-03-01 12:00 UTC);
        let n = issue(&store, now).unwrap();
        assert_eq!(n.expires_at, now.unix_timestamp() + 300);
        let t = now.unix_timestamp() + 10;
        assert_eq!(
            store.consume_nonce(&n.value, t).unwrap(),
            NonceState::Consumed
        );
        assert_eq!(
            store.consume_nonce(&n.value, t).unwrap(),
            NonceState::AlreadyUsed
        );

        let late = issue(&store, now).unwrap();
        let after = late.expires_at;
        assert_eq!(
            store.consume_nonce(&late.value, after).unwrap(),
            NonceState::Expired
        );
        assert_eq!(
            store.consume_nonce("neverissued1", t).unwrap(),
            NonceState::Unknown
        );
    }
}
