//! What our candidates and SDP reveal, and which of the peer's candidates we refuse, with
//! real webrtc-rs peer connections (and a real coturn where a STUN/TURN server is needed).
//! Issue 12, items 4, 8 and 12.

mod turn;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use calling::peer::{NetworkConfig, PeerError, PeerEvent, PeerSession, PeerSetup, TurnServer};
use calling::policy::PolicyViolation;
use phantomcall_schemas::{IceCandidate, PrivacyMode};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use turn::Coturn;

fn setup(mode: PrivacyMode, network: NetworkConfig) -> PeerSetup {
    PeerSetup {
        mode,
        send_video: true,
        receive_video: true,
        network,
        signaling_hides_address: false,
    }
}

async fn session(setup: PeerSetup) -> (PeerSession, UnboundedReceiver<PeerEvent>) {
    let (tx, events) = unbounded_channel();
    let session = PeerSession::new(setup, tx).await.expect("peer connection");
    (session, events)
}

/// The candidates sent within `window`, stopping early once `enough` says so.
async fn gathered(
    events: &mut UnboundedReceiver<PeerEvent>,
    window: Duration,
    enough: impl Fn(&[IceCandidate]) -> bool,
) -> Vec<IceCandidate> {
    let deadline = tokio::time::Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let PeerEvent::Candidate(c) = event {
            out.push(c);
            if enough(&out) {
                break;
            }
        }
    }
    out
}

/// This machine's address towards the outside (the LAN address mDNS hides).
fn lan_address() -> IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("socket");
    socket.connect("198.51.100.1:9").expect("a default route");
    let ip = socket.local_addr().expect("address").ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
    ip
}

/// The value of the first `a=mid:` line (the first media section's mid).
fn first_mid(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=mid:"))
        .expect("a mid")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_candidates_carry_the_media_section_mid() {
    let (offerer, mut events) = session(setup(PrivacyMode::Fast, NetworkConfig::loopback())).await;
    let offer = offerer.create_offer(false).await.expect("offer");
    let mid = first_mid(&offer);
    assert!(!mid.is_empty());
    let sent = gathered(&mut events, Duration::from_secs(2), |_| false).await;
    assert!(!sent.is_empty(), "no candidate gathered");
    for c in &sent {
        assert_eq!(c.sdp_mid.as_deref(), Some(mid.as_str()), "{c:?}");
        assert_eq!(c.sdp_mline_index, Some(0), "{c:?}");
    }

    // The answerer's candidates carry the mid of its answer's first section.
    let (answerer, mut answerer_events) =
        session(setup(PrivacyMode::Fast, NetworkConfig::loopback())).await;
    let answer = answerer.answer(&offer).await.expect("answer");
    let sent = gathered(&mut answerer_events, Duration::from_secs(2), |_| false).await;
    assert!(!sent.is_empty(), "no candidate gathered");
    assert!(sent
        .iter()
        .all(|c| c.sdp_mid.as_deref() == Some(first_mid(&answer).as_str())));
    offerer.close().await;
    answerer.close().await;
}

/// Fast mode with mDNS hiding, against a real STUN/TURN server on this machine (no NAT in
/// between): the srflx and relay candidates' related address, and the srflx candidate's
/// own address, would be the LAN address the `.local` name hides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_mode_with_mdns_never_sends_the_lan_address() {
    let lan = lan_address().to_string();
    let coturn = Coturn::start();
    let network = NetworkConfig {
        stun_servers: vec![format!("stun:{}", coturn.addr)],
        ..coturn.network(IpAddr::V4(Ipv4Addr::UNSPECIFIED), "fast")
    };
    assert!(network.mdns_host_candidates);
    let (peer, mut events) = session(setup(PrivacyMode::Fast, network)).await;
    peer.create_offer(false).await.expect("offer");
    let sent = gathered(&mut events, Duration::from_secs(8), |c| {
        c.iter().any(|c| c.candidate.contains(" typ relay"))
    })
    .await;
    let derived: Vec<&IceCandidate> = sent
        .iter()
        .filter(|c| c.candidate.contains(" typ relay") || c.candidate.contains(" typ srflx"))
        .collect();
    assert!(
        derived.iter().any(|c| c.candidate.contains(" typ relay")),
        "the TURN server gave no relay candidate: {sent:?}"
    );
    for c in &sent {
        assert!(
            !c.candidate.contains(&lan),
            "LAN address {lan} sent: {}",
            c.candidate
        );
    }
    for c in derived {
        assert!(
            c.candidate.contains("raddr 0.0.0.0 rport 0"),
            "related address not redacted: {}",
            c.candidate
        );
    }
    // An offer made now carries the gathered candidates in its SDP: redacted there too.
    let again = peer.create_offer(false).await.expect("second offer");
    assert!(again.contains("a=candidate:"), "{again}");
    assert!(
        !again.contains(&lan),
        "LAN address {lan} in the SDP: {again}"
    );
    peer.close().await;
}

/// A Fast peer on the real interface (not a loopback test setup).
async fn fast_peer_on_the_lan() -> PeerSession {
    let network = NetworkConfig {
        mdns_host_candidates: false,
        ..NetworkConfig::default()
    };
    session(setup(PrivacyMode::Fast, network)).await.0
}

fn candidate(line: &str) -> IceCandidate {
    IceCandidate {
        candidate: line.to_owned(),
        sdp_mid: Some("0".to_owned()),
        sdp_mline_index: Some(0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_candidate_on_loopback_is_refused() {
    let (offerer, _events) = session(setup(PrivacyMode::Fast, NetworkConfig::loopback())).await;
    let offer = offerer.create_offer(false).await.expect("offer");
    let peer = fast_peer_on_the_lan().await;
    peer.answer(&offer).await.expect("answer");
    let lan = lan_address();
    for line in [
        "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".to_owned(),
        "candidate:1 1 udp 2130706431 ::1 5000 typ host".to_owned(),
        "candidate:1 1 udp 2130706431 0.0.0.0 5000 typ host".to_owned(),
        // One of our own addresses, however the peer labels it.
        format!("candidate:1 1 udp 1694498815 {lan} 5000 typ srflx raddr 0.0.0.0 rport 0"),
    ] {
        let errors = peer.add_remote_candidates(&[candidate(&line)]).await;
        assert!(
            matches!(
                errors.as_slice(),
                [PeerError::Policy(PolicyViolation::ThisMachine)]
            ),
            "{line}: {errors:?}"
        );
    }
    // A peer elsewhere is taken.
    let errors = peer
        .add_remote_candidates(&[candidate(
            "candidate:1 1 udp 2130706431 198.51.100.7 5000 typ host",
        )])
        .await;
    assert!(errors.is_empty(), "{errors:?}");

    // The same inside an SDP: the offer names loopback, so the answer is refused.
    let another = fast_peer_on_the_lan().await;
    let with_loopback =
        format!("{offer}a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n");
    assert!(matches!(
        another.answer(&with_loopback).await,
        Err(PeerError::Policy(PolicyViolation::ThisMachine))
    ));
    // A loopback test setup expects its peer on loopback.
    let (loopback, _e) = session(setup(PrivacyMode::Fast, NetworkConfig::loopback())).await;
    loopback
        .answer(&with_loopback)
        .await
        .expect("loopback peers");
    for p in [offerer, peer, another, loopback] {
        p.close().await;
    }
}

/// Item 4 end to end: the carriage-return smuggling reaches a real Private peer
/// connection's `answer`, which refuses the offer before webrtc-rs sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_peer_refuses_an_offer_with_a_cr_prefixed_host_candidate() {
    let (offerer, _events) = session(setup(PrivacyMode::Fast, NetworkConfig::loopback())).await;
    let offer = offerer.create_offer(false).await.expect("offer");
    let private = NetworkConfig {
        turn_servers: vec![TurnServer {
            url: "turn:192.0.2.254:3478".to_owned(),
            username: "u".to_owned(),
            credential: "p".to_owned(),
        }],
        ..NetworkConfig::default()
    };
    for hidden in [
        "candidate:9 1 udp 2130706431 198.51.100.20 50000 typ host",
        "candidate:9 1 udp 2130706431 4f3c1a2b-1111-2222-3333-444455556666.local 50000 typ host",
    ] {
        let (peer, _events) = session(setup(PrivacyMode::Private, private.clone())).await;
        let smuggled = format!("{offer}\ra={hidden}\r\n");
        let refused = peer.answer(&smuggled).await;
        assert!(
            matches!(
                refused,
                Err(PeerError::Policy(
                    PolicyViolation::CandidateTypeNotAllowed { .. }
                ))
            ),
            "{hidden}: {refused:?}"
        );
        peer.close().await;
    }
    offerer.close().await;
}
