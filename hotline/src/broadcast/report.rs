//! What a broadcast did for each recipient, and its running totals.

use std::fmt;

use crate::ids::Npub;

/// A broadcast's number in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BroadcastId(pub u64);

impl fmt::Display for BroadcastId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "broadcast-{}", self.0)
    }
}

/// What happened for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not sent yet (an interrupted broadcast resumes these).
    Pending,
    /// Published: `relays_ok` of `relays_total` relays said OK.
    Delivered {
        /// Relays that took the wrap.
        relays_ok: u32,
        /// Relays tried.
        relays_total: u32,
        /// Most attempts any relay needed.
        attempts: u32,
    },
    /// No relay took it after every retry.
    Failed {
        /// Relays tried.
        relays_total: u32,
        /// Most attempts any relay got.
        attempts: u32,
        /// The last relay's reason.
        reason: String,
    },
    /// The recipient wrote "stop" to the hotline: nothing was sent.
    SkippedOptedOut,
}

impl Outcome {
    /// Whether this recipient is done with (sent, failed or skipped).
    pub fn is_final(&self) -> bool {
        !matches!(self, Outcome::Pending)
    }
}

/// One recipient's line of the delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReport {
    /// Who.
    pub recipient: Npub,
    /// What happened.
    pub outcome: Outcome,
}

/// Totals of a broadcast so far; sent to the progress channel after each recipient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Recipients in the broadcast.
    pub total: usize,
    /// Recipients done with (delivered + failed + skipped).
    pub done: usize,
    /// Delivered to at least one relay.
    pub delivered: usize,
    /// Failed on every relay.
    pub failed: usize,
    /// Skipped, opted out.
    pub skipped: usize,
}

/// The report at the end of a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Which broadcast.
    pub id: BroadcastId,
    /// One line per recipient, in list order.
    pub recipients: Vec<RecipientReport>,
}

impl DeliveryReport {
    /// The totals.
    pub fn progress(&self) -> Progress {
        let mut p = Progress {
            total: self.recipients.len(),
            ..Progress::default()
        };
        for r in &self.recipients {
            match r.outcome {
                Outcome::Pending => continue,
                Outcome::Delivered { .. } => p.delivered += 1,
                Outcome::Failed { .. } => p.failed += 1,
                Outcome::SkippedOptedOut => p.skipped += 1,
            }
            p.done += 1;
        }
        p
    }
}
