//! Reason texts this engine puts on the wire (kind 25053 hangup and 25054 reject
//! contents), and the structural SDP check.
//!
//! Other NIP-AC clients show or ignore these texts; PhantomCall peers also act on some of
//! them (see [`crate::fsm`]).

use phantomcall_schemas::{DeviceId, PrivacyMode, MAX_SDP_LEN};

/// Reject reason: the callee is in another call.
pub const REJECT_BUSY: &str = "busy";
/// Reject reason: the callee declined.
pub const REJECT_DECLINED: &str = "declined";
/// Prefix of the reject reason for an offer that asks for less privacy than the callee
/// requires: `mode-required:<fast|private|paranoid>`.
pub const REJECT_MODE_REQUIRED_PREFIX: &str = "mode-required:";
/// Prefix of the reject reason for an offer in a mode this device cannot carry media in
/// (no TURN server for Private, no proxy for Paranoid): `mode-unavailable:<mode>`.
pub const REJECT_MODE_UNAVAILABLE_PREFIX: &str = "mode-unavailable:";
/// Reject reason: a NIP-AC group offer, which this version does not take.
pub const REJECT_GROUP_UNSUPPORTED: &str = "group-calls-unsupported";
/// Reject reason: the offer's SDP could not be read.
pub const REJECT_UNREADABLE_SDP: &str = "unreadable-sdp";
/// Hangup reason: the caller gave up after the ring timeout. The callee records the call
/// as missed by ring timeout.
pub const HANGUP_TIMEOUT: &str = "timeout";
/// Hangup reason: this call lost glare (both sides called each other at once).
pub const HANGUP_GLARE: &str = "glare";
/// Hangup reason: the answer named another privacy mode than the one offered.
pub const HANGUP_MODE_MISMATCH: &str = "mode-mismatch";
/// Hangup reason: the peer sent a candidate or SDP that the call's privacy mode forbids.
pub const HANGUP_POLICY: &str = "policy";
/// Hangup reason: our media engine failed.
pub const HANGUP_MEDIA_FAILED: &str = "media-failed";
/// Hangup reason: media did not come up in time.
pub const HANGUP_CONNECT_TIMEOUT: &str = "connect-timeout";
/// Prefix of the hangup a caller sends when a second device of the callee answered:
/// `answered-elsewhere:<device id of the answer that lost>`. Only that device ends its
/// call; the callee's device whose answer was taken ignores it, and devices still ringing
/// stop (the call was answered elsewhere).
pub const HANGUP_ANSWERED_ELSEWHERE_PREFIX: &str = "answered-elsewhere:";

/// The reject reason that tells the caller we require at least `mode`.
pub fn mode_required_reason(mode: PrivacyMode) -> String {
    format!("{REJECT_MODE_REQUIRED_PREFIX}{mode}")
}

/// The reject reason that tells the caller we cannot carry media in `mode` here.
pub fn mode_unavailable_reason(mode: PrivacyMode) -> String {
    format!("{REJECT_MODE_UNAVAILABLE_PREFIX}{mode}")
}

/// The mode a `mode-required:` reject names, if `reason` is one.
pub fn mode_required(reason: Option<&str>) -> Option<PrivacyMode> {
    reason?
        .strip_prefix(REJECT_MODE_REQUIRED_PREFIX)?
        .parse()
        .ok()
}

/// The mode a `mode-unavailable:` reject names, if `reason` is one.
pub fn mode_unavailable(reason: Option<&str>) -> Option<PrivacyMode> {
    reason?
        .strip_prefix(REJECT_MODE_UNAVAILABLE_PREFIX)?
        .parse()
        .ok()
}

/// The hangup reason that tells device `loser` its answer was not taken.
pub fn answered_elsewhere_reason(loser: &DeviceId) -> String {
    format!("{HANGUP_ANSWERED_ELSEWHERE_PREFIX}{loser}")
}

/// The device named by an `answered-elsewhere:` hangup reason, if `reason` is one. The
/// name is compared as text, so an invalid device id simply matches no device.
pub fn answered_elsewhere_target(reason: Option<&str>) -> Option<&str> {
    reason?.strip_prefix(HANGUP_ANSWERED_ELSEWHERE_PREFIX)
}

/// A cheap structural check of a received SDP, not a parser: at most
/// [`MAX_SDP_LEN`] characters, starts with the `v=0` line, has at least one `m=` line.
/// Garbage is dropped here even if a driver forgot to parse; the media engine's real
/// parser reports the rest as [`crate::Input::UnparsableSdp`].
pub fn sdp_looks_valid(sdp: &str) -> bool {
    sdp.chars().count() <= MAX_SDP_LEN
        && (sdp.starts_with("v=0\r\n") || sdp.starts_with("v=0\n"))
        && sdp.lines().any(|line| line.starts_with("m="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_elsewhere_reason_round_trips() {
        let device = DeviceId::new_random();
        let reason = answered_elsewhere_reason(&device);
        assert_eq!(
            answered_elsewhere_target(Some(&reason)),
            Some(device.as_str())
        );
        assert_eq!(answered_elsewhere_target(Some("timeout")), None);
        assert_eq!(answered_elsewhere_target(None), None);
    }

    #[test]
    fn mode_required_reason_round_trips() {
        for mode in [
            PrivacyMode::Fast,
            PrivacyMode::Private,
            PrivacyMode::Paranoid,
        ] {
            assert_eq!(mode_required(Some(&mode_required_reason(mode))), Some(mode));
        }
        assert_eq!(mode_required(Some("mode-required:loud")), None);
        let unavailable = mode_unavailable_reason(PrivacyMode::Paranoid);
        assert_eq!(
            mode_unavailable(Some(&unavailable)),
            Some(PrivacyMode::Paranoid)
        );
        assert_eq!(mode_required(Some(&unavailable)), None);
        assert_eq!(mode_required(Some("busy")), None);
    }

    #[test]
    fn sdp_check_takes_real_sdp_and_refuses_garbage() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
        assert!(sdp_looks_valid(sdp));
        assert!(sdp_looks_valid(&sdp.replace("\r\n", "\n")));
        assert!(!sdp_looks_valid("not an sdp"));
        assert!(!sdp_looks_valid("v=0\r\ns=-\r\n"), "no media line");
        assert!(!sdp_looks_valid(""));
        let huge = format!("{sdp}{}", "a=x\r\n".repeat(MAX_SDP_LEN / 5 + 1));
        assert!(!sdp_looks_valid(&huge));
    }
}
