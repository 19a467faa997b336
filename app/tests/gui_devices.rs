//! The lobby's device pickers reach the calls: the microphone and speaker picked there are
//! saved in settings.json and are the ones the next call uses.

mod gui_common;

use std::sync::Arc;

use calling::SyntheticDevices;
use egui_kittest::kittest::Queryable;
use gui_common::{
    click, online_with_contact, pick, pump_until, wait_for_text, World, CALL_TIMEOUT,
};
use media::audio::{ToneCheck, SAMPLE_RATE};
use nostr_signal::Identity;
use phantomcall::gui::devices::{SyntheticCatalog, SECOND_TONE_STEP_HZ};
use phantomcall::gui::settings::Settings;
use phantomcall_schemas::PrivacyMode;

const OUR_HZ: f32 = 440.0;
const PEER_HZ: f32 = 660.0;

/// Whether the last 300 ms of the newest recording in `probes` are dominated by `hz`.
fn heard(probes: &calling::Probes, hz: f32) -> bool {
    let Some(speaker) = probes.speakers().pop() else {
        return false;
    };
    let samples = speaker.recording.last(SAMPLE_RATE as usize * 3 / 10);
    ToneCheck::detect(&samples, hz).dominant
}

#[test]
fn devices_picked_in_the_lobby_are_saved_and_used_by_the_next_call() {
    let world = World::new(true);
    let mut peer = world.peer(PEER_HZ);
    let ours = SyntheticDevices::new(OUR_HZ);
    let first_speaker = ours.probes.clone();
    let catalog = Arc::new(SyntheticCatalog::new(ours));
    let mut h = world.harness(world.options_with(catalog.clone()));
    online_with_contact(
        &mut h,
        Identity::generate(),
        "Bob",
        &peer,
        PrivacyMode::Fast,
    );

    // Pick the second microphone (a higher tone) and the second speaker in the lobby.
    h.get_by_label("Lobby").click();
    h.step();
    let second_mic = format!("Synthetic tone {:.0} Hz", OUR_HZ + SECOND_TONE_STEP_HZ);
    let listed = |h: &egui_kittest::Harness<'_, phantomcall::gui::PhantomApp>| {
        h.state()
            .lobby_status()
            .is_some_and(|s| s.microphones.is_some() && s.speakers.is_some())
    };
    pump_until(&mut h, "device pickers", CALL_TIMEOUT, listed);
    pick(&mut h, "Microphone", &second_mic);
    // The lobby restarts on the new devices and lists them again.
    pump_until(&mut h, "pickers again", CALL_TIMEOUT, listed);
    pick(&mut h, "Speaker", "Synthetic speaker 2");
    let saved = Settings::load(world.dir.path()).expect("settings load");
    assert_eq!(
        saved.devices.microphone.as_deref(),
        Some(second_mic.as_str())
    );
    assert_eq!(
        saved.devices.speaker.as_deref(),
        Some("Synthetic speaker 2")
    );
    assert_eq!(saved.devices.camera, None);

    // The next call uses them: the peer hears the second tone, and the peer's voice plays
    // on the second speaker, not the first.
    h.get_by_label("Contacts").click();
    h.step();
    h.step();
    click(&mut h, "Audio call");
    let call_id = world.ringing_at(&mut peer).call_id;
    peer.engine.accept(call_id, false);
    wait_for_text(&mut h, "Connected", CALL_TIMEOUT);
    let peer_probes = peer.devices.probes.clone();
    pump_until(
        &mut h,
        "peer hears the second microphone",
        CALL_TIMEOUT,
        |_| heard(&peer_probes, OUR_HZ + SECOND_TONE_STEP_HZ),
    );
    assert!(
        !heard(&peer_probes, OUR_HZ),
        "the first microphone is not used"
    );
    let second = catalog.second_speaker_probes().clone();
    pump_until(
        &mut h,
        "the second speaker plays the peer",
        CALL_TIMEOUT,
        |_| heard(&second, PEER_HZ),
    );
    assert!(
        first_speaker.speakers().is_empty(),
        "the first speaker was never opened"
    );
    click(&mut h, "Hang up");

    // A restarted app starts with the same choice.
    drop(h);
    let h = world.harness(world.options_with(catalog.clone()));
    assert_eq!(
        h.state().device_choice().microphone.as_deref(),
        Some(second_mic.as_str())
    );
}
