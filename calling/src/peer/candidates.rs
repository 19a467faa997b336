//! ICE candidates between webrtc-rs and the wire format, through the mode's policy.

use phantomcall_schemas::IceCandidate;
use webrtc::peer_connection::RTCIceCandidateInit;

use crate::policy::{redact_related_address, ModePolicy, PolicyViolation};

/// A gathered candidate as it may leave the process, or why it may not.
pub fn outbound(
    policy: &ModePolicy,
    init: RTCIceCandidateInit,
) -> Result<IceCandidate, PolicyViolation> {
    let candidate = IceCandidate {
        candidate: init.candidate,
        sdp_mid: init.sdp_mid,
        sdp_mline_index: init.sdp_mline_index,
    };
    let candidate = if policy.relay_only {
        // Our own address must not ride along as the relay candidate's related address.
        redact_related_address(&candidate)
    } else {
        candidate
    };
    policy.check_candidate(&candidate)?;
    Ok(candidate)
}

/// Our SDP as it may leave the process: every candidate line passes [`outbound`] (relay
/// candidates lose our related address in relay-only modes) and the others are removed.
/// webrtc-rs copies candidates it already gathered into a new description, so an ICE
/// restart offer after a switch to Private would otherwise still carry the host
/// candidates of the Fast generation.
pub fn outbound_sdp(policy: &ModePolicy, sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let content = line.trim_end_matches(['\r', '\n']);
        let Some(candidate) = content.strip_prefix("a=") else {
            out.push_str(line);
            continue;
        };
        if !candidate.starts_with("candidate:") {
            out.push_str(line);
            continue;
        }
        let init = RTCIceCandidateInit {
            candidate: candidate.to_owned(),
            ..Default::default()
        };
        if let Ok(allowed) = outbound(policy, init) {
            out.push_str("a=");
            out.push_str(&allowed.candidate);
            out.push_str(&line[content.len()..]);
        }
    }
    out
}

/// A candidate from the peer, checked against the mode before webrtc-rs sees it.
pub fn inbound(
    policy: &ModePolicy,
    candidate: &IceCandidate,
) -> Result<RTCIceCandidateInit, PolicyViolation> {
    policy.check_candidate(candidate)?;
    Ok(RTCIceCandidateInit {
        candidate: candidate.candidate.clone(),
        sdp_mid: candidate.sdp_mid.clone(),
        sdp_mline_index: candidate.sdp_mline_index,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use phantomcall_schemas::PrivacyMode;

    fn init(candidate: &str) -> RTCIceCandidateInit {
        RTCIceCandidateInit {
            candidate: candidate.to_owned(),
            sdp_mid: Some("0".to_owned()),
            sdp_mline_index: Some(0),
            ..Default::default()
        }
    }

    const HOST: &str = "candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host";
    const RELAY: &str =
        "candidate:2 1 udp 16777215 198.51.100.4 3478 typ relay raddr 192.0.2.7 rport 50000";

    #[test]
    fn private_mode_never_lets_a_host_candidate_out() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        assert!(outbound(&policy, init(HOST)).is_err());
    }

    #[test]
    fn private_mode_relay_candidate_leaves_without_our_address() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        let out = outbound(&policy, init(RELAY)).unwrap();
        assert!(!out.candidate.contains("192.0.2.7"), "{}", out.candidate);
        assert!(out.candidate.contains("198.51.100.4"));
    }

    #[test]
    fn fast_mode_sends_host_candidates_unchanged() {
        let policy = ModePolicy::for_mode(PrivacyMode::Fast);
        assert_eq!(outbound(&policy, init(HOST)).unwrap().candidate, HOST);
    }

    #[test]
    fn private_mode_sdp_leaves_without_host_candidates_or_our_address() {
        let sdp = format!(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na={HOST}\r\na={RELAY}\r\na=mid:0\r\n"
        );
        let private = outbound_sdp(&ModePolicy::for_mode(PrivacyMode::Private), &sdp);
        assert!(!private.contains("typ host"), "{private}");
        assert!(!private.contains("192.0.2.7"), "{private}");
        assert!(private.contains("198.51.100.4 3478 typ relay"), "{private}");
        assert!(private.ends_with("a=mid:0\r\n"), "{private}");
        let fast = outbound_sdp(&ModePolicy::for_mode(PrivacyMode::Fast), &sdp);
        assert_eq!(fast, sdp);
    }

    #[test]
    fn private_mode_refuses_a_host_candidate_from_the_peer() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        let c = IceCandidate {
            candidate: HOST.to_owned(),
            sdp_mid: None,
            sdp_mline_index: Some(0),
        };
        assert!(inbound(&policy, &c).is_err());
    }
}
