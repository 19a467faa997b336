//! What the user does: dial, accept, decline, hang up.

use std::time::Instant;

use super::phone::PhoneRefusal;
use nostr_signal::PublicKey;
use phantomcall_schemas::{CallBody, CallId, CallType, IceCandidate, PhoneLeg, PrivacyMode};

use super::call::{Call, Sink};
use super::config::EngineConfig;
use super::engine::{live, CallEngineCore};
use super::types::{CallState, Direction, DropReason, EndReason, InputKind, Output, Reason};
use super::wire;

impl CallEngineCore {
    pub(super) fn on_dial(
        &mut self,
        call_id: CallId,
        peer: PublicKey,
        call_type: CallType,
        mode: PrivacyMode,
        now: Instant,
    ) {
        if self.calls.contains_key(&call_id) {
            self.sink
                .drop_input(Some(call_id), InputKind::Dial, DropReason::DuplicateCallId);
            return;
        }
        if peer == self.config.local_key {
            self.sink
                .drop_input(Some(call_id), InputKind::Dial, DropReason::CannotCallSelf);
            return;
        }
        let busy = self.at_call_capacity();
        let mut call = Call::new(
            call_id,
            peer,
            Direction::Outgoing,
            call_type,
            mode,
            CallState::Dialing,
        );
        if busy {
            self.sink
                .end(&mut call, EndReason::AlreadyInCall, None, now);
        } else {
            call.negotiation.has_media = true;
            call.deadline = Some(now + self.config.connect_timeout);
            self.sink.push(Output::CreateOffer {
                call_id,
                peer,
                call_type,
                mode,
            });
            self.sink.event(&call, Reason::LocalDial);
        }
        self.calls.insert(call_id, call);
    }

    pub(super) fn on_phone_leg(&mut self, call_id: CallId, leg: PhoneLeg) {
        let Some(call) = live(
            &mut self.calls,
            &mut self.sink,
            call_id,
            InputKind::PhoneLeg,
        ) else {
            return;
        };
        // Before our offer or answer left: the tag must ride on it.
        let answered = call.direction == Direction::Incoming && call.accepted_here;
        if call.state == CallState::Ended || answered || call.state == CallState::Connected {
            let state = call.state;
            self.sink.drop_input(
                Some(call_id),
                InputKind::PhoneLeg,
                DropReason::NotInThisState(state),
            );
            return;
        }
        call.own_phone = Some(leg);
    }

    pub(super) fn on_accept(&mut self, call_id: CallId, with_video: bool, now: Instant) {
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, InputKind::Accept) else {
            return;
        };
        if (call.direction, call.state) != (Direction::Incoming, CallState::Ringing) {
            let state = call.state;
            self.sink.drop_input(
                Some(call_id),
                InputKind::Accept,
                DropReason::NotInThisState(state),
            );
            return;
        }
        accept(
            &mut self.sink,
            &self.config,
            call,
            with_video,
            Reason::LocalAccept,
            now,
        );
    }

    pub(super) fn on_decline(&mut self, call_id: CallId, input: InputKind, now: Instant) {
        self.reject_ringing(call_id, wire::REJECT_DECLINED.to_owned(), input, now);
    }

    pub(super) fn on_refuse_phone(
        &mut self,
        call_id: CallId,
        refusal: PhoneRefusal,
        input: InputKind,
        now: Instant,
    ) {
        self.reject_ringing(call_id, refusal.reason(), input, now);
    }

    /// Ends a call that rings here with a reject carrying `reason`.
    fn reject_ringing(&mut self, call_id: CallId, reason: String, input: InputKind, now: Instant) {
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        if (call.direction, call.state) != (Direction::Incoming, CallState::Ringing) {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        }
        let reject = CallBody::Reject {
            reason: Some(reason),
        };
        self.sink
            .end(call, EndReason::LocalDecline, Some(reject), now);
    }

    pub(super) fn on_hangup(&mut self, call_id: CallId, now: Instant) {
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, InputKind::Hangup) else {
            return;
        };
        match (call.direction, call.state) {
            // Hanging up a call that rings here is declining it.
            (Direction::Incoming, CallState::Ringing) => {
                self.on_decline(call_id, InputKind::Hangup, now)
            }
            // The offer is not out yet: nobody to tell.
            (Direction::Outgoing, CallState::Dialing) => {
                self.sink.end(call, EndReason::LocalHangup, None, now)
            }
            _ => {
                let body = CallBody::Hangup { reason: None };
                self.sink.end(call, EndReason::LocalHangup, Some(body), now);
            }
        }
    }
}

/// Accepts an incoming call that rings here: media engine asked for an answer, buffered
/// candidates handed over after it.
pub(super) fn accept(
    sink: &mut Sink,
    config: &EngineConfig,
    call: &mut Call,
    with_video: bool,
    reason: Reason,
    now: Instant,
) {
    call.accepted_here = true;
    call.negotiation.has_media = true;
    call.state = CallState::Connecting;
    call.deadline = Some(now + config.connect_timeout);
    if call.peer_without_modes {
        sink.push(Output::PeerWithoutModes { call_id: call.id });
    }
    sink.push(Output::CreateAnswer {
        call_id: call.id,
        peer: call.peer,
        remote_sdp: call.negotiation.remote_offer.take().unwrap_or_default(),
        call_type: call.call_type,
        with_video: with_video && call.call_type == CallType::Video,
        mode: call.mode,
    });
    let buffered: Vec<IceCandidate> = std::mem::take(&mut call.negotiation.remote_candidates)
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    if !buffered.is_empty() {
        sink.push(Output::AddRemoteCandidates {
            call_id: call.id,
            candidates: buffered,
        });
    }
    sink.event(call, reason);
}
