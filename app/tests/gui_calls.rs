//! Calls through the UI against a second client (a real engine with synthetic devices) on
//! an embedded relay: outgoing call ringing then connected (with its post-quantum media
//! keys shown), mute reaching the peer's
//! speaker, the call log and its auto-delete; incoming call accept, camera off stopping
//! the filtered video, hang up.

mod gui_common;

use std::time::Duration;

use calling::SyntheticDevices;
use eframe::egui;
use egui_kittest::kittest::Queryable;
use gui_common::{
    click, online_with_contact, pick, pump_for, pump_until, shows, wait_for_text, World,
    CALL_TIMEOUT,
};
use media::audio::{ToneCheck, SAMPLE_RATE};
use nostr_signal::Identity;
use phantomcall::gui::contacts::AutoDelete;
use phantomcall_schemas::{CallType, PrivacyMode};

const OUR_HZ: f32 = 440.0;
const PEER_HZ: f32 = 660.0;

/// Whether the peer's speaker played our tone during the last 300 ms.
fn peer_hears_us(peer: &gui_common::Peer) -> bool {
    let Some(speaker) = peer.devices.probes.speakers().pop() else {
        return false;
    };
    let samples = speaker.recording.last(SAMPLE_RATE as usize * 3 / 10);
    ToneCheck::detect(&samples, OUR_HZ).dominant
}

#[test]
fn outgoing_call_rings_connects_mutes_and_is_logged() {
    let world = World::new(true);
    let mut peer = world.peer(PEER_HZ);
    let mut h = world.harness(world.options(SyntheticDevices::new(OUR_HZ)));
    online_with_contact(
        &mut h,
        Identity::generate(),
        "Bob",
        &peer,
        PrivacyMode::Fast,
    );
    assert!(shows(&h, "Peer may see your IP"));

    click(&mut h, "Audio call");
    wait_for_text(&mut h, "Ringing", CALL_TIMEOUT);
    assert!(shows(&h, "Mode: Fast"));
    assert!(
        shows(&h, "Peer may see your IP"),
        "the warning stays during the call"
    );
    assert!(shows(&h, "End-to-end encrypted"));

    // The peer answers by hand once it rings there.
    let call_id = world.ringing_at(&mut peer).call_id;
    peer.engine.accept(call_id, false);
    wait_for_text(&mut h, "Connected", CALL_TIMEOUT);
    let live = h.state().live_call().expect("live call").call_id;
    // The offer and answer agreed post-quantum media keys; the screen shows their code.
    wait_for_text(&mut h, "Post-quantum media keys", CALL_TIMEOUT);
    let keys = h.state().live_call().expect("live call").media_keys;
    let code = keys.code().expect("a post-quantum call has a safety code");
    assert!(
        shows(&h, &format!("safety code {code}")),
        "the code on screen is the key's"
    );

    // Our tone reaches the peer; after Mute it no longer does.
    pump_until(&mut h, "peer hears our tone", CALL_TIMEOUT, |_| {
        peer_hears_us(&peer)
    });
    click(&mut h, "Mute");
    assert!(h.query_by_label("Unmute").is_some());
    assert!(h.state().live_call().unwrap().muted);
    pump_until(&mut h, "peer hears silence", Duration::from_secs(5), |_| {
        !peer_hears_us(&peer)
    });
    click(&mut h, "Unmute");
    pump_until(
        &mut h,
        "peer hears us again",
        Duration::from_secs(5),
        |_| peer_hears_us(&peer),
    );
    // Echo cancellation off for this call: the voice still gets through.
    assert!(h.state().live_call().unwrap().voice_processing);
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "Echo cancellation")
        .click();
    pump_for(&mut h, Duration::from_millis(200));
    assert!(!h.state().live_call().unwrap().voice_processing);
    pump_until(
        &mut h,
        "peer still hears us",
        Duration::from_secs(5),
        |_| peer_hears_us(&peer),
    );
    // The quality indicator fills in from the engine's stats.
    pump_until(&mut h, "quality figures", Duration::from_secs(5), |h| {
        shows(h, "Quality: good") || shows(h, "Quality: fair") || shows(h, "Quality: poor")
    });
    pump_for(&mut h, Duration::from_millis(1100));

    click(&mut h, "Hang up");
    wait_for_text(&mut h, "Call ended", Duration::from_secs(10));
    assert!(h.state().live_call().is_none());
    click(&mut h, "Close");

    // The call log lists it, encrypted on disk.
    click(&mut h, "Recent calls");
    assert!(shows(&h, "Bob · outgoing · answered"));
    let log = h.state().call_log().unwrap().entries().to_vec();
    assert_eq!(log.len(), 1);
    assert!(log[0].duration_secs >= 1, "{log:?}");
    // With how it sounded (figures only): loopback loses nothing.
    let quality = log[0].quality.as_ref().expect("a quality summary");
    assert_eq!(quality.loss_percent, 0.0, "{quality:?}");
    // Written off the UI thread: wait for it before reading the file.
    assert!(h.state_mut().flush_log(Duration::from_secs(5)));
    let raw = std::fs::read(world.dir.path().join("calls.enc")).unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains(&peer.identity.public_key().to_hex()));
    let _ = live;

    // Auto-delete after one day: kept now, gone two days later.
    h.state_mut().contacts_mut().contacts[0].auto_delete = AutoDelete::Day;
    let now = phantomcall::gui::calllog::unix_now();
    h.state_mut().apply_retention_at(now);
    h.step();
    assert!(shows(&h, "Bob · outgoing · answered"));
    h.state_mut().apply_retention_at(now + 2 * 86_400);
    h.step();
    h.step();
    assert!(!shows(&h, "Bob · outgoing"));
    assert!(shows(&h, "No calls yet"));

    h.state_mut().shutdown();
}

#[test]
fn incoming_video_call_accept_camera_off_and_decline() {
    let world = World::new(true);
    let peer = world.peer(PEER_HZ);
    let mut h = world.harness(world.options(SyntheticDevices::new(OUR_HZ)));
    let me = Identity::generate();
    online_with_contact(&mut h, me.clone(), "Carol", &peer, PrivacyMode::Fast);

    // First call: declined from the incoming window.
    peer.engine
        .dial(me.public_key(), CallType::Video, PrivacyMode::Fast);
    wait_for_text(&mut h, "Carol is calling", CALL_TIMEOUT);
    assert!(h.query_by_label("Accept audio").is_some());
    assert!(h.query_by_label("Accept video").is_some());
    assert!(shows(&h, "Peer may see your IP"));
    click(&mut h, "Decline");
    pump_until(&mut h, "window closes", Duration::from_secs(5), |h| {
        h.query_by_label("Accept video").is_none()
    });

    // Second call: accepted with video.
    pump_for(&mut h, Duration::from_millis(300));
    peer.engine
        .dial(me.public_key(), CallType::Video, PrivacyMode::Fast);
    wait_for_text(&mut h, "Carol is calling", CALL_TIMEOUT);
    click(&mut h, "Accept video");
    wait_for_text(&mut h, "Connected", CALL_TIMEOUT);

    // Our filtered video flows to the preview, and the peer's video to the remote view.
    let devices = h.state().devices().unwrap().clone();
    pump_until(&mut h, "preview frames", Duration::from_secs(10), |_| {
        devices.preview.frames() > 5
    });
    pump_until(&mut h, "remote frames", CALL_TIMEOUT, |_| {
        devices.remote.frames() > 5
    });
    pump_until(&mut h, "remote video shown", Duration::from_secs(5), |h| {
        h.query_by_label("Remote video").is_some()
    });

    // Camera off: the engine stops passing camera frames through the filter.
    click(&mut h, "Camera off");
    assert!(h.query_by_label("Camera on").is_some());
    pump_for(&mut h, Duration::from_millis(400));
    let after_off = devices.preview.frames();
    pump_for(&mut h, Duration::from_secs(1));
    assert!(
        devices.preview.frames() <= after_off + 1,
        "camera off still filters frames"
    );
    click(&mut h, "Camera on");
    let back_on = devices.preview.frames();
    pump_until(&mut h, "camera back on", Duration::from_secs(5), |_| {
        devices.preview.frames() > back_on + 5
    });

    click(&mut h, "Hang up");
    wait_for_text(&mut h, "Call ended", Duration::from_secs(10));
    click(&mut h, "Close");
    click(&mut h, "Recent calls");
    assert!(shows(&h, "Carol · incoming · answered"));
    assert!(shows(&h, "Carol · incoming · declined"));
    click(&mut h, "Clear all");
    assert!(shows(&h, "No calls yet"));
    h.state_mut().shutdown();
}

#[test]
fn a_mode_chosen_in_the_lobby_overrides_the_contact_default_for_one_call() {
    let world = World::new(true);
    let mut peer = world.peer(PEER_HZ);
    let mut h = world.harness(world.options(SyntheticDevices::new(OUR_HZ)));
    // Private by default: without a TURN server this contact could not be called at all.
    online_with_contact(
        &mut h,
        Identity::generate(),
        "Bob",
        &peer,
        PrivacyMode::Private,
    );

    click(&mut h, "Lobby");
    pick(&mut h, "Mode for the next call", "Fast");
    h.get_by_label("Use it for my next call instead of the contact's mode")
        .click();
    h.step();
    h.step();
    assert_eq!(h.state().next_call_mode(), Some(PrivacyMode::Fast));

    click(&mut h, "Contacts");
    click(&mut h, "Audio call");
    wait_for_text(&mut h, "Ringing", CALL_TIMEOUT);
    assert!(shows(&h, "Mode: Fast"));
    let mode_at_peer = world.ringing_at(&mut peer).mode;
    assert_eq!(mode_at_peer, PrivacyMode::Fast);
    assert_eq!(
        h.state().next_call_mode(),
        None,
        "the override is for one call"
    );
}
