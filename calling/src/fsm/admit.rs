//! Admission policies: what happens to a new incoming offer once duplicates and glare are
//! settled. A policy is a pure function of [`OfferFacts`]; the state machine carries out
//! its [`Admission`]. A personal client rings ([`PersonalPolicy`]); a headless answerer
//! takes every call it may take ([`AnswerEverything`]); the hotline and the gateway bring
//! their own.

use std::fmt;

use phantomcall_schemas::{CallType, PrivacyMode};

/// What an admission policy knows about an incoming offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferFacts {
    /// The caller is one of our contacts.
    pub from_contact: bool,
    /// Calls from keys that are not contacts may ring ([`super::EngineConfig::allow_strangers`]).
    pub strangers_allowed: bool,
    /// The offer names more than one callee (a NIP-AC group offer).
    pub group: bool,
    /// How many calls of this device are live (dialing, ringing, connecting, connected).
    pub live_calls: usize,
    /// Voice or video, as offered.
    pub call_type: CallType,
    /// The mode the caller asked for; `None`: its client does not speak modes.
    pub asked_mode: Option<PrivacyMode>,
    /// The least mode we take from this caller ([`super::EngineConfig::required_mode`]).
    pub required_mode: PrivacyMode,
    /// The call would take a mode this device has a media path for.
    pub mode_available: bool,
}

impl OfferFacts {
    /// The mode the call takes: the caller's if at least ours, else ours (a caller
    /// without modes gets ours on our side).
    pub fn call_mode(&self) -> PrivacyMode {
        self.asked_mode
            .map_or(self.required_mode, |asked| asked.max(self.required_mode))
    }

    /// Whether the caller asked for less than we require.
    pub fn asks_too_little(&self) -> bool {
        self.asked_mode
            .is_some_and(|asked| asked < self.required_mode)
    }

    /// Whether this caller may get any answer at all: a contact, or anyone when strangers
    /// are allowed. Others learn nothing, not even that this device is online.
    pub fn may_ring(&self) -> bool {
        self.from_contact || self.strangers_allowed
    }
}

/// What becomes of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It rings until the user answers, declines, or the ring timeout.
    Ring,
    /// It is answered at once (video only when offered and `with_video`).
    Accept {
        /// Answer with our camera when the offer is a video call.
        with_video: bool,
    },
    /// It lands in the log as missed from an unknown caller; nothing is sent back.
    MissedUnknown,
    /// Refused as busy (reject `"busy"`).
    Busy,
    /// Refused with a reason the caller is told.
    Refuse(Refusal),
}

/// Why an offer is refused (each sent as a reject reason, see [`super::wire`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Group offers are not taken by this device (reject `group-calls-unsupported`).
    GroupUnsupported,
    /// The caller asked for a lower mode than we require (reject `mode-required:<mode>`).
    ModeTooLow(PrivacyMode),
    /// The call's mode has no media path here (reject `mode-unavailable:<mode>`).
    ModeUnavailable(PrivacyMode),
}

/// Decides what becomes of incoming offers.
pub trait AdmissionPolicy: fmt::Debug + Send + Sync {
    /// The fate of the offer `facts` describes.
    fn admit(&self, facts: &OfferFacts) -> Admission;
}

/// A person's client: one call at a time, strangers silent unless allowed, the mode
/// floor kept (never answered in a lower mode), then it rings.
#[derive(Debug, Clone, Copy, Default)]
pub struct PersonalPolicy;

impl AdmissionPolicy for PersonalPolicy {
    fn admit(&self, facts: &OfferFacts) -> Admission {
        refusal(facts, 1).unwrap_or(Admission::Ring)
    }
}

/// A headless answerer (a demo contact, a gateway leg): the same refusals as
/// [`PersonalPolicy`], but a call that would ring is answered at once, with video when
/// offered.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnswerEverything;

impl AdmissionPolicy for AnswerEverything {
    fn admit(&self, facts: &OfferFacts) -> Admission {
        refusal(facts, 1).unwrap_or(Admission::Accept { with_video: true })
    }
}

/// A headless side that takes several calls side by side (the phone gateway's trunk
/// legs): answered at once up to `max_calls` live calls, busy beyond; the other refusals
/// as [`PersonalPolicy`]'s.
#[derive(Debug, Clone, Copy)]
pub struct AnswerUpTo {
    /// Most calls live at once (at least one).
    pub max_calls: usize,
}

impl AdmissionPolicy for AnswerUpTo {
    fn admit(&self, facts: &OfferFacts) -> Admission {
        refusal(facts, self.max_calls.max(1)).unwrap_or(Admission::Accept { with_video: true })
    }
}

/// A service that decides on each call itself while it keeps several side by side (the
/// phone gateway's outbound legs: it rings while the trunk is dialled, then answers or
/// declines): rings up to `max_calls` live calls, busy beyond; the other refusals as
/// [`PersonalPolicy`]'s.
#[derive(Debug, Clone, Copy)]
pub struct RingUpTo {
    /// Most calls live at once (at least one).
    pub max_calls: usize,
}

impl AdmissionPolicy for RingUpTo {
    fn admit(&self, facts: &OfferFacts) -> Admission {
        refusal(facts, self.max_calls.max(1)).unwrap_or(Admission::Ring)
    }
}

/// The rules every policy here shares, in order: strangers silent, group offers refused,
/// busy (`capacity` live calls already), mode too low, mode without a media path.
fn refusal(facts: &OfferFacts, capacity: usize) -> Option<Admission> {
    if !facts.may_ring() {
        Some(Admission::MissedUnknown)
    } else if facts.group {
        Some(Admission::Refuse(Refusal::GroupUnsupported))
    } else if facts.live_calls >= capacity {
        Some(Admission::Busy)
    } else if facts.asks_too_little() {
        Some(Admission::Refuse(Refusal::ModeTooLow(facts.required_mode)))
    } else if !facts.mode_available {
        Some(Admission::Refuse(Refusal::ModeUnavailable(
            facts.call_mode(),
        )))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact_offer() -> OfferFacts {
        OfferFacts {
            from_contact: true,
            strangers_allowed: false,
            group: false,
            live_calls: 0,
            call_type: CallType::Video,
            asked_mode: Some(PrivacyMode::Private),
            required_mode: PrivacyMode::Private,
            mode_available: true,
        }
    }

    #[test]
    fn a_contacts_offer_rings_for_a_person_and_is_answered_by_a_headless_client() {
        assert_eq!(PersonalPolicy.admit(&contact_offer()), Admission::Ring);
        assert_eq!(
            AnswerEverything.admit(&contact_offer()),
            Admission::Accept { with_video: true }
        );
    }

    #[test]
    fn a_stranger_is_silent_unless_strangers_are_allowed() {
        let stranger = OfferFacts {
            from_contact: false,
            // Even a group offer from a stranger gets no answer.
            group: true,
            ..contact_offer()
        };
        for policy in [&PersonalPolicy as &dyn AdmissionPolicy, &AnswerEverything] {
            assert_eq!(policy.admit(&stranger), Admission::MissedUnknown);
        }
        let allowed = OfferFacts {
            strangers_allowed: true,
            group: false,
            ..stranger
        };
        assert_eq!(PersonalPolicy.admit(&allowed), Admission::Ring);
    }

    #[test]
    fn a_side_that_takes_several_calls_is_busy_only_at_its_limit() {
        let second = OfferFacts {
            live_calls: 1,
            ..contact_offer()
        };
        let gateway = AnswerUpTo { max_calls: 2 };
        assert_eq!(
            gateway.admit(&second),
            Admission::Accept { with_video: true },
            "room for a second call"
        );
        let third = OfferFacts {
            live_calls: 2,
            ..second
        };
        assert_eq!(gateway.admit(&third), Admission::Busy);
        assert_eq!(
            AnswerUpTo { max_calls: 0 }.admit(&contact_offer()),
            Admission::Accept { with_video: true },
            "a limit of zero still takes one call"
        );
    }

    #[test]
    fn a_service_that_decides_itself_rings_up_to_its_limit_then_is_busy() {
        let second = OfferFacts {
            live_calls: 1,
            ..contact_offer()
        };
        let gateway = RingUpTo { max_calls: 2 };
        assert_eq!(gateway.admit(&second), Admission::Ring);
        let third = OfferFacts {
            live_calls: 2,
            ..second
        };
        assert_eq!(gateway.admit(&third), Admission::Busy);
    }

    #[test]
    fn busy_comes_before_the_mode_rules_and_group_offers_before_busy() {
        let busy = OfferFacts {
            live_calls: 1,
            asked_mode: Some(PrivacyMode::Fast),
            ..contact_offer()
        };
        assert_eq!(PersonalPolicy.admit(&busy), Admission::Busy);
        assert_eq!(AnswerEverything.admit(&busy), Admission::Busy);
        let group = OfferFacts {
            group: true,
            ..busy
        };
        assert_eq!(
            PersonalPolicy.admit(&group),
            Admission::Refuse(Refusal::GroupUnsupported)
        );
    }

    #[test]
    fn the_mode_floor_is_never_lowered_by_either_policy() {
        let low = OfferFacts {
            asked_mode: Some(PrivacyMode::Fast),
            required_mode: PrivacyMode::Paranoid,
            ..contact_offer()
        };
        for policy in [&PersonalPolicy as &dyn AdmissionPolicy, &AnswerEverything] {
            assert_eq!(
                policy.admit(&low),
                Admission::Refuse(Refusal::ModeTooLow(PrivacyMode::Paranoid))
            );
        }
    }

    #[test]
    fn a_higher_mode_is_taken_as_asked_and_a_caller_without_modes_gets_ours() {
        let higher = OfferFacts {
            asked_mode: Some(PrivacyMode::Paranoid),
            ..contact_offer()
        };
        assert_eq!(higher.call_mode(), PrivacyMode::Paranoid);
        assert_eq!(PersonalPolicy.admit(&higher), Admission::Ring);
        let without = OfferFacts {
            asked_mode: None,
            ..contact_offer()
        };
        assert_eq!(without.call_mode(), PrivacyMode::Private);
        assert_eq!(PersonalPolicy.admit(&without), Admission::Ring);
    }

    #[test]
    fn a_mode_without_a_media_path_is_refused_naming_the_calls_mode() {
        let unavailable = OfferFacts {
            asked_mode: Some(PrivacyMode::Paranoid),
            mode_available: false,
            ..contact_offer()
        };
        assert_eq!(
            PersonalPolicy.admit(&unavailable),
            Admission::Refuse(Refusal::ModeUnavailable(PrivacyMode::Paranoid))
        );
    }
}
