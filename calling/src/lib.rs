//! PhantomCall call engine (placeholder; filled by the 1:1 call issue and its successors).
//!
//! Will hold: the pure call state machine (ringing, connecting, connected, ended; glare,
//! multi-device, busy), the privacy-mode policy and ICE filtering, webrtc-rs peer connections,
//! media sources and sinks behind hardware traits, codecs, the human-blackout privacy filter
//! stage, SFrame and MLS group keys. It must never hand a raw camera frame to an encoder or a
//! socket: the encoder only accepts the privacy filter's output type.
