//! The in-call emergency actions, one click each: "Lower quality" caps the encoder's
//! bitrate, "Audio only" stops video frames altogether (and turns the camera off),
//! "Camera off now" blacks the camera; the engine's stats report each.

mod gui_common;

use std::time::Duration;

use calling::LOW_VIDEO_KBPS;
use calling::{CallStats, SyntheticDevices, VideoQuality};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use gui_common::{click, pump_for, pump_until, World, CALL_TIMEOUT};
use phantomcall::gui::PhantomApp;

/// The engine's latest stats of the live call.
fn stats(h: &Harness<'_, PhantomApp>) -> Option<CallStats> {
    h.state().live_call().and_then(|c| c.stats.clone())
}

/// Waits for two fresh stats reports (they come once a second) and returns the last.
fn fresh_stats(h: &mut Harness<'_, PhantomApp>) -> CallStats {
    for _ in 0..2 {
        let before = stats(h).and_then(|s| s.connected_for);
        pump_until(h, "fresh stats", Duration::from_secs(5), |h| {
            stats(h).and_then(|s| s.connected_for) != before
        });
    }
    stats(h).expect("stats")
}

#[test]
fn emergency_actions_cap_stop_and_black_the_video() {
    let world = World::new(true);
    let mut peer = world.peer(660.0);
    let mut h = world.harness(world.options(SyntheticDevices::new(440.0)));
    world.video_call_to(&mut h, &mut peer);
    pump_until(&mut h, "video flowing", CALL_TIMEOUT, |h| {
        stats(h).is_some_and(|s| s.video_frames_sent > 10 && s.video_bitrate_kbps > 0)
    });
    assert_eq!(stats(&h).unwrap().video_quality, VideoQuality::Normal);

    // Lower quality: the encoder's target is capped.
    click(&mut h, "Lower quality");
    assert!(h.query_by_label("Normal quality").is_some());
    pump_until(&mut h, "bitrate capped", CALL_TIMEOUT, |h| {
        stats(h).is_some_and(|s| {
            s.video_quality == VideoQuality::Low && s.video_bitrate_kbps <= LOW_VIDEO_KBPS
        })
    });
    click(&mut h, "Normal quality");
    pump_until(&mut h, "quality back", CALL_TIMEOUT, |h| {
        stats(h).is_some_and(|s| s.video_quality == VideoQuality::Normal)
    });

    // Audio only: no video frames leave at all, and the camera is off.
    click(&mut h, "Audio only");
    assert!(h.state().live_call().unwrap().camera_off);
    pump_until(&mut h, "video off", CALL_TIMEOUT, |h| {
        stats(h).is_some_and(|s| s.video_quality == VideoQuality::Off)
    });
    let stopped = fresh_stats(&mut h).video_frames_sent;
    pump_for(&mut h, Duration::from_millis(1500));
    assert_eq!(
        fresh_stats(&mut h).video_frames_sent,
        stopped,
        "video frames still sent in audio only"
    );
    // Audio still flows.
    let audio = stats(&h).unwrap().audio_frames_sent;
    assert!(fresh_stats(&mut h).audio_frames_sent > audio);

    click(&mut h, "Video back on");
    pump_until(&mut h, "video back", CALL_TIMEOUT, |h| {
        stats(h).is_some_and(|s| s.video_frames_sent > stopped + 5)
    });
    assert!(!h.state().live_call().unwrap().camera_off);

    // Camera off now: the engine stops filtering camera frames (black is sent).
    let devices = h.state().devices().unwrap().clone();
    click(&mut h, "Camera off now");
    assert!(h.state().live_call().unwrap().camera_off);
    pump_for(&mut h, Duration::from_millis(400));
    let after_off = devices.preview.frames();
    pump_for(&mut h, Duration::from_secs(1));
    assert!(devices.preview.frames() <= after_off + 1);
    click(&mut h, "Hang up");
    h.state_mut().shutdown();
}
