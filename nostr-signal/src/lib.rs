//! Call signaling for PhantomCall over Nostr: keys, NIP-59 gift wrap, one hub over many
//! links, verification.
//!
//! Every call message ([`phantomcall_schemas::CallMessage`]) travels as a gift wrap: by
//! default a NIP-17 style sealed rumor in kind 1059 ([`DeliveryForm::Sealed`]), or NIP-AC's
//! signed event directly inside the wrap, kind 1059 ([`DeliveryForm::Direct`]) or the
//! ephemeral kind 21059 current NIP-AC clients use ([`DeliveryForm::Ephemeral`]), when
//! talking to a client that uses it.
//! Whatever arrives, over any link, passes through the [`SignalHub`]'s one [`Verifier`]
//! before anything acts on it. Links ([`SignalLink`]) only move opaque wraps: the relay
//! pool ([`RelayLink`]), an in-process net for tests ([`MemoryNet`]), later Bluetooth LE.
//!
//! This crate never logs message contents (SDP carries addresses), never writes an nsec to disk
//! in plain text ([`KeyFile`] stores NIP-49 `ncryptsec` only), and never contacts a relay the
//! user did not configure, except the published DM relays (kind 10050) of a peer the user
//! chose to talk to, and of those only public `wss://` ones ([`PeerRelayPolicy`]).
//!
//! Main types: [`Identity`], [`SignalTransport`] implemented by [`SignalHub`] (and by
//! [`NostrTransport`], a hub with the relay link), [`Recipients`], [`Verifier`] with its
//! [`RejectReason`]s and its two output families ([`VerifiedMessage`] for calls,
//! [`VerifiedChat`] for NIP-17 chats), and [`EmbeddedRelay`] for the demo and tests.

mod binding;
mod ble_link;
mod embedded_relay;
mod error;
mod hub;
mod keys;
mod link;
pub mod logsafe;
mod memory_link;
mod nostr_transport;
mod peer_relays;
mod publish;
mod recent;
mod relay_link;
mod replay_file;
mod transport;
mod verify;
mod wrap;

pub use binding::MAX_CONVERSATION_MEMBERS;
pub use ble_link::BleSignalLink;
pub use embedded_relay::EmbeddedRelay;
pub use error::SignalError;
pub use hub::{HubConfig, IntakeCounts, SignalHub};
pub use keys::{encode_npub, parse_public_key, verify_digest, Identity, KeyFile, KeyStrength};
pub use link::{Accepted, Arrival, ArrivalSink, Destination, LinkKind, SignalLink, Via};
pub use memory_link::{MemoryLink, MemoryNet};
pub use nostr_transport::{BlePaths, NostrTransport};
pub use peer_relays::{PeerRelayPolicy, PeerRelayRefusal};
pub use relay_link::{NostrTransportConfig, RelayLink};
pub use transport::{
    Incoming, IncomingChats, IncomingControls, IncomingMessages, Recipients, Route, SendReport,
    SignalTransport, Verified, VerifiedChat, VerifiedControl, VerifiedMessage,
};
pub use verify::{
    RejectReason, RejectionCounts, Verifier, VerifierConfig, CONTROL_KIND, MAX_CONTROL_BYTES,
};
pub use wrap::{
    build_rumor, build_wrap, wrap_rumor, DeliveryForm, DEFAULT_WRAP_EXPIRATION,
    EPHEMERAL_GIFT_WRAP_KIND,
};

/// The Bluetooth LE mesh crate, for callers that set a mesh up for [`BleSignalLink`].
pub use ble_fallback;
/// Re-export of the Nostr types that appear in this crate's API.
pub use nostr_sdk::{EventId, PublicKey, RelayUrl, Timestamp};
