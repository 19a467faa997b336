//! The hotline: callers call the hotline's npub, wait in a queue (never "busy"), and are
//! handed to an enrolled dispatcher chosen by strategy (ring-all, round-robin with
//! memory, longest-idle, fewest-calls); NIP-17 messages to the same npub land in a shared
//! inbox; broadcasts reach a list of npubs one private message each.
//!
//! The decisions are sans-IO: [`core::HotlineCore`] (queue, roster, strategies, rules,
//! statistics) and [`inbox::InboxCore`] (conversations, assignment, notes, hand-over,
//! opt-outs). Their SQLite [`store::Store`] means a restart loses no caller's place, no
//! conversation and no broadcast progress; `hotline.toml` is read by [`config`]. The
//! network parts talk to relays through nostr-signal: [`inbox::InboxService`] and
//! [`broadcast::Broadcaster`].
//!
//! What it must never do:
//! - **hold call media keys or a media path.** A call is handed over by a decision
//!   ([`core::Output::Transfer`]): the caller's client re-offers to the dispatcher's npub,
//!   so media is end-to-end encrypted between the two and never passes the service.
//! - **expose caller npubs to dispatchers** unless the operator allows it. Callers are
//!   known by an opaque per-hotline id (HMAC-SHA256 of the npub under a per-hotline
//!   secret, [`ids::CallerIdKey`]); the raw key stays in the queue entry that needs it to
//!   re-ring or call back, and has no revealing `Debug`.
//! - **send an internal note, a hand-over or another sender's words to a sender.** Only
//!   a dispatcher's reply leaves the inbox, addressed to that conversation's sender alone.
//! - **name more than one recipient in a broadcast wrap**, or reuse a wrap key: each
//!   recipient gets their own rumor, seal and fresh-keyed wrap, so no one learns the list.
//! - **send a broadcast to someone who wrote "stop"**, or twice to anyone (a resumed
//!   broadcast re-publishes the stored wrap, which relays and clients drop as a duplicate).
//! - **reject a caller as busy.** A full queue or a long wait overflows into a callback
//!   entry or voicemail; only abuse limits (block list, concurrent entries, rate) refuse.
//!
//! Main types: [`core::HotlineCore`], [`core::Input`], [`core::Output`],
//! [`store::Store`], [`config::HotlineConfig`], [`inbox::InboxCore`],
//! [`inbox::InboxService`], [`broadcast::Broadcaster`].

#![warn(missing_docs)]

pub mod broadcast;
pub mod config;
pub mod core;
pub mod ids;
pub mod inbox;
pub mod store;
pub mod voice;

pub use crate::core::{HotlineCore, HotlineError, Input, Output};
pub use ids::{CallId, CallerId, CallerIdKey, CallerKey, EntryId, Npub};
