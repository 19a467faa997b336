//! Privacy-mode policy (DESIGN.md section 4): which ICE candidates a call in a given mode
//! may gather, send and accept, whether it is relay-only, and what the UI tells the user.
//!
//! Pure rules, no I/O: the WebRTC driver asks them about every candidate and SDP that would
//! leave the process or that arrives, and fails closed on a violation.

use std::fmt;
use std::net::IpAddr;

use phantomcall_schemas::{IceCandidate, PrivacyMode};

/// The ICE candidate types of RFC 8445.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateType {
    /// An address of a local interface: reveals the machine's addresses.
    Host,
    /// Server reflexive: our public address as a STUN server saw it.
    Srflx,
    /// Peer reflexive: learnt during connectivity checks.
    Prflx,
    /// An address on a TURN relay: reveals only the relay.
    Relay,
}

impl fmt::Display for CandidateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        })
    }
}

/// Why a candidate or SDP breaks the call's mode. Ends the call with reason `policy`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// The candidate line does not parse.
    #[error("malformed ICE candidate")]
    MalformedCandidate,
    /// A candidate type the mode forbids.
    #[error("{kind} candidate not allowed in {mode} mode")]
    CandidateTypeNotAllowed {
        /// The call's mode.
        mode: PrivacyMode,
        /// The offending type.
        kind: CandidateType,
    },
    /// A relay candidate that names our own address as its related address.
    #[error("candidate reveals a local address in {mode} mode")]
    RelatedAddressLeak {
        /// The call's mode.
        mode: PrivacyMode,
    },
}

/// What the UI shows about a mode, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacySummary {
    /// "Fast", "Private" or "Paranoid".
    pub title: &'static str,
    /// Who can see your IP address.
    pub ip_exposure: &'static str,
    /// What to expect of delay.
    pub expected_delay: &'static str,
}

/// The rules of one privacy mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModePolicy {
    /// The mode these rules belong to.
    pub mode: PrivacyMode,
    /// Candidate types that may be gathered, sent and accepted.
    pub allowed: &'static [CandidateType],
    /// ICE transport policy "relay": only TURN candidates are gathered at all.
    pub relay_only: bool,
    /// Whether the user's own STUN servers may be used (never a public default).
    pub stun_allowed: bool,
    /// Whether video starts on, or needs an explicit confirmation first.
    pub video_on_by_default: bool,
    /// Whether every relay connection (Nostr and TURN) must go through a SOCKS5 proxy.
    pub requires_proxy: bool,
}

const ALL_TYPES: &[CandidateType] = &[
    CandidateType::Host,
    CandidateType::Srflx,
    CandidateType::Prflx,
    CandidateType::Relay,
];
const RELAY_ONLY: &[CandidateType] = &[CandidateType::Relay];

impl ModePolicy {
    /// The rules of `mode` (DESIGN.md section 4).
    pub fn for_mode(mode: PrivacyMode) -> Self {
        match mode {
            PrivacyMode::Fast => Self {
                mode,
                allowed: ALL_TYPES,
                relay_only: false,
                stun_allowed: true,
                video_on_by_default: true,
                requires_proxy: false,
            },
            PrivacyMode::Private => Self {
                mode,
                allowed: RELAY_ONLY,
                relay_only: true,
                stun_allowed: false,
                video_on_by_default: true,
                requires_proxy: false,
            },
            PrivacyMode::Paranoid => Self {
                mode,
                allowed: RELAY_ONLY,
                relay_only: true,
                stun_allowed: false,
                video_on_by_default: false,
                requires_proxy: true,
            },
        }
    }

    /// Check a candidate that arrived from the peer, or that we are about to send.
    /// In relay-only modes a relay candidate must not carry a real related address
    /// (`raddr`), which would be our own address; see [`redact_related_address`].
    pub fn check_candidate(
        &self,
        candidate: &IceCandidate,
    ) -> Result<CandidateType, PolicyViolation> {
        if candidate.candidate.is_empty() {
            // End-of-candidates marker: carries nothing.
            return Ok(CandidateType::Relay);
        }
        let parsed = ParsedCandidate::parse(&candidate.candidate)?;
        if !self.allowed.contains(&parsed.kind) {
            return Err(PolicyViolation::CandidateTypeNotAllowed {
                mode: self.mode,
                kind: parsed.kind,
            });
        }
        if self.relay_only && parsed.related_address.is_some_and(|a| !a.is_unspecified()) {
            return Err(PolicyViolation::RelatedAddressLeak { mode: self.mode });
        }
        Ok(parsed.kind)
    }

    /// Check every `a=candidate` line of an SDP (offer or answer) against the mode.
    pub fn check_sdp(&self, sdp: &str) -> Result<(), PolicyViolation> {
        for line in sdp.lines() {
            if let Some(candidate) = line.trim_end().strip_prefix("a=") {
                if candidate.starts_with("candidate:") {
                    self.check_candidate(&IceCandidate {
                        candidate: candidate.to_owned(),
                        sdp_mid: None,
                        sdp_mline_index: None,
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The plain-language summary the UI shows before and during a call.
    pub fn summary(&self) -> PrivacySummary {
        match self.mode {
            PrivacyMode::Fast => PrivacySummary {
                title: "Fast",
                ip_exposure: "Peer may see your IP",
                expected_delay: "lowest delay: direct connection when possible",
            },
            PrivacyMode::Private => PrivacySummary {
                title: "Private",
                ip_exposure: "Your IP is hidden from the peer: media goes through your TURN server",
                expected_delay: "a little more delay: every packet passes your relay",
            },
            PrivacyMode::Paranoid => PrivacySummary {
                title: "Paranoid",
                ip_exposure: "Your IP is hidden from the peer and from your relays: everything goes through the proxy (Tor)",
                expected_delay: "high delay: audio first, video only if you confirm",
            },
        }
    }
}

/// A relay candidate with its related address replaced by `0.0.0.0 0`, as browsers do in
/// relay-only mode, so the candidate we send reveals only the relay.
pub fn redact_related_address(candidate: &IceCandidate) -> IceCandidate {
    let mut fields: Vec<&str> = candidate.candidate.split_whitespace().collect();
    let mut i = 0;
    while i + 1 < fields.len() {
        match fields[i] {
            "raddr" => fields[i + 1] = "0.0.0.0",
            "rport" => fields[i + 1] = "0",
            _ => {}
        }
        i += 1;
    }
    IceCandidate {
        candidate: fields.join(" "),
        ..candidate.clone()
    }
}

/// The fields of a candidate line that the policy needs (RFC 8839 section 5.1).
struct ParsedCandidate {
    kind: CandidateType,
    related_address: Option<IpAddr>,
}

impl ParsedCandidate {
    fn parse(line: &str) -> Result<Self, PolicyViolation> {
        let line = line.strip_prefix("a=").unwrap_or(line);
        let fields: Vec<&str> = line.split_whitespace().collect();
        // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
        if fields.len() < 8 || !fields[0].starts_with("candidate:") || fields[6] != "typ" {
            return Err(PolicyViolation::MalformedCandidate);
        }
        let kind = match fields[7] {
            "host" => CandidateType::Host,
            "srflx" => CandidateType::Srflx,
            "prflx" => CandidateType::Prflx,
            "relay" => CandidateType::Relay,
            _ => return Err(PolicyViolation::MalformedCandidate),
        };
        let related_address = match fields.iter().position(|f| *f == "raddr") {
            Some(i) => Some(
                fields
                    .get(i + 1)
                    .and_then(|a| a.parse().ok())
                    .ok_or(PolicyViolation::MalformedCandidate)?,
            ),
            None => None,
        };
        Ok(Self {
            kind,
            related_address,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(line: &str) -> IceCandidate {
        IceCandidate {
            candidate: line.into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        }
    }

    const HOST: &str = "candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host";
    const MDNS_HOST: &str =
        "candidate:1 1 udp 2130706431 4f3c1a2b-1111-2222-3333-444455556666.local 50000 typ host";
    const SRFLX: &str =
        "candidate:2 1 udp 1694498815 203.0.113.7 50000 typ srflx raddr 192.168.1.20 rport 50000";
    const RELAY_LEAKY: &str =
        "candidate:3 1 udp 16777215 127.0.0.4 49152 typ relay raddr 203.0.113.7 rport 50000";
    const RELAY_CLEAN: &str =
        "candidate:3 1 udp 16777215 127.0.0.4 49152 typ relay raddr 0.0.0.0 rport 0";

    #[test]
    fn privacy_invariant_private_mode_rejects_host_and_srflx_candidates() {
        for mode in [PrivacyMode::Private, PrivacyMode::Paranoid] {
            let policy = ModePolicy::for_mode(mode);
            assert!(policy.relay_only);
            assert_eq!(
                policy.check_candidate(&cand(HOST)),
                Err(PolicyViolation::CandidateTypeNotAllowed {
                    mode,
                    kind: CandidateType::Host
                })
            );
            assert_eq!(
                policy.check_candidate(&cand(SRFLX)),
                Err(PolicyViolation::CandidateTypeNotAllowed {
                    mode,
                    kind: CandidateType::Srflx
                })
            );
            assert_eq!(
                policy.check_candidate(&cand(RELAY_CLEAN)),
                Ok(CandidateType::Relay)
            );
        }
    }

    #[test]
    fn privacy_invariant_private_mode_relay_candidates_carry_no_local_address() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        assert_eq!(
            policy.check_candidate(&cand(RELAY_LEAKY)),
            Err(PolicyViolation::RelatedAddressLeak {
                mode: PrivacyMode::Private
            })
        );
        let redacted = redact_related_address(&cand(RELAY_LEAKY));
        assert!(!redacted.candidate.contains("203.0.113.7"));
        assert_eq!(policy.check_candidate(&redacted), Ok(CandidateType::Relay));
    }

    #[test]
    fn privacy_invariant_private_mode_sdp_with_a_host_candidate_is_refused() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        let sdp =
            format!("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na={RELAY_CLEAN}\r\na={HOST}\r\n");
        assert!(matches!(
            policy.check_sdp(&sdp),
            Err(PolicyViolation::CandidateTypeNotAllowed { .. })
        ));
        let clean = format!("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na={RELAY_CLEAN}\r\n");
        assert_eq!(policy.check_sdp(&clean), Ok(()));
    }

    #[test]
    fn fast_mode_allows_direct_candidates_and_says_so() {
        let policy = ModePolicy::for_mode(PrivacyMode::Fast);
        assert_eq!(policy.check_candidate(&cand(HOST)), Ok(CandidateType::Host));
        assert_eq!(
            policy.check_candidate(&cand(MDNS_HOST)),
            Ok(CandidateType::Host)
        );
        assert_eq!(
            policy.check_candidate(&cand(SRFLX)),
            Ok(CandidateType::Srflx)
        );
        assert_eq!(policy.summary().ip_exposure, "Peer may see your IP");
        assert!(!ModePolicy::for_mode(PrivacyMode::Private)
            .summary()
            .ip_exposure
            .contains("may see"));
    }

    #[test]
    fn paranoid_mode_is_audio_first_and_proxied() {
        let policy = ModePolicy::for_mode(PrivacyMode::Paranoid);
        assert!(!policy.video_on_by_default);
        assert!(policy.requires_proxy);
        assert!(!policy.stun_allowed);
    }

    #[test]
    fn malformed_candidates_are_violations_not_panics() {
        let policy = ModePolicy::for_mode(PrivacyMode::Fast);
        for bad in [
            "candidate:",
            "candidate:1 1 udp 1 1.2.3.4 5 typ",
            "candidate:1 1 udp 1 1.2.3.4 5 typ weird",
            "candidate:1 1 udp 1 1.2.3.4 5 typ relay raddr nonsense rport 0",
            "garbage",
        ] {
            assert_eq!(
                policy.check_candidate(&cand(bad)),
                Err(PolicyViolation::MalformedCandidate),
                "{bad}"
            );
        }
    }
}
