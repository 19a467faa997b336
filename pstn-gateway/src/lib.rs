//! PSTN gateway (placeholder; filled by the PSTN issue).
//!
//! Will hold: a SIP trunk user agent (any SIP provider), G.711 <-> Opus transcoding and the
//! bridge between a gift-wrapped Nostr call and a phone call, with the caller told that the
//! phone leg cannot be end-to-end encrypted.
//!
//! Main types: none yet. It must never present the phone leg as end-to-end encrypted.

pub mod bridge;
