//! PhantomCall's signaling schemas: the JSON Schemas of the NIP-AC compatible call messages
//! (kinds 25050..=25055 and PhantomCall's extension kinds 25060..), embedded and compiled
//! once, plus typed building ([`CallMessage::to_parts`]) and checked parsing
//! ([`CallMessage::from_rumor_json`]) of the rumors that carry them. Every received message
//! passes [`validate_rumor`] (directly or through `from_rumor_json`) before anything acts
//! on it.
//!
//! This crate must never put content or tag values into errors or logs: contents may be SDP
//! with IP addresses. Errors carry only kind numbers, JSON pointer paths and schema
//! locations. It must never fetch anything either: every `$ref` resolves from the schemas
//! embedded at build time.
//!
//! A second family, NIP-17 chat messages ([`ChatMessage`], kind 14), has a schema of its
//! own and is parsed only by [`ChatMessage::from_rumor_json`].
//!
//! Main types: [`CallMessage`] with its [`CallBody`] and [`CallKind`], [`validate_rumor`]
//! and [`SchemaError`], and the value types [`CallId`], [`DeviceId`], [`CallType`],
//! [`PrivacyMode`] and [`IceCandidate`].

#![warn(missing_docs)]

/// `(path, text)` of a schema file, embedded at build time (path relative to `schemas/`).
macro_rules! embed {
    ($path:literal) => {
        ($path, include_str!(concat!("../", $path)))
    };
}

mod chat;
mod error;
mod kind;
mod message;
mod types;
mod validate;

pub use chat::{ChatMessage, CHAT_KIND, MAX_CHAT_LEN, MAX_CHAT_RECEIVERS};
pub use error::SchemaError;
pub use kind::CallKind;
pub use message::{CallBody, CallMessage, PhoneLeg, PhoneRef};
pub use types::{
    CallId, CallType, DeviceId, GroupKeysKind, HandledOutcome, IceCandidate, ParseValueError,
    PrivacyMode,
};
pub use validate::validate_rumor;

/// The PhantomCall protocol version sent in the `["v", ...]` tag.
pub const PROTOCOL_VERSION: &str = "1";

/// Longest SDP (offer, answer, renegotiate content), in characters.
pub const MAX_SDP_LEN: usize = 32_768;
/// Longest hangup / reject reason, in characters.
pub const MAX_REASON_LEN: usize = 256;
/// Longest ICE `candidate` string, in characters.
pub const MAX_CANDIDATE_LEN: usize = 1024;
/// Most ICE candidates in one kind 25052 message; split longer batches.
pub const MAX_CANDIDATES_PER_MESSAGE: usize = 64;
/// Most tags on one rumor.
pub const MAX_TAGS: usize = 32;
/// Largest MLS message a group-keys message (kind 25063) carries, in bytes: its base64
/// fits the schema's 49,000 characters (a welcome with a full mesh's ratchet tree is a few
/// KiB).
pub const MAX_GROUP_KEYS_LEN: usize = 36_000;
/// Most violations listed in [`SchemaError::Invalid`].
pub const MAX_REPORTED_ERRORS: usize = 16;
