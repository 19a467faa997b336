//! The SMS bridge for the messaging hotline (issue 19 item 5).
//!
//! Inbound: the provider (Twilio or Plivo) posts each message to our webhook
//! ([`server`]); the request signature is checked ([`signature`]), the form read
//! ([`webhook`]), duplicates and opt-out keywords handled ([`keywords`], [`store`]), and
//! the message handed to the application as an [`SmsEvent`] on a channel. Outbound:
//! [`SmsSender`] sends a reply through the provider's REST API, after the opt-out, size
//! ([`segments`]) and rate checks ([`limits`]); delivery reports come back through the
//! webhook and update the message's [`DeliveryStatus`].
//!
//! The hotline consumes this through plain types ([`SmsEvent`], [`InboundSms`],
//! [`SmsSender`]) and never depends on provider details; this crate does not depend on the
//! hotline either.
//!
//! SMS is not end-to-end encrypted: the provider, the carriers and the gateway operator can
//! read it. Message text passes through memory only: it is never logged nor stored.

pub mod config;
pub mod intake;
pub mod keywords;
pub mod limits;
pub mod segments;
pub mod sender;
pub mod server;
pub mod signature;
pub mod sip_message;
pub mod store;
pub mod token;
pub mod types;
pub mod webhook;

pub use config::{Secret, SmsConfig};
pub use intake::{Intake, Taken};
pub use sender::{SendError, SentSms, SmsSender};
pub use server::{SmsServer, SmsServerError};
pub use store::SmsStore;
pub use token::SenderTokens;
pub use types::{DeliveryReport, DeliveryStatus, InboundSms, Provider, SmsEvent};
