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

/// A TURN server's shared secret kept for renewal: every call made with a
/// [`crate::peer::NetworkConfig`] that carries one gets credentials fresh from now, so a
/// long-running `listen` never offers expired ones. `Debug` hides the secret.
#[derive(Clone)]
pub struct TurnRenewal {
    secret: std::sync::Arc<zeroize::Zeroizing<Vec<u8>>>,
    id: String,
    lifetime: Duration,
}

impl fmt::Debug for TurnRenewal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnRenewal")
            .field("id", &self.id)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl TurnRenewal {
    /// Renewal from `secret` for `id`, each set of credentials valid for `lifetime`.
    /// Checked once here, so a renewal later cannot fail.
    pub fn new(secret: &[u8], id: &str, lifetime: Duration) -> Result<Self, TurnCredentialError> {
        turn_rest_credentials(secret, id, SystemTime::now(), lifetime)?;
        Ok(Self {
            secret: std::sync::Arc::new(zeroize::Zeroizing::new(secret.to_vec())),
            id: id.to_owned(),
            lifetime,
        })
    }

    /// Credentials valid from `now`.
    pub fn credentials(&self, now: SystemTime) -> TurnCredentials {
        turn_rest_credentials(&self.secret, &self.id, now, self.lifetime)
            .expect("checked when the renewal was made")
    }
}

impl crate::peer::NetworkConfig {
    /// These settings with every TURN server's credentials renewed from `now`, when they
    /// come from a shared secret ([`crate::peer::NetworkConfig::turn_renewal`]); as they
    /// are otherwise.
    pub fn with_fresh_turn_credentials(&self, now: SystemTime) -> Self {
        let mut network = self.clone();
        if let Some(renewal) = &self.turn_renewal {
            let fresh = renewal.credentials(now);
            for server in &mut network.turn_servers {
                server.username = fresh.username.clone();
                server.credential = fresh.password.clone();
            }
        }
        network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    #[test]
    fn a_long_running_engine_offers_credentials_fresh_from_each_call() {
        use crate::peer::{NetworkConfig, TurnServer};
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let renewal = TurnRenewal::new(b"secret", "bob", Duration::from_secs(3600)).unwrap();
        let first = renewal.credentials(start);
        let network = NetworkConfig {
            turn_servers: vec![TurnServer {
                url: "turn:198.51.100.1:3478".into(),
                username: first.username.clone(),
                credential: first.password.clone(),
            }],
            turn_renewal: Some(renewal),
            ..NetworkConfig::default()
        };
        let a_day_later = start + Duration::from_secs(24 * 3600);
        let renewed = network.with_fresh_turn_credentials(a_day_later);
        let expected =
            turn_rest_credentials(b"secret", "bob", a_day_later, Duration::from_secs(3600))
                .unwrap();
        assert_eq!(renewed.turn_servers[0].username, expected.username);
        assert_eq!(renewed.turn_servers[0].credential, expected.password);
        assert_ne!(renewed.turn_servers[0].username, first.username);
        assert!(!format!("{:?}", renewed.turn_renewal).contains("secret\""));
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
