//! Group calls (NIP-AC mesh): the decisions about who connects to whom, as plain code
//! the engine feeds with the group's messages.
//!
//! - [`Mesh`]: one group call's members and our link with each; its inputs (offers,
//!   answers, hangups, invitations) return the [`MeshStep`]s to carry out. Caps per call
//!   type ([`member_cap`]).
//!
//! What it must never do: send, sleep or read a clock; or connect past the cap.

mod mesh;

pub use mesh::{member_cap, Link, Mesh, MeshError, MeshStep, MAX_AUDIO_MEMBERS, MAX_VIDEO_MEMBERS};
