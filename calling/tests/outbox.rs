//! Outgoing call messages queue per peer: a contact whose relay list points at a relay
//! that never answers delays only its own messages, never another call's hangup.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use calling::{CallState, EndReason};
use nostr_sdk::{Client, EventBuilder, Kind, Tag, TagKind};
use nostr_signal::{Identity, RelayUrl, SignalTransport};
use phantomcall_schemas::{CallBody, CallId, CallMessage, CallType, DeviceId, PrivacyMode};
use support::{phone, raw_transport, relay, PhoneOptions};

/// A relay that accepts connections and never says anything: every publish to it waits
/// for the send deadline.
fn silent_relay() -> RelayUrl {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    RelayUrl::parse(&format!("ws://127.0.0.1:{port}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_is_not_delayed_by_another_peers_dead_relay() {
    let relay = relay().await;
    let mut alice = phone(&relay, &Identity::generate(), PhoneOptions::tone(440.0)).await;
    let mut bob = phone(&relay, &Identity::generate(), PhoneOptions::tone(660.0)).await;
    // Carol is Alice's contact; her DM relay list names a relay that never answers.
    let carol = Identity::generate();
    let carol_tx = raw_transport(&relay, &carol).await;
    let list = EventBuilder::new(Kind::InboxRelays, "")
        .tag(Tag::custom(TagKind::Relay, [silent_relay().to_string()]))
        .sign_with_keys(carol.keys())
        .unwrap();
    let publisher = Client::default();
    publisher.add_relay(relay.url()).await.unwrap();
    publisher.connect().await;
    publisher.send_event(&list).await.unwrap();
    alice.engine.add_contact(carol.public_key());

    let call = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Fast);
    bob.wait_state(Some(call), CallState::Ringing).await;
    // Carol calls Alice, who is busy: the reject to Carol hangs on Carol's dead relay.
    let carols = CallId::new_random();
    let offer = CallMessage { phone: None,
        call_id: carols,
        peer: alice.key.to_hex(),
        also_to: Vec::new(),
        pq_share: None,
        mode: Some(PrivacyMode::Private),
        device: Some(DeviceId::new_random()),
        body: CallBody::Offer {
            sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                .into(),
            call_type: CallType::Voice,
        },
    };
    carol_tx.send(alice.key, &offer).await.unwrap();
    let busy = alice.wait_state(Some(carols), CallState::Ended).await;
    assert!(matches!(
        busy.reason,
        calling::Reason::Ended(EndReason::LocalBusy)
    ));

    let hung_up = Instant::now();
    alice.engine.hangup(call);
    let ended = bob.wait_state(Some(call), CallState::Ended).await;
    assert!(matches!(
        ended.reason,
        calling::Reason::Ended(EndReason::RemoteHangup)
    ));
    let took = hung_up.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "the hangup waited {took:?} behind Carol's dead relay"
    );
}
