//! The pre-call lobby: the filtered preview and the filter's state, a failing filter's
//! "camera blacked out" text, the mode impact preview, the device pickers' "not found"
//! text, and its threads stopping when the user leaves.

mod gui_common;

use std::time::Duration;

use calling::{FilterChoice, SyntheticDevices};
use egui_kittest::kittest::Queryable;
use gui_common::{click, pick, pump_until, shows, wait_for_text, World};
use nostr_signal::Identity;

const TIMEOUT: Duration = Duration::from_secs(30);

fn open_lobby(
    devices: SyntheticDevices,
) -> (
    World,
    egui_kittest::Harness<'static, phantomcall::gui::PhantomApp>,
) {
    // No relay: the lobby works offline, before any call.
    let world = World::new(false);
    let mut h = world.harness(world.options(devices));
    h.state_mut().unlocked(Identity::generate());
    h.step();
    assert!(!h.state().lobby_running());
    h.get_by_label("Lobby").click();
    h.step();
    h.step();
    assert!(h.state().lobby_running());
    (world, h)
}

#[test]
fn lobby_shows_the_filtered_preview_its_state_and_the_mode_impact() {
    let mut devices = SyntheticDevices::new(440.0);
    devices.filter = FilterChoice::Blackout(blackout::FilterConfig::default());
    let (_world, mut h) = open_lobby(devices);

    pump_until(&mut h, "preview and filter state", TIMEOUT, |h| {
        h.query_by_label("Lobby preview (as sent)").is_some() && shows(h, "blackout active")
    });
    assert!(shows(&h, "Protected: blackout active"));
    // The synthetic microphone's tone moves the meter.
    pump_until(&mut h, "microphone level", TIMEOUT, |h| {
        h.state().lobby_status().is_some_and(|s| s.mic_level > 0.05)
    });
    h.step();
    assert!(shows(&h, "Microphone level") && shows(&h, " %"));
    assert!(!shows(&h, "Microphone level 0 %"));

    // The default mode (Private) hides the IP; Fast says the peer may see it.
    assert!(!shows(&h, "Peer may see your IP"));
    pick(&mut h, "Mode for the next call", "Fast");
    assert!(shows(&h, "Peer may see your IP"));

    // The speaker test plays its second of tone on the synthetic speaker.
    click(&mut h, "Test speaker");
    wait_for_text(&mut h, "Test tone played", Duration::from_secs(10));

    // Leaving the lobby stops its threads.
    h.get_by_label("Contacts").click();
    h.step();
    h.step();
    assert!(!h.state().lobby_running());
}

#[test]
fn lobby_shows_a_failing_filter_as_camera_blacked_out() {
    let mut devices = SyntheticDevices::new(440.0);
    devices.filter = FilterChoice::Blackout(blackout::FilterConfig {
        model: blackout::ModelSource::File("/nonexistent/model.onnx".into()),
        ..Default::default()
    });
    let (_world, mut h) = open_lobby(devices);
    wait_for_text(&mut h, "blackout unavailable: camera blacked out", TIMEOUT);
    assert!(!shows(&h, "Protected"));
    // The preview still shows, all black: what would be sent.
    pump_until(&mut h, "preview", TIMEOUT, |h| {
        h.query_by_label("Lobby preview (as sent)").is_some()
    });
    // Each device list ends in a picker or a clean "no … found" line (this test machine
    // has no devices; a machine with some shows pickers).
    pump_until(&mut h, "device lists", TIMEOUT, |h| {
        h.state()
            .lobby_status()
            .is_some_and(|s| s.microphones.is_some() && s.speakers.is_some() && s.cameras.is_some())
    });
    let status = h.state().lobby_status().unwrap();
    for (what, list) in [
        ("microphone", status.microphones.unwrap()),
        ("speaker", status.speakers.unwrap()),
        ("camera", status.cameras.unwrap()),
    ] {
        if list.as_ref().map_or(true, |l| l.is_empty()) {
            assert!(shows(&h, &format!("no {what} found")), "{what}: {list:?}");
        }
    }
}
