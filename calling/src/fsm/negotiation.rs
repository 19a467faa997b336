//! What the media engine reports: our offer, answer and candidates, renegotiation,
//! media connected or failed, policy violations.

use std::time::Instant;

use phantomcall_schemas::{CallBody, CallId, DeviceId, IceCandidate};

use super::call::{Call, Sink};
use super::config::MAX_BUFFERED_CANDIDATES;
use super::engine::{hangup, live, negotiated, CallEngineCore};
use super::types::{CallState, Direction, DropReason, EndReason, InputKind, MediaError, Reason};
use super::wire;

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
        call.sdp_sent = true;
        let gathered = std::mem::take(&mut call.local_candidates);
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
        if (call.direction, call.state) != expected || call.sdp_sent {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        }
        self.sink.send(call, CallBody::Answer { sdp });
        call.sdp_sent = true;
        let gathered = std::mem::take(&mut call.local_candidates);
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
            (Direction::Incoming, CallState::Connecting | CallState::Connected) => call.sdp_sent,
            (Direction::Incoming, state) => {
                // No peer connection exists before the user accepts.
                self.sink
                    .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
                return;
            }
        };
        if has_description {
            self.sink.send_candidates(call, candidates);
        } else if call.local_candidates.len() + candidates.len() > MAX_BUFFERED_CANDIDATES {
            self.sink
                .drop_input(Some(call_id), input, DropReason::CandidateBufferFull);
        } else {
            call.local_candidates.extend(candidates);
        }
    }

    /// The peer has our description and we have theirs: a new offer can go out.
    pub(super) fn negotiated(call: &Call) -> bool {
        matches!(call.state, CallState::Connecting | CallState::Connected)
            && (call.direction == Direction::Outgoing || call.sdp_sent)
    }

    pub(super) fn on_local_renegotiation(&mut self, call_id: CallId, sdp: String) {
        let input = InputKind::LocalRenegotiation;
        let Some(call) = negotiated(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        self.sink.send(call, CallBody::Renegotiate { sdp });
        call.renegotiating = true;
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
        if !call.has_media {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        }
        // The peer knows the call once our offer is out, or (incoming) from the start.
        let peer_knows = call.direction == Direction::Incoming || call.sdp_sent;
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
    if call.remote_candidates.len() + candidates.len() > MAX_BUFFERED_CANDIDATES {
        sink.drop_input(Some(call.id), input, DropReason::CandidateBufferFull);
        return;
    }
    call.remote_candidates
        .extend(candidates.into_iter().map(|c| (device.clone(), c)));
}
