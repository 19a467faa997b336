//! A group call's incoming messages (offers, answers, candidates, hangups, group keys)
//! and what its members' media sessions report, carried out for the [`Mesh`].

use std::time::{Duration, Instant};

use nostr_signal::{PublicKey, Recipients, Route};
use phantomcall_schemas::{CallBody, CallId, CallMessage, CallType, PrivacyMode};

use super::group::GroupCall;
use super::group_events::{GroupChange, GroupEnd, LeaveReason, MemberState};
use super::session::{SessionCommand, SessionReport};
use super::{Driver, MediaEvent};
use crate::fsm::{Incoming, MediaError};
use crate::group::{Link, Mesh};

/// Calls whose early group messages are kept, and how many messages each.
const EARLY_CALLS: usize = 32;
const EARLY_MESSAGES: usize = 32;
/// How long early group messages wait for their invitation.
const EARLY_LIFETIME: Duration = Duration::from_secs(60);

impl Driver {
    /// Keeps a group message whose invitation has not come yet (bounded, briefly).
    pub(super) fn hold_early_group_message(&mut self, incoming: Incoming) {
        let now = Instant::now();
        self.early_group
            .retain(|_, (first, _)| now.duration_since(*first) < EARLY_LIFETIME);
        let call_id = incoming.message.call_id;
        if !self.early_group.contains_key(&call_id) && self.early_group.len() >= EARLY_CALLS {
            tracing::debug!("early group message dropped: too many unknown calls");
            return;
        }
        let (_, held) = self
            .early_group
            .entry(call_id)
            .or_insert_with(|| (now, Vec::new()));
        if held.len() < EARLY_MESSAGES {
            held.push(incoming);
        }
    }

    /// A verified message of a group call (see [`is_group_offer`]).
    pub(super) fn group_signal(&mut self, incoming: Incoming) {
        let Incoming {
            sender,
            from_own_device,
            message,
            ..
        } = incoming;
        let call_id = message.call_id;
        if from_own_device {
            // Our own broadcast coming back, or another of our devices answering or
            // declining: then this one stops ringing.
            let elsewhere = message.device.as_ref() != Some(&self.core.config().device);
            let answered = matches!(
                message.body,
                CallBody::Answer { .. } | CallBody::Reject { .. }
            );
            let ringing = self
                .groups
                .get(&call_id)
                .is_some_and(|c| c.ringing_until.is_some());
            if elsewhere && answered && ringing {
                self.group_end(call_id, GroupEnd::HandledElsewhere);
            }
            return;
        }
        let named = named_keys(&message);
        if let CallBody::GroupKeys { mls, data } = message.body {
            self.on_group_keys(call_id, sender, mls, data);
            return;
        }
        if !self.groups.contains_key(&call_id) {
            if let CallBody::Offer { sdp, call_type } = message.body {
                self.group_invited(
                    call_id,
                    sender,
                    named,
                    call_type,
                    message.mode,
                    sdp,
                    message.pq_share,
                );
            }
            return;
        }
        let joined_or_offered = matches!(
            message.body,
            CallBody::Offer { .. } | CallBody::Answer { .. }
        );
        let steps = {
            let Some(call) = self.groups.get_mut(&call_id) else {
                return;
            };
            if message.mode.is_none()
                && matches!(
                    message.body,
                    CallBody::Offer { .. } | CallBody::Answer { .. }
                )
            {
                call.plain.insert(sender);
            }
            match message.body {
                CallBody::Offer { sdp, .. } => {
                    call.offers.insert(sender, (sdp, message.pq_share));
                    call.mesh.offer_from(sender, named)
                }
                CallBody::Answer { sdp } => {
                    let ours = call.mesh.link(&sender) == Some(Link::Offering);
                    let steps = call.mesh.answer_from(sender, named);
                    if ours && call.mesh.link(&sender) == Some(Link::Connected) {
                        call.awaiting.remove(&sender);
                        if let Some(session) = call.sessions.get(&sender) {
                            if call.plain.contains(&sender) {
                                let _ = session.commands.send(SessionCommand::PlainGroupMember);
                            }
                            let pq_share = message.pq_share;
                            let _ = session
                                .commands
                                .send(SessionCommand::ApplyAnswer { sdp, pq_share });
                            call.described.insert(sender);
                            let early = call.early.remove(&sender).unwrap_or_default();
                            if !early.is_empty() {
                                let _ = session.commands.send(SessionCommand::Candidates(early));
                            }
                        }
                    }
                    steps
                }
                CallBody::IceCandidates(candidates) => {
                    // The session applies commands in order, so candidates may follow the
                    // description at once (before its answer is even made).
                    let ready = call.described.contains(&sender);
                    match call.sessions.get(&sender) {
                        Some(session) if ready => {
                            let _ = session
                                .commands
                                .send(SessionCommand::Candidates(candidates));
                        }
                        _ => {
                            let early = call.early.entry(sender).or_default();
                            // A member flooding candidates before its connection exists
                            // gets a bounded queue, like the 1:1 early candidates.
                            if early.len() < 64 {
                                early.extend(candidates);
                            }
                        }
                    }
                    Vec::new()
                }
                CallBody::Renegotiate { sdp } => {
                    if let Some(session) = call.sessions.get(&sender) {
                        let _ = session.commands.send(SessionCommand::Renegotiation(sdp));
                    }
                    Vec::new()
                }
                CallBody::Hangup { .. } | CallBody::Reject { .. } => {
                    let state = match &message.body {
                        CallBody::Reject { reason } => match refusal_words(reason.as_deref()) {
                            // It could not join: the others are told why.
                            Some(why) => MemberState::Failed(why),
                            None => MemberState::Left(LeaveReason::Declined),
                        },
                        _ => MemberState::Left(LeaveReason::HungUp),
                    };
                    self.group_event(
                        call_id,
                        GroupChange::Member {
                            member: sender,
                            state,
                        },
                    );
                    let Some(call) = self.groups.get_mut(&call_id) else {
                        return;
                    };
                    call.mesh.left(sender)
                }
                // Mode switches and device hand-over are 1:1 matters; group keys were
                // taken above.
                CallBody::ModeSwitchRequest { .. }
                | CallBody::ModeSwitchAck { .. }
                | CallBody::HandledElsewhere { .. }
                | CallBody::GroupKeys { .. } => Vec::new(),
            }
        };
        self.group_steps(call_id, steps);
        if joined_or_offered {
            // A newcomer whose key package came first can be added now.
            self.after_epoch_change(call_id);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn group_invited(
        &mut self,
        call_id: CallId,
        from: PublicKey,
        named: Vec<PublicKey>,
        call_type: CallType,
        asked_mode: Option<PrivacyMode>,
        sdp: String,
        pq_share: Option<Vec<u8>>,
    ) {
        let config = self.core.config();
        // Strangers learn nothing, not even that we are online (as for 1:1 calls).
        if !config.contacts.contains(&from) && !config.allow_strangers {
            tracing::info!("group offer from a stranger ignored");
            return;
        }
        let mode = asked_mode
            .unwrap_or(config.default_mode)
            .max(config.required_mode(&from));
        let ring_timeout = config.ring_timeout;
        let busy =
            self.core.live_call().is_some() || self.groups.values().any(|c| c.shared.is_some());
        let refusal = if busy {
            Some(("busy".to_owned(), "busy".to_owned()))
        } else if config.unavailable_modes.contains(&mode) {
            let why = format!("this device cannot make {mode} calls");
            Some((format!("mode-unavailable:{mode}"), why))
        } else {
            None
        };
        let mesh = match Mesh::invited(self.local_key, call_type, from, named) {
            Ok(mesh) => mesh,
            Err(e) => {
                let reason = "too-many-members".to_owned();
                self.send_reject(call_id, from, &[], mode, reason);
                tracing::info!(error = %e, "group offer refused");
                return;
            }
        };
        if let Some((reason, _why)) = refusal {
            self.send_reject(call_id, from, &mesh.members(), mode, reason);
            return;
        }
        let mut call = GroupCall::new(mesh, call_type, mode);
        if asked_mode.is_none() {
            call.plain.insert(from);
            call.inviter_plain = true;
        }
        call.offers.insert(from, (sdp, pq_share));
        call.ringing_until = Some(Instant::now() + ring_timeout);
        self.group_event(
            call_id,
            GroupChange::Ringing {
                from,
                members: call.mesh.members(),
                call_type,
                mode,
            },
        );
        self.groups.insert(call_id, call);
        // What other members said before this invitation reached us (their "I joined").
        if let Some((_, held)) = self.early_group.remove(&call_id) {
            for incoming in held {
                self.group_signal(incoming);
            }
        }
    }

    /// What a member's session reported.
    pub(super) fn group_report(
        &mut self,
        call_id: CallId,
        member: PublicKey,
        report: SessionReport,
    ) {
        let Some(call) = self.groups.get(&call_id) else {
            return;
        };
        if !call.sessions.contains_key(&member) {
            return; // a connection already closed
        }
        let members = call.mesh.members();
        let mode = call.mode;
        let call_type = call.call_type;
        match report {
            // A group connection is keyed by the group's MLS keys: its own share is not
            // sent.
            SessionReport::Offer { sdp, .. } => {
                let body = CallBody::Offer { sdp, call_type };
                let message = self.group_message(call_id, member, &members, mode, body);
                self.outbox.send(member, message, Route::PeerInbox);
            }
            SessionReport::Answer { sdp, pq_share } => {
                // Our first answer is the "I joined" signal: every member and our own
                // devices get it, the offerer first (our candidates for it follow it).
                let body = CallBody::Answer { sdp };
                let mut message = self.group_message(call_id, member, &members, mode, body);
                message.pq_share = pq_share;
                let announce = self
                    .groups
                    .get_mut(&call_id)
                    .is_some_and(|c| !std::mem::replace(&mut c.announced, true));
                let recipients = if announce {
                    Recipients::Many(members.clone())
                } else {
                    Recipients::One(member)
                };
                self.outbox
                    .send_to(member, recipients, message, Route::PeerInbox);
                if let Some(call) = self.groups.get_mut(&call_id) {
                    call.mesh.answered(member);
                }
                self.member_state(call_id, member, MemberState::Connecting);
            }
            SessionReport::RestartOffer(sdp) => {
                let body = CallBody::Renegotiate { sdp };
                let message = self.group_message(call_id, member, &members, mode, body);
                self.outbox.send(member, message, Route::PeerInbox);
            }
            SessionReport::RestartAnswer(sdp) => {
                let body = CallBody::Answer { sdp };
                let message = self.group_message(call_id, member, &members, mode, body);
                self.outbox.send(member, message, Route::PeerInbox);
            }
            SessionReport::Candidates(candidates) => {
                // ICE carries the one member the connection belongs to.
                let body = CallBody::IceCandidates(candidates);
                let message = self.group_message(call_id, member, &[], mode, body);
                self.outbox.send(member, message, Route::PeerInbox);
            }
            SessionReport::Connected => self.member_state(call_id, member, MemberState::Connected),
            SessionReport::Failed(error) => {
                let why = match error {
                    MediaError::CreateOffer => "our offer could not be made",
                    MediaError::CreateAnswer => "its offer could not be answered",
                    MediaError::ApplyAnswer => "its answer could not be applied",
                    MediaError::Connection => "no media path",
                };
                self.member_state(call_id, member, MemberState::Failed(why.into()));
                self.close_member(call_id, member);
            }
            SessionReport::PolicyViolation(detail) => {
                let event = MediaEvent::PolicyViolation(detail);
                self.group_event(call_id, GroupChange::Media { member, event });
                self.member_state(
                    call_id,
                    member,
                    MemberState::Failed("privacy rule broken".into()),
                );
                self.close_member(call_id, member);
            }
            SessionReport::Media(event) => {
                match event {
                    MediaEvent::Reconnecting => {
                        self.member_state(call_id, member, MemberState::Reconnecting)
                    }
                    MediaEvent::Reconnected => {
                        self.member_state(call_id, member, MemberState::Connected)
                    }
                    _ => {}
                }
                self.group_event(call_id, GroupChange::Media { member, event });
            }
            SessionReport::Stats(stats) => {
                self.group_event(call_id, GroupChange::Stats { member, stats });
            }
        }
    }
}

/// What a member's reject reason says, in words for the others, when it could not join
/// (rather than chose not to).
fn refusal_words(reason: Option<&str>) -> Option<String> {
    let reason = reason?;
    if let Some(mode) = reason.strip_prefix("mode-unavailable:") {
        return Some(format!("cannot join: their app cannot make {mode} calls"));
    }
    match reason {
        "busy" => Some("cannot join: busy in another call".into()),
        "too-many-members" => Some("cannot join: the group is too large for their app".into()),
        _ => None,
    }
}

/// Every key a message names (its `p` tags).
fn named_keys(message: &CallMessage) -> Vec<PublicKey> {
    std::iter::once(&message.peer)
        .chain(&message.also_to)
        .filter_map(|hex| PublicKey::from_hex(hex).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::refusal_words;

    #[test]
    fn a_member_who_could_not_join_is_explained_one_who_declined_is_not() {
        assert_eq!(
            refusal_words(Some("mode-unavailable:paranoid")).as_deref(),
            Some("cannot join: their app cannot make paranoid calls")
        );
        assert!(refusal_words(Some("busy")).unwrap().contains("busy"));
        assert_eq!(refusal_words(Some("declined")), None);
        assert_eq!(refusal_words(None), None);
    }
}
