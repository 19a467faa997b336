//! Helpers shared by the signaling integration tests.
#![allow(dead_code)]

use std::time::Duration;

use nostr_signal::{
    Identity, IncomingMessages, NostrTransport, NostrTransportConfig, PublicKey, RelayUrl,
    VerifiedMessage,
};
use phantomcall_schemas::{
    CallBody, CallId, CallMessage, CallType, DeviceId, HandledOutcome, IceCandidate, PrivacyMode,
};

/// A small but real SDP offer (what the call engine will put in an offer).
pub const SAMPLE_SDP: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\na=setup:actpass\r\n";

/// Transport settings tuned for loopback tests: quick reconnects and short deadlines.
pub fn fast_config(relays: Vec<RelayUrl>) -> NostrTransportConfig {
    let mut config = NostrTransportConfig::new(relays);
    config.reconnect_interval = Duration::from_millis(300);
    config.connect_timeout = Duration::from_secs(5);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.send_timeout = Duration::from_secs(15);
    // Every relay here is on loopback, peers' relays included.
    config.allow_local_peer_relays = true;
    // Short, so tests that wait for our other devices stay quick; still apart.
    config.self_copy_delay = Duration::from_millis(300)..Duration::from_millis(600);
    config
}

/// Connect a fresh identity to `relays`.
pub async fn client(relays: Vec<RelayUrl>) -> (Identity, NostrTransport) {
    let identity = Identity::generate();
    let transport = NostrTransport::connect(identity.clone(), fast_config(relays))
        .await
        .expect("transport connects");
    (identity, transport)
}

/// One message of every registered kind, addressed to `peer`, all in the same call.
pub fn one_of_each_kind(peer: &PublicKey, call_id: CallId) -> Vec<CallMessage> {
    let device = DeviceId::new_random();
    let bodies = vec![
        CallBody::Offer {
            sdp: SAMPLE_SDP.to_owned(),
            call_type: CallType::Video,
        },
        CallBody::Answer {
            sdp: SAMPLE_SDP.replace("actpass", "active"),
        },
        CallBody::IceCandidates(vec![
            IceCandidate {
                candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            },
            IceCandidate {
                candidate:
                    "candidate:2 1 udp 16777215 127.0.0.4 3478 typ relay raddr 0.0.0.0 rport 0"
                        .into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            },
        ]),
        CallBody::Renegotiate {
            sdp: SAMPLE_SDP.replace("2 IN", "3 IN"),
        },
        CallBody::ModeSwitchRequest {
            mode: PrivacyMode::Paranoid,
        },
        CallBody::ModeSwitchAck {
            mode: PrivacyMode::Paranoid,
            accepted: true,
        },
        CallBody::HandledElsewhere {
            outcome: HandledOutcome::Answered,
        },
        CallBody::Reject {
            reason: Some("busy".into()),
        },
        CallBody::Hangup {
            reason: Some("normal".into()),
        },
    ];
    bodies
        .into_iter()
        .map(|body| CallMessage {
            phone: None,
            call_id,
            peer: peer.to_hex(),
            also_to: Vec::new(),
            pq_share: None,
            mode: Some(PrivacyMode::Private),
            device: Some(device.clone()),
            body,
        })
        .collect()
}

/// A plain offer to `peer`.
pub fn offer_to(peer: &PublicKey) -> CallMessage {
    one_of_each_kind(peer, CallId::new_random()).remove(0)
}

/// The next verified message, or a panic naming what was awaited.
pub async fn next_message(incoming: &mut IncomingMessages, what: &str) -> VerifiedMessage {
    tokio::time::timeout(Duration::from_secs(20), incoming.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("transport still running")
}

/// Asserts that nothing arrives within `wait`.
pub async fn expect_silence(incoming: &mut IncomingMessages, wait: Duration) {
    if let Ok(Some(m)) = tokio::time::timeout(wait, incoming.recv()).await {
        panic!("expected nothing, got kind {:?}", m.message.kind());
    }
}
