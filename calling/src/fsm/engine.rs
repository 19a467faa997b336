//! [`CallEngineCore`]: the handlers behind [`CallEngineCore::handle`].

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Instant;

use nostr_signal::PublicKey;
use phantomcall_schemas::{CallBody, CallId, PrivacyMode};

use super::call::{Call, Sink};
use super::config::{EngineConfig, ENDED_CALL_MEMORY, MAX_REMEMBERED_CALLS};
use super::early::EarlyCandidates;
use super::types::{
    CallInfo, CallState, Direction, DropReason, EndReason, Input, InputKind, Output,
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
pub(super) fn live<'a>(
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
pub(super) fn negotiated<'a>(
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
pub(super) fn sdp_of(body: &CallBody) -> Option<&str> {
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
            Input::PhoneLeg { call_id, leg } => self.on_phone_leg(call_id, leg),
            Input::Decline { call_id } => self.on_decline(call_id, kind, now),
            Input::RefusePhone { call_id, refusal } => {
                self.on_refuse_phone(call_id, refusal, kind, now)
            }
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
        // Without a mode, a mode chosen before stays: a service vouching for someone
        // (a hotline's dispatcher, a caller handed over) must not lower the floor the
        // user set for them.
        if let Some(mode) = mode {
            self.config.contact_modes.insert(contact, mode);
        }
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

    /// Whether a new outgoing call would exceed [`EngineConfig::max_live_calls`].
    pub(super) fn at_call_capacity(&self) -> bool {
        let live = self.calls.values().filter(|c| c.is_live()).count();
        live >= self.config.max_live_calls.max(1)
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
}
