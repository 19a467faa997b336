//! What the engine tells the UI about group calls: ringing, each member's connection, the
//! figures per member, and the end.

use nostr_signal::PublicKey;
use phantomcall_schemas::{CallId, CallType, PrivacyMode};

use super::events::{CallStats, MediaEvent};

/// Something that happened in a group call. Received as [`super::EngineEvent::Group`].
#[derive(Debug, Clone)]
pub struct GroupEvent {
    /// The group call (its NIP-AC `call-id`).
    pub call_id: CallId,
    /// What happened.
    pub change: GroupChange,
}

/// What changed in a group call.
#[derive(Debug, Clone)]
pub enum GroupChange {
    /// Someone invites us: `from` and every other member named.
    Ringing {
        /// Who sent the invitation.
        from: PublicKey,
        /// Every member but us (`from` included).
        members: Vec<PublicKey>,
        /// Voice or video.
        call_type: CallType,
        /// The call's privacy mode.
        mode: PrivacyMode,
    },
    /// We placed the call, or accepted it: from now on we take part.
    Joined {
        /// Every member but us.
        members: Vec<PublicKey>,
        /// Voice or video.
        call_type: CallType,
        /// The call's privacy mode.
        mode: PrivacyMode,
    },
    /// Our connection with one member changed.
    Member {
        /// The member.
        member: PublicKey,
        /// Where it stands now.
        state: MemberState,
    },
    /// Something happened to the media of our connection with one member.
    Media {
        /// The member.
        member: PublicKey,
        /// What.
        event: MediaEvent,
    },
    /// Live figures of our connection with one member, about once a second.
    Stats {
        /// The member.
        member: PublicKey,
        /// The figures (boxed: they are most of the event's size, and come once a
        /// second per member).
        stats: Box<CallStats>,
    },
    /// The call's group keys moved to a new MLS epoch (someone joined or left).
    Keys {
        /// The epoch every keyed connection now encrypts under.
        epoch: u64,
        /// How many people hold the group keys, ourselves included.
        keyed: usize,
        /// How many people are in the call, ourselves included (the others have
        /// DTLS-SRTP alone, or are still joining).
        members: usize,
    },
    /// The call is over for us.
    Ended {
        /// Why.
        reason: GroupEnd,
    },
}

/// Where our connection with one member of a group call stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberState {
    /// Named in the call, has not joined (yet).
    Invited,
    /// Offer and answer are on their way; the connection is being set up.
    Connecting,
    /// Media flows.
    Connected,
    /// The path was lost; it is being restored.
    Reconnecting,
    /// Hung up, declined, or never answered: its connection is closed.
    Left(LeaveReason),
    /// Its connection failed (the others go on).
    Failed(String),
}

/// Why a member is no longer in the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// It hung up.
    HungUp,
    /// It declined the invitation.
    Declined,
    /// It did not answer in time.
    NoAnswer,
}

/// Why a group call ended for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEnd {
    /// We left.
    WeLeft,
    /// We declined the invitation.
    WeDeclined,
    /// Nobody else is left in the call.
    NobodyLeft,
    /// We did not answer the invitation in time.
    Missed,
    /// Accepted or declined on another of our devices.
    HandledElsewhere,
    /// The invitation could not be taken (too large, a mode this device cannot meet, busy).
    Refused(String),
}
