//! Group calls as the UI knows them, updated from the engine's group events by a pure
//! function ([`GroupsModel::apply`]).

use std::collections::{BTreeMap, HashMap};

use calling::{GroupChange, GroupEnd, GroupEvent, MediaEvent, MemberState, VoiceActivity};
use nostr_signal::PublicKey;
use phantomcall_schemas::{CallId, CallType, PrivacyMode};

/// One member as the group screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    /// Our connection with it.
    pub state: MemberState,
    /// Round-trip time of our connection with it, from its last figures.
    pub rtt_ms: Option<f64>,
    /// Whether its media reaches us now.
    pub media_up: bool,
    /// Whether it is speaking or muted, from its audio.
    pub voice: VoiceActivity,
}

/// One group call.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// The call.
    pub call_id: CallId,
    /// Voice or video.
    pub call_type: CallType,
    /// The call's privacy mode.
    pub mode: PrivacyMode,
    /// Who invited us, while it rings.
    pub ringing_from: Option<PublicKey>,
    /// Every other member.
    pub members: BTreeMap<PublicKey, MemberView>,
    /// The group keys: epoch, people keyed, people in the call.
    pub keys: Option<(u64, usize, usize)>,
    /// Our microphone is muted.
    pub muted: bool,
    /// Why it ended, once it has.
    pub ended: Option<GroupEnd>,
}

impl GroupView {
    fn new(call_id: CallId, call_type: CallType, mode: PrivacyMode) -> Self {
        Self {
            call_id,
            call_type,
            mode,
            ringing_from: None,
            members: BTreeMap::new(),
            keys: None,
            muted: false,
            ended: None,
        }
    }

    fn name_members(&mut self, members: &[PublicKey]) {
        for member in members {
            self.members.entry(*member).or_insert(MemberView {
                state: MemberState::Invited,
                rtt_ms: None,
                media_up: false,
                voice: VoiceActivity::default(),
            });
        }
    }

    /// Members still in the call (not left, not failed).
    pub fn present(&self) -> usize {
        self.members
            .values()
            .filter(|m| !matches!(m.state, MemberState::Left(_) | MemberState::Failed(_)))
            .count()
    }
}

/// Every group call not over, and the one whose end is shown.
#[derive(Default)]
pub struct GroupsModel {
    /// Calls ringing or joined, by id.
    pub calls: HashMap<CallId, GroupView>,
    /// The call whose end is shown until the user closes it.
    pub ended: Option<GroupView>,
}

impl GroupsModel {
    /// The group call we take part in, if any.
    pub fn live(&self) -> Option<&GroupView> {
        self.calls.values().find(|c| c.ringing_from.is_none())
    }

    /// A group call that rings here, if any.
    pub fn ringing(&self) -> Option<&GroupView> {
        self.calls.values().find(|c| c.ringing_from.is_some())
    }

    /// Applies one group event.
    pub fn apply(&mut self, event: &GroupEvent) {
        let id = event.call_id;
        match &event.change {
            GroupChange::Ringing {
                from,
                members,
                call_type,
                mode,
            } => {
                let mut view = GroupView::new(id, *call_type, *mode);
                view.ringing_from = Some(*from);
                view.name_members(members);
                self.calls.insert(id, view);
            }
            GroupChange::Joined {
                members,
                call_type,
                mode,
            } => {
                self.ended = None;
                let view = self
                    .calls
                    .entry(id)
                    .or_insert_with(|| GroupView::new(id, *call_type, *mode));
                view.ringing_from = None;
                view.name_members(members);
            }
            GroupChange::Member { member, state } => {
                if let Some(view) = self.calls.get_mut(&id) {
                    view.name_members(std::slice::from_ref(member));
                    if let Some(m) = view.members.get_mut(member) {
                        m.state = state.clone();
                        if !matches!(state, MemberState::Connected) {
                            m.media_up = false;
                            m.voice = VoiceActivity::default();
                        }
                    }
                }
            }
            GroupChange::Stats { member, stats } => {
                if let Some(m) = self
                    .calls
                    .get_mut(&id)
                    .and_then(|v| v.members.get_mut(member))
                {
                    m.rtt_ms = stats.peer.rtt_ms;
                    m.media_up = stats.media_up;
                }
            }
            GroupChange::Keys {
                epoch,
                keyed,
                members,
            } => {
                if let Some(view) = self.calls.get_mut(&id) {
                    view.keys = Some((*epoch, *keyed, *members));
                }
            }
            GroupChange::Media {
                member,
                event: MediaEvent::RemoteVoice(voice),
            } => {
                if let Some(m) = self
                    .calls
                    .get_mut(&id)
                    .and_then(|v| v.members.get_mut(member))
                {
                    m.voice = *voice;
                }
            }
            GroupChange::Media { .. } => {}
            GroupChange::Ended { reason } => {
                if let Some(mut view) = self.calls.remove(&id) {
                    let was_ringing = view.ringing_from.is_some();
                    view.ended = Some(reason.clone());
                    // A call we never took is not shown as ended (the ring just stops).
                    if !was_ringing {
                        self.ended = Some(view);
                    }
                }
            }
        }
    }

    /// Records our mute state for a call.
    pub fn set_muted(&mut self, call: CallId, muted: bool) {
        if let Some(view) = self.calls.get_mut(&call) {
            view.muted = muted;
        }
    }
}

#[cfg(test)]
mod tests {
    use calling::LeaveReason;
    use nostr_signal::Identity;

    use super::*;

    fn event(call_id: CallId, change: GroupChange) -> GroupEvent {
        GroupEvent { call_id, change }
    }

    /// A model where `from` rings us into call `id` with `members`.
    fn ringing(id: CallId, from: PublicKey, members: Vec<PublicKey>) -> GroupsModel {
        let mut model = GroupsModel::default();
        model.apply(&event(
            id,
            GroupChange::Ringing {
                from,
                members,
                call_type: CallType::Voice,
                mode: PrivacyMode::Private,
            },
        ));
        model
    }

    #[test]
    fn a_ringing_group_call_becomes_live_on_joining_and_tracks_each_member() {
        let (alice, bob) = (
            Identity::generate().public_key(),
            Identity::generate().public_key(),
        );
        let id = CallId::new_random();
        let mut model = ringing(id, alice, vec![alice, bob]);
        assert_eq!(model.ringing().map(|g| g.members.len()), Some(2));
        assert!(model.live().is_none());
        model.apply(&event(
            id,
            GroupChange::Joined {
                members: vec![alice, bob],
                call_type: CallType::Voice,
                mode: PrivacyMode::Private,
            },
        ));
        assert!(model.ringing().is_none());
        model.apply(&event(
            id,
            GroupChange::Member {
                member: alice,
                state: MemberState::Connected,
            },
        ));
        model.apply(&event(
            id,
            GroupChange::Keys {
                epoch: 2,
                keyed: 3,
                members: 3,
            },
        ));
        let speaking = VoiceActivity {
            speaking: true,
            muted: false,
        };
        model.apply(&event(
            id,
            GroupChange::Media {
                member: alice,
                event: MediaEvent::RemoteVoice(speaking),
            },
        ));
        let live = model.live().unwrap();
        assert_eq!(live.members[&alice].voice, speaking);
        assert_eq!(live.members[&bob].voice, VoiceActivity::default());
        assert_eq!(live.members[&alice].state, MemberState::Connected);
        assert_eq!(live.members[&bob].state, MemberState::Invited);
        assert_eq!(live.keys, Some((2, 3, 3)));
        model.apply(&event(
            id,
            GroupChange::Member {
                member: bob,
                state: MemberState::Left(LeaveReason::HungUp),
            },
        ));
        assert_eq!(model.live().unwrap().present(), 1);
        model.apply(&event(
            id,
            GroupChange::Member {
                member: alice,
                state: MemberState::Reconnecting,
            },
        ));
        assert_eq!(
            model.live().unwrap().members[&alice].voice,
            VoiceActivity::default(),
            "a member whose media is lost is not shown speaking"
        );
        model.apply(&event(
            id,
            GroupChange::Ended {
                reason: GroupEnd::NobodyLeft,
            },
        ));
        assert!(model.live().is_none());
        assert_eq!(
            model.ended.as_ref().and_then(|g| g.ended.clone()),
            Some(GroupEnd::NobodyLeft)
        );
    }

    #[test]
    fn an_invitation_that_stops_ringing_is_not_shown_as_ended() {
        let alice = Identity::generate().public_key();
        let id = CallId::new_random();
        let mut model = ringing(id, alice, vec![alice]);
        model.apply(&event(
            id,
            GroupChange::Ended {
                reason: GroupEnd::Missed,
            },
        ));
        assert!(model.calls.is_empty());
        assert!(model.ended.is_none());
    }
}
