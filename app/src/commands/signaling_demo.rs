//! `phantomcall demo --signaling-only`: the whole signaling path on one machine.
//!
//! Starts the embedded relay on loopback, creates two fresh identities, and plays the
//! signaling of a call in both delivery forms: each of Alice's messages is gift-wrapped,
//! relayed, verified by Bob, and answered by Bob with the message a callee would send.
//! Ends with one JSON line of figures.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nostr_signal::{
    DeliveryForm, EmbeddedRelay, Identity, NostrTransport, NostrTransportConfig, PublicKey,
    SignalTransport,
};
use phantomcall_schemas::{
    CallBody, CallId, CallMessage, CallType, DeviceId, HandledOutcome, IceCandidate, PrivacyMode,
};

use super::send_test::test_sdp;

/// How long one step may wait for the peer's reply before the demo reports a failure.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Alice's side of a call's signaling and what Bob answers to each step.
fn script() -> Vec<(CallBody, CallBody)> {
    let candidate = |n: u32| IceCandidate {
        candidate: format!(
            "candidate:{n} 1 udp 16777215 127.0.0.4 3478 typ relay raddr 0.0.0.0 rport 0"
        ),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    };
    vec![
        (
            CallBody::Offer {
                sdp: test_sdp(),
                call_type: CallType::Video,
            },
            CallBody::Answer { sdp: test_sdp() },
        ),
        (
            CallBody::IceCandidates(vec![candidate(1), candidate(2)]),
            CallBody::IceCandidates(vec![candidate(3)]),
        ),
        (
            CallBody::Renegotiate {
                sdp: test_sdp().replace("o=- 0 0", "o=- 0 1"),
            },
            // A new answer carries a new session version, so it is a different message.
            CallBody::Answer {
                sdp: test_sdp().replace("o=- 0 0", "o=- 0 1"),
            },
        ),
        (
            CallBody::ModeSwitchRequest {
                mode: PrivacyMode::Paranoid,
            },
            CallBody::ModeSwitchAck {
                mode: PrivacyMode::Paranoid,
                accepted: false,
            },
        ),
        (
            CallBody::HandledElsewhere {
                outcome: HandledOutcome::Answered,
            },
            CallBody::Reject {
                reason: Some("busy".into()),
            },
        ),
        (
            CallBody::Hangup {
                reason: Some("normal".into()),
            },
            CallBody::Hangup {
                reason: Some("ack".into()),
            },
        ),
    ]
}

fn message(call_id: CallId, peer: &PublicKey, device: &DeviceId, body: CallBody) -> CallMessage {
    CallMessage {
        phone: None,
        call_id,
        peer: peer.to_hex(),
        also_to: Vec::new(),
        pq_share: None,
        mode: Some(PrivacyMode::Private),
        device: Some(device.clone()),
        body,
    }
}

pub async fn run(quiet: bool) -> Result<ExitCode> {
    let say = |line: String| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let relay = EmbeddedRelay::start_on_loopback()
        .await
        .context("starting the embedded relay")?;
    say(format!("embedded relay on {}", relay.url()));
    let (alice, bob) = (Identity::generate(), Identity::generate());
    say(format!("alice: {}\nbob:   {}", alice.npub(), bob.npub()));
    let config = NostrTransportConfig::new(vec![relay.url().clone()]);
    let alice_tx = NostrTransport::connect(alice.clone(), config.clone()).await?;
    let bob_tx = NostrTransport::connect(bob.clone(), config).await?;
    let (alice_device, bob_device) = (DeviceId::new_random(), DeviceId::new_random());
    let mut alice_in = alice_tx.incoming();
    let mut bob_in = bob_tx.incoming();

    let mut rtts = Vec::new();
    for form in [DeliveryForm::Sealed, DeliveryForm::Direct] {
        let call_id = CallId::new_random();
        for (sent_body, reply_body) in script() {
            let sent = message(call_id, &bob.public_key(), &alice_device, sent_body);
            let started = Instant::now();
            alice_tx
                .send_with_form(bob.public_key(), &sent, form)
                .await?;
            let got = next_from(&mut bob_in, &alice.public_key()).await?;
            if got.message != sent {
                bail!(
                    "bob received a different {} than alice sent",
                    sent.kind().name()
                );
            }
            let reply = message(call_id, &alice.public_key(), &bob_device, reply_body);
            bob_tx.send(alice.public_key(), &reply).await?;
            let back = next_from(&mut alice_in, &bob.public_key()).await?;
            if back.message != reply || back.form != form {
                bail!("alice received a different reply than bob sent");
            }
            let rtt = started.elapsed();
            rtts.push(rtt.as_secs_f64() * 1000.0);
            say(format!(
                "{form:?}: {:<19} -> bob, {:<19} -> alice  round trip {:.1} ms",
                sent.kind().name(),
                reply.kind().name(),
                rtt.as_secs_f64() * 1000.0
            ));
        }
    }
    let rejected = alice_tx.rejection_counts().total() + bob_tx.rejection_counts().total();
    alice_tx.shutdown().await;
    bob_tx.shutdown().await;
    relay.shutdown().await;
    rtts.sort_by(|a, b| a.total_cmp(b));
    let median = rtts[rtts.len() / 2];
    let max = rtts[rtts.len() - 1];
    println!(
        "{}",
        serde_json::json!({
            "round_trips": rtts.len(),
            "forms": ["sealed", "direct"],
            "rtt_ms_median": (median * 10.0).round() / 10.0,
            "rtt_ms_max": (max * 10.0).round() / 10.0,
            "rejected": rejected,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// The next message from `sender` (skipping our own devices' copies).
async fn next_from(
    incoming: &mut nostr_signal::IncomingMessages,
    sender: &PublicKey,
) -> Result<nostr_signal::VerifiedMessage> {
    let wait = async {
        while let Some(m) = incoming.recv().await {
            if &m.sender == sender && !m.from_own_device {
                return Some(m);
            }
        }
        None
    };
    match tokio::time::timeout(STEP_TIMEOUT, wait).await {
        Ok(Some(m)) => Ok(m),
        _ => bail!(
            "no message from the peer within {} s (see PHANTOMCALL_LOG=debug for dropped messages)",
            STEP_TIMEOUT.as_secs()
        ),
    }
}
