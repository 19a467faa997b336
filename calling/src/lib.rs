//! PhantomCall call engine. This first part is the call state machine ([`fsm`]): plain
//! synchronous, sans-IO code that decides what happens to every 1:1 call of one device:
//! ringing, connecting, connected and ended, ring and connect timeouts, glare, busy,
//! unknown callers, and the multi-device race (first device to answer wins). Drivers
//! around it (the relay transport of `nostr-signal`, webrtc-rs, the UI) do the I/O.
//!
//! Later parts add the privacy-mode policy and ICE filtering, webrtc-rs peer connections,
//! media sources and sinks behind hardware traits, codecs, the human-blackout stage,
//! SFrame and MLS group keys.
//!
//! What it must never do: the state machine never does I/O (no socket, no clock, no
//! thread, no randomness: time and call ids come in as inputs), never panics on input,
//! and never logs a full key, call id or any SDP. No raw camera frame may ever reach an
//! encoder or a socket: the encoder will only accept the privacy filter's output type.
//!
//! Main types: [`CallEngineCore`] (`handle(input, now)`, `poll_output()`,
//! `next_timeout()`), [`Input`], [`Output`], [`CallEvent`] with its [`Reason`] and
//! [`EndReason`], [`DropReason`], [`EngineConfig`]; [`client::connect`] brings a whole
//! client up (transport, DM relay list, engine).

#![warn(missing_docs)]

pub mod client;
pub mod devices;
mod engine;
pub mod fsm;
pub mod peer;
mod pipeline;
pub mod policy;
pub mod proxy;
pub mod turn;

pub use devices::{
    FilterChoice, MediaDevices, Probes, RemoteVideoSink, SpeakerProbe, SyntheticDevices,
    SystemDevices, VideoProbe, VideoProbeState,
};
pub use engine::{
    CallEngine, CallStats, EngineEvent, EngineSetup, MediaEvent, VideoQuality, LOW_VIDEO_KBPS,
};
pub use fsm::{
    CallEngineCore, CallEvent, CallInfo, CallState, Direction, DropReason, Dropped, EndReason,
    EngineConfig, Incoming, Input, InputKind, MediaError, Output, Reason,
};
pub use media::video::{ScreenKind, ScreenTarget, ScreenTargets};
