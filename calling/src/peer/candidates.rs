//! ICE candidates between webrtc-rs and the wire format, through the mode's policy.
//!
//! Everything is judged as webrtc-rs's own parsers read it ([`crate::policy::parse_sdp`],
//! [`crate::policy::parse_candidate`]), never by a scan of our own: what the policy
//! checks is what ICE will use.

use phantomcall_schemas::IceCandidate;
use rtc::sdp::SessionDescription;
use webrtc::peer_connection::RTCIceCandidateInit;

use crate::policy::{
    parse_candidate, parse_sdp, redact_related_address, reflexive_is_own_address,
    reveals_related_address, ModePolicy, OwnAddresses, PolicyViolation,
};

/// A gathered candidate as it may leave the process, or why it may not. The related
/// address (`raddr`/`rport`: our LAN or public address) is replaced by `0.0.0.0 0` in
/// relay-only modes and whenever `hide_related_address` (host candidates are mDNS names:
/// the related address would give away the LAN address the name hides). With that hiding
/// on, a server-reflexive candidate whose own address is one of our interfaces' (no NAT
/// between us and the STUN server) is withheld for the same reason.
pub fn outbound(
    policy: &ModePolicy,
    hide_related_address: bool,
    init: RTCIceCandidateInit,
) -> Result<IceCandidate, PolicyViolation> {
    let candidate = IceCandidate {
        candidate: init.candidate,
        sdp_mid: init.sdp_mid,
        sdp_mline_index: init.sdp_mline_index,
    };
    let hide = hide_related_address || policy.relay_only;
    let candidate = if hide {
        redact_related_address(&candidate)
    } else {
        candidate
    };
    policy.check_candidate(&candidate)?;
    if hide {
        // Fail closed: what leaves must read, to webrtc-rs's parser, as redacted.
        if let Some(parsed) = parse_candidate(&candidate.candidate)? {
            if reveals_related_address(&parsed) {
                return Err(PolicyViolation::RelatedAddressLeak { mode: policy.mode });
            }
            if hide_related_address
                && reflexive_is_own_address(&parsed, &this_machine(false).interfaces)
            {
                return Err(PolicyViolation::ReflexiveIsLanAddress);
            }
        }
    }
    Ok(candidate)
}

/// Our SDP as it may leave the process: every candidate passes [`outbound`] (related
/// address hidden as there) and the others are removed. webrtc-rs copies candidates it
/// already gathered into a new description, so an ICE restart offer after a switch to
/// Private would otherwise still carry the host candidates of the Fast generation.
/// The SDP is parsed and written back by webrtc-rs's SDP code, and the result is checked
/// again as the peer's parser will read it.
pub fn outbound_sdp(
    policy: &ModePolicy,
    hide_related_address: bool,
    sdp: &str,
) -> Result<String, PolicyViolation> {
    let mut desc = parse_sdp(sdp)?;
    let allow = |attributes: &mut Vec<rtc::sdp::description::common::Attribute>| {
        attributes.retain_mut(|attribute| {
            if !attribute.is_ice_candidate() {
                return true;
            }
            let Some(value) = &attribute.value else {
                return false; // `a=candidate` without a value carries nothing
            };
            let init = RTCIceCandidateInit {
                candidate: format!("candidate:{value}"),
                ..Default::default()
            };
            match outbound(policy, hide_related_address, init) {
                Ok(allowed) => {
                    let value = allowed
                        .candidate
                        .strip_prefix("candidate:")
                        .unwrap_or(&allowed.candidate);
                    attribute.value = Some(value.to_owned());
                    true
                }
                Err(_) => false,
            }
        });
    };
    allow(&mut desc.attributes);
    for media in &mut desc.media_descriptions {
        allow(&mut media.attributes);
    }
    let out = desc.marshal();
    let candidates = policy.check_sdp(&out)?;
    if (hide_related_address || policy.relay_only) && candidates.iter().any(reveals_related_address)
    {
        return Err(PolicyViolation::RelatedAddressLeak { mode: policy.mode });
    }
    Ok(out)
}

/// The mid of the media section our candidates belong to, from our own SDP: webrtc-rs
/// bundles every track on one transport and lists candidates in the first m-line only, so
/// trickled candidates carry that section's mid and index 0. (webrtc-rs's own
/// `to_json` gives an empty mid, which werift refuses: "Media section for sdpMid was not
/// found"; NIP-AC's example carries "0".)
pub fn candidate_mid(sdp: &str) -> Option<String> {
    let desc = parse_sdp(sdp).ok()?;
    desc.media_descriptions
        .first()?
        .attribute("mid")
        .flatten()
        .filter(|mid| !mid.is_empty())
        .map(str::to_owned)
}

/// A candidate from the peer, checked against the mode and against pointing at this
/// machine, before webrtc-rs sees it.
pub fn inbound(
    policy: &ModePolicy,
    own: &OwnAddresses,
    candidate: &IceCandidate,
) -> Result<RTCIceCandidateInit, PolicyViolation> {
    if let Some(parsed) = parse_candidate(&candidate.candidate)? {
        policy.check_parsed(&parsed)?;
        own.check_remote(&parsed)?;
    }
    Ok(RTCIceCandidateInit {
        candidate: candidate.candidate.clone(),
        sdp_mid: candidate.sdp_mid.clone(),
        sdp_mline_index: candidate.sdp_mline_index,
        ..Default::default()
    })
}

/// The peer's SDP (already parsed by webrtc-rs's parser): every candidate in it passes the
/// same checks as a trickled one.
pub fn inbound_sdp(
    policy: &ModePolicy,
    own: &OwnAddresses,
    desc: &SessionDescription,
) -> Result<(), PolicyViolation> {
    for candidate in policy.check_description(desc)? {
        own.check_remote(&candidate)?;
    }
    Ok(())
}

/// This machine's addresses as webrtc-rs enumerates interfaces for its own sockets. When
/// the list cannot be read, loopback and the unspecified address are still refused.
pub fn this_machine(loopback_allowed: bool) -> OwnAddresses {
    let interfaces = match rtc::shared::ifaces::ifaces() {
        Ok(list) => list.iter().filter_map(|i| i.addr.map(|a| a.ip())).collect(),
        Err(_) => {
            tracing::debug!("local interfaces could not be listed");
            Vec::new()
        }
    };
    OwnAddresses {
        loopback_allowed,
        interfaces,
    }
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

    const LAN: &str = "192.0.2.7";
    const HOST: &str = "candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host";
    const MDNS_HOST: &str =
        "candidate:1 1 udp 2130706431 4f3c1a2b-1111-2222-3333-444455556666.local 50000 typ host";
    const SRFLX: &str =
        "candidate:3 1 udp 1694498815 203.0.113.7 61000 typ srflx raddr 192.0.2.7 rport 50000";
    const RELAY: &str =
        "candidate:2 1 udp 16777215 198.51.100.4 3478 typ relay raddr 192.0.2.7 rport 50000";

    /// An SDP as webrtc-rs writes one, with `candidates` in its first (bundled) section.
    fn sdp(candidates: &[&str]) -> String {
        let mut sdp = String::from(
            "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n",
        );
        for c in candidates {
            sdp.push_str(&format!("a={c}\r\n"));
        }
        sdp.push_str(
            "a=end-of-candidates\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
                      c=IN IP4 0.0.0.0\r\na=mid:1\r\n",
        );
        sdp
    }

    #[test]
    fn private_mode_never_lets_a_host_candidate_out() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        assert!(outbound(&policy, false, init(HOST)).is_err());
        assert!(outbound(&policy, true, init(MDNS_HOST)).is_err());
    }

    #[test]
    fn private_mode_relay_candidate_leaves_without_our_address() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        let out = outbound(&policy, false, init(RELAY)).unwrap();
        assert!(!out.candidate.contains(LAN), "{}", out.candidate);
        assert!(out.candidate.contains("198.51.100.4"));
    }

    #[test]
    fn fast_mode_without_mdns_sends_candidates_unchanged() {
        let policy = ModePolicy::for_mode(PrivacyMode::Fast);
        for line in [HOST, SRFLX, RELAY] {
            assert_eq!(
                outbound(&policy, false, init(line)).unwrap().candidate,
                line
            );
        }
    }

    /// Issue 12, item 8: with the host candidate hidden behind a `.local` name, the
    /// srflx and relay candidates must not name the LAN address as their base.
    #[test]
    fn fast_mode_with_mdns_hides_the_lan_address_in_related_addresses() {
        let policy = ModePolicy::for_mode(PrivacyMode::Fast);
        for line in [SRFLX, RELAY] {
            let out = outbound(&policy, true, init(line)).unwrap();
            assert!(!out.candidate.contains(LAN), "{}", out.candidate);
            assert!(
                out.candidate.ends_with("raddr 0.0.0.0 rport 0"),
                "{}",
                out.candidate
            );
        }
        assert_eq!(
            outbound(&policy, true, init(MDNS_HOST)).unwrap().candidate,
            MDNS_HOST
        );
        let sdp_out = outbound_sdp(&policy, true, &sdp(&[MDNS_HOST, SRFLX, RELAY])).unwrap();
        assert!(!sdp_out.contains(LAN), "{sdp_out}");
        assert_eq!(sdp_out.matches("a=candidate:").count(), 3, "{sdp_out}");
        assert!(sdp_out.contains("203.0.113.7 61000 typ srflx raddr 0.0.0.0 rport 0"));
    }

    #[test]
    fn private_mode_sdp_leaves_without_host_candidates_or_our_address() {
        let sdp = sdp(&[HOST, RELAY]);
        let private =
            outbound_sdp(&ModePolicy::for_mode(PrivacyMode::Private), false, &sdp).unwrap();
        assert!(!private.contains("typ host"), "{private}");
        assert!(!private.contains(LAN), "{private}");
        assert!(private.contains("198.51.100.4 3478 typ relay"), "{private}");
        // Everything else is kept, in order.
        assert!(private.contains("a=mid:0\r\n"), "{private}");
        assert!(private.ends_with("a=mid:1\r\n"), "{private}");
        let fast = outbound_sdp(&ModePolicy::for_mode(PrivacyMode::Fast), false, &sdp).unwrap();
        assert!(fast.contains(HOST) && fast.contains(RELAY), "{fast}");
    }

    #[test]
    fn candidates_take_the_mid_of_the_first_media_section() {
        assert_eq!(candidate_mid(&sdp(&[])).as_deref(), Some("0"));
        let renamed = sdp(&[]).replace("a=mid:0", "a=mid:audio");
        assert_eq!(candidate_mid(&renamed).as_deref(), Some("audio"));
        assert_eq!(candidate_mid("not sdp"), None);
    }

    #[test]
    fn private_mode_refuses_a_host_candidate_from_the_peer() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        let c = IceCandidate {
            candidate: HOST.to_owned(),
            sdp_mid: None,
            sdp_mline_index: Some(0),
        };
        assert!(inbound(&policy, &OwnAddresses::default(), &c).is_err());
    }

    #[test]
    fn a_peer_sdp_naming_this_machine_is_refused() {
        let policy = ModePolicy::for_mode(PrivacyMode::Fast);
        let own = this_machine(false);
        let desc = parse_sdp(&sdp(&["candidate:1 1 udp 1 127.0.0.1 5000 typ host"])).unwrap();
        assert_eq!(
            inbound_sdp(&policy, &own, &desc),
            Err(PolicyViolation::ThisMachine)
        );
        let desc = parse_sdp(&sdp(&[HOST])).unwrap();
        assert_eq!(inbound_sdp(&policy, &own, &desc), Ok(()));
        // Loopback itself is among the interfaces webrtc-rs lists.
        assert!(own.interfaces.iter().any(|ip| ip.is_loopback()), "{own:?}");
    }
}
