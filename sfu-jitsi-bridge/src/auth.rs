//! The sign-in flow as the service's HTTP handlers will call it: challenge, sign in, refresh,
//! check a session.
//!
//! 1. `challenge(now)`: a fresh nonce is stored; the client gets a [`SignInInput`] to pass to
//!    the wallet's `signIn`.
//! 2. `sign_in(signed message, signature, account, now)`: [`siws::verify`] (which consumes the
//!    nonce); the wallet's tier is read from the store; the client gets a one-hour session
//!    token and a refresh token that starts a new family.
//! 3. `refresh(token, now)`: the refresh token is used up and replaced by a new one in the same
//!    family, with a new session token carrying the wallet's current tier (so a plan change
//!    reaches the token within the hour). Presenting a refresh token that was already used
//!    means two parties hold it (a stolen copy, or a client replaying): the whole family is
//!    revoked and both must sign in again.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::logsafe::{ShortAddress, WalletAddress};
use crate::nonce;
use crate::siws::{self, ChainId, SignInInput, SiwsError, SiwsExpectations};
use crate::store::{self, NewRefreshToken, RefreshOutcome, Store, StoreError};
use crate::tiers::Tier;
use crate::token::{
    new_family_id, refresh_hash, RefreshToken, SessionClaims, SessionKeys, TokenError,
    REFRESH_TTL_SECS,
};

/// What the service says about itself in challenges and expects back.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Our authority as messages must name it: `meet.example.org` or `localhost:8443`.
    pub domain: String,
    /// The URI put in challenges; its origin is the one messages must carry.
    pub uri: String,
    /// The sentence the wallet shows (SIWS statement character set).
    pub statement: Option<String>,
    /// A chain to require, or `None`.
    pub chain_id: Option<ChainId>,
}

/// A signed-in session as handed to the client. `Debug` shows no token.
pub struct Session {
    pub access_token: String,
    pub claims: SessionClaims,
    pub refresh_token: RefreshToken,
    /// Unix seconds.
    pub refresh_expires_at: i64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("claims", &self.claims)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in, refresh or session check failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("sign-in refused: {0}")]
    SignIn(#[from] SiwsError),
    #[error("session token refused: {0}")]
    Token(#[from] TokenError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("refresh token is not one this service issued")]
    RefreshUnknown,
    #[error("refresh token expired: sign in again")]
    RefreshExpired,
    #[error("refresh token was revoked: sign in again")]
    RefreshRevoked,
    #[error("refresh token was already used: every session of this sign-in is revoked")]
    RefreshReused,
}

/// The authentication service: a store, the token keys and the configuration.
pub struct AuthService {
    store: Arc<dyn Store>,
    keys: SessionKeys,
    config: AuthConfig,
}

impl AuthService {
    pub fn new(store: Arc<dyn Store>, keys: SessionKeys, config: AuthConfig) -> Self {
        Self {
            store,
            keys,
            config,
        }
    }

    /// The token keys (to publish the public key).
    pub fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// Issues a nonce and returns the sign-in input for the wallet.
    pub fn challenge(&self, now: OffsetDateTime) -> Result<SignInInput, AuthError> {
        let issued = nonce::issue(self.store.as_ref(), now)?;
        let expires = OffsetDateTime::from_unix_timestamp(issued.expires_at)
            .expect("now plus five minutes is a valid date");
        Ok(SignInInput::challenge(
            &self.config.domain,
            &self.config.uri,
            self.config.statement.as_deref(),
            self.config.chain_id,
            &issued.value,
            now,
            expires,
        ))
    }

    /// Verifies the wallet's output and opens a session.
    pub fn sign_in(
        &self,
        signed_message: &[u8],
        signature: &[u8],
        account: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Session, AuthError> {
        let expected = SiwsExpectations {
            domain: &self.config.domain,
            origin: &self.config.uri,
            chain_id: self.config.chain_id,
            account,
        };
        let verified = match siws::verify(
            signed_message,
            signature,
            &expected,
            self.store.as_ref(),
            now,
        ) {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(error = %e, "sign-in refused");
                return Err(e.into());
            }
        };
        let wallet = verified.address;
        let tier = store::tier_of(self.store.as_ref(), wallet.as_str())?;
        let (refresh_token, hash) = RefreshToken::generate();
        let first = NewRefreshToken {
            hash,
            expires_at: now.unix_timestamp() + REFRESH_TTL_SECS,
        };
        self.store.start_refresh_family(
            &new_family_id(),
            wallet.as_str(),
            &first,
            now.unix_timestamp(),
        )?;
        tracing::info!(wallet = %wallet.short(), %tier, "signed in");
        self.session(&wallet, tier, refresh_token, first.expires_at, now)
    }

    /// Uses a refresh token: a new session and a new refresh token (see the module docs).
    pub fn refresh(&self, presented: &str, now: OffsetDateTime) -> Result<Session, AuthError> {
        let hash = refresh_hash(presented).ok_or(AuthError::RefreshUnknown)?;
        let (next_token, next_hash) = RefreshToken::generate();
        let next = NewRefreshToken {
            hash: next_hash,
            expires_at: now.unix_timestamp() + REFRESH_TTL_SECS,
        };
        match self
            .store
            .rotate_refresh(&hash, &next, now.unix_timestamp())?
        {
            RefreshOutcome::Rotated { wallet, .. } => {
                let wallet = WalletAddress::parse(&wallet)
                    .map_err(|_| StoreError::Corrupt("stored wallet address"))?;
                let tier = store::tier_of(self.store.as_ref(), wallet.as_str())?;
                self.session(&wallet, tier, next_token, next.expires_at, now)
            }
            RefreshOutcome::Reused { wallet, .. } => {
                tracing::warn!(
                    wallet = %ShortAddress(&wallet),
                    "refresh token presented twice: its family is revoked"
                );
                Err(AuthError::RefreshReused)
            }
            RefreshOutcome::Revoked => Err(AuthError::RefreshRevoked),
            RefreshOutcome::Expired => Err(AuthError::RefreshExpired),
            RefreshOutcome::Unknown => Err(AuthError::RefreshUnknown),
        }
    }

    /// Checks a session token (for every API call and WebSocket join).
    pub fn check(
        &self,
        access_token: &str,
        now: OffsetDateTime,
    ) -> Result<SessionClaims, AuthError> {
        Ok(self.keys.verify(access_token, now)?)
    }

    fn session(
        &self,
        wallet: &WalletAddress,
        tier: Tier,
        refresh_token: RefreshToken,
        refresh_expires_at: i64,
        now: OffsetDateTime,
    ) -> Result<Session, AuthError> {
        let (access_token, claims) = self.keys.issue(wallet, tier, now)?;
        Ok(Session {
            access_token,
            claims,
            refresh_token,
            refresh_expires_at,
        })
    }
}
