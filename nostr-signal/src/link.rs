//! A path gift wraps travel over. The relay pool is one ([`crate::RelayLink`]); an
//! in-process one ([`crate::MemoryNet`]) serves tests and demos; Bluetooth LE is the next.
//!
//! A link moves opaque wraps and nothing else: it never opens one, never decides who may
//! send, and hands every wrap that arrives to the hub's one verifier
//! ([`crate::SignalHub`]), which drops what it has already seen from another link.

use std::fmt;

use async_trait::async_trait;
use nostr_sdk::{Event, PublicKey, RelayUrl};
use tokio::sync::mpsc;

use crate::{Route, SignalError};

/// Which kind of path a link is (for reports and logs; never decides anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// Nostr relays over websockets.
    Relays,
    /// In-process delivery between hubs of one program (tests, demos).
    Memory,
    /// Bluetooth LE mesh.
    Ble,
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkKind::Relays => "relays",
            LinkKind::Memory => "in-process link",
            LinkKind::Ble => "Bluetooth LE",
        })
    }
}

/// Where one wrap goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To a peer, through the paths `route` allows.
    Peer {
        /// The wrap's recipient.
        peer: PublicKey,
        /// Which relays may carry it (links without relays ignore it).
        route: Route,
    },
    /// To our own other devices (the multi-device copy). Best effort, may be delayed.
    OwnDevices,
}

/// Who took a wrap first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A relay answered OK.
    Relay(RelayUrl),
    /// A link without relays handed it on.
    Link(LinkKind),
}

impl PartialEq<RelayUrl> for Accepted {
    fn eq(&self, other: &RelayUrl) -> bool {
        matches!(self, Accepted::Relay(url) if url == other)
    }
}

impl fmt::Display for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accepted::Relay(url) => write!(f, "{url}"),
            Accepted::Link(kind) => write!(f, "{kind}"),
        }
    }
}

/// A wrap as it came off a link, before anything looked inside.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The gift wrap.
    pub wrap: Event,
    /// The path it came over.
    pub via: Via,
}

/// The path a message came over, shown to the user ("via Bluetooth, 2 hops").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Via {
    /// The link.
    pub link: LinkKind,
    /// Radio hops, for a mesh link (1: a device in range sent it).
    pub hops: Option<u8>,
}

impl Via {
    /// Over a link without hops.
    pub fn link(link: LinkKind) -> Self {
        Self { link, hops: None }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.link, self.hops) {
            (LinkKind::Ble, Some(1)) => f.write_str("via Bluetooth, 1 hop"),
            (LinkKind::Ble, Some(hops)) => write!(f, "via Bluetooth, {hops} hops"),
            (LinkKind::Ble, None) => f.write_str("via Bluetooth"),
            (LinkKind::Relays, _) => f.write_str("via relays"),
            (LinkKind::Memory, _) => f.write_str("in process"),
        }
    }
}

/// Where a link hands what arrives: the hub's intake. Bounded, so a flood on one link
/// slows that link down instead of growing memory.
pub type ArrivalSink = mpsc::Sender<Arrival>;

/// One path for gift wraps, under the [`crate::SignalHub`].
#[async_trait]
pub trait SignalLink: Send + Sync {
    /// What kind of path this is.
    fn kind(&self) -> LinkKind;

    /// Deliver one wrap. Resolves once the path took it (a relay said OK, a neighbour got
    /// it), or fails after the link's own deadline.
    async fn deliver(&self, wrap: Event, to: Destination) -> Result<Accepted, SignalError>;

    /// Whether everyone this link talks to is kept from our network address (relays
    /// reached through a proxy, a radio link). Paranoid calls need every link to.
    fn hides_network_address(&self) -> bool;

    /// Stop sending and receiving.
    async fn shutdown(&self);
}
