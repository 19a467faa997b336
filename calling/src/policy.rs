//! Privacy-mode policy (DESIGN.md section 4): which ICE candidates a call in a given mode
//! may gather, send and accept, whether it is relay-only, and what the UI tells the user.
//!
//! Pure rules, no I/O: the WebRTC driver asks them about every candidate and SDP that would
//! leave the process or that arrives, and fails closed on a violation.

use std::fmt;
use std::io::Cursor;
use std::net::IpAddr;

use phantomcall_schemas::{IceCandidate, PrivacyMode};
use rtc::ice::candidate::{unmarshal_candidate, Candidate, CandidateType as IceType};
use rtc::sdp::SessionDescription;

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
/// The texts never quote the candidate: they end up in logs and in the UI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// The candidate line does not parse.
    #[error("malformed ICE candidate")]
    MalformedCandidate,
    /// The SDP does not parse (webrtc-rs would refuse it too).
    #[error("malformed SDP")]
    MalformedSdp,
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
    /// A peer's candidate that points at this machine (loopback, the unspecified address
    /// or an address of one of our interfaces): checks sent there would probe our own
    /// services instead of reaching the peer.
    #[error("the peer's candidate points at this machine")]
    ThisMachine,
    /// Our own server-reflexive candidate whose address is one of our interface
    /// addresses (the STUN server saw us without NAT, or sits on our LAN) while mDNS
    /// hides the LAN address: sending it would give away what the `.local` name hides.
    #[error("server-reflexive candidate is the LAN address the mDNS name hides")]
    ReflexiveIsLanAddress,
    /// A relay-only call whose selected media path is not a relay one (seen in the
    /// connection's figures): the peer or the network got around the relay.
    #[error("{mode} mode but the media path is not relayed")]
    PathNotRelayed {
        /// The call's mode.
        mode: PrivacyMode,
    },
}

/// A trickled candidate as webrtc-rs itself reads it: `candidate:` removed when present
/// (as its `add_ice_candidate` does), the rest parsed by rtc-ice's `unmarshal_candidate`,
/// the parser webrtc-rs uses for trickled and SDP candidates alike. `None` is an
/// end-of-candidates marker (nothing left after the prefix), which webrtc-rs ignores.
pub fn parse_candidate(line: &str) -> Result<Option<Candidate>, PolicyViolation> {
    let value = line.strip_prefix("candidate:").unwrap_or(line);
    if value.is_empty() {
        return Ok(None);
    }
    unmarshal_candidate(value)
        .map(Some)
        .map_err(|_| PolicyViolation::MalformedCandidate)
}

/// An SDP as webrtc-rs parses it (`RTCSessionDescription::offer`/`answer` run this same
/// parser on the same text).
pub fn parse_sdp(sdp: &str) -> Result<SessionDescription, PolicyViolation> {
    SessionDescription::unmarshal(&mut Cursor::new(sdp.as_bytes()))
        .map_err(|_| PolicyViolation::MalformedSdp)
}

/// The value of every `a=candidate` attribute of a parsed SDP, session level included
/// (webrtc-rs reads only the media sections' ones; checking more is failing closed), in
/// the form the parser gives it (without the `candidate:` key).
pub fn sdp_candidates(desc: &SessionDescription) -> impl Iterator<Item = &str> {
    desc.attributes
        .iter()
        .chain(
            desc.media_descriptions
                .iter()
                .flat_map(|m| m.attributes.iter()),
        )
        .filter(|a| a.is_ice_candidate())
        .filter_map(|a| a.value.as_deref())
}

/// Whether a candidate carries a real related address (`raddr`): for our own srflx and
/// relay candidates it is our local or public address. An empty or unspecified one
/// (`0.0.0.0`, what redaction writes) reveals nothing.
pub fn reveals_related_address(candidate: &Candidate) -> bool {
    candidate.related_address().is_some_and(|related| {
        !related.address.is_empty()
            && !related
                .address
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified())
    })
}

/// Whether our own server-reflexive (or peer-reflexive) candidate carries one of
/// `interfaces` as its address: then it is the LAN address itself, not a NAT's.
pub fn reflexive_is_own_address(candidate: &Candidate, interfaces: &[IpAddr]) -> bool {
    matches!(
        candidate.candidate_type(),
        IceType::ServerReflexive | IceType::PeerReflexive
    ) && {
        let ip = candidate.addr().ip().to_canonical();
        interfaces.iter().any(|own| own.to_canonical() == ip)
    }
}

/// This machine's addresses, which a peer's candidate must not name (issue 12): loopback,
/// the unspecified address (which Linux delivers locally) and the addresses of our
/// interfaces. Our public (server-reflexive) address is not among them: a peer behind the
/// same NAT shares it legitimately. Loopback is allowed only when the call itself runs on
/// loopback (tests and the local demo).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnAddresses {
    /// The call's sockets are bound to loopback: peers on loopback are expected.
    pub loopback_allowed: bool,
    /// The addresses of this machine's interfaces.
    pub interfaces: Vec<IpAddr>,
}

impl OwnAddresses {
    /// Refuses a peer's candidate that points at this machine. A host candidate with an
    /// mDNS (`.local`) name cannot be judged here: webrtc-rs resolves it later.
    pub fn check_remote(&self, candidate: &Candidate) -> Result<(), PolicyViolation> {
        if candidate.candidate_type() == IceType::Host && candidate.address().ends_with(".local") {
            return Ok(());
        }
        // Every other candidate webrtc-rs accepted carries an IP address.
        let ip = candidate.addr().ip().to_canonical();
        let loopback_ok = self.loopback_allowed && ip.is_loopback();
        if ip.is_unspecified()
            || (ip.is_loopback() && !loopback_ok)
            || (!loopback_ok && self.interfaces.iter().any(|own| own.to_canonical() == ip))
        {
            return Err(PolicyViolation::ThisMachine);
        }
        Ok(())
    }
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

    /// Check a candidate that arrived from the peer, or that we are about to send, as
    /// webrtc-rs will read it ([`parse_candidate`]). In relay-only modes a relay candidate
    /// must not carry a real related address (`raddr`), which would be our own address;
    /// see [`redact_related_address`]. An end-of-candidates marker passes as `Relay`.
    pub fn check_candidate(
        &self,
        candidate: &IceCandidate,
    ) -> Result<CandidateType, PolicyViolation> {
        match parse_candidate(&candidate.candidate)? {
            None => Ok(CandidateType::Relay),
            Some(parsed) => self.check_parsed(&parsed),
        }
    }

    /// Check a candidate already parsed by webrtc-rs's parser.
    pub fn check_parsed(&self, candidate: &Candidate) -> Result<CandidateType, PolicyViolation> {
        let kind = match candidate.candidate_type() {
            IceType::Host => CandidateType::Host,
            IceType::ServerReflexive => CandidateType::Srflx,
            IceType::PeerReflexive => CandidateType::Prflx,
            IceType::Relay => CandidateType::Relay,
            _ => return Err(PolicyViolation::MalformedCandidate),
        };
        if !self.allowed.contains(&kind) {
            return Err(PolicyViolation::CandidateTypeNotAllowed {
                mode: self.mode,
                kind,
            });
        }
        if self.relay_only && reveals_related_address(candidate) {
            return Err(PolicyViolation::RelatedAddressLeak { mode: self.mode });
        }
        Ok(kind)
    }

    /// Check every candidate of an SDP (offer or answer) as webrtc-rs's SDP parser reads
    /// it, and return them parsed. The text is parsed, never scanned line by line: a line
    /// the parser reads (one that starts with a carriage return, say) is a line the policy
    /// checks.
    pub fn check_sdp(&self, sdp: &str) -> Result<Vec<Candidate>, PolicyViolation> {
        self.check_description(&parse_sdp(sdp)?)
    }

    /// [`Self::check_sdp`] on an SDP already parsed.
    pub fn check_description(
        &self,
        desc: &SessionDescription,
    ) -> Result<Vec<Candidate>, PolicyViolation> {
        let mut candidates = Vec::new();
        for value in sdp_candidates(desc) {
            // An SDP attribute's value goes to `unmarshal_candidate` as it is (webrtc-rs's
            // `extract_ice_details`): no `candidate:` to strip, no end-of-candidates marker.
            let candidate =
                unmarshal_candidate(value).map_err(|_| PolicyViolation::MalformedCandidate)?;
            self.check_parsed(&candidate)?;
            candidates.push(candidate);
        }
        Ok(candidates)
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

/// A candidate with its related address replaced by `0.0.0.0 0`, as browsers do in
/// relay-only mode and whenever host candidates are mDNS names, so the srflx or relay
/// candidate we send reveals neither our LAN address nor (for a relay) our public one.
/// Both readings are covered: the positions webrtc-rs's parser takes (fields 9 and 11
/// after `raddr` in field 8) and every value after a `raddr`/`rport` keyword, which is
/// how other parsers read it.
pub fn redact_related_address(candidate: &IceCandidate) -> IceCandidate {
    let mut fields: Vec<&str> = candidate.candidate.split_whitespace().collect();
    if fields.len() >= 12 && fields[8] == "raddr" {
        fields[9] = "0.0.0.0";
        fields[11] = "0";
    }
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
        let sdp = sdp_with(&[RELAY_CLEAN, HOST], "\r\n");
        assert!(matches!(
            policy.check_sdp(&sdp),
            Err(PolicyViolation::CandidateTypeNotAllowed { .. })
        ));
        let clean = sdp_with(&[RELAY_CLEAN], "\r\n");
        assert_eq!(policy.check_sdp(&clean).map(|c| c.len()), Ok(1));
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
            "candidate:1 1 udp 1 1.2.3.4 5 typ",
            "candidate:1 1 udp 1 1.2.3.4 5 typ weird",
            "candidate:1 1 udp 1 not-an-address 5 typ relay",
            "candidate:1 1 udp 1 1.2.3.4 99999 typ host",
            "garbage",
        ] {
            assert_eq!(
                policy.check_candidate(&cand(bad)),
                Err(PolicyViolation::MalformedCandidate),
                "{bad}"
            );
        }
    }

    /// A minimal SDP as a browser or webrtc-rs writes it, with `candidates` in its audio
    /// section, each line ending in `eol`.
    fn sdp_with(candidates: &[&str], eol: &str) -> String {
        let mut sdp = [
            "v=0",
            "o=- 1 2 IN IP4 0.0.0.0",
            "s=-",
            "t=0 0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "c=IN IP4 0.0.0.0",
            "a=mid:0",
            "a=ice-ufrag:abcd",
            "a=ice-pwd:0123456789abcdefghijklmn",
        ]
        .join(eol);
        sdp.push_str(eol);
        for c in candidates {
            sdp.push_str("a=");
            sdp.push_str(c);
            sdp.push_str(eol);
        }
        sdp
    }

    /// The audit's finding (issue 12, item 4): a line starting with a carriage return was
    /// skipped by the old line scan but read by webrtc-rs's SDP parser, so a host (or
    /// `.local`) candidate could ride into a Private call.
    #[test]
    fn cr_prefixed_candidate_line_is_seen_by_the_policy() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        for hidden in [HOST, MDNS_HOST] {
            let smuggled = format!("{}\ra={hidden}\r\n", sdp_with(&[RELAY_CLEAN], "\r\n"));
            // The parser webrtc-rs uses reads the smuggled line as a candidate...
            let parsed = parse_sdp(&smuggled).expect("webrtc-rs's parser takes it");
            let seen: Vec<&str> = sdp_candidates(&parsed).collect();
            assert_eq!(seen.len(), 2, "{seen:?}");
            // ...and so the policy refuses it.
            assert_eq!(
                policy.check_sdp(&smuggled).map(|c| c.len()),
                Err(PolicyViolation::CandidateTypeNotAllowed {
                    mode: PrivacyMode::Private,
                    kind: CandidateType::Host
                }),
                "{hidden}"
            );
        }
        // Bare line feeds as separators are read the same way.
        let sdp = sdp_with(&[RELAY_CLEAN, HOST], "\n");
        assert!(matches!(
            policy.check_sdp(&sdp),
            Err(PolicyViolation::CandidateTypeNotAllowed { .. })
        ));
    }

    #[test]
    fn an_sdp_the_parser_refuses_is_malformed_not_clean() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        assert_eq!(
            policy
                .check_sdp("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n")
                .map(|c| c.len()),
            Err(PolicyViolation::MalformedSdp)
        );
    }

    #[test]
    fn trickled_candidates_are_read_as_webrtc_rs_reads_them() {
        let policy = ModePolicy::for_mode(PrivacyMode::Private);
        // webrtc-rs strips only `candidate:`; with an `a=` in front the whole token is the
        // foundation and the line is still a host candidate to it.
        assert!(policy.check_candidate(&cand(&format!("a={HOST}"))).is_err());
        // Nothing after the prefix: the end-of-candidates marker webrtc-rs ignores.
        assert_eq!(
            policy.check_candidate(&cand("candidate:")),
            Ok(CandidateType::Relay)
        );
        // webrtc-rs does not look at the `typ` keyword, only at the field after it.
        assert!(policy
            .check_candidate(&cand("candidate:1 1 udp 1 192.0.2.9 5 xyz host"))
            .is_err());
        // A related address that is not an address is still one in relay-only modes.
        assert_eq!(
            policy.check_candidate(&cand(
                "candidate:3 1 udp 1 127.0.0.4 49152 typ relay raddr nonsense rport 0"
            )),
            Err(PolicyViolation::RelatedAddressLeak {
                mode: PrivacyMode::Private
            })
        );
    }

    #[test]
    fn redaction_covers_the_fields_the_parser_reads() {
        // `rport` misspelt: webrtc-rs still reads field 11 as the related port.
        let odd = cand("candidate:3 1 udp 1 127.0.0.4 49152 typ relay raddr 192.0.2.2 rprt 50000");
        let redacted = redact_related_address(&odd);
        assert!(
            !redacted.candidate.contains("192.0.2.2"),
            "{}",
            redacted.candidate
        );
        assert!(
            !redacted.candidate.contains("50000"),
            "{}",
            redacted.candidate
        );
        let parsed = parse_candidate(&redacted.candidate).unwrap().unwrap();
        assert!(!reveals_related_address(&parsed));
    }

    fn parsed(line: &str) -> Candidate {
        parse_candidate(line).unwrap().unwrap()
    }

    #[test]
    fn a_reflexive_candidate_on_our_own_interface_address_is_recognised() {
        let lan: IpAddr = "192.0.2.2".parse().unwrap();
        let parsed = |line: &str| parse_candidate(line).unwrap().unwrap();
        let srflx = parsed("candidate:1 1 udp 1 192.0.2.2 5000 typ srflx raddr 0.0.0.0 rport 0");
        let public = parsed("candidate:1 1 udp 1 203.0.113.7 5000 typ srflx raddr 0.0.0.0 rport 0");
        let relay = parsed("candidate:1 1 udp 1 192.0.2.2 5000 typ relay raddr 0.0.0.0 rport 0");
        assert!(reflexive_is_own_address(&srflx, &[lan]));
        assert!(!reflexive_is_own_address(&public, &[lan]));
        // A relay candidate's address is the TURN server's, never ours to hide.
        assert!(!reflexive_is_own_address(&relay, &[lan]));
        assert!(!reflexive_is_own_address(&srflx, &[]));
    }

    #[test]
    fn remote_candidate_on_loopback_is_refused() {
        let own = OwnAddresses {
            loopback_allowed: false,
            interfaces: vec!["192.0.2.2".parse().unwrap(), "127.0.0.1".parse().unwrap()],
        };
        for line in [
            "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
            "candidate:1 1 udp 1 127.9.9.9 5000 typ relay raddr 0.0.0.0 rport 0",
            "candidate:1 1 udp 1 ::1 5000 typ host",
            "candidate:1 1 udp 1 ::ffff:127.0.0.1 5000 typ srflx raddr 0.0.0.0 rport 0",
            "candidate:1 1 udp 1 0.0.0.0 5000 typ host",
            // One of our own interfaces.
            "candidate:1 1 udp 1 192.0.2.2 5000 typ srflx raddr 0.0.0.0 rport 0",
        ] {
            assert_eq!(
                own.check_remote(&parsed(line)),
                Err(PolicyViolation::ThisMachine),
                "{line}"
            );
        }
        // A peer elsewhere, and an mDNS name (resolved later, by webrtc-rs).
        for line in ["candidate:1 1 udp 1 198.51.100.7 5000 typ host", MDNS_HOST] {
            assert_eq!(own.check_remote(&parsed(line)), Ok(()), "{line}");
        }
        // A call on loopback (tests, the local demo) expects its peer there, but never
        // at the unspecified address or at our LAN address.
        let loopback_call = OwnAddresses {
            loopback_allowed: true,
            ..own
        };
        assert_eq!(
            loopback_call.check_remote(&parsed("candidate:1 1 udp 1 127.0.0.3 5000 typ host")),
            Ok(())
        );
        for line in [
            "candidate:1 1 udp 1 0.0.0.0 5000 typ host",
            "candidate:1 1 udp 1 192.0.2.2 5000 typ host",
        ] {
            assert_eq!(
                loopback_call.check_remote(&parsed(line)),
                Err(PolicyViolation::ThisMachine),
                "{line}"
            );
        }
    }
}
