//! Signaling benchmark: gift wrap + unwrap cost per call message, and offer/answer round
//! trips through the embedded relay on loopback. Prints median and p99.
//!
//! Run: `cargo bench -p nostr-signal --bench signaling`

use std::time::{Duration, Instant};

use nostr_sdk::{Keys, Timestamp};
use nostr_signal::{
    build_wrap, DeliveryForm, EmbeddedRelay, Identity, NostrTransport, NostrTransportConfig,
    SignalTransport, Verifier, VerifierConfig,
};
use phantomcall_schemas::{CallBody, CallId, CallMessage, CallType, DeviceId, PrivacyMode};

const WRAP_SAMPLES: usize = 1000;
const ROUND_TRIPS: usize = 300;

/// An offer with an SDP of realistic size (audio + video, ~2.5 KB).
fn offer(peer: &nostr_sdk::PublicKey) -> CallMessage {
    let mut sdp = String::from("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n");
    for (mid, media) in ["audio", "video"].iter().enumerate() {
        sdp.push_str(&format!(
            "m={media} 9 UDP/TLS/RTP/SAVPF 96 97 98\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\n"
        ));
        sdp.push_str("a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n");
        for pt in 96..112 {
            sdp.push_str(&format!(
                "a=rtpmap:{pt} codec{pt}/90000\r\na=rtcp-fb:{pt} nack\r\n"
            ));
        }
    }
    CallMessage {
        phone: None,
        call_id: CallId::new_random(),
        peer: peer.to_hex(),
        also_to: Vec::new(),
        pq_share: None,
        mode: Some(PrivacyMode::Private),
        device: Some(DeviceId::new_random()),
        body: CallBody::Offer {
            sdp,
            call_type: CallType::Video,
        },
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<40} median {:>9.3} ms   p99 {:>9.3} ms   (n = {})",
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples.len()
    );
}

async fn wrap_and_unwrap(form: DeliveryForm) {
    let alice = Keys::generate();
    let bob = Keys::generate();
    let mut verifier = Verifier::new(bob.clone(), VerifierConfig::default());
    let (mut wraps, mut unwraps, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..WRAP_SAMPLES {
        let message = offer(&bob.public_key());
        let started = Instant::now();
        let wrap = build_wrap(
            &alice,
            &bob.public_key(),
            &message,
            form,
            Timestamp::now(),
            Duration::from_secs(300),
        )
        .await
        .expect("wrap");
        let wrapped = Instant::now();
        let got = verifier.verify(&wrap, Timestamp::now()).expect("verifies");
        let done = Instant::now();
        assert_eq!(got.message, message);
        wraps.push(wrapped - started);
        unwraps.push(done - wrapped);
        totals.push(done - started);
    }
    report(&format!("wrap ({form:?})"), wraps);
    report(&format!("unwrap + verify ({form:?})"), unwraps);
    report(&format!("wrap + unwrap + verify ({form:?})"), totals);
}

async fn round_trips() {
    let relay = EmbeddedRelay::start_on_loopback().await.expect("relay");
    let config = NostrTransportConfig::new(vec![relay.url().clone()]);
    let (alice, bob) = (Identity::generate(), Identity::generate());
    let alice_tx = NostrTransport::connect(alice.clone(), config.clone())
        .await
        .expect("alice");
    let bob_tx = std::sync::Arc::new(
        NostrTransport::connect(bob.clone(), config)
            .await
            .expect("bob"),
    );
    // Bob answers every offer at once.
    let mut bob_in = bob_tx.incoming();
    let responder = {
        let bob_tx = bob_tx.clone();
        tokio::spawn(async move {
            while let Some(m) = bob_in.recv().await {
                if m.from_own_device {
                    continue;
                }
                let answer = CallMessage {
                    peer: m.sender.to_hex(),
                    also_to: Vec::new(),
                    pq_share: None,
                    body: CallBody::Answer {
                        sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n".into(),
                    },
                    ..m.message
                };
                bob_tx.send(m.sender, &answer).await.expect("answer sent");
            }
        })
    };
    let mut alice_in = alice_tx.incoming();
    let mut samples = Vec::new();
    // The first send looks up Bob's DM relays; warm up so that is not in the figures.
    for i in 0..ROUND_TRIPS + 5 {
        let message = offer(&bob.public_key());
        let started = Instant::now();
        alice_tx
            .send(bob.public_key(), &message)
            .await
            .expect("offer sent");
        loop {
            let m = alice_in.recv().await.expect("alice receives");
            if !m.from_own_device && m.message.call_id == message.call_id {
                break;
            }
        }
        if i >= 5 {
            samples.push(started.elapsed());
        }
    }
    report("round trip offer -> answer (loopback relay)", samples);
    responder.abort();
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        wrap_and_unwrap(DeliveryForm::Sealed).await;
        wrap_and_unwrap(DeliveryForm::Direct).await;
        round_trips().await;
    });
}
