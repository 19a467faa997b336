//! The policy's view of an SDP never differs from webrtc-rs's (issue 12, item 4): whatever
//! candidates webrtc-rs would take from a description the policy let through were seen
//! and allowed by it, a description webrtc-rs cannot parse is malformed to the policy too,
//! and each candidate gets the same verdict in an SDP as trickled on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phantomcall_schemas::{IceCandidate, PrivacyMode};
use rtc::ice::candidate::{unmarshal_candidate, Candidate, CandidateType};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::sdp::SessionDescription;

#[allow(dead_code)]
#[path = "../../calling/src/policy.rs"]
mod policy;

use policy::{reveals_related_address, ModePolicy, PolicyViolation};

/// The candidates webrtc-rs takes from a remote description, as rtc 0.21.1's
/// `extract_ice_details` (crate-private, hence mirrored here) reads them: every `candidate`
/// attribute with a value in every media section not marked inactive, through
/// `unmarshal_candidate`. `None`: one does not parse, so webrtc-rs refuses the description.
fn webrtc_candidates(desc: &SessionDescription) -> Option<Vec<Candidate>> {
    let mut out = Vec::new();
    for media in &desc.media_descriptions {
        if media.attribute("inactive").is_some() {
            continue;
        }
        for attribute in &media.attributes {
            if let (true, Some(value)) = (attribute.is_ice_candidate(), &attribute.value) {
                out.push(unmarshal_candidate(value).ok()?);
            }
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    // webrtc-rs takes the SDP as a String.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let webrtc = RTCSessionDescription::offer(text.to_owned());
    for mode in [
        PrivacyMode::Fast,
        PrivacyMode::Private,
        PrivacyMode::Paranoid,
    ] {
        let policy = ModePolicy::for_mode(mode);
        let verdict = policy.check_sdp(text);
        let Ok(desc) = &webrtc else {
            assert_eq!(verdict.err(), Some(PolicyViolation::MalformedSdp));
            continue;
        };
        assert_ne!(verdict.as_ref().err(), Some(&PolicyViolation::MalformedSdp));
        let parsed = desc
            .unmarshal()
            .expect("webrtc-rs parsed this text once already");
        if let Ok(seen) = &verdict {
            let used = webrtc_candidates(&parsed)
                .expect("the policy parsed every candidate webrtc-rs would parse");
            let seen: Vec<String> = seen.iter().map(Candidate::marshal).collect();
            for candidate in &used {
                assert!(
                    seen.contains(&candidate.marshal()),
                    "{}",
                    candidate.marshal()
                );
                assert!(policy.check_parsed(candidate).is_ok());
                if policy.relay_only {
                    assert_eq!(candidate.candidate_type(), CandidateType::Relay);
                    assert!(!reveals_related_address(candidate));
                }
            }
        }
        // The same candidate trickled gets the same verdict as inside the SDP.
        for value in policy::sdp_candidates(&parsed).filter(|v| !v.is_empty()) {
            let trickled = policy.check_candidate(&IceCandidate {
                candidate: format!("candidate:{value}"),
                sdp_mid: Some("0".to_owned()),
                sdp_mline_index: Some(0),
            });
            let in_sdp = unmarshal_candidate(value)
                .map_err(|_| PolicyViolation::MalformedCandidate)
                .and_then(|c| policy.check_parsed(&c));
            assert_eq!(trickled, in_sdp, "{value}");
        }
    }
});
