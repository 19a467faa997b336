//! Arbitrary text as a trickled ICE candidate from the peer: `policy::check_candidate`
//! must give a verdict, never panic, agree with webrtc-rs's parser on the type, and
//! redaction must leave nothing that parser would read as a related address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phantomcall_schemas::{IceCandidate, PrivacyMode};
use rtc::ice::candidate::CandidateType as IceType;

#[allow(dead_code)]
#[path = "../../calling/src/policy.rs"]
mod policy;

use policy::{
    parse_candidate, redact_related_address, reveals_related_address, CandidateType, ModePolicy,
};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let candidate = IceCandidate {
        candidate: line.to_owned(),
        sdp_mid: Some("0".to_owned()),
        sdp_mline_index: Some(0),
    };
    let parsed = parse_candidate(line);
    for mode in [
        PrivacyMode::Fast,
        PrivacyMode::Private,
        PrivacyMode::Paranoid,
    ] {
        let policy = ModePolicy::for_mode(mode);
        let verdict = policy.check_candidate(&candidate);
        match &parsed {
            Err(_) => assert!(verdict.is_err()),
            Ok(None) => assert!(verdict.is_ok()), // end-of-candidates: webrtc-rs ignores it
            Ok(Some(c)) => {
                if let Ok(kind) = verdict {
                    let expected = match c.candidate_type() {
                        IceType::Host => CandidateType::Host,
                        IceType::ServerReflexive => CandidateType::Srflx,
                        IceType::PeerReflexive => CandidateType::Prflx,
                        _ => CandidateType::Relay,
                    };
                    assert_eq!(kind, expected);
                    if policy.relay_only {
                        assert_eq!(c.candidate_type(), IceType::Relay);
                        assert!(!reveals_related_address(c));
                    }
                }
            }
        }
    }
    // What we would send after redaction names no related address, to webrtc-rs's parser.
    let redacted = redact_related_address(&candidate);
    if let Ok(Some(c)) = parse_candidate(&redacted.candidate) {
        assert!(!reveals_related_address(&c), "{}", redacted.candidate);
    }
});
