//! The hotline's queue: callers call the hotline's npub, wait in a queue (never "busy"),
//! and are handed to an enrolled dispatcher chosen by strategy (ring-all, round-robin with
//! memory, longest-idle, fewest-calls). This crate is the part without network: the
//! sans-IO [`core::HotlineCore`] (queue, roster, strategies, rules, statistics), its
//! SQLite [`store::Store`] (a restart loses no caller's place) and the `hotline.toml`
//! [`config`]. The relay service and the dispatcher console drive it.
//!
//! What it must never do:
//! - **hold call media keys or a media path.** A call is handed over by a decision
//!   ([`core::Output::Transfer`]): the caller's client re-offers to the dispatcher's npub,
//!   so media is end-to-end encrypted between the two and never passes the service.
//! - **expose caller npubs to dispatchers** unless the operator allows it. Callers are
//!   known by an opaque per-hotline id (HMAC-SHA256 of the npub under a per-hotline
//!   secret, [`ids::CallerIdKey`]); the raw key stays in the queue entry that needs it to
//!   re-ring or call back, and has no revealing `Debug`.
//! - **reject a caller as busy.** A full queue or a long wait overflows into a callback
//!   entry or voicemail; only abuse limits (block list, concurrent entries, rate) refuse.
//!
//! Main types: [`core::HotlineCore`], [`core::Input`], [`core::Output`],
//! [`store::Store`], [`config::HotlineConfig`].

#![warn(missing_docs)]

pub mod config;
pub mod core;
pub mod ids;
pub mod store;

pub use crate::core::{HotlineCore, HotlineError, Input, Output};
pub use ids::{CallId, CallerId, CallerIdKey, CallerKey, EntryId, Npub};
