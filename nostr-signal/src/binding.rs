//! Which conversation a call id belongs to: a pair, or a group's members.
//!
//! A call id is bound to the parties of its first message (the author and every `p` tag).
//! Later messages on that id must come from a member, or from a newcomer who names at
//! least one member other than us (NIP-AC: someone invited mid-call announces "I joined"
//! to every member). A member's message may name new members, who then belong. What stops
//! here is cross-conversation replay and blind injection by someone who knows only the
//! call id; who may actually take part is the call engine's decision (and, for groups,
//! MLS membership).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use nostr_sdk::{PublicKey, Timestamp};
use phantomcall_schemas::CallId;

use crate::RejectReason;

/// Most members one call id may gather; a mesh call has at most a handful, a conference
/// goes through its service, so more is an attack on memory.
pub const MAX_CONVERSATION_MEMBERS: usize = 64;

struct Conversation {
    members: BTreeSet<PublicKey>,
    last_seen: Timestamp,
}

/// The call-id bindings of one identity.
pub(crate) struct Conversations {
    bindings: HashMap<CallId, Conversation>,
    max_bindings: usize,
    ttl: Duration,
}

impl Conversations {
    pub(crate) fn new(max_bindings: usize, ttl: Duration) -> Self {
        Self {
            bindings: HashMap::new(),
            max_bindings,
            ttl,
        }
    }

    /// Binds `call_id` to, or checks it against, the message's parties: its author
    /// `sender` and the keys it `names`. `me` is never counted as the member a newcomer
    /// must name.
    pub(crate) fn bind(
        &mut self,
        call_id: CallId,
        sender: PublicKey,
        names: &[PublicKey],
        me: PublicKey,
        now: Timestamp,
    ) -> Result<(), RejectReason> {
        let parties: BTreeSet<PublicKey> = std::iter::once(sender)
            .chain(names.iter().copied())
            .collect();
        let Some(conversation) = self.bindings.get_mut(&call_id) else {
            if parties.len() > MAX_CONVERSATION_MEMBERS {
                return Err(RejectReason::GroupTooLarge);
            }
            if self.bindings.len() >= self.max_bindings {
                self.evict_oldest();
            }
            let conversation = Conversation {
                members: parties,
                last_seen: now,
            };
            self.bindings.insert(call_id, conversation);
            return Ok(());
        };
        let members = &conversation.members;
        let member = members.contains(&sender);
        let introduced = names.iter().any(|k| *k != me && members.contains(k));
        if !member && !introduced {
            return Err(RejectReason::ForeignCallId);
        }
        let joined = parties.difference(members).count();
        if members.len() + joined > MAX_CONVERSATION_MEMBERS {
            return Err(RejectReason::GroupTooLarge);
        }
        conversation.members.extend(parties);
        conversation.last_seen = now;
        Ok(())
    }

    /// Forgets conversations idle for longer than the binding lifetime.
    pub(crate) fn prune(&mut self, now: Timestamp) {
        let horizon = now.as_secs().saturating_sub(self.ttl.as_secs());
        self.bindings
            .retain(|_, c| c.last_seen.as_secs() >= horizon);
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self
            .bindings
            .iter()
            .min_by_key(|(_, c)| c.last_seen)
            .map(|(id, _)| *id)
        {
            self.bindings.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::Keys;

    fn keys(n: usize) -> Vec<PublicKey> {
        (0..n).map(|_| Keys::generate().public_key()).collect()
    }

    fn conversations() -> Conversations {
        Conversations::new(1024, Duration::from_secs(3600))
    }

    #[test]
    fn a_pair_stays_closed_to_a_third_party_who_names_only_us() {
        let [alice, me, mallory] = keys(3).try_into().unwrap();
        let mut c = conversations();
        let id = CallId::new_random();
        let now = Timestamp::from(1000);
        c.bind(id, alice, &[me], me, now).unwrap();
        assert_eq!(c.bind(id, me, &[alice], me, now), Ok(()));
        assert_eq!(
            c.bind(id, mallory, &[me], me, now),
            Err(RejectReason::ForeignCallId)
        );
    }

    #[test]
    fn a_group_takes_in_a_member_invited_mid_call() {
        let [alice, me, carol, dave] = keys(4).try_into().unwrap();
        let mut c = conversations();
        let id = CallId::new_random();
        let now = Timestamp::from(1000);
        // Alice's group offer names both callees.
        c.bind(id, alice, &[me, carol], me, now).unwrap();
        // Dave, invited by Alice later, announces himself to every member.
        c.bind(id, dave, &[alice, me, carol], me, now).unwrap();
        // From then on Dave is a member like the others.
        c.bind(id, dave, &[me], me, now).unwrap();
    }

    #[test]
    fn a_call_id_never_gathers_more_than_the_member_cap() {
        let me = Keys::generate().public_key();
        let mut c = conversations();
        let id = CallId::new_random();
        let now = Timestamp::from(1000);
        let first = keys(16);
        c.bind(id, first[0], &first[1..], me, now).unwrap();
        let mut refused = false;
        for _ in 0..10 {
            let more = keys(15);
            let mut names = more.clone();
            names.push(first[1]);
            if c.bind(id, first[0], &names, me, now) == Err(RejectReason::GroupTooLarge) {
                refused = true;
                break;
            }
        }
        assert!(refused, "growth stops at {MAX_CONVERSATION_MEMBERS}");
    }

    #[test]
    fn idle_conversations_are_forgotten() {
        let [alice, me, bob] = keys(3).try_into().unwrap();
        let mut c = conversations();
        let id = CallId::new_random();
        c.bind(id, alice, &[me], me, Timestamp::from(1000)).unwrap();
        c.prune(Timestamp::from(1000 + 3601));
        // Forgotten: the id may start a new conversation.
        c.bind(id, bob, &[me], me, Timestamp::from(5000)).unwrap();
    }
}
