//! PSTN gateway: the phone leg of PhantomCall.
//!
//! The SIP/RTP leg ([`Gateway`], [`PhoneCall`]) is a SIP user agent toward trunks
//! (Twilio Elastic SIP Trunking, Plivo Zentrunk, a self-hosted PBX) over UDP, TCP or TLS,
//! carrying G.711 and RFC 4733 DTMF over RTP or SDES-SRTP; it hands 8 kHz PCM frames and
//! keys to the bridge over channels.
//! [`rules`] decides who may dial where and for how long (credit, destinations, caps).
//! The bridge ([`bridge`], feature `bridge`) joins a phone leg to a PhantomCall call, and
//! the service ([`service`], `phantomcall gateway serve`) joins trunks to users: DIDs ring
//! npubs or hotlines, users' `dial` calls go out through the rules, credit is kept in a
//! ledger, spikes reach the operator's webhook ([`alert`]).
//! The SMS bridge ([`sms`]) carries text messages for the messaging hotline: inbound
//! through the provider's signed webhooks (Twilio, Plivo), outbound through its REST API,
//! with opt-out keywords, delivery reports, and rate and budget limits against abuse and
//! overbilling.
//!
//! What this crate must never do:
//! - present the phone leg or an SMS as end-to-end encrypted: it is RTP (or SRTP, which
//!   protects only the hop to the trunk) or SMS to the carrier, who (with the provider and
//!   the gateway operator) can hear or read it; every screen says so;
//! - record audio, or log or store a message text: both pass through memory only;
//! - log a phone number in full (only its last two digits, [`number::Redacted`]), a SIP
//!   password or an SMS auth token (config types hide them from `Debug`);
//! - act on a webhook whose provider signature does not verify, or send an SMS to a number
//!   that opted out (STOP).
//!
//! Main types: [`Gateway`], [`PhoneCall`], [`GatewayConfig`], [`rules::Rules`],
//! [`sms::SmsServer`], [`sms::SmsSender`].

pub mod alert;
#[cfg(feature = "bridge")]
pub mod bridge;
pub mod call;
pub mod config;
pub mod g711;
pub mod gateway;
pub mod number;
pub mod rtp;
pub mod rules;
pub mod sdp;
#[cfg(feature = "bridge")]
pub mod service;
pub mod sms;

pub use call::{
    CallError, CallInfo, CallNotice, Direction, EndReason, PhoneCall, PhoneControl, PhoneMedia,
};
pub use config::{ConfigError, GatewayConfig, TrunkConfig};
pub use gateway::{DialError, Gateway, StartError, StatsSnapshot, QUIET_SIP_STACK};
pub use number::E164;
pub use rtp::{PhoneFrame, FRAME_SAMPLES, FRAME_TIME};
pub mod digest;
