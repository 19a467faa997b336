//! Whole calls through a real relay and real peer connections: each side hears the other's
//! tone, mute silences a side and shows on the other, video arrives black (no blackout
//! filter configured), hangup ends both sides.

mod support;

use std::time::Duration;

use calling::{CallState, EngineEvent, MediaEvent};
use media::audio::{ToneCheck, SAMPLE_RATE};
use nostr_signal::Identity;
use phantomcall_schemas::{CallType, PrivacyMode};
use support::{phone, relay, PhoneOptions};

/// The last `seconds` of what a speaker played.
fn last_audio(phone: &support::Phone, seconds: f32) -> Vec<i16> {
    let speaker = phone
        .devices
        .probes
        .speakers()
        .pop()
        .expect("a speaker was opened");
    speaker
        .recording
        .last((SAMPLE_RATE as f32 * seconds) as usize)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_side_hears_the_others_tone_and_hangup_ends_both() {
    let relay = relay().await;
    let (alice_id, bob_id) = (Identity::generate(), Identity::generate());
    let mut alice = phone(&relay, &alice_id, PhoneOptions::tone(440.0)).await;
    let mut bob = phone(&relay, &bob_id, PhoneOptions::tone(660.0)).await;

    let call = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Fast);
    let ringing = bob.wait_state(Some(call), CallState::Ringing).await;
    assert_eq!(ringing.peer, alice.key);
    bob.engine.accept(call, false);
    alice.wait_state(Some(call), CallState::Connected).await;
    bob.wait_state(Some(call), CallState::Connected).await;

    tokio::time::sleep(Duration::from_secs(2)).await;
    let at_bob = ToneCheck::detect(&last_audio(&bob, 1.0), 440.0);
    assert!(at_bob.dominant, "Bob hears Alice's 440 Hz tone: {at_bob:?}");
    let at_alice = ToneCheck::detect(&last_audio(&alice, 1.0), 660.0);
    assert!(
        at_alice.dominant,
        "Alice hears Bob's 660 Hz tone: {at_alice:?}"
    );

    // Live figures are reported while the call runs.
    let stats = alice
        .wait_event(Duration::from_secs(3), |e| {
            matches!(e, EngineEvent::Stats { call_id, stats } if *call_id == call && stats.media_up)
        })
        .await;
    let EngineEvent::Stats { stats, .. } = stats else {
        unreachable!()
    };
    assert!(stats.audio_frames_played > 0 && stats.first_audio_at.is_some());
    assert!(stats.peer.rtt_ms.is_some(), "{stats:?}");

    support::hang_up_and_shut_down(&alice, &mut bob, call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_muted_side_is_not_heard_and_the_peer_sees_it_muted_then_speaking_again() {
    let relay = relay().await;
    let (alice_id, bob_id) = (Identity::generate(), Identity::generate());
    let mut alice = phone(&relay, &alice_id, PhoneOptions::tone(440.0)).await;
    let mut bob = phone(&relay, &bob_id, PhoneOptions::tone(660.0)).await;
    let call = support::connected_call(&mut alice, &mut bob).await;
    let voice = |muted: bool, speaking: bool| {
        move |e: &EngineEvent| {
            matches!(e, EngineEvent::Media { call_id, event: MediaEvent::RemoteVoice(v) }
                if *call_id == call && v.muted == muted && v.speaking == speaking)
        }
    };
    bob.wait_event(Duration::from_secs(5), voice(false, true))
        .await;

    alice.engine.set_muted(call, true);
    bob.wait_event(Duration::from_secs(5), voice(true, false))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_bob = ToneCheck::detect(&last_audio(&bob, 0.4), 440.0);
    assert!(
        at_bob.expected_power < ToneCheck::MIN_POWER / 100.0,
        "a muted microphone is not heard: {at_bob:?}"
    );

    alice.engine.set_muted(call, false);
    bob.wait_event(Duration::from_secs(5), voice(false, true))
        .await;
    support::hang_up_and_shut_down(&alice, &mut bob, call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_muted_side_sends_dtx_and_the_peer_plays_comfort_noise_not_concealment_and_sees_it_muted()
{
    let relay = relay().await;
    let (alice_id, bob_id) = (Identity::generate(), Identity::generate());
    let mut alice = phone(&relay, &alice_id, PhoneOptions::tone(440.0)).await;
    let mut bob = phone(&relay, &bob_id, PhoneOptions::tone(660.0)).await;
    let call = support::connected_call(&mut alice, &mut bob).await;
    let voice = |muted: bool, speaking: bool| {
        move |e: &EngineEvent| {
            matches!(e, EngineEvent::Media { call_id, event: MediaEvent::RemoteVoice(v) }
                if *call_id == call && v.muted == muted && v.speaking == speaking)
        }
    };
    bob.wait_event(Duration::from_secs(5), voice(false, true))
        .await;
    // Both sides' descriptions accept DTX (`usedtx=1`): muted, Alice's silence goes out
    // as DTX, and Bob still sees her muted from the comfort noise his decoder plays.
    alice.engine.set_muted(call, true);
    bob.wait_event(Duration::from_secs(5), voice(true, false))
        .await;
    let (a0, b0) = (
        alice.wait_stats(call, |_| true).await,
        bob.wait_stats(call, |_| true).await,
    );
    let frames = |s: &calling::CallStats| s.audio_frames_sent + s.audio_frames_unsent_dtx;
    let a1 = alice
        .wait_stats(call, |s| frames(s) >= frames(&a0) + 75)
        .await;
    let b1 = bob
        .wait_stats(call, |s| {
            s.audio_frames_comfort >= b0.audio_frames_comfort + 50
        })
        .await;
    let sent = a1.audio_frames_sent - a0.audio_frames_sent;
    let unsent = a1.audio_frames_unsent_dtx - a0.audio_frames_unsent_dtx;
    assert!(
        4 * sent < unsent,
        "silence in DTX: {sent} frames sent, {unsent} not"
    );
    // Without DTX handling every silent turn would be an underrun, concealed.
    let concealed = b1.audio_frames_concealed - b0.audio_frames_concealed;
    assert!(concealed <= 3, "{concealed} frames concealed in a silence");

    alice.engine.set_muted(call, false);
    bob.wait_event(Duration::from_secs(5), voice(false, true))
        .await;
    bob.wait_hears(440.0).await;
    support::hang_up_and_shut_down(&alice, &mut bob, call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn video_arrives_black_while_no_blackout_filter_is_configured() {
    let relay = relay().await;
    let (alice_id, bob_id) = (Identity::generate(), Identity::generate());
    let mut alice = phone(&relay, &alice_id, PhoneOptions::tone(440.0)).await;
    let mut bob = phone(&relay, &bob_id, PhoneOptions::tone(660.0)).await;

    let call = alice
        .engine
        .dial(bob.key, CallType::Video, PrivacyMode::Fast);
    bob.wait_state(Some(call), CallState::Ringing).await;
    bob.engine.accept(call, true);
    bob.wait_state(Some(call), CallState::Connected).await;
    alice.wait_state(Some(call), CallState::Connected).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    for (who, phone) in [("bob", &bob), ("alice", &alice)] {
        let probe = phone
            .devices
            .probes
            .videos()
            .pop()
            .expect("remote view opened");
        let seen = probe.snapshot();
        assert!(seen.frames >= 24, "{who} got {} frames in 3 s", seen.frames);
        assert_eq!(
            seen.black_frames, seen.frames,
            "{who}: every frame is black"
        );
        let last = seen.last.expect("a frame");
        assert_eq!((last.width, last.height), (640, 480));
    }
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}
