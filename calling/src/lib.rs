//! PhantomCall call engine: everything between "call this npub" and media on the wire, for
//! 1:1 calls.
//!
//! - [`fsm`]: the call state machine ([`CallEngineCore`]), plain synchronous sans-IO code
//!   that decides what happens to every 1:1 call of one device: ringing, connecting,
//!   connected and ended, ring and connect timeouts, glare, busy, unknown callers, the
//!   privacy-mode floor and mode switches agreed by both users, and the multi-device race
//!   (first device to answer wins).
//! - The engine ([`CallEngine`]): the async driver on tokio. It feeds the state machine the
//!   verified messages of a `nostr-signal` transport and carries out its outputs: one media
//!   session task per call, one ordered outbox per peer, [`EngineEvent`]s for the UI.
//! - [`peer`]: one webrtc-rs peer connection per call ([`peer::PeerSession`]: ICE,
//!   DTLS-SRTP, Opus and VP8 tracks, trickle candidates, ICE restart, stats), every
//!   candidate and SDP judged by [`policy`] ([`policy::ModePolicy`]: which candidates each
//!   mode may gather, send and accept, relay-only, STUN, video by default, proxy).
//! - [`proxy`] and [`turn`]: Paranoid mode's TURN-over-TCP bridge through a SOCKS5 proxy,
//!   and time-limited TURN REST credentials (coturn's `use-auth-secret`).
//! - [`devices`] and the media pipelines: microphone, speaker, camera and screen behind
//!   the `media` crate's traits; camera frames pass the human-blackout filter (`blackout`)
//!   before the VP8 encoder; Opus audio through a playout buffer; screen share as a second
//!   video track.
//! - [`client`]: [`client::connect`] brings a whole client up (transport, DM relay list,
//!   engine).
//! - [`ble_voice`]: voice over a direct Bluetooth LE connection when there is no IP
//!   network at all (Opus at 6-16 kbit/s, end-to-end encrypted under keys from the
//!   offer and answer).
//!
//! Seams for the second wave: admission of offers is a policy object
//! ([`fsm::AdmissionPolicy`]); each call's media path is supervised by sans-IO code fed
//! with `now`; every encoded frame passes a [`FrameTransform`] between codec and RTP, both
//! ways: each call's [`e2ee::CallKeyLayer`] puts SFrame (RFC 9605) under the 1:1 call's
//! post-quantum keys ([`e2ee::pq`], agreed in the offer and answer) around the app's own
//! transform, or passes frames with DTLS-SRTP alone for a peer without the layer.
//! [`group::Mesh`] decides a NIP-AC group call's connections. Not here yet: the engine
//! running group calls, and MLS group keys.
//!
//! What it must never do: the state machine never does I/O (no socket, no clock, no
//! thread, no randomness: time and call ids come in as inputs), never panics on input,
//! and never logs a full key, call id or any SDP. No raw camera frame may ever reach an
//! encoder or a socket: the encoder only accepts the privacy filter's output type
//! (`blackout::FilteredFrame`). No ICE candidate the call's mode forbids is ever gathered
//! or sent (nor accepted from a peer that speaks privacy modes), and a call never falls
//! back to a lower mode or a direct path on its own: a violation ends it (fail closed).
//!
//! Main types: [`CallEngineCore`] (`handle(input, now)`, `poll_output()`,
//! `next_timeout()`), [`Input`], [`Output`], [`CallEvent`] with its [`Reason`] and
//! [`EndReason`], [`DropReason`], [`EngineConfig`]; [`CallEngine`] with [`EngineSetup`]
//! and [`EngineEvent`]; [`peer::PeerSession`] with [`peer::NetworkConfig`];
//! [`policy::ModePolicy`]; [`MediaDevices`]; [`client::connect`] brings a whole client up
//! (transport, DM relay list, engine).

#![warn(missing_docs)]

pub mod ble_voice;
pub mod client;
pub mod conference;
pub mod devices;
pub mod e2ee;
mod engine;
pub mod fsm;
pub mod group;
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
    CallEngine, CallStats, DeviceFailure, EngineEvent, EngineSetup, GroupChange, GroupEnd,
    GroupEvent, LeaveReason, MediaEvent, MediaPart, MemberState, VideoQuality, LOW_VIDEO_KBPS,
};
pub use fsm::{
    CallEngineCore, CallEvent, CallInfo, CallState, Direction, DropReason, Dropped, EndReason,
    EngineConfig, Incoming, Input, InputKind, MediaError, Output, PhoneRefusal, Reason, RingUpTo,
};
pub use media::video::{ScreenKind, ScreenTarget, ScreenTargets};
pub use pipeline::processing::VoiceProcessing;
pub use pipeline::render::FarEndTap;
pub use pipeline::transform::{FrameKind, FrameTransform, IdentityTransform, TransformError};
pub use pipeline::voice::VoiceActivity;
