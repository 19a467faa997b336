//! Broadcasts: one text to a list of npubs, each as its own NIP-17 message.
//!
//! Every wrap names exactly one recipient, is signed by a fresh key and carries a
//! randomised `created_at` ([`wrap`]); wraps leave with random jitter, rate-limited per
//! relay, retried with backoff when a relay fails or says `OK false`. Opted-out senders
//! (they wrote "stop" to the inbox) are skipped. Progress goes to a channel; each
//! recipient's outcome and the wrap built for them are kept in the store, so an
//! interrupted broadcast resumes without sending anyone a second message ([`Broadcaster`]).

pub mod list;
mod report;
mod runner;
mod targets;
pub mod wrap;

use std::ops::Range;
use std::time::Duration;

pub use list::{parse_recipients, read_recipients_file, InvalidLine, LineError, RecipientList};
pub use report::{BroadcastId, DeliveryReport, Outcome, Progress, RecipientReport};
pub use runner::{BroadcastError, Broadcaster};

/// How a broadcast paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastConfig {
    /// Shortest time between two events sent to one relay (the per-relay rate limit).
    /// Public relays throttle writers (often a few events a second) and may ban a key
    /// that floods; the default, 2 per second, stays well under.
    pub per_relay_interval: Duration,
    /// A random wait in this range before each wrap is handed to the relays, so the
    /// relays do not see a machine-regular stream.
    pub jitter: Range<Duration>,
    /// Tries per relay and recipient before the relay counts as failed for them.
    pub max_attempts: u32,
    /// Wait before the first retry; doubles after each, up to `backoff_max`.
    pub backoff_first: Duration,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// How long one publish waits for the relay's `OK`.
    pub attempt_timeout: Duration,
    /// How long to wait for the relays to connect before starting anyway.
    pub connect_timeout: Duration,
    /// Send each recipient's wrap to their DM relays (kind 10050), as NIP-17 asks, when
    /// they publish a list; the hotline's own relays otherwise. Off: own relays only.
    pub recipient_relays: bool,
    /// Most of one recipient's DM relays used.
    pub max_relays_per_recipient: usize,
    /// Accept `ws://` and local addresses in recipients' lists (local set-ups and tests
    /// only: elsewhere a list could point the hotline at its own network).
    pub allow_local_relays: bool,
    /// How long the DM relay lookup waits for the relays' answers.
    pub lookup_timeout: Duration,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        Self {
            per_relay_interval: Duration::from_millis(500),
            jitter: Duration::from_millis(50)..Duration::from_millis(500),
            max_attempts: 5,
            backoff_first: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            recipient_relays: true,
            max_relays_per_recipient: 3,
            allow_local_relays: false,
            lookup_timeout: Duration::from_secs(5),
        }
    }
}
