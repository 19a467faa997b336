//! [`Mesh`]: who connects to whom in a NIP-AC group call, as plain sans-IO code.
//!
//! The rules are NIP-AC's, as Amethyst ships them: the group is the call id plus every `p`
//! tag and the author; the caller offers to each callee; a callee that accepts broadcasts
//! its answer ("I joined"); between callees of the first invitation the lower public key
//! sends the mesh offer; a member invited mid-call never offers, every member already
//! connected offers to it; a hangup or reject closes that member's connection alone, and
//! the call ends when no member is left to talk to.
//!
//! It decides, it does not send: each input returns the [`MeshStep`]s to carry out.

use std::collections::BTreeMap;

use nostr_signal::PublicKey;
use phantomcall_schemas::CallType;

/// Most people in an audio group call, ourselves included (a mesh needs N-1 uplinks per
/// member; beyond this a conference is the answer).
pub const MAX_AUDIO_MEMBERS: usize = 8;
/// Most people in a video group call, ourselves included.
pub const MAX_VIDEO_MEMBERS: usize = 6;

/// The most people a group call of `call_type` may have, ourselves included.
pub fn member_cap(call_type: CallType) -> usize {
    match call_type {
        CallType::Voice => MAX_AUDIO_MEMBERS,
        CallType::Video => MAX_VIDEO_MEMBERS,
    }
}

/// Where our connection with one other member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Named in the group; has not joined (yet).
    Invited,
    /// Broadcast its answer, but there is no connection between us yet.
    Joined,
    /// We sent it an offer; waiting for its answer.
    Offering,
    /// It sent us an offer; we answer it when we join.
    Offered,
    /// Offer and answer exchanged: the connection is being set up or is up.
    Connected,
}

/// What to carry out after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshStep {
    /// Send an offer to `to` (a connection of its own), naming `members` in its `p` tags.
    Offer {
        /// The member to connect to.
        to: PublicKey,
        /// Every member but ourselves (the offer's `p` tags).
        members: Vec<PublicKey>,
    },
    /// Answer the offer `from` sent us.
    Answer {
        /// The member whose offer it is.
        from: PublicKey,
    },
    /// Close the connection with `peer` (it left, or refused).
    Close {
        /// The member.
        peer: PublicKey,
    },
    /// Nobody is left: the call is over for us.
    End,
}

/// Why an invitation cannot be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    /// The group would grow past [`member_cap`].
    #[error("a {call_type} group call takes at most {cap} people")]
    TooLarge {
        /// Voice or video.
        call_type: CallType,
        /// The cap, ourselves included.
        cap: usize,
    },
    /// Fewer than two other people: NIP-AC tells a group by its several callees, so this
    /// would be a 1:1 call to the other side.
    #[error("a group call needs at least two other people: call one person directly")]
    TooFew,
    /// We have not joined the call.
    #[error("join the call before inviting")]
    NotJoined,
    /// The person is already in the group.
    #[error("already in the call")]
    AlreadyMember,
}

/// One group call's mesh, from our side.
#[derive(Debug, Clone)]
pub struct Mesh {
    me: PublicKey,
    call_type: CallType,
    /// Every other member and our link with it.
    members: BTreeMap<PublicKey, Link>,
    joined: bool,
}

impl Mesh {
    /// We start a group call with `callees`: an offer to each.
    pub fn start(
        me: PublicKey,
        call_type: CallType,
        callees: impl IntoIterator<Item = PublicKey>,
    ) -> Result<(Self, Vec<MeshStep>), MeshError> {
        let members: BTreeMap<_, _> = callees
            .into_iter()
            .filter(|k| *k != me)
            .map(|k| (k, Link::Offering))
            .collect();
        check_size(call_type, members.len())?;
        let mesh = Self {
            me,
            call_type,
            members,
            joined: true,
        };
        let steps = mesh.members.keys().map(|to| mesh.offer_to(*to)).collect();
        Ok((mesh, steps))
    }

    /// An offer invited us: `from` wrote it, naming `named` (its `p` tags, us among them).
    /// A group too large for its call type is refused (the caller is told by a reject).
    pub fn invited(
        me: PublicKey,
        call_type: CallType,
        from: PublicKey,
        named: impl IntoIterator<Item = PublicKey>,
    ) -> Result<Self, MeshError> {
        let mut members: BTreeMap<_, _> = named
            .into_iter()
            .filter(|k| *k != me && *k != from)
            .map(|k| (k, Link::Invited))
            .collect();
        members.insert(from, Link::Offered);
        check_size(call_type, members.len())?;
        Ok(Self {
            me,
            call_type,
            members,
            joined: false,
        })
    }

    /// Every member but us, in key order.
    pub fn members(&self) -> Vec<PublicKey> {
        self.members.keys().copied().collect()
    }

    /// Our link with `member`.
    pub fn link(&self, member: &PublicKey) -> Option<Link> {
        self.members.get(member).copied()
    }

    /// Whether we take part (we started the call or accepted it).
    pub fn joined(&self) -> bool {
        self.joined
    }

    fn offer_to(&self, to: PublicKey) -> MeshStep {
        MeshStep::Offer {
            to,
            members: self.members(),
        }
    }

    /// We accept: answer the offers we hold, and offer to the members that joined before
    /// us where our key is the lower one.
    pub fn accept(&mut self) -> Vec<MeshStep> {
        if self.joined {
            return Vec::new();
        }
        self.joined = true;
        let me = self.me;
        let answers: Vec<_> = self.with_link(Link::Offered);
        let offers: Vec<_> = self
            .with_link(Link::Joined)
            .into_iter()
            .filter(|member| me < *member)
            .collect();
        for member in &offers {
            self.members.insert(*member, Link::Offering);
        }
        let answers = answers.into_iter().map(|from| MeshStep::Answer { from });
        let offers = offers.into_iter().map(|to| self.offer_to(to));
        answers.chain(offers).collect()
    }

    fn with_link(&self, wanted: Link) -> Vec<PublicKey> {
        self.members
            .iter()
            .filter(|(_, link)| **link == wanted)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Our answer to `from` went out: that connection is being set up.
    pub fn answered(&mut self, from: PublicKey) {
        if let Some(link) = self.members.get_mut(&from) {
            if *link == Link::Offered {
                *link = Link::Connected;
            }
        }
    }

    /// Another member sent us an offer (a callee with the higher key, or a member
    /// connecting to us because we joined late). `named` are its `p` tags.
    pub fn offer_from(
        &mut self,
        from: PublicKey,
        named: impl IntoIterator<Item = PublicKey>,
    ) -> Vec<MeshStep> {
        self.learn(named);
        let link = self.members.entry(from).or_insert(Link::Invited);
        match *link {
            Link::Connected => Vec::new(), // a renegotiation is not a new connection
            // Both sides offered (glare): the lower key's offer stands.
            Link::Offering if self.me < from => Vec::new(),
            previous => {
                *link = Link::Offered;
                let mut steps = Vec::new();
                if previous == Link::Offering {
                    // Ours yields: its connection goes, theirs is answered.
                    steps.push(MeshStep::Close { peer: from });
                }
                if self.joined {
                    steps.push(MeshStep::Answer { from });
                }
                steps
            }
        }
    }

    /// An answer from `from`: to our offer (the connection is set up), or its "I joined"
    /// broadcast. `named` are its `p` tags (every member as it knows them).
    pub fn answer_from(
        &mut self,
        from: PublicKey,
        named: impl IntoIterator<Item = PublicKey>,
    ) -> Vec<MeshStep> {
        if from == self.me {
            return Vec::new();
        }
        let newcomer = !self.members.contains_key(&from);
        self.learn(named);
        let me = self.me;
        let joined = self.joined;
        let link = self.members.entry(from).or_insert(Link::Invited);
        match *link {
            Link::Offering => {
                *link = Link::Connected;
                Vec::new()
            }
            Link::Connected | Link::Offered => Vec::new(),
            Link::Invited | Link::Joined => {
                // A member invited mid-call never offers: every member already in offers
                // to it. Between the first invitation's callees the lower key offers.
                let we_offer = joined && (newcomer || me < from);
                if we_offer {
                    *link = Link::Offering;
                    vec![self.offer_to(from)]
                } else {
                    *link = Link::Joined;
                    Vec::new()
                }
            }
        }
    }

    /// Members named in a message we had not heard of (invited by someone else).
    fn learn(&mut self, named: impl IntoIterator<Item = PublicKey>) {
        for member in named {
            if member != self.me {
                self.members.entry(member).or_insert(Link::Invited);
            }
        }
    }

    /// We invite `newcomer` mid-call: an offer naming every member and it.
    pub fn invite(&mut self, newcomer: PublicKey) -> Result<Vec<MeshStep>, MeshError> {
        if !self.joined {
            return Err(MeshError::NotJoined);
        }
        if newcomer == self.me || self.members.contains_key(&newcomer) {
            return Err(MeshError::AlreadyMember);
        }
        check_size(self.call_type, self.members.len() + 1)?;
        self.members.insert(newcomer, Link::Offering);
        Ok(vec![self.offer_to(newcomer)])
    }

    /// `peer` hung up or refused: its connection alone closes. The call ends when nobody
    /// we talk to, or could still talk to, is left.
    pub fn left(&mut self, peer: PublicKey) -> Vec<MeshStep> {
        let Some(link) = self.members.remove(&peer) else {
            return Vec::new();
        };
        let mut steps = Vec::new();
        if matches!(link, Link::Offering | Link::Offered | Link::Connected) {
            steps.push(MeshStep::Close { peer });
        }
        // Joined: anyone we are or will be connected with. Still ringing: anyone whose
        // offer we could answer.
        let alive = if self.joined {
            self.members.values().any(|l| *l != Link::Invited)
        } else {
            self.members.values().any(|l| *l == Link::Offered)
        };
        if !alive {
            steps.push(MeshStep::End);
        }
        steps
    }

    /// Members we have a connection with (offered, answered or up).
    pub fn connections(&self) -> Vec<PublicKey> {
        self.members
            .iter()
            .filter(|(_, l)| matches!(l, Link::Offering | Link::Offered | Link::Connected))
            .map(|(k, _)| *k)
            .collect()
    }
}

fn check_size(call_type: CallType, others: usize) -> Result<(), MeshError> {
    let cap = member_cap(call_type);
    if others + 1 > cap {
        Err(MeshError::TooLarge { call_type, cap })
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[path = "mesh_tests.rs"]
mod tests;
