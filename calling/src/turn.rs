//! Time-limited TURN credentials in the TURN REST convention that coturn's
//! `use-auth-secret` implements: username = `<expiry unix time>:<id>`, password = base64 of
//! HMAC-SHA1(shared secret, username). The TURN server needs only the secret to check them,
//! and they stop working at the expiry. Used by `phantomcall turn-credentials` and, later,
//! by the conference service.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// How long credentials stay valid by default: a long call fits, a leaked pair soon dies.
pub const DEFAULT_TURN_CREDENTIAL_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// Why credentials could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnCredentialError {
    /// The shared secret is empty.
    #[error("the TURN shared secret must not be empty")]
    EmptySecret,
    /// The id contains ':' (the username separator) or control characters.
    #[error("the credential id must not contain ':' or control characters")]
    BadId,
    /// A zero lifetime would make credentials that are already expired.
    #[error("the credential lifetime must be longer than zero")]
    ZeroLifetime,
}

/// A username/password pair for a TURN server. The password is secret: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    /// `<expiry unix time>:<id>`.
    pub username: String,
    /// base64(HMAC-SHA1(secret, username)).
    pub password: String,
    /// When they stop working (unix seconds).
    pub expires_at: u64,
}

impl fmt::Debug for TurnCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnCredentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Credentials for `id`, valid from `now` for `lifetime`, under the server's shared `secret`.
pub fn turn_rest_credentials(
    secret: &[u8],
    id: &str,
    now: SystemTime,
    lifetime: Duration,
) -> Result<TurnCredentials, TurnCredentialError> {
    if secret.is_empty() {
        return Err(TurnCredentialError::EmptySecret);
    }
    if id.contains(':') || id.chars().any(char::is_control) {
        return Err(TurnCredentialError::BadId);
    }
    if lifetime.is_zero() {
        return Err(TurnCredentialError::ZeroLifetime);
    }
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let expires_at = (now + lifetime).as_secs();
    let username = if id.is_empty() {
        expires_at.to_string()
    } else {
        format!("{expires_at}:{id}")
    };
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    let password = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Ok(TurnCredentials {
        username,
        password,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    #[test]
    fn matches_an_independent_hmac_sha1() {
        // Expected value computed with Python's hmac/hashlib/base64, not with this code:
        // base64(hmac.new(b"north-wind-secret", b"1700021600:alice", sha1).digest())
        let c = turn_rest_credentials(
            b"north-wind-secret",
            "alice",
            at(1_700_000_000),
            Duration::from_secs(21_600),
        )
        .unwrap();
        assert_eq!(c.username, "1700021600:alice");
        assert_eq!(c.password, "fHKwNypMXs2aEPRH9HGun/uLA1A=");
        assert_eq!(c.expires_at, 1_700_021_600);
    }

    #[test]
    fn default_lifetime_is_six_hours() {
        let c =
            turn_rest_credentials(b"s", "x", at(1000), DEFAULT_TURN_CREDENTIAL_LIFETIME).unwrap();
        assert_eq!(c.expires_at, 1000 + 6 * 3600);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let now = at(1000);
        let life = Duration::from_secs(60);
        assert_eq!(
            turn_rest_credentials(b"", "x", now, life),
            Err(TurnCredentialError::EmptySecret)
        );
        assert_eq!(
            turn_rest_credentials(b"s", "a:b", now, life),
            Err(TurnCredentialError::BadId)
        );
        assert_eq!(
            turn_rest_credentials(b"s", "a\nb", now, life),
            Err(TurnCredentialError::BadId)
        );
        assert_eq!(
            turn_rest_credentials(b"s", "x", now, Duration::ZERO),
            Err(TurnCredentialError::ZeroLifetime)
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let c = turn_rest_credentials(b"s", "x", at(1000), Duration::from_secs(60)).unwrap();
        assert!(!format!("{c:?}").contains(&c.password));
    }
}
