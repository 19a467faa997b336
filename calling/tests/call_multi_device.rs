//! One person, several devices, end to end: every device of the callee rings, the first
//! that answers takes the call, the others stop, and the caller is connected to that very
//! device (it hears that device's tone and no other).

mod support;

use calling::{CallState, EndReason, Reason};
use media::audio::{ToneCheck, SAMPLE_RATE};
use nostr_signal::Identity;
use phantomcall_schemas::{CallType, PrivacyMode};
use support::{phone, relay, PhoneOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_devices_ring_and_the_one_that_answers_takes_the_call_the_others_stop() {
    let relay = relay().await;
    let mut alice = phone(&relay, &Identity::generate(), PhoneOptions::tone(440.0)).await;
    let bob_id = Identity::generate();
    // Tones far enough apart that the tone check tells them apart (more than 25%).
    let tones = [550.0, 1000.0, 1500.0];
    let mut bob = Vec::new();
    for tone in tones {
        bob.push(phone(&relay, &bob_id, PhoneOptions::tone(tone)).await);
    }

    let call = alice
        .engine
        .dial(bob[0].key, CallType::Voice, PrivacyMode::Fast);
    for device in &mut bob {
        let ringing = device.wait_state(Some(call), CallState::Ringing).await;
        assert_eq!(ringing.peer, alice.key);
    }
    bob[1].engine.accept(call, false);

    for i in [0, 2] {
        let end = bob[i].wait_state(Some(call), CallState::Ended).await;
        assert_eq!(
            end.reason,
            Reason::Ended(EndReason::AnsweredElsewhere),
            "device {}",
            i + 1
        );
        assert!(
            !end.missed,
            "device {}: answered elsewhere is not missed",
            i + 1
        );
    }
    alice.wait_state(Some(call), CallState::Connected).await;
    bob[1].wait_state(Some(call), CallState::Connected).await;

    // Alice hears device 2's tone, and it dominates the other devices' tones.
    alice.wait_hears(tones[1]).await;
    let heard = alice
        .devices
        .probes
        .speakers()
        .pop()
        .expect("Alice's speaker")
        .recording
        .last(SAMPLE_RATE as usize / 2);
    for tone in [tones[0], tones[2]] {
        let other = ToneCheck::detect(&heard, tone);
        assert!(!other.dominant, "Alice hears {tone} Hz: {other:?}");
    }
    bob[1].wait_hears(alice.devices.tone_hz).await;
    for i in [0, 2] {
        assert!(
            bob[i].devices.probes.speakers().is_empty(),
            "device {} opened no media",
            i + 1
        );
    }
    let info = alice.call_info(call).await;
    assert!(matches!(info.answered_by, Some(Some(_))), "{info:?}");

    alice.engine.hangup(call);
    let end = bob[1].wait_state(Some(call), CallState::Ended).await;
    assert_eq!(end.reason, Reason::Ended(EndReason::RemoteHangup));
    alice.engine.shutdown().await;
    for device in &bob {
        device.engine.shutdown().await;
    }
}
