//! What the media engine reports: our offer, answer and candidates, renegotiation,
//! media connected or failed, policy violations.

use std::time::Instant;

use phantomcall_schemas::{CallBody, CallId, DeviceId, IceCandidate};

use super::call::{Call, Sink};
use super::config::MAX_BUFFERED_CANDIDATES;
use super::engine::{hangup, live, negotiated, CallEngineCore};
use super::types::{CallState, Direction, DropReason, EndReason, InputKind, MediaError, Reason};
use super::wire;

/// The offer/answer exchange of one connection: what was sent, what waits for a
/// description, whether media exists. A 1:1 call has one; a mesh member keeps one per
/// member, so the rules below are written once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Negotiation {
    /// Incoming: the caller's offer, kept until the user accepts.
    pub remote_offer: Option<String>,
    /// Outgoing: our offer was sent. Incoming: our answer was sent.
    pub sdp_sent: bool,
    /// Outgoing: the `device` tag of the answer taken.
    pub answered_by: Option<Option<DeviceId>>,
    /// The driver holds a media connection for it.
    pub has_media: bool,
    /// We sent a renegotiation (ICE restart) and wait for its answer.
    pub renegotiating: bool,
    /// Remote candidates that arrived before the remote description could be applied,
    /// with the device that sent them.
    pub remote_candidates: Vec<(Option<DeviceId>, IceCandidate)>,
    /// Local candidates gathered before our offer or answer was sent.
    pub local_candidates: Vec<IceCandidate>,
}

/// More candidates than [`MAX_BUFFERED_CANDIDATES`] would wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BufferFull;

impl Negotiation {
    /// Our description went out: the candidates gathered meanwhile go now.
    pub fn description_sent(&mut self) -> Vec<IceCandidate> {
        self.sdp_sent = true;
        std::mem::take(&mut self.local_candidates)
    }

    /// Holds our candidates until our description is sent.
    pub fn hold_local(&mut self, candidates: Vec<IceCandidate>) -> Result<(), BufferFull> {
        if self.local_candidates.len() + candidates.len() > MAX_BUFFERED_CANDIDATES {
            return Err(BufferFull);
        }
        self.local_candidates.extend(candidates);
        Ok(())
    }

    /// Holds the peer's candidates until its description is applied.
    pub fn hold_remote(
        &mut self,
        device: Option<DeviceId>,
        candidates: Vec<IceCandidate>,
    ) -> Result<(), BufferFull> {
        if self.remote_candidates.len() + candidates.len() > MAX_BUFFERED_CANDIDATES {
            return Err(BufferFull);
        }
        self.remote_candidates
            .extend(candidates.into_iter().map(|c| (device.clone(), c)));
        Ok(())
    }

    /// Forgets what only mattered while the exchange was under way (the call ended).
    pub fn forget_pending(&mut self) {
        self.remote_offer = None;
        self.remote_candidates = Vec::new();
        self.local_candidates = Vec::new();
    }
}

impl CallEngineCore {
    pub(super) fn on_local_offer(&mut self, call_id: CallId, sdp: String, now: Instant) {
        let input = InputKind::LocalOffer;
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        if (call.direction, call.state) != (Direction::Outgoing, CallState::Dialing) {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        }
        let call_type = call.call_type;
        self.sink.send(call, CallBody::Offer { sdp, call_type });
        let gathered = call.negotiation.description_sent();
        self.sink.send_candidates(call, gathered);
        call.state = CallState::Ringing;
        call.deadline = Some(now + self.config.ring_timeout);
        self.sink.event(call, Reason::OfferSent);
    }

    pub(super) fn on_local_answer(&mut self, call_id: CallId, sdp: String) {
        let input = InputKind::LocalAnswer;
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        let expected = (Direction::Incoming, CallState::Connecting);
        if (call.direction, call.state) != expected || call.negotiation.sdp_sent {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        }
        self.sink.send(call, CallBody::Answer { sdp });
        let gathered = call.negotiation.description_sent();
        self.sink.send_candidates(call, gathered);
    }

    pub(super) fn on_local_candidates(&mut self, call_id: CallId, candidates: Vec<IceCandidate>) {
        let input = InputKind::LocalCandidates;
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        if candidates.is_empty() {
            self.sink
                .drop_input(Some(call_id), input, DropReason::NoCandidates);
            return;
        }
        let has_description = match (call.direction, call.state) {
            (Direction::Outgoing, CallState::Dialing) => false,
            (Direction::Outgoing, _) => true,
            (Direction::Incoming, CallState::Connecting | CallState::Connected) => {
                call.negotiation.sdp_sent
            }
            (Direction::Incoming, state) => {
                // No peer connection exists before the user accepts.
                self.sink
                    .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
                return;
            }
        };
        if has_description {
            self.sink.send_candidates(call, candidates);
        } else if call.negotiation.hold_local(candidates).is_err() {
            self.sink
                .drop_input(Some(call_id), input, DropReason::CandidateBufferFull);
        }
    }

    /// The peer has our description and we have theirs: a new offer can go out.
    pub(super) fn negotiated(call: &Call) -> bool {
        matches!(call.state, CallState::Connecting | CallState::Connected)
            && (call.direction == Direction::Outgoing || call.negotiation.sdp_sent)
    }

    pub(super) fn on_local_renegotiation(&mut self, call_id: CallId, sdp: String) {
        let input = InputKind::LocalRenegotiation;
        let Some(call) = negotiated(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        self.sink.send(call, CallBody::Renegotiate { sdp });
        call.negotiation.renegotiating = true;
    }

    pub(super) fn on_local_renegotiation_answer(&mut self, call_id: CallId, sdp: String) {
        let input = InputKind::LocalRenegotiationAnswer;
        let Some(call) = negotiated(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        self.sink.send(call, CallBody::Answer { sdp });
    }

    pub(super) fn on_media_connected(&mut self, call_id: CallId) {
        let input = InputKind::MediaConnected;
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        if call.state != CallState::Connecting {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        }
        call.state = CallState::Connected;
        call.deadline = None;
        self.sink.event(call, Reason::MediaConnected);
    }

    pub(super) fn on_media_failed(&mut self, call_id: CallId, error: MediaError, now: Instant) {
        let input = InputKind::MediaFailed;
        let reason = EndReason::MediaFailed(error);
        self.end_by_media(call_id, input, reason, wire::HANGUP_MEDIA_FAILED, now);
    }

    pub(super) fn on_policy_violation(&mut self, call_id: CallId, now: Instant) {
        let input = InputKind::PolicyViolation;
        let reason = EndReason::PolicyViolation;
        self.end_by_media(call_id, input, reason, wire::HANGUP_POLICY, now);
    }

    /// The media engine ends a call that has media (failure or policy violation); the
    /// peer gets a hangup with `why` if it knows the call.
    pub(super) fn end_by_media(
        &mut self,
        call_id: CallId,
        input: InputKind,
        reason: EndReason,
        why: &str,
        now: Instant,
    ) {
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        if !call.negotiation.has_media {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        }
        // The peer knows the call once our offer is out, or (incoming) from the start.
        let peer_knows = call.direction == Direction::Incoming || call.negotiation.sdp_sent;
        let notify = peer_knows.then(|| hangup(why));
        self.sink.end(call, reason, notify, now);
    }
}

/// Buffers remote candidates of a call whose remote description is not applied yet.
pub(super) fn buffer_candidates(
    sink: &mut Sink,
    call: &mut Call,
    device: Option<DeviceId>,
    candidates: Vec<IceCandidate>,
    input: InputKind,
) {
    if call.negotiation.hold_remote(device, candidates).is_err() {
        sink.drop_input(Some(call.id), input, DropReason::CandidateBufferFull);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(n: usize) -> Vec<IceCandidate> {
        (0..n)
            .map(|i| IceCandidate {
                candidate: format!("candidate:{i} 1 udp 1 127.0.0.1 {} typ host", 40000 + i),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            })
            .collect()
    }

    #[test]
    fn our_candidates_wait_for_our_description_then_go_with_it() {
        let mut n = Negotiation::default();
        n.hold_local(candidates(3)).unwrap();
        assert!(!n.sdp_sent);
        assert_eq!(n.description_sent().len(), 3);
        assert!(n.sdp_sent);
        assert!(n.local_candidates.is_empty(), "nothing is sent twice");
    }

    #[test]
    fn held_candidates_are_bounded_on_both_sides() {
        let mut n = Negotiation::default();
        n.hold_local(candidates(MAX_BUFFERED_CANDIDATES)).unwrap();
        assert_eq!(n.hold_local(candidates(1)), Err(BufferFull));
        n.hold_remote(None, candidates(MAX_BUFFERED_CANDIDATES))
            .unwrap();
        assert_eq!(n.hold_remote(None, candidates(1)), Err(BufferFull));
        n.forget_pending();
        assert!(n.local_candidates.is_empty() && n.remote_candidates.is_empty());
    }
}
