//! Conference media service (placeholder; filled by the conference issue).
//!
//! Will hold: an embedded SFU that forwards SFrame (RFC 9605) ciphertext between participants
//! without ever holding media keys, rooms with host controls, Sign-In With Solana
//! authentication (single-use nonces, short-lived EdDSA session tokens), and a Jitsi
//! Videobridge (COLIBRI2) backend for scale-out.
//!
//! Main types: none yet. It must never hold media keys or decrypt media: it forwards
//! SFrame ciphertext only.
