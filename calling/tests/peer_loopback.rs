//! Two real webrtc-rs peer connections on loopback, wired by hand (no relay): media flows
//! when the descriptions are honest, and is refused when the peer's DTLS certificate does
//! not match the fingerprint its signaled SDP announced.

mod loopback_peer;

use std::time::{Duration, Instant};

use calling::peer::{NetworkConfig, PathState, PeerEvent, PeerSession, PeerSetup};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use webrtc::media_stream::track_remote::TrackRemoteEvent;

fn setup() -> PeerSetup {
    loopback_peer::fast_audio_on_loopback()
}

/// Moves candidates from one side's events to the other side until `deadline`, and
/// reports state changes and the first RTP packet on a remote track.
struct Side {
    session: PeerSession,
    events: UnboundedReceiver<PeerEvent>,
}

async fn side() -> Side {
    let (tx, events) = unbounded_channel();
    let session = PeerSession::new(setup(), tx)
        .await
        .expect("peer connection");
    Side { session, events }
}

#[derive(Default, Debug)]
struct Seen {
    ice_connected: bool,
    connected: bool,
    failed: bool,
    rtp_packets: usize,
}

/// `a` offers, `b` answers; then media is pumped until RTP arrives (10 s at most).
async fn connect_and_pump(a: &mut Side, b: &mut Side) -> [Seen; 2] {
    let offer = a.session.create_offer(false).await.unwrap();
    let answer = b.session.answer(&offer).await.unwrap();
    a.session.apply_answer(&answer).await.unwrap();
    pump(a, b, Duration::from_secs(10), true).await
}

async fn pump(a: &mut Side, b: &mut Side, for_at_most: Duration, stop_on_rtp: bool) -> [Seen; 2] {
    let deadline = Instant::now() + for_at_most;
    let mut seen = [Seen::default(), Seen::default()];
    let (rtp_tx, mut rtp_rx) = unbounded_channel::<usize>();
    let mut frame = 0u32;
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    while Instant::now() < deadline {
        tokio::select! {
            Some(e) = a.events.recv() => handle(0, e, &b.session, &mut seen, &rtp_tx).await,
            Some(e) = b.events.recv() => handle(1, e, &a.session, &mut seen, &rtp_tx).await,
            Some(who) = rtp_rx.recv() => {
                seen[who].rtp_packets += 1;
                if stop_on_rtp { return seen; }
            }
            _ = ticker.tick() => {
                // Opus-sized payloads; the receiving side only counts RTP packets.
                frame += 1;
                let data = vec![0xf8, 0xff, 0xfe, (frame & 0xff) as u8];
                let _ = a.session.audio.write(data, Instant::now(), Duration::from_millis(20)).await;
            }
        }
    }
    seen
}

async fn handle(
    who: usize,
    event: PeerEvent,
    other: &PeerSession,
    seen: &mut [Seen; 2],
    rtp: &tokio::sync::mpsc::UnboundedSender<usize>,
) {
    match event {
        PeerEvent::Candidate(c) => {
            let errors = other.add_remote_candidates(&[c]).await;
            assert!(errors.is_empty(), "{errors:?}");
        }
        PeerEvent::IcePath(PathState::Connected) => seen[who].ice_connected = true,
        PeerEvent::State(PathState::Connected) => seen[who].connected = true,
        PeerEvent::State(PathState::Failed) => seen[who].failed = true,
        PeerEvent::RemoteTrack(track, _) => {
            let rtp = rtp.clone();
            tokio::spawn(async move {
                while let Some(event) = track.poll().await {
                    if let TrackRemoteEvent::OnRtpPacket(_) = event {
                        let _ = rtp.send(who);
                    }
                }
            });
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_rtp_flows_between_two_peer_connections_on_loopback() {
    let mut a = side().await;
    let mut b = side().await;
    let seen = connect_and_pump(&mut a, &mut b).await;
    assert!(
        seen[1].rtp_packets > 0,
        "no RTP reached the answerer: {seen:?}"
    );
    let stats = a.session.stats().await;
    assert_eq!(stats.local_candidate_type.as_deref(), Some("host"));
    assert!(stats.rtt_ms.is_some(), "{stats:?}");
    a.session.close().await;
    b.session.close().await;
}

/// Replaces the SHA-256 fingerprint's value with another one of the same form.
fn forge_fingerprint(sdp: &str) -> String {
    sdp.lines()
        .map(|line| {
            if let Some(rest) = line.strip_prefix("a=fingerprint:sha-256 ") {
                let forged: Vec<String> = rest
                    .split(':')
                    .map(|byte| format!("{:02X}", u8::from_str_radix(byte, 16).unwrap() ^ 0x5a))
                    .collect();
                format!("a=fingerprint:sha-256 {}", forged.join(":"))
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_from_a_peer_whose_certificate_does_not_match_the_signaled_fingerprint_is_refused() {
    let mut a = side().await;
    let mut b = side().await;
    let offer = a.session.create_offer(false).await.unwrap();
    let forged = forge_fingerprint(&offer);
    assert_ne!(forged, offer, "the offer carries a sha-256 fingerprint");
    let answer = b.session.answer(&forged).await.unwrap();
    a.session.apply_answer(&answer).await.unwrap();
    let seen = pump(&mut a, &mut b, Duration::from_secs(8), false).await;
    assert!(
        seen[1].ice_connected,
        "the network path worked, so the refusal below is DTLS's: {seen:?}"
    );
    assert!(
        !seen[1].connected,
        "the answerer must not accept DTLS from a certificate it was not told about"
    );
    assert_eq!(seen[1].rtp_packets, 0, "no media may be accepted: {seen:?}");
    a.session.close().await;
    b.session.close().await;
}

/// Fast mode on a real interface: host candidates leave as random `.local` names, never
/// as the machine's LAN address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_mode_host_candidates_are_mdns_names_not_lan_addresses() {
    let (tx, mut events) = unbounded_channel();
    let setup = PeerSetup {
        network: NetworkConfig::default(),
        ..setup()
    };
    assert!(setup.network.mdns_host_candidates, "on by default");
    let session = PeerSession::new(setup, tx).await.expect("peer connection");
    session.create_offer(false).await.expect("offer");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut hosts = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let PeerEvent::Candidate(c) = event {
            if c.candidate.contains(" typ host") {
                hosts.push(c.candidate);
            }
        }
    }
    let lan_addresses: Vec<std::net::IpAddr> = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            // The address this machine would use towards the outside, if it has a route.
            s.connect("198.51.100.1:9").map(|_| s)
        })
        .and_then(|s| s.local_addr())
        .map(|a| vec![a.ip()])
        .unwrap_or_default();
    assert!(!hosts.is_empty(), "no host candidate gathered");
    for line in &hosts {
        let address = line.split_whitespace().nth(4).unwrap_or("");
        assert!(
            address.ends_with(".local"),
            "host candidate with an address: {line}"
        );
        for lan in &lan_addresses {
            assert!(
                !line.contains(&lan.to_string()),
                "LAN address {lan} in {line}"
            );
        }
    }
}

/// Two Fast peers on this machine's real interface find each other through their `.local`
/// names (mDNS queries and answers by multicast), and media flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_mode_peers_connect_through_mdns_names() {
    let mdns_side = || async {
        let (tx, events) = unbounded_channel();
        let setup = PeerSetup {
            network: NetworkConfig::default(),
            ..setup()
        };
        let session = PeerSession::new(setup, tx).await.expect("peer connection");
        Side { session, events }
    };
    let mut a = mdns_side().await;
    let mut b = mdns_side().await;
    let seen = connect_and_pump(&mut a, &mut b).await;
    assert!(
        seen[1].rtp_packets > 0,
        "no RTP over the mDNS-named path: {seen:?}"
    );
    a.session.close().await;
    b.session.close().await;
}
