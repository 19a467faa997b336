//! The radio under the mesh: what a Bluetooth LE driver must offer.
//!
//! Every device is central and peripheral at once (as in BitChat): it advertises the
//! PhantomCall service with a rotating id, scans for others, connects to what it finds,
//! and exchanges frames with each connected neighbour through one GATT characteristic
//! (write without response one way, notify the other). The mesh above sees only
//! neighbours and frames; it never learns a radio address.

use std::fmt;

use async_trait::async_trait;

/// PhantomCall's own GATT service UUID (random, version 4; not BitChat's, so BitChat
/// nodes do not waste airtime on us, and we on them).
pub const SERVICE_UUID: &str = "544d16a0-c7f7-4cd1-b4ea-74a7efc67e86";
/// The one characteristic frames go through (write without response + notify).
pub const FRAME_CHARACTERISTIC_UUID: &str = "544d16a0-c7f7-4cd1-b4ea-74a7efc67e87";

/// A connected neighbour, as the local driver numbers its connections. Means nothing
/// outside this device and is never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NeighborId(pub u64);

/// A device heard in a scan, as the driver can reach it again. Opaque to the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RadioAddress(pub String);

/// What we advertise: the service UUID and a rotating id, nothing else (no name, no
/// npub, no stable address where the stack lets us choose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// Random, replaced every [`crate::mesh::MeshConfig::id_rotation`].
    pub rotating_id: [u8; 8],
}

/// What the radio reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A scan heard a device advertising our service.
    Discovered {
        /// How to connect to it.
        address: RadioAddress,
        /// Its advertised rotating id.
        rotating_id: [u8; 8],
    },
    /// A connection is up (we connected, or a neighbour connected to us).
    Connected {
        /// The connection.
        neighbor: NeighborId,
        /// The largest frame this connection carries (ATT MTU minus 3).
        max_frame: usize,
        /// The neighbour's rotating id as advertised, when known.
        rotating_id: Option<[u8; 8]>,
    },
    /// A connection is gone (out of range, closed).
    Disconnected {
        /// The connection.
        neighbor: NeighborId,
    },
    /// A frame came from a neighbour. Not yet checked in any way.
    Received {
        /// From whom.
        neighbor: NeighborId,
        /// The bytes, at most the connection's frame size (drivers drop longer writes).
        frame: Vec<u8>,
    },
}

/// Why the radio could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BleError {
    /// No Bluetooth adapter, or it is off.
    #[error("no Bluetooth adapter is available: {0}")]
    NoAdapter(String),
    /// The neighbour is gone.
    #[error("neighbour {0:?} is not connected")]
    NotConnected(NeighborId),
    /// The device could not be reached.
    #[error("could not connect: {0}")]
    ConnectFailed(String),
    /// The frame is longer than the connection carries.
    #[error("frame of {len} bytes exceeds the connection's {max} bytes")]
    FrameTooLong {
        /// The frame's length.
        len: usize,
        /// What the connection carries.
        max: usize,
    },
    /// The stack refused (permissions, BlueZ errors).
    #[error("Bluetooth stack error: {0}")]
    Stack(String),
}

/// A Bluetooth LE radio in both roles. Implemented by the Linux driver
/// (`bluez::BluezRadio`, feature `bluetooth`) and by the simulated radio ([`crate::sim`]).
#[async_trait]
pub trait BleLink: Send + Sync + 'static {
    /// Advertise our service with `ad` (replacing any earlier advertisement) and scan for
    /// others; discoveries arrive as [`LinkEvent::Discovered`].
    async fn advertise_and_scan(&self, ad: Advertisement) -> Result<(), BleError>;

    /// Connect to a discovered device; success arrives as [`LinkEvent::Connected`].
    async fn connect(&self, address: &RadioAddress) -> Result<(), BleError>;

    /// Send one frame to a connected neighbour (best effort, like a GATT write without
    /// response: the mesh does its own acknowledgements).
    async fn send(&self, to: NeighborId, frame: Vec<u8>) -> Result<(), BleError>;

    /// Close the connection to a neighbour.
    async fn disconnect(&self, neighbor: NeighborId);

    /// The next thing the radio has to report; `None` once the radio is shut down.
    async fn next_event(&self) -> Option<LinkEvent>;

    /// Stop advertising, scanning and every connection.
    async fn shutdown(&self);
}

impl fmt::Display for NeighborId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "neighbour #{}", self.0)
    }
}
