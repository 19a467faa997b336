//! Plans as entitlements, checked by the service (and later the SFU) from the session token.
//!
//! A conference room takes its limits from its host's tier (the `tier` claim of the token that
//! created it); guests, signed in or anonymous, count towards the room's participant cap but
//! bring no entitlements of their own. The checks are pure functions of the tier, the room's
//! state and an injected `now`, so the service, the SFU and the tests all apply the same rule.
//!
//! | tier | participants | duration | screen share |
//! |---|---|---|---|
//! | Free | 2 (a 1:1 call) | 30 minutes | 720p |
//! | Pro | 10 | 24 hours | 1080p |
//! | Enterprise | 50 | 24 hours | 1080p |

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A subscription plan. Serialised lowercase, as in the token's `tier` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Free,
    Pro,
    Enterprise,
}

impl Tier {
    /// The claim and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Pro => "pro",
            Tier::Enterprise => "enterprise",
        }
    }

    /// What this plan allows.
    pub fn entitlements(self) -> Entitlements {
        match self {
            Tier::Free => Entitlements {
                max_participants: 2,
                max_duration: Duration::from_secs(30 * 60),
                screen_share_max_height: 720,
            },
            // Paid rooms end after a day: rooms are ephemeral, and a forgotten room should not
            // hold SFU capacity for ever.
            Tier::Pro => Entitlements {
                max_participants: 10,
                max_duration: Duration::from_secs(24 * 3600),
                screen_share_max_height: 1080,
            },
            Tier::Enterprise => Entitlements {
                max_participants: 50,
                max_duration: Duration::from_secs(24 * 3600),
                screen_share_max_height: 1080,
            },
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown tier name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier (expected free, pro or enterprise)")]
pub struct UnknownTier;

impl FromStr for Tier {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Tier::Free),
            "pro" => Ok(Tier::Pro),
            "enterprise" => Ok(Tier::Enterprise),
            _ => Err(UnknownTier),
        }
    }
}

/// The limits of one plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entitlements {
    /// Participants in the room at once, the host included.
    pub max_participants: u32,
    /// How long a room lasts from its start.
    pub max_duration: Duration,
    /// Tallest screen share the SFU forwards, in pixels (720 = 1280×720).
    pub screen_share_max_height: u32,
}

/// A plan limit that a request would exceed. The message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("the room is full: the {tier} plan allows {max} participants")]
    RoomFull { tier: Tier, max: u32 },
    #[error("the room has ended: the {tier} plan allows {minutes} minutes per call")]
    DurationReached { tier: Tier, minutes: u64 },
    #[error("screen share is limited to {max}p on the {tier} plan")]
    ScreenShareTooLarge { tier: Tier, max: u32 },
}

/// Whether one more participant may join a room of `tier` that has `participants_now` in it.
pub fn check_join(tier: Tier, participants_now: u32) -> Result<(), LimitExceeded> {
    let max = tier.entitlements().max_participants;
    if participants_now >= max {
        return Err(LimitExceeded::RoomFull { tier, max });
    }
    Ok(())
}

/// Time left in a room of `tier` that started at `started_at`, or the error once it is over.
///
/// The service calls this on every join and on a timer; the app shows the remaining time
/// ("this room ends in 5 minutes on the Free plan") before the limit bites. A start time in
/// the future (clock skew between instances) counts as a start now.
pub fn check_duration(
    tier: Tier,
    started_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Duration, LimitExceeded> {
    let max = tier.entitlements().max_duration;
    let elapsed = Duration::try_from(now - started_at).unwrap_or(Duration::ZERO);
    match max.checked_sub(elapsed) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(LimitExceeded::DurationReached {
            tier,
            minutes: max.as_secs() / 60,
        }),
    }
}

/// Whether a screen share of `height` pixels is allowed in a room of `tier`.
pub fn check_screen_share(tier: Tier, height: u32) -> Result<(), LimitExceeded> {
    let max = tier.entitlements().screen_share_max_height;
    if height > max {
        return Err(LimitExceeded::ScreenShareTooLarge { tier, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn free_token_cannot_exceed_two_participants() {
        assert_eq!(check_join(Tier::Free, 0), Ok(()));
        assert_eq!(check_join(Tier::Free, 1), Ok(()));
        let err = check_join(Tier::Free, 2).unwrap_err();
        assert_eq!(
            err,
            LimitExceeded::RoomFull {
                tier: Tier::Free,
                max: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "the room is full: the free plan allows 2 participants"
        );
    }

    #[test]
    fn free_token_cannot_exceed_thirty_minutes() {
        let start = datetime!(2026-03-01 12:00 UTC);
        let left = check_duration(Tier::Free, start, datetime!(2026-03-01 12:25 UTC)).unwrap();
        assert_eq!(left, Duration::from_secs(5 * 60));
        let left = check_duration(Tier::Free, start, datetime!(2026-03-01 12:29:59 UTC)).unwrap();
        assert_eq!(left, Duration::from_secs(1));
        for end in [
            datetime!(2026-03-01 12:30 UTC),
            datetime!(2026-03-01 12:31 UTC),
            datetime!(2026-03-02 00:00 UTC),
        ] {
            assert_eq!(
                check_duration(Tier::Free, start, end),
                Err(LimitExceeded::DurationReached {
                    tier: Tier::Free,
                    minutes: 30
                })
            );
        }
    }

    #[test]
    fn paid_tiers_allow_more() {
        assert!(check_join(Tier::Pro, 9).is_ok());
        assert!(check_join(Tier::Pro, 10).is_err());
        assert!(check_join(Tier::Enterprise, 49).is_ok());
        assert!(check_join(Tier::Enterprise, 50).is_err());
        let start = datetime!(2026-03-01 12:00 UTC);
        assert!(check_duration(Tier::Pro, start, datetime!(2026-03-01 13:00 UTC)).is_ok());
        assert!(check_duration(Tier::Pro, start, datetime!(2026-03-02 12:00 UTC)).is_err());
    }

    #[test]
    fn a_start_in_the_future_counts_as_now() {
        let start = datetime!(2026-03-01 12:00 UTC);
        let left = check_duration(Tier::Free, start, datetime!(2026-03-01 11:59 UTC)).unwrap();
        assert_eq!(left, Duration::from_secs(30 * 60));
    }

    #[test]
    fn screen_share_height_per_tier() {
        assert!(check_screen_share(Tier::Free, 720).is_ok());
        assert!(check_screen_share(Tier::Free, 1080).is_err());
        assert!(check_screen_share(Tier::Pro, 1080).is_ok());
        assert!(check_screen_share(Tier::Enterprise, 1440).is_err());
    }

    #[test]
    fn tier_names_round_trip() {
        for tier in [Tier::Free, Tier::Pro, Tier::Enterprise] {
            assert_eq!(tier.as_str().parse::<Tier>(), Ok(tier));
            let json = serde_json::to_string(&tier).unwrap();
            assert_eq!(json, format!("\"{}\"", tier.as_str()));
        }
        assert!("Pro".parse::<Tier>().is_err());
    }
}
