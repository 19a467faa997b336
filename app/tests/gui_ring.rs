//! An incoming call rings: the ring tone plays on the speaker picked in the settings (a
//! synthetic one here, so the test is silent) until the call is answered or declined, and
//! a desktop notification is tried; with no D-Bus session (CI, Xvfb) that fails quietly.

mod gui_common;

use std::sync::Arc;
use std::time::Duration;

use calling::SyntheticDevices;
use gui_common::{
    click, online_with_contact, pump_for, pump_until, wait_for_text, World, CALL_TIMEOUT,
};
use media::audio::{ToneCheck, SAMPLE_RATE};
use nostr_signal::Identity;
use phantomcall::gui::devices::{SyntheticCatalog, SYNTHETIC_SPEAKERS};
use phantomcall::gui::ring::RING_HZ;
use phantomcall::gui::settings::Settings;
use phantomcall_schemas::{CallType, PrivacyMode};

#[test]
fn incoming_call_rings_on_the_chosen_speaker_until_declined() {
    let world = World::new(true);
    let mut settings = Settings::load(world.dir.path()).unwrap();
    settings.devices.speaker = Some(SYNTHETIC_SPEAKERS[1].into());
    settings.save(world.dir.path()).unwrap();
    let peer = world.peer(660.0);
    let ours = SyntheticDevices::new(440.0);
    let first_speaker = ours.probes.clone();
    let catalog = Arc::new(SyntheticCatalog::new(ours));
    let mut h = world.harness(world.options_with(catalog.clone()));
    let me = Identity::generate();
    online_with_contact(&mut h, me.clone(), "Carol", &peer, PrivacyMode::Fast);
    assert!(!h.state().ringing());

    peer.engine
        .dial(me.public_key(), CallType::Voice, PrivacyMode::Fast);
    wait_for_text(&mut h, "Carol is calling", CALL_TIMEOUT);
    assert!(h.state().ringing());
    // The ring tone plays on the second speaker (the one picked), not the first.
    let second = catalog.second_speaker_probes().clone();
    pump_until(
        &mut h,
        "ring tone on the chosen speaker",
        CALL_TIMEOUT,
        |_| {
            second.speakers().last().is_some_and(|s| {
                let samples = s.recording.last(SAMPLE_RATE as usize / 5);
                ToneCheck::detect(&samples, RING_HZ).dominant
            })
        },
    );
    assert!(first_speaker.speakers().is_empty());
    // The notification was tried; where it fails (no D-Bus here) the app goes on.
    pump_until(&mut h, "notification attempted", CALL_TIMEOUT, |h| {
        h.state().notifier().attempted()
    });

    click(&mut h, "Decline");
    pump_until(&mut h, "ring stops", Duration::from_secs(5), |h| {
        !h.state().ringing()
    });
    // The tone's thread ends within a frame: the recording stops growing.
    pump_for(&mut h, Duration::from_millis(200));
    let ring = second.speakers().last().unwrap().clone();
    let len = ring.recording.len();
    pump_for(&mut h, Duration::from_millis(500));
    assert_eq!(ring.recording.len(), len, "the ring tone still plays");
    h.state_mut().shutdown();
}
