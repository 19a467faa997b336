//! The registered call message kinds.

use std::fmt;

/// A registered call message kind (the Nostr event `kind` of the rumor).
///
/// 25050..=25055 are NIP-AC kinds that other Nostr clients understand; 25060 and up are
/// PhantomCall extensions. `schemas/_registry.json` lists exactly these kinds (a unit test
/// checks both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum CallKind {
    /// 25050: SDP offer that starts a call.
    Offer = 25050,
    /// 25051: SDP answer that accepts a call.
    Answer = 25051,
    /// 25052: one or more ICE candidates.
    IceCandidates = 25052,
    /// 25053: ends an active or pending call.
    Hangup = 25053,
    /// 25054: declines an incoming call.
    Reject = 25054,
    /// 25055: new SDP offer during a call (ICE restart, tracks added).
    Renegotiate = 25055,
    /// 25060 (PhantomCall): asks the peer to switch privacy mode.
    ModeSwitchRequest = 25060,
    /// 25061 (PhantomCall): answers a mode switch request.
    ModeSwitchAck = 25061,
    /// 25062 (PhantomCall): tells the user's other devices the call was handled here.
    HandledElsewhere = 25062,
    /// 25063 (PhantomCall): one MLS message of a group call's keys.
    GroupKeys = 25063,
}

impl CallKind {
    /// Every registered kind, in kind-number order.
    pub const ALL: [CallKind; 10] = [
        CallKind::Offer,
        CallKind::Answer,
        CallKind::IceCandidates,
        CallKind::Hangup,
        CallKind::Reject,
        CallKind::Renegotiate,
        CallKind::ModeSwitchRequest,
        CallKind::ModeSwitchAck,
        CallKind::HandledElsewhere,
        CallKind::GroupKeys,
    ];

    /// The kind with this number, or `None` if it is not registered.
    pub fn from_u16(k: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_u16() == k)
    }

    /// The Nostr event kind number.
    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// The kind's name as written in `schemas/_registry.json` (e.g. `"ice-candidates"`).
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Offer => "offer",
            CallKind::Answer => "answer",
            CallKind::IceCandidates => "ice-candidates",
            CallKind::Hangup => "hangup",
            CallKind::Reject => "reject",
            CallKind::Renegotiate => "renegotiate",
            CallKind::ModeSwitchRequest => "mode-switch-request",
            CallKind::ModeSwitchAck => "mode-switch-ack",
            CallKind::HandledElsewhere => "handled-elsewhere",
            CallKind::GroupKeys => "group-keys",
        }
    }

    /// True for PhantomCall's own kinds (25060 and up), which plain NIP-AC clients do not know.
    pub fn is_extension(self) -> bool {
        self.as_u16() >= 25060
    }
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_u16_inverts_as_u16_and_rejects_unregistered() {
        for kind in CallKind::ALL {
            assert_eq!(CallKind::from_u16(kind.as_u16()), Some(kind));
        }
        for k in [0, 1, 1059, 25049, 25056, 25059, 25064, u16::MAX] {
            assert_eq!(CallKind::from_u16(k), None, "kind {k}");
        }
    }

    #[test]
    fn all_is_sorted_and_names_are_unique() {
        assert!(CallKind::ALL.windows(2).all(|w| w[0] < w[1]));
        let mut names: Vec<_> = CallKind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CallKind::ALL.len());
    }
}
