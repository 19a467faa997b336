//! The Sign-In With Solana message text: a strict parser and a builder, following the ABNF of
//! phantom's sign-in-with-solana specification (README, "ABNF Message Format") and the layout
//! of wallet-standard's `createSignInMessageText`:
//!
//! ```text
//! <domain> wants you to sign in with your Solana account:
//! <base58 address>
//!
//! <statement>                      (optional)
//!
//! URI: <uri>                       (each field optional, in this order, at most once)
//! Version: 1
//! Chain ID: <mainnet|testnet|devnet|localnet|solana:mainnet|solana:testnet|solana:devnet>
//! Nonce: <8 or more letters and digits>
//! Issued At: <RFC 3339 date-time>
//! Expiration Time: <RFC 3339 date-time>
//! Not Before: <RFC 3339 date-time>
//! Request ID: <pchar*>
//! Resources:
//! - <uri>
//! ```
//!
//! Strictness, each a choice: every line is validated against its ABNF rule (so the whole
//! message is ASCII); unknown, repeated or out-of-order lines, a blank line where none belongs,
//! a trailing newline and `\r` are refused with the 1-based line number; sizes are bounded
//! (constants below). Two ambiguities of the grammar are settled: a line after the address's
//! blank line that starts like a field (`URI: `, …, `Resources:`) is a field, never a
//! statement, and the builder refuses a statement that would read as one; the domain is a
//! host (letters, digits, `-._~`, or a bracketed IPv6 literal) with an optional port, without
//! user info or percent-encoding. The parser keeps every value as written (date-times too), so
//! `parse(text)?.build()? == text` for every accepted text.
//!
//! This file and its child `grammar.rs` (the field rules) depend only on `std`, `time`, `bs58`
//! and `thiserror`, so the fuzz crate compiles them on their own.

use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use grammar::{
    check_address, check_domain, check_nonce, check_request_id, check_statement, check_uri,
};

/// Largest message accepted: far above a maximal message with a few resources, far below
/// anything that costs to scan.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// Longest domain (an authority: a DNS name of at most 253 characters plus a port).
pub const MAX_DOMAIN_LEN: usize = 260;
/// Longest statement; wallets show it to the user, so it is a sentence or two.
pub const MAX_STATEMENT_LEN: usize = 1024;
/// Longest URI (the `URI:` field and each resource).
pub const MAX_URI_LEN: usize = 1024;
/// Longest nonce; ours are 22 characters.
pub const MAX_NONCE_LEN: usize = 128;
/// Longest request id.
pub const MAX_REQUEST_ID_LEN: usize = 256;
/// Most resources listed.
pub const MAX_RESOURCES: usize = 32;
/// Shortest nonce the ABNF allows.
pub const MIN_NONCE_LEN: usize = 8;

const HEADER_SUFFIX: &str = " wants you to sign in with your Solana account:";

/// The `Chain ID` values the specification lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainId {
    Mainnet,
    Testnet,
    Devnet,
    Localnet,
    SolanaMainnet,
    SolanaTestnet,
    SolanaDevnet,
}

impl ChainId {
    const ALL: [ChainId; 7] = [
        ChainId::Mainnet,
        ChainId::Testnet,
        ChainId::Devnet,
        ChainId::Localnet,
        ChainId::SolanaMainnet,
        ChainId::SolanaTestnet,
        ChainId::SolanaDevnet,
    ];

    /// The spelling in the message.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainId::Mainnet => "mainnet",
            ChainId::Testnet => "testnet",
            ChainId::Devnet => "devnet",
            ChainId::Localnet => "localnet",
            ChainId::SolanaMainnet => "solana:mainnet",
            ChainId::SolanaTestnet => "solana:testnet",
            ChainId::SolanaDevnet => "solana:devnet",
        }
    }

    /// Parses one of the seven spellings (case-sensitive, as the ABNF's `%s`).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The network, ignoring the `solana:` prefix: `mainnet` and `solana:mainnet` are the
    /// same chain written two ways.
    pub fn network(self) -> &'static str {
        self.as_str().trim_start_matches("solana:")
    }
}

/// A date-time as written in the message, with its parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    text: String,
    at: OffsetDateTime,
}

impl Timestamp {
    /// Parses an RFC 3339 `date-time` (what JavaScript's `toISOString` writes).
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > 64 {
            return None;
        }
        let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        Some(Self {
            text: text.to_owned(),
            at,
        })
    }

    /// Writes `at` in RFC 3339 at whole seconds, in UTC (`2026-03-01T12:00:00Z`).
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .expect("zero nanoseconds is valid");
        let text = at.format(&Rfc3339).expect("a UTC date-time formats");
        Self { text, at }
    }

    /// The text in the message.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The instant.
    pub fn at(&self) -> OffsetDateTime {
        self.at
    }
}

/// A Sign-In With Solana message, every field as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiwsMessage {
    pub domain: String,
    pub address: String,
    pub statement: Option<String>,
    pub uri: Option<String>,
    /// Always `"1"` when present.
    pub version: Option<String>,
    pub chain_id: Option<ChainId>,
    pub nonce: Option<String>,
    pub issued_at: Option<Timestamp>,
    pub expiration_time: Option<Timestamp>,
    pub not_before: Option<Timestamp>,
    pub request_id: Option<String>,
    pub resources: Option<Vec<String>>,
}

/// Why a text is not a well-formed message. `line` is 1-based (0 for the message as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed sign-in message at line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: &'static str,
}

fn err<T>(line: usize, reason: &'static str) -> Result<T, ParseError> {
    Err(ParseError { line, reason })
}

/// The advanced fields, in their required order.
const FIELD_PREFIXES: [&str; 9] = [
    "URI: ",
    "Version: ",
    "Chain ID: ",
    "Nonce: ",
    "Issued At: ",
    "Expiration Time: ",
    "Not Before: ",
    "Request ID: ",
    "Resources:",
];

fn field_index(line: &str) -> Option<usize> {
    FIELD_PREFIXES.iter().position(|p| line.starts_with(p))
}

impl SiwsMessage {
    /// A minimal message: domain and address only. The builder's starting point.
    pub fn new(domain: &str, address: &str) -> Self {
        Self {
            domain: domain.to_owned(),
            address: address.to_owned(),
            statement: None,
            uri: None,
            version: None,
            chain_id: None,
            nonce: None,
            issued_at: None,
            expiration_time: None,
            not_before: None,
            request_id: None,
            resources: None,
        }
    }

    /// Parses the signed bytes strictly (see the module documentation).
    pub fn parse(raw: &[u8]) -> Result<Self, ParseError> {
        if raw.len() > MAX_MESSAGE_BYTES {
            return err(0, "message too large");
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            return err(0, "message is not UTF-8");
        };
        let lines: Vec<&str> = text.split('\n').collect();
        if let Some(n) = lines.iter().position(|l| !l.is_ascii()) {
            return err(n + 1, "non-ASCII character");
        }
        let Some(domain) = lines[0].strip_suffix(HEADER_SUFFIX) else {
            return err(
                1,
                "first line must be '<domain> wants you to sign in with your Solana account:'",
            );
        };
        check_domain(domain).or_else(|r| err(1, r))?;
        let Some(address) = lines.get(1) else {
            return err(2, "missing address line");
        };
        check_address(address).or_else(|r| err(2, r))?;
        let mut msg = SiwsMessage::new(domain, address);

        let mut i = 2;
        if i == lines.len() {
            return Ok(msg);
        }
        expect_blank(&lines, &mut i, "expected a blank line after the address")?;
        if field_index(lines[i]).is_none() {
            check_statement(lines[i]).or_else(|r| err(i + 1, r))?;
            msg.statement = Some(lines[i].to_owned());
            i += 1;
            if i == lines.len() {
                return Ok(msg);
            }
            expect_blank(&lines, &mut i, "expected a blank line after the statement")?;
        }

        let mut next_field = 0;
        while i < lines.len() {
            let line = lines[i];
            let n = i + 1;
            let Some(k) = field_index(line) else {
                return err(n, "unknown line");
            };
            if k < next_field {
                return err(n, "field repeated or out of order");
            }
            next_field = k + 1;
            let value = &line[FIELD_PREFIXES[k].len()..];
            match k {
                0 => {
                    check_uri(value).or_else(|r| err(n, r))?;
                    msg.uri = Some(value.to_owned());
                }
                1 if value == "1" => msg.version = Some(value.to_owned()),
                1 => return err(n, "unsupported version (only 1)"),
                2 => {
                    let Some(chain) = ChainId::parse(value) else {
                        return err(n, "unknown chain id");
                    };
                    msg.chain_id = Some(chain);
                }
                3 => {
                    check_nonce(value).or_else(|r| err(n, r))?;
                    msg.nonce = Some(value.to_owned());
                }
                4..=6 => {
                    let Some(ts) = Timestamp::parse(value) else {
                        return err(n, "not an RFC 3339 date-time");
                    };
                    *[
                        &mut msg.issued_at,
                        &mut msg.expiration_time,
                        &mut msg.not_before,
                    ][k - 4] = Some(ts);
                }
                7 => {
                    check_request_id(value).or_else(|r| err(n, r))?;
                    msg.request_id = Some(value.to_owned());
                }
                _ => {
                    if !value.is_empty() {
                        return err(n, "'Resources:' must end its line");
                    }
                    let mut resources = Vec::new();
                    while let Some(next) = lines.get(i + 1) {
                        let Some(uri) = next.strip_prefix("- ") else {
                            return err(i + 2, "only '- <uri>' lines may follow 'Resources:'");
                        };
                        if resources.len() == MAX_RESOURCES {
                            return err(i + 2, "too many resources");
                        }
                        check_uri(uri).or_else(|r| err(i + 2, r))?;
                        resources.push(uri.to_owned());
                        i += 1;
                    }
                    msg.resources = Some(resources);
                }
            }
            i += 1;
        }
        Ok(msg)
    }

    /// Writes the message text the way wallet-standard's `createSignInMessageText` does,
    /// without validating it.
    pub fn to_text_unchecked(&self) -> String {
        let mut out = format!("{}{HEADER_SUFFIX}\n{}", self.domain, self.address);
        if let Some(statement) = &self.statement {
            let _ = write!(out, "\n\n{statement}");
        }
        let mut fields: Vec<String> = Vec::new();
        let mut push = |prefix: &str, value: Option<&str>| {
            if let Some(v) = value {
                fields.push(format!("{prefix}{v}"));
            }
        };
        push(FIELD_PREFIXES[0], self.uri.as_deref());
        push(FIELD_PREFIXES[1], self.version.as_deref());
        push(FIELD_PREFIXES[2], self.chain_id.map(ChainId::as_str));
        push(FIELD_PREFIXES[3], self.nonce.as_deref());
        push(
            FIELD_PREFIXES[4],
            self.issued_at.as_ref().map(Timestamp::as_str),
        );
        push(
            FIELD_PREFIXES[5],
            self.expiration_time.as_ref().map(Timestamp::as_str),
        );
        push(
            FIELD_PREFIXES[6],
            self.not_before.as_ref().map(Timestamp::as_str),
        );
        push(FIELD_PREFIXES[7], self.request_id.as_deref());
        if let Some(resources) = &self.resources {
            fields.push(FIELD_PREFIXES[8].to_owned());
            fields.extend(resources.iter().map(|r| format!("- {r}")));
        }
        if !fields.is_empty() {
            let _ = write!(out, "\n\n{}", fields.join("\n"));
        }
        out
    }

    /// Writes the message text and proves it valid: the text is parsed back and must give
    /// this very message, so whatever the builder returns, the parser accepts unchanged.
    pub fn build(&self) -> Result<String, ParseError> {
        let text = self.to_text_unchecked();
        if Self::parse(text.as_bytes())? != *self {
            return err(
                0,
                "fields do not survive a round trip (a statement that reads as a field?)",
            );
        }
        Ok(text)
    }

    /// The 32-byte public key the address names (checked by the parser).
    pub fn address_key(&self) -> Option<[u8; 32]> {
        bs58::decode(&self.address).into_vec().ok()?.try_into().ok()
    }
}

fn expect_blank(lines: &[&str], i: &mut usize, reason: &'static str) -> Result<(), ParseError> {
    if !lines[*i].is_empty() {
        return err(*i + 1, reason);
    }
    *i += 1;
    if *i == lines.len() {
        return err(*i, "message ends with a blank line");
    }
    Ok(())
}

#[path = "grammar.rs"]
mod grammar;

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
