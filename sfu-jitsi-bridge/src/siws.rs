//! Sign-In With Solana (phantom's sign-in-with-solana specification, the wallet-standard
//! `signIn` feature): the message format ([`SiwsMessage`]), the input the server hands the
//! wallet ([`SignInInput`]), and server-side verification ([`verify`]).
//!
//! Crates: `ed25519-dalek` 2.x and `bs58`, not the `solana-*` crates. A Solana address is the
//! base58 form of a raw 32-byte Ed25519 public key and a SIWS signature is a plain Ed25519
//! signature over the message bytes, so these two small, widely used crates do the whole job;
//! `solana-signature`'s `verify` feature wraps the same ed25519-dalek (and pulled an old 1.x
//! in its 2.2 line), and `solana-pubkey` would add a dependency tree for a base58 decode.
//! Verification uses `verify_strict`, which also refuses small-order keys and non-canonical
//! signatures that the lenient `verify` lets through.

mod message;
mod verify;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use message::{
    ChainId, ParseError, SiwsMessage, Timestamp, MAX_MESSAGE_BYTES, MAX_RESOURCES, MIN_NONCE_LEN,
};
pub use verify::{verify, SiwsError, SiwsExpectations, VerifiedSignIn, ISSUED_AT_TOLERANCE_SECS};

/// The sign-in request the service sends to the wallet: wallet-standard's
/// `SolanaSignInInput`, every field an optional string, camelCase in JSON. The wallet builds
/// the message from it ([`SignInInput::to_message`] is that step) and signs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

impl SignInInput {
    /// The service's challenge: our domain and URI, version 1, the chain if we require one, a
    /// fresh nonce, issued now and expiring with the nonce.
    pub fn challenge(
        domain: &str,
        uri: &str,
        statement: Option<&str>,
        chain_id: Option<ChainId>,
        nonce: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Self {
        Self {
            domain: Some(domain.to_owned()),
            statement: statement.map(str::to_owned),
            uri: Some(uri.to_owned()),
            version: Some("1".to_owned()),
            chain_id: chain_id.map(|c| c.as_str().to_owned()),
            nonce: Some(nonce.to_owned()),
            issued_at: Some(Timestamp::from_datetime(now).as_str().to_owned()),
            expiration_time: Some(Timestamp::from_datetime(expires_at).as_str().to_owned()),
            ..Self::default()
        }
    }

    /// What a wallet does with this input: the message for `address` (the input's own
    /// address, if any, must match), every field validated.
    pub fn to_message(&self, address: &str) -> Result<SiwsMessage, ParseError> {
        fn bad<T>(reason: &'static str) -> Result<T, ParseError> {
            Err(ParseError { line: 0, reason })
        }
        if self.address.as_deref().is_some_and(|a| a != address) {
            return bad("input names another address");
        }
        let Some(domain) = &self.domain else {
            return bad("input has no domain");
        };
        let ts = |field: &Option<String>| -> Result<Option<Timestamp>, ParseError> {
            match field {
                None => Ok(None),
                Some(text) => match Timestamp::parse(text) {
                    Some(t) => Ok(Some(t)),
                    None => bad("input date-time is not RFC 3339"),
                },
            }
        };
        let chain_id = match &self.chain_id {
            None => None,
            Some(text) => match ChainId::parse(text) {
                Some(c) => Some(c),
                None => return bad("input chain id is unknown"),
            },
        };
        let mut msg = SiwsMessage::new(domain, address);
        // The wallet-standard builder skips empty strings.
        let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        msg.statement = some(&self.statement);
        msg.uri = some(&self.uri);
        msg.version = some(&self.version);
        msg.chain_id = chain_id;
        msg.nonce = some(&self.nonce);
        msg.issued_at = ts(&self.issued_at)?;
        msg.expiration_time = ts(&self.expiration_time)?;
        msg.not_before = ts(&self.not_before)?;
        msg.request_id = some(&self.request_id);
        msg.resources = self.resources.clone();
        msg.build()?;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const ADDR: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

    #[test]
    fn challenge_serialises_as_wallet_standard_input() {
        let now = datetime!(2026-03-01 12:00 UTC);
        let input = SignInInput::challenge(
            "meet.example.org",
            "https://meet.example.org/",
            Some("Sign in to PhantomCall conferences."),
            Some(ChainId::Mainnet),
            "abcdefgh12345678",
            now,
            now + time::Duration::minutes(5),
        );
        let json = serde_json::to_value(&input).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "domain": "meet.example.org",
                "statement": "Sign in to PhantomCall conferences.",
                "uri": "https://meet.example.org/",
                "version": "1",
                "chainId": "mainnet",
                "nonce": "abcdefgh12345678",
                "issuedAt": "2026-03-01T12:00:00Z",
                "expirationTime": "2026-03-01T12:05:00Z"
            })
        );
        let text = input.to_message(ADDR).unwrap().build().unwrap();
        assert_eq!(
            text,
            format!(
                "meet.example.org wants you to sign in with your Solana account:\n{ADDR}\n\n\
                 Sign in to PhantomCall conferences.\n\nURI: https://meet.example.org/\n\
                 Version: 1\nChain ID: mainnet\nNonce: abcdefgh12345678\n\
                 Issued At: 2026-03-01T12:00:00Z\nExpiration Time: 2026-03-01T12:05:00Z"
            )
        );
    }

    #[test]
    fn input_errors() {
        let input = SignInInput {
            domain: Some("meet.example.org".into()),
            ..Default::default()
        };
        assert!(input.to_message(ADDR).is_ok());
        let other = SignInInput {
            address: Some("11111111111111111111111111111111".into()),
            ..input.clone()
        };
        assert!(other.to_message(ADDR).is_err());
        let bad_chain = SignInInput {
            chain_id: Some("eth".into()),
            ..input.clone()
        };
        assert!(bad_chain.to_message(ADDR).is_err());
        assert!(SignInInput::default().to_message(ADDR).is_err());
        assert!(input.to_message("not an address").is_err());
    }
}
