//! End-to-end media encryption on top of DTLS-SRTP: SFrame (RFC 9605) on every encoded
//! frame, in the frame-transform seam ([`crate::FrameTransform`]). DTLS-SRTP protects each
//! hop; SFrame keeps frames unreadable to anything between the members (a TURN server, a
//! conference SFU) and, keyed from MLS or a hybrid post-quantum exchange, to a recording of
//! today's traffic.
//!
//! - [`SframeTransform`]: the frame encryption itself, keys per sender key id.
//! - [`pq`]: the 1:1 call's hybrid post-quantum key agreement (X-Wing) whose output keys
//!   SFrame.
//! - [`mls`]: a group call's keys from MLS, one SFrame base key per epoch, a key id per
//!   sender, credentials bound to the Nostr keys.
//! - [`GroupSframe`]: a group call's SFrame under its MLS epoch keys, shared by its
//!   connections.
//! - [`CallKeyLayer`]: a connection's transform, SFrame under those keys around the app's
//!   own transform, or DTLS-SRTP alone when the peer has no such layer ([`MediaKeys`]).
//!
//! This module never logs keys, frames or key ids with the peer they belong to.

mod group_sframe;
mod layer;
pub mod mls;
pub mod pq;
mod sframe;

pub use self::group_sframe::GroupSframe;
pub use self::layer::{CallKeyLayer, MediaKeys};
pub use self::sframe::{SframeKey, SframeTransform};
