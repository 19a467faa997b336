//! Why a phone gateway did not place a user's call to a number: sent as the reject
//! reason `phone:<code>`, so the user reads what stopped it rather than "declined".

use std::fmt;

/// Prefix of a phone gateway's reject reason.
pub const REJECT_PHONE_PREFIX: &str = "phone:";

/// Why a phone gateway refused to place a call (or the number did not answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhoneRefusal {
    /// The caller is not enrolled for phone calls at this gateway.
    NotEnrolled,
    /// The destination is blocked (premium-rate, international, the operator's list).
    Blocked,
    /// Not enough prepaid credit for this destination.
    NoCredit,
    /// Too many calls at once or in the last minute (the caller's or the gateway's).
    TooManyCalls,
    /// The number is busy.
    Busy,
    /// The number did not answer.
    NoAnswer,
    /// The carrier or the gateway failed to place the call.
    Failed,
}

const CODES: [(PhoneRefusal, &str); 7] = [
    (PhoneRefusal::NotEnrolled, "not-enrolled"),
    (PhoneRefusal::Blocked, "blocked"),
    (PhoneRefusal::NoCredit, "no-credit"),
    (PhoneRefusal::TooManyCalls, "too-many-calls"),
    (PhoneRefusal::Busy, "busy"),
    (PhoneRefusal::NoAnswer, "no-answer"),
    (PhoneRefusal::Failed, "failed"),
];

impl PhoneRefusal {
    /// The reject reason on the wire: `phone:<code>`.
    pub fn reason(self) -> String {
        let code = CODES
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("failed", |(_, code)| code);
        format!("{REJECT_PHONE_PREFIX}{code}")
    }

    /// The refusal a reject reason names; `None` for any other reason (an unknown code
    /// from a newer gateway reads as [`PhoneRefusal::Failed`]).
    pub fn from_reason(reason: Option<&str>) -> Option<Self> {
        let code = reason?.strip_prefix(REJECT_PHONE_PREFIX)?;
        Some(
            CODES
                .iter()
                .find(|(_, c)| *c == code)
                .map_or(PhoneRefusal::Failed, |(r, _)| *r),
        )
    }
}

impl PhoneRefusal {
    /// What the caller is told.
    pub fn words(self) -> &'static str {
        match self {
            PhoneRefusal::NotEnrolled => "this phone gateway does not place calls for your account",
            PhoneRefusal::Blocked => "the phone gateway does not call this number",
            PhoneRefusal::NoCredit => "not enough phone credit left at the gateway",
            PhoneRefusal::TooManyCalls => "too many phone calls right now; try again shortly",
            PhoneRefusal::Busy => "the number is busy",
            PhoneRefusal::NoAnswer => "the number did not answer",
            PhoneRefusal::Failed => "the phone call could not be placed",
        }
    }
}

impl fmt::Display for PhoneRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_round_trips_and_other_reasons_are_not_refusals() {
        for (refusal, _) in CODES {
            assert_eq!(
                PhoneRefusal::from_reason(Some(&refusal.reason())),
                Some(refusal)
            );
        }
        assert_eq!(
            PhoneRefusal::from_reason(Some("phone:alien")),
            Some(PhoneRefusal::Failed)
        );
        for other in [None, Some("busy"), Some("declined"), Some("phone")] {
            assert_eq!(PhoneRefusal::from_reason(other), None);
        }
    }
}
