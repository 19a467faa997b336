//! Incoming offers: whether a new call rings, is busy, is refused, or lands as missed.
//!
//! A duplicate offer is dropped; glare (both sides called each other) is settled first;
//! the rest is the [`EngineConfig::admission`](super::EngineConfig::admission) policy's
//! decision ([`super::admit`]): for a person, strangers silent unless allowed, group
//! offers refused with a reason, busy, the privacy mode (an offer asking for less than we
//! require for this peer is refused with `mode-required:<mode>`, never accepted in the
//! lower mode; one in a mode this device has no media path for, with
//! `mode-unavailable:<mode>`), then it rings.

use std::time::Instant;

use nostr_signal::{PublicKey, Via};
use phantomcall_schemas::{CallBody, CallId, CallKind, CallMessage, CallType, PrivacyMode};

use super::admit::{Admission, OfferFacts, Refusal};
use super::call::Call;
use super::engine::{hangup, CallEngineCore};
use super::local::accept;
use super::types::{CallState, Direction, DropReason, EndReason, Incoming, InputKind, Reason};
use super::wire;

impl CallEngineCore {
    pub(super) fn on_offer(
        &mut self,
        sender: PublicKey,
        message: CallMessage,
        via: Via,
        now: Instant,
    ) {
        let input = InputKind::Signal(CallKind::Offer);
        let id = message.call_id;
        let CallBody::Offer { sdp, call_type } = message.body else {
            return;
        };
        if let Some(known) = self.calls.get(&id) {
            let reason = if known.is_live() {
                DropReason::DuplicateOffer
            } else {
                DropReason::CallEnded
            };
            self.sink.drop_input(Some(id), input, reason);
            return;
        }
        let peer_mode = message.mode;
        let required = self.config.required_mode(&sender);
        let facts = OfferFacts {
            from_contact: self.config.contacts.contains(&sender),
            strangers_allowed: self.config.allow_strangers,
            group: !message.also_to.is_empty(),
            live_calls: self.calls.values().filter(|c| c.is_live()).count(),
            call_type,
            asked_mode: peer_mode,
            required_mode: required,
            mode_available: true,
        };
        let mode = facts.call_mode();
        let facts = OfferFacts {
            mode_available: !self.config.unavailable_modes.contains(&mode),
            ..facts
        };
        let mut call = self.incoming_call(id, sender, call_type, mode, peer_mode);
        call.peer_without_modes = peer_mode.is_none();
        call.signaled_via = Some(via);
        call.peer_phone = message.phone;
        call.negotiation.remote_offer = Some(sdp);
        call.negotiation.remote_candidates = self.early.take(id, &sender, now);

        if !facts.group && self.settle_glare(&mut call, call_type, now) {
            self.calls.insert(id, call);
            return;
        }
        match self.config.admission.admit(&facts) {
            Admission::Ring => self.ring(&mut call, now),
            Admission::Accept { with_video } => {
                accept(
                    &mut self.sink,
                    &self.config,
                    &mut call,
                    with_video,
                    Reason::AutoAccepted,
                    now,
                );
            }
            // Nothing is sent: a stranger learns nothing, not even that we are online.
            Admission::MissedUnknown => {
                self.sink
                    .end(&mut call, EndReason::UnknownCaller, None, now)
            }
            Admission::Busy => {
                let busy = reject(wire::REJECT_BUSY.to_owned());
                self.sink
                    .end(&mut call, EndReason::LocalBusy, Some(busy), now);
            }
            Admission::Refuse(refusal) => {
                let (reason, wire_reason) = match refusal {
                    Refusal::GroupUnsupported => (
                        EndReason::GroupCallUnsupported,
                        wire::REJECT_GROUP_UNSUPPORTED.to_owned(),
                    ),
                    // Never accepted silently in the lower mode: the caller learns what
                    // we need.
                    Refusal::ModeTooLow(required) => (
                        EndReason::ModeTooLow(required),
                        wire::mode_required_reason(required),
                    ),
                    // Accepting would only fail later with "media-failed": say why now.
                    Refusal::ModeUnavailable(mode) => (
                        EndReason::ModeUnavailable(mode),
                        wire::mode_unavailable_reason(mode),
                    ),
                };
                self.sink
                    .end(&mut call, reason, Some(reject(wire_reason)), now);
            }
        }
        self.calls.insert(id, call);
    }

    /// Both sides called each other: the smaller call id survives on both sides. True when
    /// glare decided this offer's fate (`call` is then ended, ringing or accepted).
    fn settle_glare(&mut self, call: &mut Call, call_type: CallType, now: Instant) -> bool {
        let input = InputKind::Signal(CallKind::Offer);
        let sender = call.peer;
        let id = call.id;
        let Some(ours) = self
            .calls
            .values_mut()
            .find(|c| c.is_live() && c.direction == Direction::Outgoing && c.peer == sender)
        else {
            return false;
        };
        if ours.id < id {
            // Ours survives; the peer computes the same and ends its call.
            call.set_ended(EndReason::Glare, now);
            self.sink.drop_input(Some(id), input, DropReason::GlareLost);
            return true;
        }
        if !matches!(ours.state, CallState::Dialing | CallState::Ringing) {
            // Ours is already answered: the usual busy rule applies.
            return false;
        }
        // Theirs survives. The user wanted to talk to this peer: accept it, unless the peer
        // asks for another privacy mode than the user chose (then it rings, and the user
        // decides).
        let auto_accept = call.peer_mode == Some(ours.mode);
        let with_video = ours.call_type == CallType::Video && call_type == CallType::Video;
        let notify = ours
            .negotiation
            .sdp_sent
            .then(|| hangup(wire::HANGUP_GLARE));
        self.sink.end(ours, EndReason::Glare, notify, now);
        if auto_accept {
            accept(
                &mut self.sink,
                &self.config,
                call,
                with_video,
                Reason::GlareWon,
                now,
            );
        } else {
            self.ring(call, now);
        }
        true
    }

    /// A new incoming call record, ringing until a rule below ends it.
    fn incoming_call(
        &self,
        id: CallId,
        sender: PublicKey,
        call_type: CallType,
        mode: PrivacyMode,
        peer_mode: Option<PrivacyMode>,
    ) -> Call {
        let mut call = Call::new(
            id,
            sender,
            Direction::Incoming,
            call_type,
            mode,
            CallState::Ringing,
        );
        call.peer_mode = peer_mode;
        call.peer_is_contact = self.config.contacts.contains(&sender);
        call
    }

    pub(super) fn ring(&mut self, call: &mut Call, now: Instant) {
        call.state = CallState::Ringing;
        call.deadline = Some(now + self.config.ring_timeout);
        self.sink.event(call, Reason::OfferReceived);
    }

    /// A message whose SDP could not be read. An offer from someone allowed to ring is
    /// refused with a reason, so the caller does not ring until its timeout; anything else
    /// is dropped and the call it names goes on.
    pub(super) fn on_unparsable_sdp(&mut self, incoming: Incoming, input: InputKind, now: Instant) {
        let id = incoming.message.call_id;
        self.sink
            .drop_input(Some(id), input, DropReason::UnparsableSdp);
        let CallBody::Offer { call_type, .. } = incoming.message.body else {
            return;
        };
        let sender = incoming.sender;
        let own = incoming.from_own_device || sender == self.config.local_key;
        let allowed = self.config.allow_strangers || self.config.contacts.contains(&sender);
        if own || !allowed || self.calls.contains_key(&id) {
            return;
        }
        let mode = self.config.required_mode(&sender);
        let mut call = self.incoming_call(id, sender, call_type, mode, incoming.message.mode);
        call.signaled_via = Some(incoming.via);
        let refusal = reject(wire::REJECT_UNREADABLE_SDP.to_owned());
        self.sink
            .end(&mut call, EndReason::UnreadableOffer, Some(refusal), now);
        self.calls.insert(id, call);
    }
}

fn reject(reason: String) -> CallBody {
    CallBody::Reject {
        reason: Some(reason),
    }
}
