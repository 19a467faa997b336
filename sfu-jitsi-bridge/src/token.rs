//! Session tokens (EdDSA JWTs, one hour) and refresh tokens (opaque, rotated on each use).
//!
//! A session token is a JWT signed with the service's Ed25519 key: header
//! `{"typ":"JWT","alg":"EdDSA","kid":…}`, claims `sub` (the wallet address), `tier`
//! (`free|pro|enterprise`), `iat`, `nbf`, `exp` (one hour after `iat`) and `jti` (128 random
//! bits). Verification accepts `EdDSA` only (an `HS256` token keyed with our public key, or
//! `none`, is refused), this key only, and checks the times against an injected `now`.
//!
//! Crate: `jsonwebtoken` (Keats; the most used Rust JWT crate, actively released) with its
//! pure-Rust `rust_crypto` backend, rather than `jwt-compact` (whose newest line is a beta) or
//! the `aws_lc_rs` backend (a C/CMake build). Its own clock checks are switched off: they read
//! the system clock, and this crate takes `now` as an argument.
//!
//! The signing key lives in a PKCS#8 PEM file (what `openssl genpkey -algorithm ed25519`
//! writes), created with mode 0600 if absent; a key file readable by group or others is
//! refused, as ssh refuses such a private key.
//!
//! Refresh tokens are 256 random bits, base64url: opaque, stored only as their SHA-256 hash,
//! each in a family started at sign-in. See [`crate::auth`] for rotation and reuse detection.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::SigningKey;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::logsafe::{ShortAddress, WalletAddress};
use crate::tiers::Tier;

/// Session token lifetime: short, so a plan change or a revocation takes effect within the
/// hour without a revocation list.
pub const SESSION_TTL_SECS: i64 = 3600;
/// Refresh token lifetime (each rotation starts a new one): two weeks of inactivity signs out.
pub const REFRESH_TTL_SECS: i64 = 14 * 24 * 3600;
/// Clock difference tolerated between service instances for `nbf` and `iat`; `exp` gets none.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// The claims of a session token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub sub: String,
    pub tier: Tier,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("sub", &ShortAddress(&self.sub))
            .field("tier", &self.tier)
            .field("iat", &self.iat)
            .field("nbf", &self.nbf)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be loaded or a token not issued or accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("signing key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "signing key file {path} is readable by group or others (mode {mode:o}); chmod 600 it"
    )]
    InsecureKeyFile { path: String, mode: u32 },
    #[error("signing key file {path} is not a PKCS#8 Ed25519 private key in PEM")]
    BadKeyFile { path: String },
    #[error("token algorithm is not EdDSA")]
    WrongAlgorithm,
    #[error("token signature does not verify under this service's key")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("malformed token")]
    Malformed,
    #[error("token library: {0}")]
    Library(String),
}

/// The service's token signing and verification keys.
pub struct SessionKeys {
    public: [u8; 32],
    kid: String,
    /// A secret for keyed hashes the service stores (a room's host), derived from the
    /// signing key: every process of a cluster shares it, and a copy of the database alone
    /// cannot check a hash against known wallets.
    derived: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKeys {{ kid: {} }}", self.kid)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl SessionKeys {
    /// Keys from an Ed25519 signing key.
    pub fn from_signing_key(key: &SigningKey) -> Result<Self, TokenError> {
        let der = key
            .to_pkcs8_der()
            .map_err(|e| TokenError::Library(e.to_string()))?;
        let public = key.verifying_key().to_bytes();
        let kid = hex::encode(&Sha256::digest(public)[..8]);
        let mut derive = Sha256::new();
        derive.update(b"phantomcall-conference-derived-secret-v1");
        derive.update(key.to_bytes());
        Ok(Self {
            public,
            kid,
            derived: derive.finalize().into(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_der(&public),
        })
    }

    /// A keyed hash of `text` under the secret derived from the signing key, for
    /// `purpose`: 64 hex digits. Stable across restarts and across a cluster's processes.
    pub fn keyed_hash(&self, purpose: &str, text: &str) -> String {
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<Sha256>>::new_from_slice(&self.derived).expect("any key length");
        mac.update(&(purpose.len() as u64).to_be_bytes());
        mac.update(purpose.as_bytes());
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A fresh random key (tests, and the first start of a service).
    pub fn generate() -> Self {
        Self::from_signing_key(&generate_signing_key()).expect("a fresh key encodes")
    }

    /// Loads the key at `path`, or creates it (mode 0600, parent directories 0700) if absent.
    pub fn load_or_generate(path: &Path) -> Result<Self, TokenError> {
        match fs::metadata(path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(TokenError::InsecureKeyFile {
                        path: path.display().to_string(),
                        mode,
                    });
                }
                let pem = fs::read_to_string(path).map_err(io_err(path))?;
                let key = SigningKey::from_pkcs8_pem(&pem).map_err(|_| TokenError::BadKeyFile {
                    path: path.display().to_string(),
                })?;
                Self::from_signing_key(&key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)
                        .map_err(io_err(path))?;
                }
                let key = generate_signing_key();
                let pem = key
                    .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                    .map_err(|e| TokenError::Library(e.to_string()))?;
                let mut file = match fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(file) => file,
                    // Another instance created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Self::load_or_generate(path)
                    }
                    Err(e) => return Err(io_err(path)(e)),
                };
                file.write_all(pem.as_bytes()).map_err(io_err(path))?;
                file.sync_all().map_err(io_err(path))?;
                Self::from_signing_key(&key)
            }
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// The Ed25519 public key that verifies this service's tokens.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// Issues a session token for `wallet` on `tier`, valid from `now` for an hour.
    pub fn issue(
        &self,
        wallet: &WalletAddress,
        tier: Tier,
        now: OffsetDateTime,
    ) -> Result<(String, SessionClaims), TokenError> {
        let iat = now.unix_timestamp();
        let claims = SessionClaims {
            sub: wallet.as_str().to_owned(),
            tier,
            iat,
            nbf: iat,
            exp: iat + SESSION_TTL_SECS,
            jti: hex::encode(random_bytes::<16>()),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| TokenError::Library(e.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies a session token: EdDSA only, this key only, `nbf ≤ now < exp`.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<SessionClaims, TokenError> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = HashSet::new();
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenError::WrongAlgorithm
                }
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                _ => TokenError::Malformed,
            })?;
        let c = data.claims;
        let now = now.unix_timestamp();
        if WalletAddress::parse(&c.sub).is_err() || c.exp - c.iat > SESSION_TTL_SECS {
            return Err(TokenError::Malformed);
        }
        if now < c.nbf.max(c.iat) - CLOCK_SKEW_SECS {
            return Err(TokenError::NotYetValid);
        }
        if now >= c.exp {
            return Err(TokenError::Expired);
        }
        Ok(c)
    }
}

fn generate_signing_key() -> SigningKey {
    SigningKey::from_bytes(&random_bytes::<32>())
}

/// `N` bytes from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the operating system's random source is available");
    out
}

/// An opaque refresh token as handed to the client. No `Debug` of its value.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A fresh token and the hash the store keeps.
    pub fn generate() -> (Self, [u8; 32]) {
        let raw = random_bytes::<32>();
        (
            Self(URL_SAFE_NO_PAD.encode(raw)),
            Sha256::digest(raw).into(),
        )
    }

    /// The token text for the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(…)")
    }
}

/// The stored hash of a presented refresh token, or `None` if it is not 32 base64url bytes.
pub fn refresh_hash(presented: &str) -> Option<[u8; 32]> {
    if presented.len() != 43 {
        return None;
    }
    let raw: [u8; 32] = URL_SAFE_NO_PAD.decode(presented).ok()?.try_into().ok()?;
    Some(Sha256::digest(raw).into())
}

/// A new refresh family id (128 random bits, hex).
pub fn new_family_id() -> String {
    hex::encode(random_bytes::<16>())
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
