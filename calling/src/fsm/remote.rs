//! Messages from the relays: offers go to admission, the rest to the call they name,
//! from the peer or from another device of ours.

use std::time::Instant;

use super::phone::PhoneRefusal;
use nostr_signal::PublicKey;
use phantomcall_schemas::{CallBody, CallMessage, CallType, DeviceId};

use super::call::{Call, PendingSwitch, Sink};
use super::config::EngineConfig;
use super::engine::{hangup, sdp_of, CallEngineCore};
use super::mode_switch::switch_mode;
use super::negotiation::buffer_candidates;
use super::own_devices::{handled_elsewhere, on_own_device_message};
use super::types::{
    CallState, Direction, DropReason, EndReason, Incoming, InputKind, Output, Reason,
};
use super::wire;

impl CallEngineCore {
    /// A verified message from the relays (see the input table in [`super`]).
    pub(super) fn on_signal(&mut self, incoming: Incoming, now: Instant) {
        let Incoming {
            sender,
            from_own_device,
            message,
            via,
        } = incoming;
        let input = InputKind::Signal(message.kind());
        let id = message.call_id;
        let own = from_own_device || sender == self.config.local_key;
        if own && message.device.as_ref() == Some(&self.config.device) {
            self.sink.drop_input(Some(id), input, DropReason::OwnEcho);
            return;
        }
        let to_us = message.peer == self.local_hex || message.also_to.contains(&self.local_hex);
        if !own && !to_us {
            self.sink
                .drop_input(Some(id), input, DropReason::NotAddressedToUs);
            return;
        }
        if sdp_of(&message.body).is_some_and(|sdp| !wire::sdp_looks_valid(sdp)) {
            let incoming = Incoming {
                sender,
                from_own_device,
                message,
                via,
            };
            self.on_unparsable_sdp(incoming, input, now);
            return;
        }
        if let CallBody::Offer { .. } = message.body {
            if own {
                self.sink
                    .drop_input(Some(id), input, DropReason::OwnDeviceCall);
            } else {
                self.on_offer(sender, message, via, now);
            }
            return;
        }
        let Some(call) = self.calls.get_mut(&id) else {
            if own {
                self.remember_handled_elsewhere(&message, now);
            }
            if let (CallBody::IceCandidates(candidates), false) = (message.body, own) {
                // Relays do not keep order: NIP-AC asks to hold these briefly.
                if !self.early.hold(id, sender, message.device, candidates, now) {
                    self.sink
                        .drop_input(Some(id), input, DropReason::EarlyCandidatesDropped);
                }
                return;
            }
            self.sink
                .drop_input(Some(id), input, DropReason::UnknownCall);
            return;
        };
        let party = if own {
            message.peer == call.peer_hex
        } else {
            sender == call.peer
        };
        if !party {
            self.sink
                .drop_input(Some(id), input, DropReason::ThirdParty);
            return;
        }
        if !own {
            call.signaled_via = Some(via);
        }
        if !call.is_live() {
            // A device of the callee answered after the call ended here (a decline from
            // another of its devices, our timeout, our hangup crossing its answer): tell
            // it, so it does not wait for media until its connect timeout.
            if !own && call.direction == Direction::Outgoing && call.negotiation.sdp_sent {
                if let CallBody::Answer { .. } = message.body {
                    self.sink.send(call, CallBody::Hangup { reason: None });
                }
            }
            self.sink.drop_input(Some(id), input, DropReason::CallEnded);
            return;
        }
        if own {
            on_own_device_message(&mut self.sink, call, message, input, now);
        } else {
            on_peer_message(&mut self.sink, &self.config, call, message, input, now);
        }
    }

    /// Our other device handled a call whose offer has not reached this device yet (the
    /// relays reordered the two): remember the call as ended, so the offer that follows
    /// does not ring here. No event: the call never rang here.
    pub(super) fn remember_handled_elsewhere(&mut self, message: &CallMessage, now: Instant) {
        let Some(reason) = handled_elsewhere(&message.body) else {
            return;
        };
        let Ok(peer) = PublicKey::from_hex(&message.peer) else {
            return;
        };
        let mode = message.mode.unwrap_or(self.config.default_mode);
        // The call type is unknown without the offer; the record only blocks the offer.
        let mut call = Call::new(
            message.call_id,
            peer,
            Direction::Incoming,
            CallType::Voice,
            mode,
            CallState::Ended,
        );
        call.set_ended(reason, now);
        self.calls.insert(message.call_id, call);
    }
}

/// True when `sender` is a device of the peer other than the one whose answer was
/// taken. Only decidable when both carry a device tag.
pub(super) fn is_other_device(
    answered_by: Option<&Option<DeviceId>>,
    sender: Option<&DeviceId>,
) -> bool {
    match (answered_by, sender) {
        (Some(Some(winner)), Some(sender)) => winner != sender,
        _ => false,
    }
}

/// A message from the call's peer about a live call.
pub(super) fn on_peer_message(
    sink: &mut Sink,
    config: &EngineConfig,
    call: &mut Call,
    message: CallMessage,
    input: InputKind,
    now: Instant,
) {
    let id = call.id;
    let not_here = |sink: &mut Sink, call: &Call| {
        sink.drop_input(Some(id), input, DropReason::NotInThisState(call.state));
    };
    let device = message.device;
    match (message.body, call.direction, call.state) {
        (CallBody::Answer { sdp }, Direction::Outgoing, CallState::Ringing) => {
            call.peer_mode = message.mode;
            if message.phone.is_some() {
                call.peer_phone = message.phone;
            }
            if message.mode.is_some_and(|m| m != call.mode) {
                // Fail closed: a mode change needs an explicit switch on both sides.
                let notify = hangup(wire::HANGUP_MODE_MISMATCH);
                sink.end(call, EndReason::ModeMismatch, Some(notify), now);
                return;
            }
            if message.mode.is_none() {
                // A plain NIP-AC client: our side keeps its mode, its candidates are its own.
                call.peer_without_modes = true;
                sink.push(Output::PeerWithoutModes { call_id: id });
            }
            sink.push(Output::ApplyAnswer { call_id: id, sdp });
            let (theirs, others): (Vec<_>, Vec<_>) =
                std::mem::take(&mut call.negotiation.remote_candidates)
                    .into_iter()
                    .partition(|(d, _)| *d == device);
            if !others.is_empty() {
                tracing::debug!(
                    count = others.len(),
                    "buffered candidates of devices whose answer was not taken discarded"
                );
            }
            if !theirs.is_empty() {
                sink.push(Output::AddRemoteCandidates {
                    call_id: id,
                    candidates: theirs.into_iter().map(|(_, c)| c).collect(),
                });
            }
            call.negotiation.answered_by = Some(device);
            call.state = CallState::Connecting;
            call.deadline = Some(now + config.connect_timeout);
            sink.event(call, Reason::RemoteAnswer);
        }
        (CallBody::Answer { sdp }, _, CallState::Connecting | CallState::Connected)
            if call.negotiation.renegotiating
                && !is_other_device(call.negotiation.answered_by.as_ref(), device.as_ref()) =>
        {
            // The answer to our ICE restart.
            call.negotiation.renegotiating = false;
            sink.push(Output::ApplyAnswer { call_id: id, sdp });
        }
        (
            CallBody::Renegotiate { sdp },
            direction,
            CallState::Connecting | CallState::Connected,
        ) if CallEngineCore::negotiated(call)
            && !is_other_device(call.negotiation.answered_by.as_ref(), device.as_ref()) =>
        {
            if call.negotiation.renegotiating && direction == Direction::Outgoing {
                // Both restarted at once: the caller's offer wins on both sides.
                sink.drop_input(Some(id), input, DropReason::RenegotiationGlare);
                return;
            }
            call.negotiation.renegotiating = false;
            sink.push(Output::ApplyRenegotiation { call_id: id, sdp });
        }
        (
            CallBody::Answer { .. },
            Direction::Outgoing,
            CallState::Connecting | CallState::Connected,
        ) => {
            // The first answer won. A PhantomCall device whose answer lost is told so, by
            // device id, so that only it hangs up (the winner ignores the message).
            let winner = call.negotiation.answered_by.clone().flatten();
            if let (Some(winner), Some(loser)) = (winner, &device) {
                if *loser != winner {
                    let reason = wire::answered_elsewhere_reason(loser);
                    sink.send(
                        call,
                        CallBody::Hangup {
                            reason: Some(reason),
                        },
                    );
                }
            }
            sink.drop_input(Some(id), input, DropReason::DuplicateAnswer);
        }
        (CallBody::IceCandidates(candidates), Direction::Outgoing, CallState::Ringing) => {
            // Sent right after an answer that has not arrived yet (relays may reorder).
            buffer_candidates(sink, call, device, candidates, input);
        }
        (
            CallBody::IceCandidates(candidates),
            Direction::Outgoing,
            CallState::Connecting | CallState::Connected,
        ) => {
            if !is_other_device(call.negotiation.answered_by.as_ref(), device.as_ref()) {
                sink.push(Output::AddRemoteCandidates {
                    call_id: id,
                    candidates,
                });
            } else {
                sink.drop_input(Some(id), input, DropReason::CandidatesFromOtherDevice);
            }
        }
        (CallBody::IceCandidates(candidates), Direction::Incoming, CallState::Ringing) => {
            buffer_candidates(sink, call, device, candidates, input);
        }
        (
            CallBody::IceCandidates(candidates),
            Direction::Incoming,
            CallState::Connecting | CallState::Connected,
        ) => sink.push(Output::AddRemoteCandidates {
            call_id: id,
            candidates,
        }),
        (CallBody::Hangup { .. }, Direction::Outgoing, _)
            if is_other_device(call.negotiation.answered_by.as_ref(), device.as_ref()) =>
        {
            // A device of the callee whose answer was not taken (say, its connect timeout
            // ran out): the device in the call is still there.
            sink.drop_input(Some(id), input, DropReason::HangupFromOtherDevice);
        }
        (CallBody::Hangup { reason }, direction, state) => {
            let target = wire::answered_elsewhere_target(reason.as_deref());
            match (target, direction, state) {
                (Some(target), Direction::Incoming, _)
                    if target == sink.device.as_str() || state == CallState::Ringing =>
                {
                    // Our answer lost; or we still ring and another device's answer won.
                    sink.end(call, EndReason::AnsweredElsewhere, None, now);
                }
                (Some(_), Direction::Incoming, _) => {
                    sink.drop_input(Some(id), input, DropReason::HangupForOtherDevice);
                }
                _ => {
                    let end = match (reason.as_deref(), state) {
                        (Some(wire::HANGUP_TIMEOUT), CallState::Ringing) => EndReason::RingTimeout,
                        (Some(wire::HANGUP_GLARE), _) => EndReason::Glare,
                        (Some(wire::HANGUP_POLICY), _) => EndReason::RemotePolicyViolation,
                        _ => EndReason::RemoteHangup,
                    };
                    sink.end(call, end, None, now);
                }
            }
        }
        (CallBody::Reject { reason }, Direction::Outgoing, CallState::Ringing) => {
            let end = if reason.as_deref() == Some(wire::REJECT_BUSY) {
                EndReason::RemoteBusy
            } else if let Some(mode) = wire::mode_required(reason.as_deref()) {
                EndReason::RemoteRequiresMode(mode)
            } else if let Some(mode) = wire::mode_unavailable(reason.as_deref()) {
                EndReason::RemoteModeUnavailable(mode)
            } else if let Some(refusal) = PhoneRefusal::from_reason(reason.as_deref()) {
                EndReason::RemotePhoneRefused(refusal)
            } else {
                EndReason::RemoteDecline
            };
            sink.end(call, end, None, now);
        }
        (
            CallBody::Reject { .. },
            Direction::Outgoing,
            CallState::Connecting | CallState::Connected,
        ) => sink.drop_input(Some(id), input, DropReason::LateReject),
        // The peer's note to its own devices; it reaches us because `p` names us.
        (CallBody::HandledElsewhere { .. }, _, _) => {
            sink.drop_input(Some(id), input, DropReason::NoActionNeeded);
        }
        (CallBody::ModeSwitchRequest { mode }, _, CallState::Connected) => {
            match call.pending_switch {
                _ if mode == call.mode => {
                    sink.drop_input(Some(id), input, DropReason::ModeSwitchNotNeeded)
                }
                Some(PendingSwitch::Ours(_)) => {
                    // Both asked at once: each side declines the other's request, so
                    // both requests end declined and nothing changes.
                    let accepted = false;
                    sink.send(call, CallBody::ModeSwitchAck { mode, accepted });
                    sink.drop_input(Some(id), input, DropReason::ModeSwitchNotNeeded);
                }
                Some(PendingSwitch::Theirs(_)) => {
                    sink.drop_input(Some(id), input, DropReason::ModeSwitchNotNeeded)
                }
                None => {
                    // Never switched on the peer's word alone, whichever way it goes:
                    // the user decides.
                    call.pending_switch = Some(PendingSwitch::Theirs(mode));
                    sink.event(call, Reason::ModeSwitchRequested(mode));
                }
            }
        }
        (CallBody::ModeSwitchAck { mode, accepted }, _, _) => {
            if call.pending_switch != Some(PendingSwitch::Ours(mode)) {
                // Nobody here asked for this mode: an ack cannot switch on its own.
                sink.drop_input(Some(id), input, DropReason::UnapprovedModeSwitch);
                return;
            }
            call.pending_switch = None;
            if accepted {
                switch_mode(sink, call, mode);
            } else {
                sink.event(call, Reason::ModeSwitchDeclined(mode));
            }
        }
        _ => not_here(sink, call),
    }
}
