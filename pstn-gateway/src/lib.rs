//! PSTN gateway: the phone leg of PhantomCall.
//!
//! The SIP/RTP leg ([`Gateway`], [`PhoneCall`]) is a SIP user agent toward trunks
//! (Twilio Elastic SIP Trunking, Plivo Zentrunk, a self-hosted PBX) carrying G.711 and
//! RFC 4733 DTMF; it hands 8 kHz PCM frames and keys to the bridge over channels.
//! [`rules`] decides who may dial where and for how long (credit, destinations, caps).
//! The bridge ([`bridge`], feature `bridge`) joins a phone leg to a PhantomCall call.
//!
//! What this crate must never do:
//! - present the phone leg as end-to-end encrypted: it is plain RTP to the carrier, who
//!   (with the gateway operator) can hear it; every screen says so;
//! - record audio: frames pass through memory only;
//! - log a phone number in full (only its last two digits, [`number::Redacted`]) or a
//!   SIP password (config types hide them from `Debug`).
//!
//! Main types: [`Gateway`], [`PhoneCall`], [`GatewayConfig`], [`rules::Rules`].

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

pub use call::{
    CallError, CallInfo, CallNotice, Direction, EndReason, PhoneCall, PhoneControl, PhoneMedia,
};
pub use config::{ConfigError, GatewayConfig, TrunkConfig};
pub use gateway::{DialError, Gateway, StartError, StatsSnapshot, QUIET_SIP_STACK};
pub use number::E164;
pub use rtp::{PhoneFrame, FRAME_SAMPLES, FRAME_TIME};
pub mod digest;
