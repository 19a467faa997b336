//! Call signaling for PhantomCall over Nostr: keys, NIP-59 gift wrap, relay pool, verification.
//!
//! Every call message ([`phantomcall_schemas::CallMessage`]) travels as a gift wrap: by
//! default a NIP-17 style sealed rumor in kind 1059 ([`DeliveryForm::Sealed`]), or NIP-AC's
//! signed event directly inside the wrap, kind 1059 ([`DeliveryForm::Direct`]) or the
//! ephemeral kind 21059 current NIP-AC clients use ([`DeliveryForm::Ephemeral`]), when
//! talking to a client that uses it.
//! Whatever arrives passes through one [`Verifier`] before anything acts on it.
//!
//! This crate never logs message contents (SDP carries addresses), never writes an nsec to disk
//! in plain text ([`KeyFile`] stores NIP-49 `ncryptsec` only), and never contacts a relay the
//! user did not configure, except the published DM relays (kind 10050) of a peer the user
//! chose to talk to, and of those only public `wss://` ones ([`PeerRelayPolicy`]).
//!
//! Main types: [`Identity`], [`SignalTransport`] and its Nostr implementation
//! [`NostrTransport`], [`Verifier`] with its [`RejectReason`]s, and [`EmbeddedRelay`] for the
//! demo and tests.

mod embedded_relay;
mod error;
mod keys;
pub mod logsafe;
mod nostr_transport;
mod peer_relays;
mod publish;
mod recent;
mod replay_file;
mod transport;
mod verify;
mod wrap;

pub use embedded_relay::EmbeddedRelay;
pub use error::SignalError;
pub use keys::{encode_npub, parse_public_key, Identity, KeyFile, KeyStrength};
pub use nostr_transport::{NostrTransport, NostrTransportConfig};
pub use peer_relays::{PeerRelayPolicy, PeerRelayRefusal};
pub use transport::{IncomingMessages, Route, SendReport, SignalTransport, VerifiedMessage};
pub use verify::{RejectReason, RejectionCounts, Verifier, VerifierConfig};
pub use wrap::{
    build_rumor, build_wrap, wrap_rumor, DeliveryForm, DEFAULT_WRAP_EXPIRATION,
    EPHEMERAL_GIFT_WRAP_KIND,
};

/// Re-export of the Nostr types that appear in this crate's API.
pub use nostr_sdk::{EventId, PublicKey, RelayUrl, Timestamp};
