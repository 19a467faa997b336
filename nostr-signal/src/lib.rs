//! Call signaling for PhantomCall over Nostr: keys, NIP-59 gift wrap, relay pool, verification.
//!
//! Every call message ([`phantomcall_schemas::CallMessage`]) travels as a kind 1059 gift wrap:
//! by default a NIP-17 style sealed rumor ([`DeliveryForm::Sealed`]), or NIP-AC's signed event
//! directly inside the wrap ([`DeliveryForm::Direct`]) when talking to a client that uses it.
//! Whatever arrives passes through one [`Verifier`] before anything acts on it.
//!
//! This crate never logs message contents (SDP carries addresses), never writes an nsec to disk
//! in plain text ([`KeyFile`] stores NIP-49 `ncryptsec` only), and never contacts a relay the
//! user did not configure, except the recipient's published DM relays (kind 10050).
//!
//! Main types: [`Identity`], [`SignalTransport`] and its Nostr implementation
//! [`NostrTransport`], [`Verifier`] with its [`RejectReason`]s, and [`EmbeddedRelay`] for the
//! demo and tests.

mod embedded_relay;
mod error;
mod keys;
pub mod logsafe;
mod nostr_transport;
mod transport;
mod verify;
mod wrap;

pub use embedded_relay::EmbeddedRelay;
pub use error::SignalError;
pub use keys::{encode_npub, parse_public_key, Identity, KeyFile, KeyStrength};
pub use nostr_transport::{NostrTransport, NostrTransportConfig};
pub use transport::{IncomingMessages, SendReport, SignalTransport, VerifiedMessage};
pub use verify::{RejectReason, RejectionCounts, Verifier, VerifierConfig};
pub use wrap::{build_rumor, build_wrap, wrap_rumor, DeliveryForm, DEFAULT_WRAP_EXPIRATION};

/// Re-export of the Nostr types that appear in this crate's API.
pub use nostr_sdk::{EventId, PublicKey, RelayUrl, Timestamp};
