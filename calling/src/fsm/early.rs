//! ICE candidates that arrive before their offer. Relays do not keep order, so NIP-AC asks
//! to hold such candidates briefly; bounded in calls, candidates and time, so a flood of
//! candidates for invented call ids cannot grow memory.

use std::collections::HashMap;
use std::time::Instant;

use nostr_signal::PublicKey;
use phantomcall_schemas::{CallId, DeviceId, IceCandidate};

use super::config::{EARLY_CANDIDATE_TTL, MAX_BUFFERED_CANDIDATES, MAX_EARLY_CANDIDATE_CALLS};

struct Held {
    sender: PublicKey,
    first_seen: Instant,
    candidates: Vec<(Option<DeviceId>, IceCandidate)>,
}

/// The buffer, per call id.
#[derive(Default)]
pub(crate) struct EarlyCandidates {
    held: HashMap<CallId, Held>,
}

impl std::fmt::Debug for EarlyCandidates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EarlyCandidates({} calls)", self.held.len())
    }
}

impl EarlyCandidates {
    /// Holds `candidates` for call `id` from `sender`. False when they are not kept: the
    /// call's share is full, or another sender already holds candidates under this id.
    pub fn hold(
        &mut self,
        id: CallId,
        sender: PublicKey,
        device: Option<DeviceId>,
        candidates: Vec<IceCandidate>,
        now: Instant,
    ) -> bool {
        self.prune(now);
        if !self.held.contains_key(&id) && self.held.len() >= MAX_EARLY_CANDIDATE_CALLS {
            let oldest = self
                .held
                .iter()
                .min_by_key(|(_, h)| h.first_seen)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                self.held.remove(&oldest);
            }
        }
        let held = self.held.entry(id).or_insert_with(|| Held {
            sender,
            first_seen: now,
            candidates: Vec::new(),
        });
        if held.sender != sender
            || held.candidates.len() + candidates.len() > MAX_BUFFERED_CANDIDATES
        {
            return false;
        }
        held.candidates
            .extend(candidates.into_iter().map(|c| (device.clone(), c)));
        true
    }

    /// The candidates `sender` sent for call `id` before its offer, if not expired at `now`
    /// (none if another key sent them: only the caller's own candidates join its call).
    pub fn take(
        &mut self,
        id: CallId,
        sender: &PublicKey,
        now: Instant,
    ) -> Vec<(Option<DeviceId>, IceCandidate)> {
        self.prune(now);
        match self.held.remove(&id) {
            Some(held) if held.sender == *sender => held.candidates,
            _ => Vec::new(),
        }
    }

    /// Forgets what waited longer than [`EARLY_CANDIDATE_TTL`].
    pub fn prune(&mut self, now: Instant) {
        self.held
            .retain(|_, h| now.saturating_duration_since(h.first_seen) < EARLY_CANDIDATE_TTL);
    }
}
