//! One call's record, and the output sink every handler writes to.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use nostr_signal::logsafe::ShortCallId;
use nostr_signal::{PublicKey, Route, Via};
use phantomcall_schemas::{
    CallBody, CallId, CallMessage, CallType, DeviceId, IceCandidate, PhoneLeg, PrivacyMode,
    MAX_CANDIDATES_PER_MESSAGE,
};

use super::negotiation::Negotiation;
use super::types::{
    CallEvent, CallInfo, CallState, Direction, DropReason, Dropped, EndReason, InputKind, Output,
    Reason,
};

/// A mode switch waiting for the other side's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingSwitch {
    /// We asked for this mode and wait for the peer's ack.
    Ours(PrivacyMode),
    /// The peer asked for this mode; our user has not answered yet.
    Theirs(PrivacyMode),
}

/// Everything the engine remembers about one call, live or ended.
#[derive(Debug)]
pub(crate) struct Call {
    pub id: CallId,
    pub peer: PublicKey,
    /// `peer` as lowercase hex, as it appears in `p` tags.
    pub peer_hex: String,
    pub direction: Direction,
    pub call_type: CallType,
    pub mode: PrivacyMode,
    pub peer_mode: Option<PrivacyMode>,
    /// The peer's offer or answer carried no `mode` tag: a plain NIP-AC client.
    pub peer_without_modes: bool,
    /// The peer is a contact: replies may go to its relays before the user accepted.
    pub peer_is_contact: bool,
    pub state: CallState,
    pub end_reason: Option<EndReason>,
    /// When the current state times out (Dialing, Ringing, Connecting).
    pub deadline: Option<Instant>,
    pub ended_at: Option<Instant>,
    /// The offer/answer exchange with the peer's device (one per connection; a mesh
    /// member holds one per member).
    pub negotiation: Negotiation,
    /// Incoming: the user (or glare) accepted it here.
    pub accepted_here: bool,
    /// A mode switch asked for and not answered yet.
    pub pending_switch: Option<PendingSwitch>,
    /// The path the peer's last message came over (shown: "via Bluetooth, 2 hops").
    pub signaled_via: Option<Via>,
    /// The peer's `phone` or `dial` tag: it is a phone gateway, or (we being one) the
    /// number it asks us to dial.
    pub peer_phone: Option<PhoneLeg>,
    /// Ours: carried on our offer or answer of this call.
    pub own_phone: Option<PhoneLeg>,
}

impl Call {
    pub fn new(
        id: CallId,
        peer: PublicKey,
        direction: Direction,
        call_type: CallType,
        mode: PrivacyMode,
        state: CallState,
    ) -> Self {
        Self {
            id,
            peer,
            peer_hex: peer.to_hex(),
            direction,
            call_type,
            mode,
            peer_mode: None,
            peer_without_modes: false,
            peer_is_contact: false,
            state,
            end_reason: None,
            deadline: None,
            ended_at: None,
            negotiation: Negotiation::default(),
            accepted_here: false,
            pending_switch: None,
            signaled_via: None,
            peer_phone: None,
            own_phone: None,
        }
    }

    /// The telephone at one end of this call, if any: the peer's tag first (a gateway
    /// saying who is on the phone), else ours (the number we asked a gateway to dial).
    pub fn phone(&self) -> Option<PhoneLeg> {
        self.peer_phone.clone().or_else(|| self.own_phone.clone())
    }

    pub fn is_live(&self) -> bool {
        self.state != CallState::Ended
    }

    /// Where messages of this call may go: the peer's own relays once the user placed or
    /// accepted the call, or the peer is a contact; before that, only our relays, so a
    /// stranger's relay list cannot steer our connections.
    pub fn route(&self) -> Route {
        if self.direction == Direction::Outgoing || self.accepted_here || self.peer_is_contact {
            Route::PeerInbox
        } else {
            Route::OwnRelays
        }
    }

    pub fn info(&self) -> CallInfo {
        CallInfo {
            call_id: self.id,
            peer: self.peer,
            direction: self.direction,
            call_type: self.call_type,
            mode: self.mode,
            peer_mode: self.peer_mode,
            peer_without_modes: self.peer_without_modes,
            state: self.state,
            end_reason: self.end_reason,
            answered_by: self.negotiation.answered_by.clone(),
            signaled_via: self.signaled_via,
            phone: self.phone(),
        }
    }

    /// Marks the call ended without any output (a record kept only to classify late
    /// messages).
    pub fn set_ended(&mut self, reason: EndReason, now: Instant) {
        self.state = CallState::Ended;
        self.end_reason = Some(reason);
        self.ended_at = Some(now);
        self.deadline = None;
        self.negotiation.forget_pending();
        self.pending_switch = None;
    }
}

/// The output queue, the drop counters and what every outgoing message carries.
#[derive(Debug)]
pub(crate) struct Sink {
    pub queue: VecDeque<Output>,
    pub drops: BTreeMap<DropReason, u64>,
    pub device: DeviceId,
}

impl Sink {
    pub fn new(device: DeviceId) -> Self {
        Self {
            queue: VecDeque::new(),
            drops: BTreeMap::new(),
            device,
        }
    }

    pub fn push(&mut self, output: Output) {
        self.queue.push_back(output);
    }

    /// Sends `body` about `call` to its peer, with our mode and device tags.
    pub fn send(&mut self, call: &Call, body: CallBody) {
        // Only offers and answers carry it (restart offers are renegotiations).
        let phone = match body {
            CallBody::Offer { .. } | CallBody::Answer { .. } => call.own_phone.clone(),
            _ => None,
        };
        let message = CallMessage {
            phone,
            call_id: call.id,
            peer: call.peer_hex.clone(),
            also_to: Vec::new(),
            pq_share: None,
            mode: Some(call.mode),
            device: Some(self.device.clone()),
            body,
        };
        self.push(Output::Send {
            to: call.peer,
            message,
            route: call.route(),
        });
    }

    /// Sends local candidates, split into messages of at most
    /// [`MAX_CANDIDATES_PER_MESSAGE`].
    pub fn send_candidates(&mut self, call: &Call, candidates: Vec<IceCandidate>) {
        for chunk in candidates.chunks(MAX_CANDIDATES_PER_MESSAGE) {
            self.send(call, CallBody::IceCandidates(chunk.to_vec()));
        }
    }

    /// Emits the event for the state `call` is now in.
    pub fn event(&mut self, call: &Call, reason: Reason) {
        let missed = call.direction == Direction::Incoming
            && !call.accepted_here
            && matches!(reason, Reason::Ended(end) if end.counts_as_missed());
        tracing::debug!(
            call = %ShortCallId(&call.id),
            direction = ?call.direction,
            state = ?call.state,
            reason = ?reason,
            "call state"
        );
        self.push(Output::Event(CallEvent {
            call_id: call.id,
            peer: call.peer,
            direction: call.direction,
            call_type: call.call_type,
            mode: call.mode,
            state: call.state,
            reason,
            missed,
            peer_without_modes: call.peer_without_modes,
            signaled_via: call.signaled_via,
            phone: call.phone(),
        }));
    }

    /// Ends a live call: sends `notify` to the peer if given, stops media if the driver
    /// has any for it, then emits the event.
    pub fn end(
        &mut self,
        call: &mut Call,
        reason: EndReason,
        notify: Option<CallBody>,
        now: Instant,
    ) {
        if let Some(body) = notify {
            self.send(call, body);
        }
        if call.negotiation.has_media {
            self.push(Output::StopMedia { call_id: call.id });
        }
        call.set_ended(reason, now);
        self.event(call, Reason::Ended(reason));
    }

    /// Records a dropped input: counted, logged without payload, reported.
    pub fn drop_input(&mut self, call_id: Option<CallId>, input: InputKind, reason: DropReason) {
        *self.drops.entry(reason).or_default() += 1;
        let call = call_id.as_ref().map(|id| ShortCallId(id).to_string());
        let local = !matches!(input, InputKind::Signal(_) | InputKind::UnparsableSdp(_));
        if local && matches!(reason, DropReason::NotInThisState(_)) {
            // A local input the state does not allow is a driver or UI bug: say so louder.
            tracing::warn!(call, ?input, ?reason, "illegal transition dropped");
        } else {
            tracing::debug!(call, ?input, ?reason, "input dropped");
        }
        self.push(Output::Dropped(Dropped {
            call_id,
            input,
            reason,
        }));
    }
}
