//! The wallet's side of Sign-In With Solana: the service's sign-in input (wallet-standard's
//! `SolanaSignInInput`, camelCase JSON) turned into the message text the wallet signs, laid
//! out as the specification's ABNF and wallet-standard's `createSignInMessageText` do.
//!
//! A desktop signer signs without a wallet's pop-up, so it checks what a person would read
//! there: the domain must be the service the user is signing in to, the address (if given)
//! must be ours, and no field may carry a line break (which could forge another field).
//! Depends only on `serde`, `serde_json` and `thiserror` (fuzz target
//! `fuzz/fuzz_targets/wallet_inputs.rs` compiles it by path).

use serde::Deserialize;

/// Largest sign-in input accepted.
pub const MAX_INPUT_BYTES: usize = 8 * 1024;

/// The sign-in input as the service sends it. Every field is optional in the standard.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInInput {
    /// The service's host (`host[:port]`).
    pub domain: Option<String>,
    /// The wallet address the service expects, if it names one.
    pub address: Option<String>,
    /// A sentence shown to the user.
    pub statement: Option<String>,
    /// The service's URI.
    pub uri: Option<String>,
    /// The message version (`1`).
    pub version: Option<String>,
    /// The Solana cluster.
    pub chain_id: Option<String>,
    /// The service's single-use nonce.
    pub nonce: Option<String>,
    /// When the request was made (RFC 3339).
    pub issued_at: Option<String>,
    /// When the signed message stops being accepted.
    pub expiration_time: Option<String>,
    /// When the signed message starts being accepted.
    pub not_before: Option<String>,
    /// The service's request id.
    pub request_id: Option<String>,
    /// URIs the sign-in also covers.
    pub resources: Option<Vec<String>>,
}

/// Why the wallet will not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInInputError {
    /// Not the JSON object the standard describes, or too large.
    #[error("the service's sign-in request is malformed")]
    Malformed,
    /// Without a domain the message would not say whom it signs in to.
    #[error("the service's sign-in request names no domain")]
    NoDomain,
    /// The request asks to sign in to another site.
    #[error("the sign-in request is for {asked}, not for {expected}: refused")]
    WrongDomain {
        /// The domain the request names.
        asked: String,
        /// The service the user is signing in to.
        expected: String,
    },
    /// The request names another wallet.
    #[error("the sign-in request is for another wallet address: refused")]
    WrongAddress,
    /// A field has a line break or other control character.
    #[error("the sign-in request's {0} field has a line break or control character: refused")]
    ControlCharacter(&'static str),
    /// A statement that reads as one of the fields below it.
    #[error("the sign-in request's statement reads like one of its fields: refused")]
    StatementLikeAField,
    /// A nonce is what makes the signature single-use.
    #[error("the sign-in request has no nonce: refused")]
    NoNonce,
}

impl SignInInput {
    /// Parses the service's JSON.
    pub fn parse(json: &str) -> Result<Self, SignInInputError> {
        if json.len() > MAX_INPUT_BYTES {
            return Err(SignInInputError::Malformed);
        }
        serde_json::from_str(json).map_err(|_| SignInInputError::Malformed)
    }

    /// The message text to sign as `address`, for the service at `expected_domain` (the
    /// host, with its port when it has one, that the user asked to sign in to).
    pub fn message(
        &self,
        address: &str,
        expected_domain: &str,
    ) -> Result<String, SignInInputError> {
        let domain = self.domain.as_deref().ok_or(SignInInputError::NoDomain)?;
        if !domain.eq_ignore_ascii_case(expected_domain) {
            return Err(SignInInputError::WrongDomain {
                asked: domain.chars().take(80).collect(),
                expected: expected_domain.to_owned(),
            });
        }
        if self.address.as_deref().is_some_and(|a| a != address) {
            return Err(SignInInputError::WrongAddress);
        }
        if self.nonce.is_none() {
            return Err(SignInInputError::NoNonce);
        }
        let single = [
            ("domain", Some(domain)),
            ("statement", self.statement.as_deref()),
            ("URI", self.uri.as_deref()),
            ("version", self.version.as_deref()),
            ("chain id", self.chain_id.as_deref()),
            ("nonce", self.nonce.as_deref()),
            ("issued-at", self.issued_at.as_deref()),
            ("expiration", self.expiration_time.as_deref()),
            ("not-before", self.not_before.as_deref()),
            ("request id", self.request_id.as_deref()),
        ];
        for (name, value) in single {
            if value.is_some_and(|v| v.chars().any(char::is_control)) {
                return Err(SignInInputError::ControlCharacter(name));
            }
        }
        let labels = [
            "URI:",
            "Version:",
            "Chain ID:",
            "Nonce:",
            "Issued At:",
            "Expiration Time:",
            "Not Before:",
            "Request ID:",
            "Resources:",
        ];
        if let Some(statement) = &self.statement {
            if labels.iter().any(|l| statement.starts_with(l)) {
                return Err(SignInInputError::StatementLikeAField);
            }
        }
        let resources = self.resources.as_deref().unwrap_or_default();
        if resources.iter().any(|r| r.chars().any(char::is_control)) {
            return Err(SignInInputError::ControlCharacter("resources"));
        }

        let mut text =
            format!("{domain} wants you to sign in with your Solana account:\n{address}");
        if let Some(statement) = &self.statement {
            text.push_str("\n\n");
            text.push_str(statement);
        }
        let mut fields = Vec::new();
        let labelled = [
            ("URI", &self.uri),
            ("Version", &self.version),
            ("Chain ID", &self.chain_id),
            ("Nonce", &self.nonce),
            ("Issued At", &self.issued_at),
            ("Expiration Time", &self.expiration_time),
            ("Not Before", &self.not_before),
            ("Request ID", &self.request_id),
        ];
        for (label, value) in labelled {
            if let Some(value) = value {
                fields.push(format!("{label}: {value}"));
            }
        }
        if self.resources.is_some() {
            fields.push("Resources:".to_owned());
            fields.extend(resources.iter().map(|r| format!("- {r}")));
        }
        if !fields.is_empty() {
            text.push_str("\n\n");
            text.push_str(&fields.join("\n"));
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRESS: &str = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T";

    fn input() -> SignInInput {
        SignInInput::parse(
            r#"{"domain":"meet.example.org","statement":"Sign in to PhantomCall",
                "uri":"https://meet.example.org/","version":"1","chainId":"mainnet",
                "nonce":"k2Lq9xQp4vTz","issuedAt":"2026-12-04T10:00:00Z",
                "expirationTime":"2026-12-04T10:05:00Z","resources":["https://a.example/x"]}"#,
        )
        .unwrap()
    }

    #[test]
    fn lays_the_message_out_as_the_specification_does() {
        let text = input().message(ADDRESS, "meet.example.org").unwrap();
        assert_eq!(
            text,
            format!(
                "meet.example.org wants you to sign in with your Solana account:\n{ADDRESS}\n\n\
                 Sign in to PhantomCall\n\nURI: https://meet.example.org/\nVersion: 1\n\
                 Chain ID: mainnet\nNonce: k2Lq9xQp4vTz\nIssued At: 2026-12-04T10:00:00Z\n\
                 Expiration Time: 2026-12-04T10:05:00Z\nResources:\n- https://a.example/x"
            )
        );
    }

    #[test]
    fn a_request_for_another_domain_is_not_signed() {
        let err = input().message(ADDRESS, "meet.evil.example").unwrap_err();
        assert!(matches!(err, SignInInputError::WrongDomain { .. }));
    }

    #[test]
    fn a_line_break_cannot_forge_a_field() {
        let mut forged = input();
        forged.statement = Some("hi\nURI: https://evil.example/".into());
        assert_eq!(
            forged.message(ADDRESS, "meet.example.org").unwrap_err(),
            SignInInputError::ControlCharacter("statement")
        );
    }

    #[test]
    fn another_wallets_request_and_a_missing_nonce_are_refused() {
        let mut other = input();
        other.address = Some("11111111111111111111111111111111".into());
        assert_eq!(
            other.message(ADDRESS, "meet.example.org").unwrap_err(),
            SignInInputError::WrongAddress
        );
        let mut field_like = input();
        field_like.statement = Some("Nonce: 12345678".into());
        assert_eq!(
            field_like.message(ADDRESS, "meet.example.org").unwrap_err(),
            SignInInputError::StatementLikeAField
        );
        let mut no_nonce = input();
        no_nonce.nonce = None;
        assert_eq!(
            no_nonce.message(ADDRESS, "meet.example.org").unwrap_err(),
            SignInInputError::NoNonce
        );
        assert_eq!(
            SignInInput::parse("[1]").unwrap_err(),
            SignInInputError::Malformed
        );
    }
}
