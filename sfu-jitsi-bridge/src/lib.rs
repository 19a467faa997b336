//! PhantomCall's conference service: who may enter a conference, for how long and with how
//! many others.
//!
//! This crate is the service's authentication and billing core, as a library the service
//! binary drives (it does no network I/O and reads no clock: every function takes `now`):
//! Sign-In With Solana ([`siws`]), single-use nonces ([`nonce`]), EdDSA session tokens and
//! rotating refresh tokens ([`token`], tied together in [`auth`]), plans as entitlements
//! ([`tiers`]), Stripe webhooks that set a wallet's plan ([`stripe`]), and the state behind them
//! in SQLite or PostgreSQL ([`store`]), and the embedded SFU ([`sfu`]), which forwards SFrame
//! (RFC 9605) ciphertext between a room's participants without ever reading it. The
//! service process itself ([`service`], run by the `phantomcall-conference` binary) puts
//! HTTPS and WebSocket signaling, rooms with invite links, host controls and the MLS
//! delivery service in front of them. Media goes through a [`backend::MediaBackend`]: the
//! embedded SFU on one machine, or Janus VideoRoom instances ([`janus`]) cascaded across
//! machines. A Jitsi Videobridge (COLIBRI2) backend would be a third one; none ships, since
//! none can be tested here.
//!
//! What it must never do:
//! - hold media keys or decrypt media: conference media is SFrame ciphertext keyed by the
//!   room's MLS group, which this service relays as opaque blobs and is never a member of;
//! - log a wallet address or an IP address in full: addresses go to logs only through
//!   [`logsafe::ShortAddress`] (first and last four characters), and [`logsafe::WalletAddress`]
//!   has no `Display` and a shortened `Debug`;
//! - keep personal data for billing: a wallet address, a Stripe customer id and a tier are all
//!   it stores about a paying user.
//!
//! Main types: [`auth::AuthService`] (challenge, sign in, refresh, check a session),
//! [`siws::SiwsMessage`] and [`siws::verify`], [`token::SessionKeys`], [`tiers::Tier`] and
//! [`tiers::Entitlements`], [`stripe::handle_webhook`], and the [`store::Store`] trait with
//! [`store::SqliteStore`] and [`store::PostgresStore`], [`sfu::Sfu`], [`service::Server`].

pub mod auth;
pub mod backend;
pub mod janus;
pub mod logsafe;
pub mod nonce;
pub mod service;
pub mod sfu;
pub mod siws;
pub mod store;
pub mod stripe;
pub mod tiers;
pub mod token;
