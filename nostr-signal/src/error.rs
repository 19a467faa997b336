//! The one error type of the signaling crate.

use thiserror::Error;

/// Errors of keys, wrapping and the relay transport. Messages are meant for a person to read;
/// none of them carries a key, a message body or an address.
#[derive(Debug, Error)]
pub enum SignalError {
    /// Text that should have been an npub, nprofile or hex public key was not.
    #[error("not a valid public key (expected npub1..., nprofile1... or 64 hex characters)")]
    InvalidPublicKey,
    /// Text that should have been an nsec, hex secret key or ncryptsec was not.
    #[error("not a valid secret key (expected nsec1..., ncryptsec1... or 64 hex characters)")]
    InvalidSecretKey,
    /// Decrypting an ncryptsec failed: wrong password or a damaged key.
    #[error("wrong password, or the encrypted key is damaged")]
    WrongPassword,
    /// An empty password was offered to protect a key.
    #[error("the password must not be empty")]
    EmptyPassword,
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file concerned.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// There is no key file yet.
    #[error("no identity at {path}: run `phantomcall keygen` first")]
    NoIdentity {
        /// Where it was looked for.
        path: String,
    },
    /// A relay URL did not parse.
    #[error("invalid relay URL {url:?}: {reason}")]
    InvalidRelayUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// No relay was configured.
    #[error("no relay configured")]
    NoRelays,
    /// The signaling hub has no link to send over (none added yet, or all shut down).
    #[error("no signaling link is up: nothing was sent")]
    NoLinks,
    /// The link has no way to reach the recipient (no such node in range).
    #[error("the recipient cannot be reached over the {link}")]
    Unreachable {
        /// The link that tried.
        link: crate::LinkKind,
    },
    /// None of the configured relays answered in time.
    #[error("no relay reachable (tried {tried}): check the relay addresses and your network")]
    NoRelayReachable {
        /// The relays tried, comma separated.
        tried: String,
    },
    /// None of the configured relays answered through the SOCKS5 proxy. There is no direct
    /// fallback: a proxy is set to hide the user's address.
    #[error("no relay reachable through the SOCKS5 proxy at {proxy} (tried {tried}): is the proxy (Tor) running? Nothing was sent directly")]
    NoRelayReachableThroughProxy {
        /// The proxy.
        proxy: std::net::SocketAddr,
        /// The relays tried, comma separated.
        tried: String,
    },
    /// No relay accepted the message before the send deadline.
    #[error(
        "message not delivered: no relay accepted it within {seconds} s (last error: {last_error})"
    )]
    NotDelivered {
        /// The deadline.
        seconds: u64,
        /// The last relay error seen.
        last_error: String,
    },
    /// The call message could not be turned into a valid event (a bug or a bad tag value).
    #[error("could not build the call event: {0}")]
    Build(String),
    /// An error from the Nostr client library.
    #[error("nostr client: {0}")]
    Client(String),
}

impl From<nostr_sdk::client::Error> for SignalError {
    fn from(e: nostr_sdk::client::Error) -> Self {
        SignalError::Client(e.to_string())
    }
}
