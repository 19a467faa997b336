//! [`CallEngineCore`]: the handlers behind [`CallEngineCore::handle`].

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Instant;

use nostr_signal::PublicKey;
use phantomcall_schemas::{
    CallBody, CallId, CallMessage, CallType, DeviceId, HandledOutcome, IceCandidate, PrivacyMode,
};

use super::call::{Call, PendingSwitch, Sink};
use super::config::{
    EngineConfig, ENDED_CALL_MEMORY, MAX_BUFFERED_CANDIDATES, MAX_REMEMBERED_CALLS,
};
use super::early::EarlyCandidates;
use super::types::{
    CallInfo, CallState, Direction, DropReason, EndReason, Incoming, Input, InputKind, MediaError,
    Output, Reason,
};
use super::wire;

/// The call state machine of one device: every call of this device, live or recently
/// ended. Sans-IO: it never sends, sleeps or reads a clock; the driver feeds it
/// [`Input`]s with the current time and carries out the [`Output`]s it queues. See the
/// [module documentation](crate::fsm) for what each input does in each state.
///
/// Its `Debug` shows counts only: no key, call id or SDP.
pub struct CallEngineCore {
    pub(super) config: EngineConfig,
    pub(super) local_hex: String,
    pub(super) calls: BTreeMap<CallId, Call>,
    pub(super) sink: Sink,
    /// Candidates that arrived before their offer.
    pub(super) early: EarlyCandidates,
}

impl fmt::Debug for CallEngineCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallEngineCore")
            .field(
                "live_calls",
                &self.calls.values().filter(|c| c.is_live()).count(),
            )
            .field("remembered_calls", &self.calls.len())
            .field("queued_outputs", &self.sink.queue.len())
            .field("drops", &self.sink.drops)
            .finish()
    }
}

/// The call `id` if it is live; otherwise records why the input is dropped.
fn live<'a>(
    calls: &'a mut BTreeMap<CallId, Call>,
    sink: &mut Sink,
    id: CallId,
    input: InputKind,
) -> Option<&'a mut Call> {
    match calls.get_mut(&id) {
        None => {
            sink.drop_input(Some(id), input, DropReason::UnknownCall);
            None
        }
        Some(call) if !call.is_live() => {
            sink.drop_input(Some(id), input, DropReason::CallEnded);
            None
        }
        Some(call) => Some(call),
    }
}

/// The call `id` if it is live and both descriptions are out (a new offer or answer may
/// go); otherwise records why the input is dropped.
fn negotiated<'a>(
    calls: &'a mut BTreeMap<CallId, Call>,
    sink: &mut Sink,
    id: CallId,
    input: InputKind,
) -> Option<&'a mut Call> {
    let call = live(calls, sink, id, input)?;
    if !CallEngineCore::negotiated(call) {
        sink.drop_input(Some(id), input, DropReason::NotInThisState(call.state));
        return None;
    }
    Some(call)
}

/// The SDP a message carries, if any.
fn sdp_of(body: &CallBody) -> Option<&str> {
    match body {
        CallBody::Offer { sdp, .. } | CallBody::Answer { sdp } | CallBody::Renegotiate { sdp } => {
            Some(sdp)
        }
        _ => None,
    }
}

pub(super) fn hangup(reason: &str) -> CallBody {
    CallBody::Hangup {
        reason: Some(reason.to_owned()),
    }
}

impl CallEngineCore {
    /// A state machine with no calls.
    pub fn new(config: EngineConfig) -> Self {
        Self {
            local_hex: config.local_key.to_hex(),
            sink: Sink::new(config.device.clone()),
            calls: BTreeMap::new(),
            early: EarlyCandidates::default(),
            config,
        }
    }

    /// Feeds one input at time `now`. Timers due at `now` fire first, so an input that
    /// arrives after a deadline sees the call as timed out even if no [`Input::Tick`] was
    /// fed in between. Outputs are queued for [`CallEngineCore::poll_output`].
    pub fn handle(&mut self, input: Input, now: Instant) {
        self.fire_timers(now);
        let kind = input.kind();
        match input {
            Input::Dial {
                call_id,
                peer,
                call_type,
                mode,
            } => self.on_dial(call_id, peer, call_type, mode, now),
            Input::Accept {
                call_id,
                with_video,
            } => self.on_accept(call_id, with_video, now),
            Input::Decline { call_id } => self.on_decline(call_id, kind, now),
            Input::Hangup { call_id } => self.on_hangup(call_id, now),
            Input::LocalOffer { call_id, sdp } => self.on_local_offer(call_id, sdp, now),
            Input::LocalAnswer { call_id, sdp } => self.on_local_answer(call_id, sdp),
            Input::LocalCandidates {
                call_id,
                candidates,
            } => self.on_local_candidates(call_id, candidates),
            Input::LocalRenegotiation { call_id, sdp } => self.on_local_renegotiation(call_id, sdp),
            Input::LocalRenegotiationAnswer { call_id, sdp } => {
                self.on_local_renegotiation_answer(call_id, sdp)
            }
            Input::MediaConnected { call_id } => self.on_media_connected(call_id),
            Input::MediaFailed { call_id, error } => self.on_media_failed(call_id, error, now),
            Input::PolicyViolation { call_id } => self.on_policy_violation(call_id, now),
            Input::RequestModeSwitch { call_id, mode } => {
                self.on_request_mode_switch(call_id, mode)
            }
            Input::AcceptModeSwitch { call_id } => self.on_answer_mode_switch(call_id, true, kind),
            Input::DeclineModeSwitch { call_id } => {
                self.on_answer_mode_switch(call_id, false, kind)
            }
            Input::Signal(incoming) => self.on_signal(incoming, now),
            Input::UnparsableSdp(incoming) => self.on_unparsable_sdp(incoming, kind, now),
            Input::Tick => {}
        }
        self.forget_ended(now);
    }

    /// The next queued output, in the order the effects must happen.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.sink.queue.pop_front()
    }

    /// Takes every queued output.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        self.sink.queue.drain(..).collect()
    }

    /// When the next timer is due (feed [`Input::Tick`] then); `None` when none runs.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.calls.values().filter_map(|c| c.deadline).min()
    }

    /// A snapshot of call `id`, live or recently ended.
    pub fn call(&self, id: &CallId) -> Option<CallInfo> {
        self.calls.get(id).map(Call::info)
    }

    /// Every remembered call, in call-id order.
    pub fn calls(&self) -> impl Iterator<Item = CallInfo> + '_ {
        self.calls.values().map(Call::info)
    }

    /// The live call, if any (the engine holds at most one outside a glare instant).
    pub fn live_call(&self) -> Option<CallInfo> {
        self.calls.values().find(|c| c.is_live()).map(Call::info)
    }

    /// How many inputs were dropped, per reason, since the start.
    pub fn drop_counts(&self) -> &BTreeMap<DropReason, u64> {
        &self.sink.drops
    }

    /// How many inputs were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.sink.drops.get(&reason).copied().unwrap_or(0)
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The contact set (calls from these keys ring); changes apply to the next offer.
    pub fn contacts_mut(&mut self) -> &mut HashSet<PublicKey> {
        &mut self.config.contacts
    }

    /// Lets calls from `contact` ring; with a mode, calls with them never go lower.
    pub fn add_contact(&mut self, contact: PublicKey, mode: Option<PrivacyMode>) {
        self.config.contacts.insert(contact);
        match mode {
            Some(mode) => self.config.contact_modes.insert(contact, mode),
            None => self.config.contact_modes.remove(&contact),
        };
    }

    /// Modes this device has no media path for (see
    /// [`EngineConfig::unavailable_modes`]); applies to the next offer.
    pub fn set_unavailable_modes(&mut self, modes: std::collections::BTreeSet<PrivacyMode>) {
        self.config.unavailable_modes = modes;
    }

    /// Whether calls from strangers ring; applies to the next offer.
    pub fn set_allow_strangers(&mut self, allow: bool) {
        self.config.allow_strangers = allow;
    }

    pub(super) fn has_live_call(&self) -> bool {
        self.calls.values().any(Call::is_live)
    }

    fn fire_timers(&mut self, now: Instant) {
        let mut due: Vec<(Instant, CallId)> = self
            .calls
            .values()
            .filter_map(|c| c.deadline.filter(|d| *d <= now).map(|d| (d, c.id)))
            .collect();
        due.sort_unstable();
        for (_, id) in due {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            let (reason, notify) = match (call.direction, call.state) {
                // Our offer never came: the peer knows nothing of this call.
                (_, CallState::Dialing) => (EndReason::ConnectTimeout, None),
                (Direction::Outgoing, CallState::Ringing) => {
                    (EndReason::RingTimeout, Some(hangup(wire::HANGUP_TIMEOUT)))
                }
                // The caller runs its own timer; telling it we stopped ringing would only
                // confirm this device is online.
                (Direction::Incoming, CallState::Ringing) => (EndReason::RingTimeout, None),
                (_, CallState::Connecting) => (
                    EndReason::ConnectTimeout,
                    Some(hangup(wire::HANGUP_CONNECT_TIMEOUT)),
                ),
                (_, CallState::Connected | CallState::Ended) => {
                    call.deadline = None;
                    continue;
                }
            };
            self.sink.end(call, reason, notify, now);
        }
    }

    /// Forgets ended calls after [`ENDED_CALL_MEMORY`], and the oldest ones early when
    /// more than [`MAX_REMEMBERED_CALLS`] are held.
    fn forget_ended(&mut self, now: Instant) {
        self.early.prune(now);
        self.calls.retain(|_, c| {
            c.ended_at
                .is_none_or(|t| now.saturating_duration_since(t) < ENDED_CALL_MEMORY)
        });
        if self.calls.len() > MAX_REMEMBERED_CALLS {
            let mut ended: Vec<(Instant, CallId)> = self
                .calls
                .values()
                .filter_map(|c| c.ended_at.map(|t| (t, c.id)))
                .collect();
            ended.sort_unstable();
            let excess = self.calls.len() - MAX_REMEMBERED_CALLS;
            for (_, id) in ended.into_iter().take(excess) {
                self.calls.remove(&id);
            }
        }
    }

    // --- user and media-engine inputs -------------------------------------------------

    fn on_dial(
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
        let busy = self.has_live_call();
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
            call.has_media = true;
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

    fn on_accept(&mut self, call_id: CallId, with_video: bool, now: Instant) {
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

    fn on_decline(&mut self, call_id: CallId, input: InputKind, now: Instant) {
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
            reason: Some(wire::REJECT_DECLINED.to_owned()),
        };
        self.sink
            .end(call, EndReason::LocalDecline, Some(reject), now);
    }

    fn on_hangup(&mut self, call_id: CallId, now: Instant) {
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

    fn on_local_offer(&mut self, call_id: CallId, sdp: String, now: Instant) {
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

    fn on_local_answer(&mut self, call_id: CallId, sdp: String) {
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

    fn on_local_candidates(&mut self, call_id: CallId, candidates: Vec<IceCandidate>) {
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
    fn negotiated(call: &Call) -> bool {
        matches!(call.state, CallState::Connecting | CallState::Connected)
            && (call.direction == Direction::Outgoing || call.sdp_sent)
    }

    fn on_local_renegotiation(&mut self, call_id: CallId, sdp: String) {
        let input = InputKind::LocalRenegotiation;
        let Some(call) = negotiated(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        self.sink.send(call, CallBody::Renegotiate { sdp });
        call.renegotiating = true;
    }

    fn on_local_renegotiation_answer(&mut self, call_id: CallId, sdp: String) {
        let input = InputKind::LocalRenegotiationAnswer;
        let Some(call) = negotiated(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        self.sink.send(call, CallBody::Answer { sdp });
    }

    fn on_media_connected(&mut self, call_id: CallId) {
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

    fn on_media_failed(&mut self, call_id: CallId, error: MediaError, now: Instant) {
        let input = InputKind::MediaFailed;
        let reason = EndReason::MediaFailed(error);
        self.end_by_media(call_id, input, reason, wire::HANGUP_MEDIA_FAILED, now);
    }

    fn on_policy_violation(&mut self, call_id: CallId, now: Instant) {
        let input = InputKind::PolicyViolation;
        let reason = EndReason::PolicyViolation;
        self.end_by_media(call_id, input, reason, wire::HANGUP_POLICY, now);
    }

    /// The media engine ends a call that has media (failure or policy violation); the
    /// peer gets a hangup with `why` if it knows the call.
    fn end_by_media(
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

    fn on_request_mode_switch(&mut self, call_id: CallId, mode: PrivacyMode) {
        let input = InputKind::RequestModeSwitch;
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        if call.state != CallState::Connected {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        }
        if mode == call.mode || call.pending_switch.is_some() {
            self.sink
                .drop_input(Some(call_id), input, DropReason::ModeSwitchNotNeeded);
            return;
        }
        self.sink.send(call, CallBody::ModeSwitchRequest { mode });
        call.pending_switch = Some(PendingSwitch::Ours(mode));
    }

    /// The user's answer to the peer's pending mode switch request.
    fn on_answer_mode_switch(&mut self, call_id: CallId, accepted: bool, input: InputKind) {
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        let Some(PendingSwitch::Theirs(mode)) = call.pending_switch else {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        };
        call.pending_switch = None;
        self.sink
            .send(call, CallBody::ModeSwitchAck { mode, accepted });
        if accepted {
            switch_mode(&mut self.sink, call, mode);
        } else {
            self.sink.event(call, Reason::ModeSwitchDeclined(mode));
        }
    }

    // --- signaling ----------------------------------------------------------------------

    fn on_signal(&mut self, incoming: Incoming, now: Instant) {
        let Incoming {
            sender,
            from_own_device,
            message,
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
            };
            self.on_unparsable_sdp(incoming, input, now);
            return;
        }
        if let CallBody::Offer { .. } = message.body {
            if own {
                self.sink
                    .drop_input(Some(id), input, DropReason::OwnDeviceCall);
            } else {
                self.on_offer(sender, message, now);
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
        if !call.is_live() {
            // A device of the callee answered after the call ended here (a decline from
            // another of its devices, our timeout, our hangup crossing its answer): tell
            // it, so it does not wait for media until its connect timeout.
            if !own && call.direction == Direction::Outgoing && call.sdp_sent {
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
    fn remember_handled_elsewhere(&mut self, message: &CallMessage, now: Instant) {
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
    call.has_media = true;
    call.state = CallState::Connecting;
    call.deadline = Some(now + config.connect_timeout);
    if call.peer_without_modes {
        sink.push(Output::PeerWithoutModes { call_id: call.id });
    }
    sink.push(Output::CreateAnswer {
        call_id: call.id,
        peer: call.peer,
        remote_sdp: call.remote_offer.take().unwrap_or_default(),
        call_type: call.call_type,
        with_video: with_video && call.call_type == CallType::Video,
        mode: call.mode,
    });
    let buffered: Vec<IceCandidate> = std::mem::take(&mut call.remote_candidates)
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

/// Buffers remote candidates of a call whose remote description is not applied yet.
fn buffer_candidates(
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

/// True when `sender` is a device of the peer other than the one whose answer was
/// taken. Only decidable when both carry a device tag.
fn is_other_device(answered_by: Option<&Option<DeviceId>>, sender: Option<&DeviceId>) -> bool {
    match (answered_by, sender) {
        (Some(Some(winner)), Some(sender)) => winner != sender,
        _ => false,
    }
}

/// A message from the call's peer about a live call.
fn on_peer_message(
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
            let (theirs, others): (Vec<_>, Vec<_>) = std::mem::take(&mut call.remote_candidates)
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
            call.answered_by = Some(device);
            call.state = CallState::Connecting;
            call.deadline = Some(now + config.connect_timeout);
            sink.event(call, Reason::RemoteAnswer);
        }
        (CallBody::Answer { sdp }, _, CallState::Connecting | CallState::Connected)
            if call.renegotiating
                && !is_other_device(call.answered_by.as_ref(), device.as_ref()) =>
        {
            // The answer to our ICE restart.
            call.renegotiating = false;
            sink.push(Output::ApplyAnswer { call_id: id, sdp });
        }
        (
            CallBody::Renegotiate { sdp },
            direction,
            CallState::Connecting | CallState::Connected,
        ) if CallEngineCore::negotiated(call)
            && !is_other_device(call.answered_by.as_ref(), device.as_ref()) =>
        {
            if call.renegotiating && direction == Direction::Outgoing {
                // Both restarted at once: the caller's offer wins on both sides.
                sink.drop_input(Some(id), input, DropReason::RenegotiationGlare);
                return;
            }
            call.renegotiating = false;
            sink.push(Output::ApplyRenegotiation { call_id: id, sdp });
        }
        (
            CallBody::Answer { .. },
            Direction::Outgoing,
            CallState::Connecting | CallState::Connected,
        ) => {
            // The first answer won. A PhantomCall device whose answer lost is told so, by
            // device id, so that only it hangs up (the winner ignores the message).
            let winner = call.answered_by.clone().flatten();
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
            if !is_other_device(call.answered_by.as_ref(), device.as_ref()) {
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
            if is_other_device(call.answered_by.as_ref(), device.as_ref()) =>
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

/// Both users agreed: the call takes `mode` and the media engine applies its policy.
fn switch_mode(sink: &mut Sink, call: &mut Call, mode: PrivacyMode) {
    call.mode = mode;
    sink.push(Output::ApplyMode {
        call_id: call.id,
        mode,
    });
    sink.event(call, Reason::ModeSwitched);
}

/// How a message from another device of ours ends a call that rings here, if it does.
fn handled_elsewhere(body: &CallBody) -> Option<EndReason> {
    match body {
        CallBody::Answer { .. }
        | CallBody::HandledElsewhere {
            outcome: HandledOutcome::Answered,
        } => Some(EndReason::AnsweredElsewhere),
        CallBody::Reject { reason } if reason.as_deref() == Some(wire::REJECT_BUSY) => {
            Some(EndReason::BusyElsewhere)
        }
        CallBody::Reject { .. }
        | CallBody::HandledElsewhere {
            outcome: HandledOutcome::Rejected,
        } => Some(EndReason::DeclinedElsewhere),
        CallBody::Hangup { .. } => Some(EndReason::EndedElsewhere),
        _ => None,
    }
}

/// A message another device of ours sent about a live call of this device.
fn on_own_device_message(
    sink: &mut Sink,
    call: &mut Call,
    message: CallMessage,
    input: InputKind,
    now: Instant,
) {
    let id = call.id;
    if call.direction == Direction::Outgoing {
        // This device placed the call; what our other devices say about it changes
        // nothing here.
        sink.drop_input(Some(id), input, DropReason::NoActionNeeded);
        return;
    }
    let Some(reason) = handled_elsewhere(&message.body) else {
        sink.drop_input(Some(id), input, DropReason::NoActionNeeded);
        return;
    };
    // Before our answer is out, the other device was first: stop here, send nothing.
    // After it, both answers are on their way and the caller takes one (the other device
    // gets an `answered-elsewhere:` hangup, and a late decline is dropped there).
    let first_there = match call.state {
        CallState::Ringing => true,
        CallState::Connecting => !call.sdp_sent,
        _ => false,
    };
    if first_there {
        sink.end(call, reason, None, now);
    } else if reason == EndReason::AnsweredElsewhere {
        sink.drop_input(Some(id), input, DropReason::ConcurrentAnswer);
    } else {
        sink.drop_input(Some(id), input, DropReason::NoActionNeeded);
    }
}
