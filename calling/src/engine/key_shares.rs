//! The engine's side of the post-quantum shares: they ride on the offer and answer as
//! opaque bytes, outside the state machine (which never sees keys or does randomness).
//!
//! Our share, reported by the session with its SDP, is attached to the next offer or
//! answer the state machine sends on that call (once: restart offers and answers carry
//! none). A peer's share is kept with the SDP it came with, and handed to the session
//! together with the SDP the state machine chose to apply, so a second answer (another of
//! the peer's devices, a forgery the state machine drops) can never lend its share.

use std::collections::HashMap;

use phantomcall_schemas::{CallBody, CallId, CallMessage};

/// Peer shares kept per call (offers or answers whose SDP the machine has not chosen yet).
const REMOTE_SHARES_PER_CALL: usize = 4;

/// Shares waiting to be sent or applied, per call.
#[derive(Debug, Default)]
pub(crate) struct KeyShares {
    ours: HashMap<CallId, Vec<u8>>,
    theirs: HashMap<CallId, Vec<(String, Vec<u8>)>>,
}

impl KeyShares {
    /// Our session produced `share` for its next offer or answer.
    pub(crate) fn ours(&mut self, call_id: CallId, share: Vec<u8>) {
        self.ours.insert(call_id, share);
    }

    /// Attaches our share to `message` if it is the offer or answer it belongs to.
    pub(crate) fn attach(&mut self, message: &mut CallMessage) {
        if matches!(
            message.body,
            CallBody::Offer { .. } | CallBody::Answer { .. }
        ) {
            if let Some(share) = self.ours.remove(&message.call_id) {
                message.pq_share = Some(share);
            }
        }
    }

    /// Keeps the share of a peer's offer or answer with its SDP.
    pub(crate) fn remember(&mut self, message: &CallMessage) {
        let (Some(share), CallBody::Offer { sdp, .. } | CallBody::Answer { sdp }) =
            (&message.pq_share, &message.body)
        else {
            return;
        };
        let kept = self.theirs.entry(message.call_id).or_default();
        if kept.len() == REMOTE_SHARES_PER_CALL {
            kept.remove(0);
        }
        kept.push((sdp.clone(), share.clone()));
    }

    /// The share that came with `sdp` on `call_id`, if any (taken: it is used once).
    pub(crate) fn take(&mut self, call_id: CallId, sdp: &str) -> Option<Vec<u8>> {
        let kept = self.theirs.get_mut(&call_id)?;
        let at = kept.iter().position(|(s, _)| s == sdp)?;
        Some(kept.remove(at).1)
    }

    /// Forgets everything about `call_id` (it ended, or the machine never took it).
    pub(crate) fn forget(&mut self, call_id: CallId) {
        self.ours.remove(&call_id);
        self.theirs.remove(&call_id);
    }
}

#[cfg(test)]
mod tests {
    use phantomcall_schemas::CallType;

    use super::*;

    fn message(call_id: CallId, body: CallBody, share: Option<Vec<u8>>) -> CallMessage {
        CallMessage {
            phone: None,
            call_id,
            peer: "ab".repeat(32),
            also_to: Vec::new(),
            pq_share: share,
            mode: None,
            device: None,
            body,
        }
    }

    fn answer(sdp: &str) -> CallBody {
        CallBody::Answer { sdp: sdp.into() }
    }

    #[test]
    fn our_share_goes_on_the_first_offer_or_answer_only() {
        let mut shares = KeyShares::default();
        let call = CallId::new_random();
        shares.ours(call, vec![1, 2, 3]);
        let mut ice = message(call, CallBody::IceCandidates(Vec::new()), None);
        shares.attach(&mut ice);
        assert_eq!(ice.pq_share, None, "not on candidates");
        let offer = CallBody::Offer {
            sdp: "v=0 a".into(),
            call_type: CallType::Voice,
        };
        let mut first = message(call, offer.clone(), None);
        shares.attach(&mut first);
        assert_eq!(first.pq_share, Some(vec![1, 2, 3]));
        let mut again = message(call, offer, None);
        shares.attach(&mut again);
        assert_eq!(again.pq_share, None, "a restart offer carries none");
    }

    #[test]
    fn a_peer_share_is_handed_over_with_the_sdp_it_came_with() {
        let mut shares = KeyShares::default();
        let call = CallId::new_random();
        shares.remember(&message(call, answer("v=0 first"), Some(vec![1])));
        shares.remember(&message(call, answer("v=0 second"), Some(vec![2])));
        assert_eq!(shares.take(call, "v=0 second"), Some(vec![2]));
        assert_eq!(shares.take(call, "v=0 second"), None, "used once");
        assert_eq!(shares.take(call, "v=0 other"), None);
        assert_eq!(shares.take(CallId::new_random(), "v=0 first"), None);
    }

    #[test]
    fn shares_kept_per_call_are_bounded_and_forgotten() {
        let mut shares = KeyShares::default();
        let call = CallId::new_random();
        for i in 0..10u8 {
            shares.remember(&message(call, answer(&format!("v=0 {i}")), Some(vec![i])));
        }
        assert_eq!(shares.take(call, "v=0 0"), None, "the oldest went");
        assert_eq!(shares.take(call, "v=0 9"), Some(vec![9]));
        shares.forget(call);
        assert_eq!(shares.take(call, "v=0 8"), None);
    }
}
