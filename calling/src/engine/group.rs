//! Group calls in the engine: the [`Mesh`] decides who connects to whom, this carries it
//! out. One media session per member (its own peer connection, negotiation and key
//! agreement), all sharing the call's devices ([`SharedMedia`]); the group's messages are
//! built and addressed here as NIP-AC's group rules say (offer to its target only, answer
//! and hangup to every member and ourselves, candidates with one `p`).
//!
//! 1:1 calls never come here: the state machine keeps them. A message belongs here when
//! its call id is a group call we know, or when it is an offer naming several callees.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nostr_signal::{PublicKey, Recipients, Route};
use phantomcall_schemas::{
    CallBody, CallId, CallMessage, CallType, GroupKeysKind, IceCandidate, PrivacyMode,
};

use super::group_events::{GroupChange, GroupEnd, GroupEvent, LeaveReason, MemberState};
use super::group_keys::CallKeys;
use super::session::{self, SessionCommand, SessionHandle, SessionSetup};
use super::{Driver, EngineEvent, MediaEvent};
use crate::group::{Mesh, MeshError, MeshStep};
use crate::peer::PeerSetup;
use crate::pipeline::shared::SharedMedia;
use crate::pipeline::Controls;
use crate::policy::ModePolicy;

/// Group calls over for us that are remembered, so their late messages are dropped.
const ENDED_GROUPS_KEPT: usize = 64;
/// How long after a group call ended for us its messages are late ones, not a new
/// invitation.
pub(super) const LATE_AFTER_END: Duration = Duration::from_secs(15);

/// After our offer, how long a member has to answer beyond the ring timeout (its offer may
/// have rung late) before we stop waiting for it.
const ANSWER_SLACK: Duration = Duration::from_secs(10);

/// One group call, from our side.
pub(super) struct GroupCall {
    pub(super) mesh: Mesh,
    pub(super) call_type: CallType,
    pub(super) mode: PrivacyMode,
    /// Ringing until then (an invitation we have not answered).
    pub(super) ringing_until: Option<Instant>,
    /// Offers we hold until we join (or until their connection is ours to answer).
    pub(super) offers: HashMap<PublicKey, (String, Option<Vec<u8>>)>,
    /// Candidates that came before their connection had the remote description.
    pub(super) early: HashMap<PublicKey, Vec<IceCandidate>>,
    /// Members whose connection was given their description (their offer to answer, or
    /// their answer to apply): their candidates go straight to it from then on.
    pub(super) described: HashSet<PublicKey>,
    /// Our offers still waiting for an answer, with the instant we give up.
    pub(super) awaiting: HashMap<PublicKey, Instant>,
    pub(super) sessions: HashMap<PublicKey, SessionHandle>,
    /// The call's devices, once we take part.
    pub(super) shared: Option<Arc<SharedMedia>>,
    pub(super) muted: bool,
    /// Our "I joined" answer went out; later answers (to mesh offers) go to their
    /// offerer alone, so no other member mistakes one for the answer to its own offer.
    pub(super) announced: bool,
    /// Our MLS state, once we take part (`None` if it could not start: every connection
    /// then runs on DTLS-SRTP alone, and the UI is told).
    pub(super) keys: Option<CallKeys>,
    /// Members whose app has no group keys (plain NIP-AC clients: no `mode` tag).
    pub(super) plain: HashSet<PublicKey>,
    /// The inviter has no group keys: the group is created by the lowest named member
    /// that is not known to lack them (see `group_keys.rs`).
    pub(super) inviter_plain: bool,
    /// Group keys messages that came before we joined (a member's key package), taken
    /// once our MLS state starts.
    pub(super) early_keys: Vec<(PublicKey, GroupKeysKind, Vec<u8>)>,
}

impl GroupCall {
    pub(super) fn new(mesh: Mesh, call_type: CallType, mode: PrivacyMode) -> Self {
        Self {
            mesh,
            call_type,
            mode,
            ringing_until: None,
            offers: HashMap::new(),
            early: HashMap::new(),
            described: HashSet::new(),
            awaiting: HashMap::new(),
            sessions: HashMap::new(),
            shared: None,
            muted: false,
            announced: false,
            keys: None,
            plain: HashSet::new(),
            inviter_plain: false,
            early_keys: Vec::new(),
        }
    }
}

/// Whether a message is a NIP-AC group offer (it names more than one callee).
pub(super) fn is_group_offer(message: &CallMessage) -> bool {
    matches!(message.body, CallBody::Offer { .. }) && !message.also_to.is_empty()
}

/// Whether a message can only belong to a group call: group keys, or an answer, hangup or
/// reject naming several members (a 1:1 call's name one).
pub(super) fn is_group_message(message: &CallMessage) -> bool {
    match message.body {
        CallBody::GroupKeys { .. } => true,
        CallBody::Answer { .. } | CallBody::Hangup { .. } | CallBody::Reject { .. } => {
            !message.also_to.is_empty()
        }
        _ => false,
    }
}

impl Driver {
    /// We call `members` together. Refused at once past the cap.
    pub(super) fn group_dial(
        &mut self,
        call_id: CallId,
        members: Vec<PublicKey>,
        call_type: CallType,
        mode: PrivacyMode,
    ) -> Result<(), MeshError> {
        let (mesh, steps) = Mesh::start(self.local_key, call_type, members)?;
        let mut call = GroupCall::new(mesh, call_type, mode);
        call.keys = self.start_keys(call_id, true);
        self.join_media(call_id, &mut call);
        self.group_event(
            call_id,
            GroupChange::Joined {
                members: call.mesh.members(),
                call_type,
                mode,
            },
        );
        self.groups.insert(call_id, call);
        self.group_steps(call_id, steps);
        Ok(())
    }

    /// We invite `newcomer` into a call we take part in.
    pub(super) fn group_invite(&mut self, call_id: CallId, newcomer: PublicKey) {
        let Some(call) = self.groups.get_mut(&call_id) else {
            return;
        };
        match call.mesh.invite(newcomer) {
            Ok(steps) => self.group_steps(call_id, steps),
            Err(e) => {
                tracing::info!(error = %e, "invitation not sent");
                self.group_event(
                    call_id,
                    GroupChange::Member {
                        member: newcomer,
                        state: MemberState::Failed(e.to_string()),
                    },
                );
            }
        }
    }

    /// The user accepts a ringing group call.
    pub(super) fn group_accept(&mut self, call_id: CallId) {
        let Some(mut call) = self.groups.remove(&call_id) else {
            return;
        };
        if call.ringing_until.take().is_none() {
            self.groups.insert(call_id, call);
            return;
        }
        call.keys = self.start_keys(call_id, false);
        self.join_media(call_id, &mut call);
        self.group_event(
            call_id,
            GroupChange::Joined {
                members: call.mesh.members(),
                call_type: call.call_type,
                mode: call.mode,
            },
        );
        let steps = call.mesh.accept();
        let early_keys = std::mem::take(&mut call.early_keys);
        self.groups.insert(call_id, call);
        self.group_steps(call_id, steps);
        self.send_key_package(call_id);
        for (sender, mls, data) in early_keys {
            self.on_group_keys(call_id, sender, mls, data);
        }
        // With a plain NIP-AC inviter, we may be the one to create the group.
        self.after_epoch_change(call_id);
    }

    /// Our MLS state for a call we take part in; `create`: we placed it.
    fn start_keys(&self, call_id: CallId, create: bool) -> Option<CallKeys> {
        match CallKeys::start(&self.identity, call_id, create) {
            Ok(keys) => Some(keys),
            Err(e) => {
                tracing::warn!(error = %e, "group keys could not start; DTLS-SRTP alone");
                None
            }
        }
    }

    /// The user declines a ringing group call, or leaves one: every member is told.
    pub(super) fn group_leave(&mut self, call_id: CallId) {
        let Some(call) = self.groups.get(&call_id) else {
            return;
        };
        let (body, reason) = if call.ringing_until.is_some() {
            (CallBody::Reject { reason: None }, GroupEnd::WeDeclined)
        } else {
            (CallBody::Hangup { reason: None }, GroupEnd::WeLeft)
        };
        self.group_broadcast(call_id, body);
        self.group_end(call_id, reason);
    }

    /// Mute and camera apply to the whole call; the rest to each connection.
    pub(super) fn group_session_command(&mut self, call_id: CallId, command: SessionCommand) {
        let Some(call) = self.groups.get_mut(&call_id) else {
            return;
        };
        match command {
            SessionCommand::Mute(muted) => {
                call.muted = muted;
                for session in call.sessions.values() {
                    let _ = session.commands.send(SessionCommand::Mute(muted));
                }
            }
            SessionCommand::CameraOff(off) => {
                if let Some(shared) = &call.shared {
                    Controls::set(&shared.controls.camera_off, off);
                }
            }
            SessionCommand::VoiceProcessing(on) => {
                if let Some(shared) = &call.shared {
                    Controls::set(&shared.controls.voice_processing_off, !on);
                }
            }
            SessionCommand::VideoQuality(q) => {
                for session in call.sessions.values() {
                    let _ = session.commands.send(SessionCommand::VideoQuality(q));
                }
            }
            SessionCommand::RestartIce => {
                for session in call.sessions.values() {
                    let _ = session.commands.send(SessionCommand::RestartIce);
                }
            }
            SessionCommand::ScreenShare(_) => {
                let why = Some("screen sharing in group calls is not available yet".to_owned());
                let event = MediaEvent::ScreenShareStopped { why };
                let _ = self.events.send(EngineEvent::Media { call_id, event });
            }
            // The engine's own steps; never asked for by the app.
            _ => {}
        }
    }

    /// A member's connection failed or broke a rule: it alone closes; the call ends when
    /// nobody is left.
    pub(super) fn close_member(&mut self, call_id: CallId, member: PublicKey) {
        let steps = match self.groups.get_mut(&call_id) {
            Some(call) => call.mesh.left(member),
            None => return,
        };
        self.group_steps(call_id, steps);
    }

    /// Carries out what the mesh decided.
    pub(super) fn group_steps(&mut self, call_id: CallId, steps: Vec<MeshStep>) {
        for step in steps {
            match step {
                MeshStep::Offer { to, .. } => {
                    self.start_member_session(call_id, to, true);
                    if let Some(call) = self.groups.get_mut(&call_id) {
                        let ring = self.core.config().ring_timeout;
                        call.awaiting
                            .insert(to, Instant::now() + ring + ANSWER_SLACK);
                    }
                    self.command_member(call_id, to, SessionCommand::Offer);
                    self.member_state(call_id, to, MemberState::Connecting);
                }
                MeshStep::Answer { from } => {
                    let held = self
                        .groups
                        .get_mut(&call_id)
                        .and_then(|c| c.offers.remove(&from));
                    let Some((sdp, pq_share)) = held else {
                        continue;
                    };
                    self.start_member_session(call_id, from, false);
                    self.command_member(call_id, from, SessionCommand::Answer { sdp, pq_share });
                    let early = self
                        .groups
                        .get_mut(&call_id)
                        .and_then(|c| {
                            c.described.insert(from);
                            c.early.remove(&from)
                        })
                        .unwrap_or_default();
                    if !early.is_empty() {
                        self.command_member(call_id, from, SessionCommand::Candidates(early));
                    }
                }
                MeshStep::Close { peer } => {
                    if let Some(call) = self.groups.get_mut(&call_id) {
                        call.awaiting.remove(&peer);
                        call.early.remove(&peer);
                        call.described.remove(&peer);
                        if let Some(session) = call.sessions.remove(&peer) {
                            drop(session.commands);
                            self.stopping.push(session.task);
                        }
                    }
                    // Gone from the call (not a glare's replaced connection): out of the
                    // group keys too.
                    self.remove_from_group_keys(call_id, peer);
                }
                MeshStep::End => self.group_end(call_id, GroupEnd::NobodyLeft),
            }
        }
    }

    pub(super) fn start_member_session(
        &mut self,
        call_id: CallId,
        member: PublicKey,
        we_offer: bool,
    ) {
        let Some(call) = self.groups.get_mut(&call_id) else {
            return;
        };
        if let Some(old) = call.sessions.remove(&member) {
            // Glare: our offer yielded to theirs; the old connection goes.
            drop(old.commands);
            self.stopping.push(old.task);
        }
        call.described.remove(&member);
        let video = call.call_type == CallType::Video;
        let setup = SessionSetup {
            call_id,
            participant: member,
            local: self.local_key,
            peer: PeerSetup {
                mode: call.mode,
                send_video: video,
                receive_video: video,
                network: self
                    .network
                    .with_fresh_turn_credentials(std::time::SystemTime::now()),
                signaling_hides_address: self.signaling_hides_address,
            },
            is_caller: we_offer,
            devices: self.devices.clone(),
            shared: call.shared.clone(),
            group_keys: call.keys.as_ref().map(|k| k.sframe.clone()),
            ble: None,
            runtime: tokio::runtime::Handle::current(),
        };
        let plain = call.plain.contains(&member);
        let handle = session::spawn(setup, self.reports.clone());
        if plain {
            let _ = handle.commands.send(SessionCommand::PlainGroupMember);
        }
        if call.muted {
            let _ = handle.commands.send(SessionCommand::Mute(true));
        }
        call.sessions.insert(member, handle);
    }

    pub(super) fn command_member(
        &mut self,
        call_id: CallId,
        member: PublicKey,
        command: SessionCommand,
    ) {
        if let Some(session) = self
            .groups
            .get(&call_id)
            .and_then(|c| c.sessions.get(&member))
        {
            let _ = session.commands.send(command);
        }
    }

    /// Opens the call's devices: we take part from now on.
    pub(super) fn join_media(&mut self, call_id: CallId, call: &mut GroupCall) {
        let (notes, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let video = call.call_type == CallType::Video;
        let shared = SharedMedia::start(&self.devices, video, call.muted, notes);
        if !ModePolicy::for_mode(call.mode).video_on_by_default {
            // Paranoid starts audio first, as in a 1:1 call.
            Controls::set(&shared.controls.camera_off, true);
        }
        call.shared = Some(Arc::new(shared));
        let events = self.events.clone();
        // The shared devices' troubles concern the whole call.
        tokio::spawn(async move {
            while let Some(note) = rx.recv().await {
                let event = match note {
                    crate::pipeline::PipelineNote::DeviceError(e) => MediaEvent::DeviceError(e),
                    crate::pipeline::PipelineNote::Filter(state, protected) => {
                        MediaEvent::Blackout { state, protected }
                    }
                    crate::pipeline::PipelineNote::VoiceProcessingFault { fault, gave_up } => {
                        MediaEvent::VoiceProcessingFault { fault, gave_up }
                    }
                    // Voice activity is per member, from its connection's stream.
                    crate::pipeline::PipelineNote::ScreenShareEnded(..)
                    | crate::pipeline::PipelineNote::RemoteVoice(_) => continue,
                };
                let _ = events.send(EngineEvent::Media { call_id, event });
            }
        });
    }

    /// Hangup or reject, signed once, to every member and our own devices.
    pub(super) fn group_broadcast(&mut self, call_id: CallId, body: CallBody) {
        let Some(call) = self.groups.get(&call_id) else {
            return;
        };
        let members = call.mesh.members();
        let Some(first) = members.first().copied() else {
            return;
        };
        let message = self.group_message(call_id, first, &members, call.mode, body);
        self.outbox
            .send_to(first, Recipients::Many(members), message, Route::PeerInbox);
    }

    pub(super) fn send_reject(
        &mut self,
        call_id: CallId,
        to: PublicKey,
        others: &[PublicKey],
        mode: PrivacyMode,
        reason: String,
    ) {
        let body = CallBody::Reject {
            reason: Some(reason),
        };
        let message = self.group_message(call_id, to, others, mode, body);
        self.outbox.send(to, message, Route::PeerInbox);
    }

    /// A message of `call_id` to `to`, naming `others` too (its further `p` tags).
    pub(super) fn group_message(
        &self,
        call_id: CallId,
        to: PublicKey,
        others: &[PublicKey],
        mode: PrivacyMode,
        body: CallBody,
    ) -> CallMessage {
        CallMessage {
            phone: None,
            call_id,
            peer: to.to_hex(),
            also_to: others
                .iter()
                .filter(|k| **k != to)
                .map(PublicKey::to_hex)
                .collect(),
            mode: Some(mode),
            device: Some(self.core.config().device.clone()),
            body,
            pq_share: None,
        }
    }

    /// The call is over for us: every connection and the devices stop.
    pub(super) fn group_end(&mut self, call_id: CallId, reason: GroupEnd) {
        let Some(call) = self.groups.remove(&call_id) else {
            return;
        };
        // A member's offer still on its way must not ring us back into the call (a
        // deliberate invitation later still does).
        if self.ended_groups.len() >= ENDED_GROUPS_KEPT {
            self.ended_groups.pop_front();
        }
        self.ended_groups.push_back((call_id, Instant::now()));
        self.early_group.remove(&call_id);
        for (_, session) in call.sessions {
            drop(session.commands);
            self.stopping.push(session.task);
        }
        if let Some(shared) = call.shared {
            let threads = shared.stop();
            self.stopping.push(tokio::task::spawn_blocking(move || {
                for thread in threads {
                    let _ = thread.join();
                }
            }));
        }
        self.stopping.retain(|t| !t.is_finished());
        self.group_event(call_id, GroupChange::Ended { reason });
    }

    pub(super) fn member_state(&self, call_id: CallId, member: PublicKey, state: MemberState) {
        self.group_event(call_id, GroupChange::Member { member, state });
    }

    pub(super) fn group_event(&self, call_id: CallId, change: GroupChange) {
        let _ = self
            .events
            .send(EngineEvent::Group(GroupEvent { call_id, change }));
    }

    /// When a group timer is due next (a ringing invitation, an unanswered offer).
    pub(super) fn group_next_timeout(&self) -> Option<Instant> {
        self.groups
            .values()
            .flat_map(|c| {
                c.ringing_until
                    .into_iter()
                    .chain(c.awaiting.values().copied())
            })
            .min()
    }

    /// Fires the group timers due at `now`.
    pub(super) fn group_tick(&mut self, now: Instant) {
        let missed: Vec<CallId> = self
            .groups
            .iter()
            .filter(|(_, c)| c.ringing_until.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for call_id in missed {
            self.group_end(call_id, GroupEnd::Missed);
        }
        let silent: Vec<(CallId, PublicKey)> = self
            .groups
            .iter()
            .flat_map(|(id, c)| {
                c.awaiting
                    .iter()
                    .filter(|(_, t)| **t <= now)
                    .map(|(m, _)| (*id, *m))
            })
            .collect();
        for (call_id, member) in silent {
            if let Some(call) = self.groups.get_mut(&call_id) {
                call.awaiting.remove(&member);
            }
            self.member_state(call_id, member, MemberState::Left(LeaveReason::NoAnswer));
            self.close_member(call_id, member);
        }
    }
}
