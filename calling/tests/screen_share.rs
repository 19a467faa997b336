//! Screen share through a real relay and real peer connections: the share arrives as its
//! own track beside the camera (which stays filtered), starts and stops without
//! renegotiation, works in audio calls and when only one side has a camera, obeys "audio
//! only", and a share that cannot start is reported while the call goes on.

mod support;

use std::time::Duration;

use calling::{
    CallState, EngineEvent, MediaDevices, MediaEvent, ScreenKind, ScreenTarget, VideoQuality,
};
use media::video::DEFAULT_BLACK_TOLERANCE;
use nostr_signal::Identity;
use phantomcall_schemas::{CallId, CallType, PrivacyMode};
use support::{connected_call, phone, relay, Phone, PhoneOptions, Relay};

const WAIT: Duration = Duration::from_secs(15);

/// Alice (440 Hz) and Bob (660 Hz) on `relay`.
async fn two_phones(relay: &Relay) -> (Phone, Phone) {
    let alice = phone(relay, &Identity::generate(), PhoneOptions::tone(440.0)).await;
    let bob = phone(relay, &Identity::generate(), PhoneOptions::tone(660.0)).await;
    (alice, bob)
}

/// Alice video-calls Bob, who accepts with or without his camera; returns once Alice is
/// connected.
async fn video_call(alice: &mut Phone, bob: &mut Phone, bob_video: bool) -> CallId {
    let call = alice
        .engine
        .dial(bob.key, CallType::Video, PrivacyMode::Fast);
    bob.wait_state(Some(call), CallState::Ringing).await;
    bob.engine.accept(call, bob_video);
    alice.wait_state(Some(call), CallState::Connected).await;
    call
}

fn demo_slides(phone: &Phone) -> ScreenTarget {
    let list = phone.devices.screen_targets();
    assert!(list.problems.is_empty(), "{list:?}");
    list.targets[0].clone()
}

async fn wait_media(
    phone: &mut Phone,
    call: CallId,
    pred: impl Fn(&MediaEvent) -> bool,
) -> MediaEvent {
    match phone
        .wait_event(WAIT, |e| matches!(e, EngineEvent::Media { call_id, event } if *call_id == call && pred(event)))
        .await
    {
        EngineEvent::Media { event, .. } => event,
        other => panic!("not a media event: {other:?}"),
    }
}

/// Waits until the newest screen view of `phone` has decoded more than `frames` frames.
async fn wait_screen_frames(phone: &Phone, frames: u64) -> media::video::DecodedFrame {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(probe) = phone.devices.probes.screens().pop() {
            let seen = probe.snapshot();
            if seen.frames > frames {
                return seen.last.expect("a frame");
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no screen-share frames within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn mean_luma(frame: &media::video::DecodedFrame) -> u64 {
    let luma = &frame.i420[..(frame.width * frame.height) as usize];
    luma.iter().map(|&v| u64::from(v)).sum::<u64>() / luma.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn screen_share_arrives_as_its_own_track_and_stops_without_renegotiating() {
    let relay = relay().await;
    let (mut alice, mut bob) = two_phones(&relay).await;
    let call = video_call(&mut alice, &mut bob, true).await;

    let slides = demo_slides(&alice);
    alice.engine.start_screen_share(call, slides.clone());
    let started = wait_media(&mut alice, call, |e| {
        matches!(e, MediaEvent::ScreenShareStarted { .. })
    })
    .await;
    assert!(
        format!("{started:?}").contains("demo slides"),
        "{started:?}"
    );
    wait_media(&mut bob, call, |e| {
        *e == MediaEvent::RemoteScreenShare { active: true }
    })
    .await;

    let shown = wait_screen_frames(&bob, 3).await;
    assert_eq!((shown.width, shown.height), (slides.width, slides.height));
    assert!(
        mean_luma(&shown) > 150,
        "the slides arrive as they are (mostly paper), not blacked out: luma {}",
        mean_luma(&shown)
    );
    let stats = bob
        .wait_stats(call, |s| s.remote_screen && s.remote_screen_frames > 3)
        .await;
    assert!(
        stats.video_frames_decoded > 0,
        "the camera keeps coming too"
    );
    let stats = alice.wait_stats(call, |s| s.screen_frames_sent > 3).await;
    assert!(stats
        .screen_share
        .as_deref()
        .is_some_and(|w| w.contains("demo slides")));
    assert!(stats.screen_bitrate_kbps > 0);

    // Stopping needs no new offer: the peer sees the frames stop.
    alice.engine.stop_screen_share(call);
    assert_eq!(
        wait_media(&mut alice, call, |e| matches!(
            e,
            MediaEvent::ScreenShareStopped { .. }
        ))
        .await,
        MediaEvent::ScreenShareStopped { why: None }
    );
    wait_media(&mut bob, call, |e| {
        *e == MediaEvent::RemoteScreenShare { active: false }
    })
    .await;
    let stats = alice.wait_stats(call, |s| s.screen_share.is_none()).await;
    let sent = stats.screen_frames_sent;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let later = alice.wait_stats(call, |_| true).await;
    assert_eq!(
        later.screen_frames_sent, sent,
        "nothing is sent after stopping"
    );
    assert_eq!(
        alice.call_info(call).await.state,
        CallState::Connected,
        "the call goes on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn camera_frames_stay_filtered_while_a_screen_is_shared() {
    let relay = relay().await;
    let (mut alice, mut bob) = two_phones(&relay).await;
    let call = video_call(&mut alice, &mut bob, true).await;

    alice.engine.start_screen_share(call, demo_slides(&alice));
    wait_screen_frames(&bob, 5).await;
    bob.wait_stats(call, |s| s.video_frames_decoded > 20).await;
    // The synthetic phones' camera filter blacks every frame: each camera frame that
    // arrived while the screen went out beside it is black. The screen share is a track
    // of its own and never carries the camera.
    let camera = bob
        .devices
        .probes
        .videos()
        .pop()
        .expect("camera view")
        .snapshot();
    assert!(camera.frames > 20, "camera frames: {}", camera.frames);
    assert_eq!(
        camera.black_frames, camera.frames,
        "every camera frame black"
    );
    let screen = bob
        .devices
        .probes
        .screens()
        .pop()
        .expect("screen view")
        .snapshot();
    assert_eq!(screen.black_frames, 0, "the screen is not the camera");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn screen_share_works_in_audio_calls_and_from_a_side_without_camera() {
    let relay = relay().await;
    let (mut alice, mut bob) = two_phones(&relay).await;

    // A video call that Bob takes as audio: he sends no camera, only his screen. It must
    // land in Alice's screen view, not in her camera view.
    let call = video_call(&mut alice, &mut bob, false).await;
    bob.engine.start_screen_share(call, demo_slides(&bob));
    wait_media(&mut alice, call, |e| {
        *e == MediaEvent::RemoteScreenShare { active: true }
    })
    .await;
    let shown = wait_screen_frames(&alice, 2).await;
    assert!(!shown.is_black(DEFAULT_BLACK_TOLERANCE));
    let camera_frames: u64 = alice
        .devices
        .probes
        .videos()
        .iter()
        .map(|p| p.snapshot().frames)
        .sum();
    assert_eq!(camera_frames, 0, "no screen frame in the camera view");
    alice.engine.hangup(call);
    bob.wait_state(Some(call), CallState::Ended).await;

    // An audio call: sharing works the same.
    let call = connected_call(&mut alice, &mut bob).await;
    alice.engine.start_screen_share(call, demo_slides(&alice));
    wait_media(&mut bob, call, |e| {
        *e == MediaEvent::RemoteScreenShare { active: true }
    })
    .await;
    wait_screen_frames(&bob, 2).await;

    // "Audio only" means no video of any kind: the share pauses.
    alice.engine.set_video_quality(call, VideoQuality::Off);
    wait_media(&mut bob, call, |e| {
        *e == MediaEvent::RemoteScreenShare { active: false }
    })
    .await;
    let paused = alice
        .wait_stats(call, |s| s.video_quality == VideoQuality::Off)
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let later = alice.wait_stats(call, |_| true).await;
    assert!(
        later.screen_frames_sent <= paused.screen_frames_sent + 1,
        "screen frames sent while audio only: {} -> {}",
        paused.screen_frames_sent,
        later.screen_frames_sent
    );
    alice.engine.set_video_quality(call, VideoQuality::Normal);
    wait_media(&mut bob, call, |e| {
        *e == MediaEvent::RemoteScreenShare { active: true }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_share_that_cannot_start_is_reported_and_the_call_goes_on() {
    let relay = relay().await;
    let (mut alice, mut bob) = two_phones(&relay).await;
    let call = connected_call(&mut alice, &mut bob).await;

    let closed_window = ScreenTarget {
        kind: ScreenKind::Window,
        id: 4242,
        name: "a window that was closed".to_owned(),
        width: 800,
        height: 600,
    };
    alice.engine.start_screen_share(call, closed_window);
    match wait_media(&mut alice, call, |e| {
        matches!(e, MediaEvent::ScreenShareStopped { .. })
    })
    .await
    {
        MediaEvent::ScreenShareStopped { why: Some(why) } => {
            assert!(why.contains("a window that was closed"), "{why}")
        }
        other => panic!("expected a reason: {other:?}"),
    }
    // Stopping when nothing is shared says nothing.
    alice.engine.stop_screen_share(call);
    let stats = alice.wait_stats(call, |_| true).await;
    assert!(stats.screen_share.is_none());
    assert_eq!(alice.call_info(call).await.state, CallState::Connected);
    alice.wait_hears(660.0).await;
}
