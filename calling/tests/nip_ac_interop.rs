//! Calls with a NIP-AC client that is not PhantomCall: its signaling is built by hand from
//! the NIP-AC text (`nip_ac/`; candidates as `{candidate, sdpMid, sdpMLineIndex}`); its
//! media end is a plain webrtc-rs connection in Fast mode with host candidates, as a
//! browser's would be. PhantomCall's
//! side stays Private, through the test's coturn: our candidates follow our mode, the
//! peer's host candidates are taken (its address is its own business), and the UI is told
//! the peer does not support privacy modes. Both directions, media connected on loopback.

mod nip_ac;
mod support;
mod turn;

use std::net::IpAddr;
use std::time::Duration;

use calling::peer::{NetworkConfig, PathState, PeerEvent, PeerSession, PeerSetup};
use calling::{CallState, Direction, EngineEvent};
use nip_ac::Signaling;
use nostr_sdk::prelude::*;
use nostr_signal::Identity;
use phantomcall_schemas::{CallType, IceCandidate, PrivacyMode};
use support::{phone, relay, Phone, PhoneOptions, Relay};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use turn::{Coturn, ALICE_IP, BOB_IP, TURN_IP};

/// Where the NIP-AC client's media binds (a third loopback address).
const PEER_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 5));

/// The other client: nostr-sdk for signaling, a webrtc-rs connection for media.
struct NipAcClient {
    sig: Signaling,
    media: PeerSession,
    media_events: UnboundedReceiver<PeerEvent>,
}

impl NipAcClient {
    async fn start(relay: &Relay) -> NipAcClient {
        let sig = Signaling::start(relay.url()).await;
        let (tx, media_events) = unbounded_channel();
        let network = NetworkConfig {
            bind_ip: PEER_IP,
            mdns_host_candidates: false,
            ..NetworkConfig::default()
        };
        let media = PeerSession::new(
            PeerSetup {
                mode: PrivacyMode::Fast,
                send_video: false,
                receive_video: false,
                network,
                signaling_hides_address: false,
            },
            tx,
        )
        .await
        .unwrap();
        NipAcClient {
            sig,
            media,
            media_events,
        }
    }

    fn key(&self) -> PublicKey {
        self.sig.keys.public_key()
    }

    async fn send(&self, to: PublicKey, kind: u16, call_id: &str, extra: &[Tag], content: &str) {
        self.sig.send(to, kind, call_id, extra, content).await
    }

    async fn next_call_event(&mut self) -> (u16, Vec<Vec<String>>, String) {
        let event = self.sig.next_call_event().await;
        (event.kind, event.tags, event.content)
    }
}

impl NipAcClient {
    /// Runs signaling and media until our connection is up: sends our candidates to `to`,
    /// takes theirs. Returns every candidate PhantomCall sent.
    async fn connect(&mut self, to: PublicKey, call_id: &str) -> Vec<IceCandidate> {
        let mut received = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            tokio::select! {
                Some(event) = self.media_events.recv() => match event {
                    PeerEvent::Candidate(c) => {
                        let json = serde_json::json!({
                            "candidate": c.candidate,
                            "sdpMid": c.sdp_mid.clone().unwrap_or_else(|| "0".into()),
                            "sdpMLineIndex": c.sdp_mline_index.unwrap_or(0),
                        });
                        self.sig.send(to, 25052, call_id, &[], &json.to_string()).await;
                    }
                    PeerEvent::State(PathState::Connected) => return received,
                    PeerEvent::State(PathState::Failed) => panic!("media failed"),
                    _ => {}
                },
                nip_ac::NipAcEvent { kind, content, .. } = self.sig.next_call_event() => {
                    if kind == 25052 {
                        let value: serde_json::Value = serde_json::from_str(&content).unwrap();
                        let items = match value {
                            serde_json::Value::Array(items) => items,
                            single => vec![single],
                        };
                        for item in items {
                            let candidate = IceCandidate {
                                candidate: item["candidate"].as_str().unwrap().to_owned(),
                                sdp_mid: item["sdpMid"].as_str().map(str::to_owned),
                                sdp_mline_index: item["sdpMLineIndex"].as_u64().map(|i| i as u16),
                            };
                            received.push(candidate.clone());
                            let errors = self.media.add_remote_candidates(&[candidate]).await;
                            assert!(errors.is_empty(), "{errors:?}");
                        }
                    } else if kind == 25053 || kind == 25054 {
                        panic!("PhantomCall ended the call (kind {kind}): {content:?}");
                    }
                }
                _ = tokio::time::sleep_until(deadline) => panic!("no media connection in time"),
            }
        }
    }
}

async fn private_phone(relay: &Relay, coturn: &Coturn, ip: IpAddr) -> Phone {
    let options = PhoneOptions {
        network: coturn.network(ip, &ip.to_string()),
        ..PhoneOptions::tone(440.0)
    };
    phone(relay, &Identity::generate(), options).await
}

/// What PhantomCall's side must show after connecting with a plain NIP-AC client.
async fn assert_private_path_with_a_peer_without_modes(
    phone: &mut Phone,
    call: calling::CallInfo,
    sent: &[IceCandidate],
) {
    assert_eq!(call.mode, PrivacyMode::Private, "our side keeps its mode");
    assert!(call.peer_without_modes, "the UI is told");
    assert!(!sent.is_empty());
    for c in sent {
        assert!(
            c.candidate.contains("typ relay"),
            "only relay candidates: {c:?}"
        );
        assert!(
            c.sdp_mid.as_deref().is_some_and(|mid| !mid.is_empty()),
            "NIP-AC peers need the mid: {c:?}"
        );
    }
    let stats = phone.wait_stats(call.call_id, |_| true).await;
    assert_eq!(stats.peer.local_candidate_type.as_deref(), Some("relay"));
    // No `pq` tag from a NIP-AC client: DTLS-SRTP alone, said so, never a silent layer.
    assert_eq!(
        stats.media_keys,
        calling::e2ee::MediaKeys::TransportOnly,
        "{stats:?}"
    );
    // Our media leaves from the TURN server; the peer's own address is its choice.
    let local = stats.peer.local_address.expect("local address");
    assert_eq!(local.ip(), TURN_IP, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nip_ac_client_calls_a_private_phantomcall_user() {
    let mut call = nip_ac_client_calls(|offer| offer).await;
    // Its offer asks for Opus in-band FEC (`useinbandfec=1`, as browsers' do): it gets it.
    let stats = call
        .bob
        .wait_stats(call.call_id, |s| s.audio_frames_sent > 25)
        .await;
    assert_eq!(
        stats.audio_frames_sent_with_fec, stats.audio_frames_sent,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nip_ac_client_that_does_not_ask_for_fec_gets_none_and_the_call_works() {
    let without_fec = |offer: String| {
        assert!(offer.contains(";useinbandfec=1"), "{offer}");
        offer.replace(";useinbandfec=1", "")
    };
    let mut call = nip_ac_client_calls(without_fec).await;
    let stats = call
        .bob
        .wait_stats(call.call_id, |s| s.audio_frames_sent > 25)
        .await;
    assert_eq!(stats.audio_frames_sent_with_fec, 0, "{stats:?}");
    assert!(stats.media_up, "{stats:?}");
}

/// A call from a NIP-AC client to Bob, connected; the relay, TURN server and client live
/// as long as it.
struct NipAcCall {
    bob: Phone,
    call_id: phantomcall_schemas::CallId,
    _held: (Relay, Coturn, NipAcClient),
}

/// A NIP-AC client calls Bob (Private) with its offer as `edit` leaves it; returns the
/// call connected, after the checks every such call must pass.
async fn nip_ac_client_calls(edit: impl FnOnce(String) -> String) -> NipAcCall {
    let relay = relay().await;
    let coturn = Coturn::start();
    let mut bob = private_phone(&relay, &coturn, BOB_IP).await;
    let mut peer = NipAcClient::start(&relay).await;
    // Bob chose Private for this contact (test phones otherwise take any mode).
    bob.engine
        .add_contact_with_mode(peer.key(), PrivacyMode::Private);
    let call_id = uuid::Uuid::new_v4().to_string();
    let offer = edit(peer.media.create_offer(false).await.unwrap());
    peer.send(
        bob.key,
        25050,
        &call_id,
        &[Tag::parse(["call-type", "voice"]).unwrap()],
        &offer,
    )
    .await;
    let ringing = bob.wait_state(None, CallState::Ringing).await;
    assert_eq!(ringing.direction, Direction::Incoming);
    assert!(ringing.peer_without_modes);
    bob.engine.accept(ringing.call_id, false);
    let (kind, tags, answer) = peer.next_call_event().await;
    assert_eq!(kind, 25051, "an answer, in the form the caller used");
    assert!(tags
        .iter()
        .any(|t| t[0] == "p" && t[1] == peer.key().to_hex()));
    peer.media.apply_answer(&answer).await.unwrap();
    let sent = peer.connect(bob.key, &call_id).await;
    bob.wait_state(Some(ringing.call_id), CallState::Connected)
        .await;
    let info = bob
        .engine
        .calls()
        .await
        .into_iter()
        .find(|c| c.call_id == ringing.call_id)
        .unwrap();
    assert_private_path_with_a_peer_without_modes(&mut bob, info, &sent).await;
    NipAcCall {
        bob,
        call_id: ringing.call_id,
        _held: (relay, coturn, peer),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_phantomcall_user_calls_a_nip_ac_client() {
    let relay = relay().await;
    let coturn = Coturn::start();
    let mut alice = private_phone(&relay, &coturn, ALICE_IP).await;
    let mut peer = NipAcClient::start(&relay).await;
    let call = alice
        .engine
        .dial(peer.key(), CallType::Voice, PrivacyMode::Private);
    let (kind, tags, offer) = peer.next_call_event().await;
    assert_eq!(kind, 25050);
    let call_id = tags
        .iter()
        .find(|t| t[0] == "call-id")
        .map(|t| t[1].clone())
        .unwrap();
    let answer = peer.media.answer(&offer).await.unwrap();
    // A plain NIP-AC answer: no mode tag.
    peer.send(alice.key, 25051, &call_id, &[], &answer).await;
    let sent = peer.connect(alice.key, &call_id).await;
    alice.wait_state(Some(call), CallState::Connected).await;
    let info = alice
        .engine
        .calls()
        .await
        .into_iter()
        .find(|c| c.call_id == call)
        .unwrap();
    assert_private_path_with_a_peer_without_modes(&mut alice, info, &sent).await;
    // Nothing on the way ended the call as a policy violation.
    while let Ok(event) = alice.events.try_recv() {
        if let EngineEvent::Call(e) = event {
            assert_ne!(e.state, CallState::Ended, "{e:?}");
        }
    }
}
