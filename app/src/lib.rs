//! The PhantomCall desktop app as a library, so the binary and the UI tests share it.
//! The command line's own modules stay in the binary (`main.rs`).
//!
//! Its job: let a person call another by npub from a window. Screens ([`gui::screens`])
//! draw a view model and return [`gui::action::Action`]s; the controller applies them to
//! plain state ([`gui::state`]); everything slow (keys, relays, the call engine through
//! [`calling::client`]) runs off the UI thread ([`gui::backend`]); ring tone and
//! notifications live apart ([`gui::effects`]). [`demo`] holds the demo contact;
//! [`wallet`] signs in to conference services with the user's Solana keypair.
//!
//! Main types: [`gui::PhantomApp`] (the eframe shell), [`gui::AppOptions`],
//! [`gui::state::AppState`], [`gui::action::Action`], [`gui::backend::Backend`].
//!
//! What it must never do: never show or send a raw camera frame (the preview is the privacy
//! filter's output); never store an nsec, a wallet secret, contacts or the call log in plain text (the key
//! is NIP-49 encrypted, the rest sealed by [`gui::vault`]); never contact a relay, NIP-05
//! domain or TURN server the user did not choose, and never resolve a name locally when a
//! SOCKS5 proxy is set; never block the UI thread on the network, scrypt or the disk.

#![warn(missing_docs)]

pub mod ble;
pub mod demo;
pub mod gui;
pub mod wallet;

/// Starts readying human blackout's embedded models for the camera's default frame size on
/// a low-priority background thread ([`blackout::prepare_in_background`]); returns at once.
/// Called where the app starts, so the first video call finds them ready.
pub fn warm_up_blackout() -> blackout::Warmup {
    blackout::prepare_in_background(media::video::DEFAULT_WIDTH, media::video::DEFAULT_HEIGHT)
}
