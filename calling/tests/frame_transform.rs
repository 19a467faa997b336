//! The frame transform seam: every encoded frame passes it between the codec and RTP, both
//! ways, in a real call. A toy cipher proves the seam is on the media path; then SFrame
//! (RFC 9605, `calling::e2ee`) runs through it in real calls.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calling::e2ee::{MediaKeys, SframeKey, SframeTransform};
use calling::{CallState, FrameKind, FrameTransform, TransformError};
use nostr_signal::Identity;
use phantomcall_schemas::{CallId, CallType, PrivacyMode};
use support::{connected_video_call, phone, relay, Phone, PhoneOptions};

const MAGIC: &[u8; 4] = b"TOY1";

/// Prefixes a marker and XORs the frame with a key byte; incoming frames without the
/// marker are refused. Counts what it saw per kind and direction.
#[derive(Debug, Default)]
struct ToyCipher {
    key: u8,
    seen: Mutex<HashMap<(FrameKind, &'static str), u64>>,
    refused: AtomicU64,
}

impl ToyCipher {
    fn new(key: u8) -> Arc<Self> {
        Arc::new(Self {
            key,
            ..Self::default()
        })
    }

    fn count(&self, kind: FrameKind, way: &'static str) -> u64 {
        *self.seen.lock().unwrap().get(&(kind, way)).unwrap_or(&0)
    }

    fn bump(&self, kind: FrameKind, way: &'static str) {
        *self.seen.lock().unwrap().entry((kind, way)).or_default() += 1;
    }
}

impl FrameTransform for ToyCipher {
    fn outgoing(&self, kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        self.bump(kind, "out");
        let mut out = MAGIC.to_vec();
        out.extend(frame.iter().map(|b| b ^ self.key));
        Ok(out)
    }

    fn incoming(&self, kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        let Some(body) = frame.strip_prefix(MAGIC) else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(TransformError::Unauthenticated);
        };
        self.bump(kind, "in");
        Ok(body.iter().map(|b| b ^ self.key).collect())
    }
}

fn with(transform: &Arc<ToyCipher>, tone_hz: f32) -> PhoneOptions {
    PhoneOptions {
        frame_transform: Some(transform.clone()),
        ..PhoneOptions::tone(tone_hz)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_audio_and_camera_frame_passes_the_transform_both_ways() {
    let relay = relay().await;
    let (alice_cipher, bob_cipher) = (ToyCipher::new(0x5a), ToyCipher::new(0x5a));
    let mut alice = phone(&relay, &Identity::generate(), with(&alice_cipher, 440.0)).await;
    let mut bob = phone(&relay, &Identity::generate(), with(&bob_cipher, 660.0)).await;

    let call = connected_video_call(&mut alice, &mut bob).await;

    // The frames decode after the transform: the tones arrive, the camera decodes.
    bob.wait_hears(440.0).await;
    alice.wait_hears(660.0).await;
    bob.wait_stats(call, |s| s.video_frames_decoded > 0).await;
    for (cipher, who) in [(&alice_cipher, "alice"), (&bob_cipher, "bob")] {
        for kind in [FrameKind::Audio, FrameKind::Camera] {
            assert!(
                cipher.count(kind, "out") > 0,
                "{who} sent no {kind:?} frame through it"
            );
        }
        assert!(
            cipher.count(FrameKind::Audio, "in") > 0,
            "{who} got no audio through it"
        );
        assert_eq!(
            cipher.refused.load(Ordering::Relaxed),
            0,
            "{who} refused a frame"
        );
    }
    assert!(bob_cipher.count(FrameKind::Camera, "in") > 0);
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frames_the_transform_refuses_are_dropped_before_the_decoder() {
    let relay = relay().await;
    let alice_cipher = ToyCipher::new(0x21);
    let mut alice = phone(&relay, &Identity::generate(), with(&alice_cipher, 440.0)).await;
    // Bob sends plain frames, which Alice's transform does not authenticate.
    let mut bob = phone(&relay, &Identity::generate(), PhoneOptions::tone(660.0)).await;

    let call = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Fast);
    bob.wait_state(Some(call), CallState::Ringing).await;
    bob.engine.accept(call, false);
    alice.wait_state(Some(call), CallState::Connected).await;
    alice
        .wait_stats(call, |s| s.audio_packets_received > 25)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert!(alice_cipher.refused.load(Ordering::Relaxed) > 25);
    assert_eq!(alice_cipher.count(FrameKind::Audio, "in"), 0);
    let played = alice.wait_stats(call, |_| true).await;
    assert_eq!(
        played.audio_frames_played, 0,
        "nothing refused reaches the decoder: {played:?}"
    );
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

fn sframe_with(transform: Arc<SframeTransform>, tone_hz: f32) -> PhoneOptions {
    PhoneOptions {
        frame_transform: Some(transform),
        ..PhoneOptions::tone(tone_hz)
    }
}

fn sframe_keys() -> (SframeKey, SframeKey) {
    (
        SframeKey::new(1, b"alice's sframe base key".to_vec()),
        SframeKey::new(2, b"bob's sframe base key!!".to_vec()),
    )
}

/// Alice (440 Hz) calls Bob (660 Hz) on video, each with its SFrame transform; returns
/// once connected.
async fn sframe_video_call(
    relay: &support::Relay,
    alice_sframe: Arc<SframeTransform>,
    bob_sframe: Arc<SframeTransform>,
) -> (Phone, Phone, CallId) {
    let mut alice = phone(
        relay,
        &Identity::generate(),
        sframe_with(alice_sframe, 440.0),
    )
    .await;
    let mut bob = phone(relay, &Identity::generate(), sframe_with(bob_sframe, 660.0)).await;
    let call = connected_video_call(&mut alice, &mut bob).await;
    (alice, bob, call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_call_with_sframe_on_every_frame_is_heard_and_seen() {
    let relay = relay().await;
    let (alice_key, bob_key) = sframe_keys();
    let alice_sframe = Arc::new(SframeTransform::new(&alice_key).unwrap());
    let bob_sframe = Arc::new(SframeTransform::new(&bob_key).unwrap());
    alice_sframe.add_member_key(&bob_key).unwrap();
    bob_sframe.add_member_key(&alice_key).unwrap();
    let (mut alice, mut bob, call) = sframe_video_call(&relay, alice_sframe, bob_sframe).await;

    bob.wait_hears(440.0).await;
    alice.wait_hears(660.0).await;
    bob.wait_stats(call, |s| s.video_frames_decoded > 0).await;
    alice.wait_stats(call, |s| s.video_frames_decoded > 0).await;
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sframe_frames_under_a_key_the_receiver_lacks_never_reach_its_decoder() {
    let relay = relay().await;
    let (alice_key, bob_key) = sframe_keys();
    let alice_sframe = Arc::new(SframeTransform::new(&alice_key).unwrap());
    // Bob holds a different secret under Alice's KID: every frame of hers fails.
    let bob_sframe = Arc::new(SframeTransform::new(&bob_key).unwrap());
    bob_sframe
        .add_member_key(&SframeKey::new(1, b"not alice's key at all".to_vec()))
        .unwrap();
    alice_sframe.add_member_key(&bob_key).unwrap();
    let (alice, mut bob, call) = sframe_video_call(&relay, alice_sframe, bob_sframe).await;
    // Bob's frames (Alice holds his key) get through; Alice's to Bob do not.
    alice.wait_hears(660.0).await;
    bob.wait_stats(call, |s| s.audio_packets_received > 50)
        .await;
    // Video frames are sent alongside; give them time to arrive and be refused.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bob_side = bob.wait_stats(call, |_| true).await;
    assert_eq!(bob_side.audio_frames_played, 0, "{bob_side:?}");
    assert_eq!(bob_side.video_frames_decoded, 0, "{bob_side:?}");
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_1_1_call_agrees_post_quantum_keys_and_both_ends_show_the_same_code() {
    let relay = relay().await;
    let mut alice = phone(&relay, &Identity::generate(), PhoneOptions::tone(440.0)).await;
    let mut bob = phone(&relay, &Identity::generate(), PhoneOptions::tone(660.0)).await;

    let call = connected_video_call(&mut alice, &mut bob).await;

    // Media flows under the agreed SFrame keys: tones heard, video decoded.
    bob.wait_hears(440.0).await;
    alice.wait_hears(660.0).await;
    bob.wait_stats(call, |s| s.video_frames_decoded > 0).await;
    let ours = alice
        .wait_stats(call, |s| s.media_keys != MediaKeys::Pending)
        .await;
    let theirs = bob
        .wait_stats(call, |s| s.media_keys != MediaKeys::Pending)
        .await;
    assert!(
        matches!(ours.media_keys, MediaKeys::PostQuantum { .. }),
        "{:?}",
        ours.media_keys
    );
    assert_eq!(
        ours.media_keys, theirs.media_keys,
        "the same code on both ends"
    );
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}
