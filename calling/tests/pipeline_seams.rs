//! The many-party seams of the media pipeline, in a real 1:1 call: remote views are asked
//! for per participant, and the render stage hands the echo canceller's reference (the
//! far-end tap) exactly what the speaker plays.

mod support;

use std::sync::{Arc, Mutex};

use calling::{
    FarEndTap, MediaDevices, RemoteVideoSink, ScreenTarget, ScreenTargets, SyntheticDevices,
};
use media::audio::{goertzel_power, AudioError, AudioSink, AudioSource};
use media::video::{ScreenSource, VideoError, VideoSource};
use nostr_signal::{Identity, PublicKey};
use support::{connected_video_call, phone, relay, PhoneOptions};

/// Synthetic devices that record who each remote view was for and what the far end played.
#[derive(Clone)]
struct Watched {
    inner: SyntheticDevices,
    views_for: Arc<Mutex<Vec<PublicKey>>>,
    far_end: Arc<Mutex<Vec<i16>>>,
}

struct Tap(Arc<Mutex<Vec<i16>>>);

impl FarEndTap for Tap {
    fn far_end(&mut self, played: &[i16]) {
        self.0.lock().unwrap().extend_from_slice(played);
    }
}

impl MediaDevices for Watched {
    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        self.inner.microphone()
    }
    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        self.inner.speaker()
    }
    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        self.inner.camera()
    }
    fn privacy_filter(&self) -> Box<dyn blackout::PrivacyFilter> {
        self.inner.privacy_filter()
    }
    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        panic!("the engine asks for a participant's view, not the shared one")
    }
    fn remote_video_of(&self, participant: &PublicKey) -> Box<dyn RemoteVideoSink> {
        self.views_for.lock().unwrap().push(*participant);
        self.inner.remote_video()
    }
    fn screen_targets(&self) -> ScreenTargets {
        self.inner.screen_targets()
    }
    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError> {
        self.inner.screen(target)
    }
    fn remote_screen(&self) -> Box<dyn RemoteVideoSink> {
        self.inner.remote_screen()
    }
    fn far_end_tap(&self) -> Option<Box<dyn FarEndTap>> {
        Some(Box::new(Tap(self.far_end.clone())))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_participant_gets_a_view_and_the_far_end_tap_gets_what_the_speaker_plays() {
    let relay = relay().await;
    let watched: Arc<Mutex<Option<Watched>>> = Arc::default();
    let slot = watched.clone();
    let bob_options = PhoneOptions {
        devices: Some(Box::new(move |inner: SyntheticDevices| {
            let devices = Watched {
                inner,
                views_for: Arc::default(),
                far_end: Arc::default(),
            };
            *slot.lock().unwrap() = Some(devices.clone());
            Arc::new(devices) as Arc<dyn MediaDevices>
        })),
        ..PhoneOptions::tone(660.0)
    };
    let mut alice = phone(&relay, &Identity::generate(), PhoneOptions::tone(440.0)).await;
    let mut bob = phone(&relay, &Identity::generate(), bob_options).await;

    let call = connected_video_call(&mut alice, &mut bob).await;
    bob.wait_hears(440.0).await;
    bob.wait_stats(call, |s| s.video_frames_decoded > 0).await;

    let devices = watched.lock().unwrap().clone().expect("bob's devices");
    assert_eq!(
        *devices.views_for.lock().unwrap(),
        [alice.key],
        "one view, for the one participant"
    );
    let reference = devices.far_end.lock().unwrap().clone();
    let tone = goertzel_power(&reference, 440.0, 48_000);
    let off_tone = goertzel_power(&reference, 1000.0, 48_000);
    assert!(
        tone > 100.0 * off_tone,
        "the far-end reference carries Alice's tone ({tone:.0} against {off_tone:.0})"
    );
    let heard = bob.devices.probes.speakers();
    assert!(!heard.is_empty(), "the speaker played");
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}
