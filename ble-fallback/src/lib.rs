//! Bluetooth LE fallback for PhantomCall: a mesh of nearby devices that carries the same
//! gift wraps the Nostr relays carry, for when no relay is reachable.
//!
//! - [`link`]: the radio trait ([`BleLink`]) both roles at once, our own service UUID.
//! - [`sim`]: an in-process simulated radio (range, MTU, throughput, latency, loss).
//! - `bluez` (feature `bluetooth`, Linux): the real radio, through BlueZ.
//! - [`frame`], [`frag`], [`envelope`]: the wire: a 14-byte header, fragmentation into
//!   connection-sized frames and bounded reassembly, the recipient and expiry of a message.
//! - [`mesh`]: the sans-IO node (flooding with TTL, de-duplication, relay jitter,
//!   acknowledgements and resends, store-and-forward); [`driver`] runs it on Tokio.
//!
//! It must never see plaintext call messages: it moves opaque wraps and trusts nothing
//! from the air (every frame is bounded and validated, and whatever it delivers still
//! goes through `nostr-signal`'s one verifier). It must never put a stable identifier
//! (npub, device name, fixed id) on the air.

#[cfg(feature = "bluetooth")]
pub mod bluez;
pub mod driver;
pub mod envelope;
pub mod frag;
pub mod frame;
pub mod link;
pub mod mesh;
pub mod sim;
mod system;

#[cfg(feature = "bluetooth")]
pub use bluez::BluezRadio;
pub use driver::{HandOver, MeshNode, NodeStatus};
pub use envelope::Envelope;
pub use frame::MessageId;
pub use link::{Advertisement, BleError, BleLink, LinkEvent, NeighborId, RadioAddress};
pub use mesh::{Delivery, MeshConfig, MeshStats, Outgoing};
pub use system::open_system_radio;
