//! The messaging hotline: a shared inbox for NIP-17 direct messages to the hotline's npub.
//!
//! Each sender's messages form a conversation keyed by their opaque per-hotline id
//! ([`crate::ids::CallerIdKey`]); dispatchers see that id, and the sender's npub only when
//! the operator allows it. A new conversation goes to an available dispatcher by the
//! queue's strategies ([`assign`]); the dispatcher answers from the hotline's identity,
//! writes internal notes (never sent), sets the status (open / pending / closed) and hands
//! conversations over. A sender who writes "stop" is opted out of broadcasts.
//!
//! [`InboxCore`] is sans-IO (unit-testable, time passed in); [`InboxService`] runs it on
//! relays through nostr-signal and writes every change to the [`crate::store::Store`].

pub mod assign;
pub mod command;
mod core;
mod service;
pub mod sms;
mod types;

pub use assign::InboxDispatcher;
pub use command::{parse_command, SenderCommand};
pub use core::{InboxChanges, InboxCore, InboxSnapshot, MessageRecord};
pub use service::{InboxService, InboxServiceConfig, ServiceError};
pub use types::*;

#[cfg(test)]
mod tests;
