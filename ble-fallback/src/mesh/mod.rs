//! The mesh: flooding with TTL, de-duplication by message id, relay jitter,
//! acknowledgements and resends per neighbour, and store-and-forward.
//!
//! [`MeshCore`] is sans-IO (as str0m is): it is fed what the radio reports and the time,
//! and says what to transmit and what to deliver. [`crate::driver`] runs it over a
//! [`crate::BleLink`]; tests drive it in virtual time.

mod core;
mod stats;
pub mod store;

use std::time::Duration;

pub use self::core::MeshCore;
pub use self::stats::{DropReason, MeshStats};
use crate::envelope::Envelope;
use crate::frag::ReassemblyLimits;
use crate::frame::MessageId;
use crate::link::{Advertisement, NeighborId};
use store::StoreLimits;

/// Settings of the mesh.
#[derive(Debug, Clone)]
pub struct MeshConfig {
    /// Recipient keys this node delivers to the layer above (our own key).
    pub interests: Vec<[u8; 32]>,
    /// Random wait before relaying (BitChat: 10-220 ms), so neighbours that heard the same
    /// frame do not all transmit at once.
    pub relay_jitter: (Duration, Duration),
    /// First wait for an acknowledgement before resending a whole message to a neighbour;
    /// each further resend waits one more.
    pub resend_after: Duration,
    /// Sends of one message to one neighbour before giving up on that neighbour.
    pub max_sends: u8,
    /// How often the rotating id is replaced.
    pub id_rotation: Duration,
    /// Reassembly bounds.
    pub reassembly: ReassemblyLimits,
    /// Store-and-forward bounds.
    pub store: StoreLimits,
    /// Ids remembered for de-duplication.
    pub seen_ids: usize,
    /// Seed for jitter and rotating ids; `None` takes one from the OS.
    pub seed: Option<u64>,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            interests: Vec::new(),
            relay_jitter: (Duration::from_millis(10), Duration::from_millis(220)),
            resend_after: Duration::from_millis(1500),
            max_sends: 4,
            id_rotation: Duration::from_secs(15 * 60),
            reassembly: ReassemblyLimits::default(),
            store: StoreLimits::default(),
            seen_ids: 4096,
            seed: None,
        }
    }
}

/// What the layer above hands the mesh.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The message's id (the first bytes of the wrap's id).
    pub id: MessageId,
    /// The message.
    pub envelope: Envelope,
}

/// What the mesh is told.
#[derive(Debug, Clone)]
pub enum MeshInput {
    /// A connection came up.
    NeighborUp {
        /// The connection.
        neighbor: NeighborId,
        /// Its frame size.
        max_frame: usize,
        /// Its advertised rotating id, if known.
        rotating_id: Option<[u8; 8]>,
    },
    /// A connection went away.
    NeighborDown(NeighborId),
    /// Bytes from a neighbour.
    Frame {
        /// From whom.
        neighbor: NeighborId,
        /// The raw frame.
        bytes: Vec<u8>,
    },
    /// A message to send.
    Send(Outgoing),
    /// A voice packet for one neighbour (direct link, never relayed).
    Voice {
        /// To whom.
        neighbor: NeighborId,
        /// The encrypted packet.
        packet: Vec<u8>,
    },
}

/// A message that reached one of our interests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: MessageId,
    /// The message.
    pub envelope: Envelope,
    /// Radio hops it travelled (1: a neighbour sent it).
    pub hops: u8,
}

/// What the mesh wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshOutput {
    /// Put `frame` on the connection to `to`.
    Transmit {
        /// The neighbour.
        to: NeighborId,
        /// Encoded frame, within that connection's frame size.
        frame: Vec<u8>,
    },
    /// A message for us.
    Deliver(Delivery),
    /// A voice packet from a neighbour.
    Voice {
        /// From whom.
        neighbor: NeighborId,
        /// The packet, opaque.
        packet: Vec<u8>,
    },
    /// A neighbour confirmed it has a message we originated (the first such, per message).
    Handed {
        /// The message.
        id: MessageId,
    },
    /// A message we originated had no neighbour to go to; it is kept for whoever comes.
    Queued {
        /// The message.
        id: MessageId,
    },
    /// A message handed to [`MeshInput::Send`] that was not sent: already expired, or an id
    /// the mesh has already carried.
    Refused {
        /// The message.
        id: MessageId,
    },
    /// Advertise this from now on (rotation).
    Advertise(Advertisement),
}
