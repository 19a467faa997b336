//! Dispatcher mode against a real hotline: the app's identity is enrolled in the hotline
//! voice service on a real relay; once online, the console fills with the service's
//! snapshots, the dispatcher signs in, a real caller's call is offered, "Answer" hands the
//! caller over, and the caller's own client calls the app, which connects. A caller who
//! overflows leaves a voicemail, which the console lists and plays through the app's
//! speaker.

mod gui_common;

use std::time::Duration;

use calling::peer::NetworkConfig;
use calling::SyntheticDevices;
use egui_kittest::kittest::Queryable;
use gui_common::hotline::{help_line, help_line_with, person};
use gui_common::{click, wait_for_text, World};
use hotline::voice::{CallerAssist, CallerEvent};
use media::audio::ToneCheck;
use nostr_signal::Identity;
use phantomcall::gui::settings::Settings;
use phantomcall_schemas::{CallType, PrivacyMode};

const TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn the_console_follows_the_hotline_and_answering_connects_the_caller() {
    let world = World::new(true);
    let relay = world.relay.as_ref().unwrap().url().clone();
    let me = Identity::generate();
    let hotline_identity = Identity::generate();
    let mut settings = Settings::load(world.dir.path()).unwrap();
    settings.hotline = Some(hotline_identity.npub());
    settings.save(world.dir.path()).unwrap();

    let db = world.dir.path().join("hotline.db");
    let _service = world
        .rt
        .block_on(help_line(&relay, &hotline_identity, &me.public_key(), &db));

    let mut options = world.options(SyntheticDevices::new(300.0));
    options.network = NetworkConfig::loopback();
    let mut h = world.harness(options);
    h.state_mut().unlocked(me.clone());
    // Loopback has no TURN server, so the caller's calls are Fast; the app takes a Fast
    // call only from a contact marked Fast (a dispatcher's IP is theirs to show).
    let caller_identity = Identity::generate();
    assert!(h
        .state_mut()
        .add_contact("Caller", &caller_identity.npub(), PrivacyMode::Fast));
    wait_for_text(&mut h, "Online", TIMEOUT);
    h.get_by_label("Dispatcher").click();
    h.step();
    // The service's first snapshot says we are away.
    wait_for_text(&mut h, "Away: no call is offered to you.", TIMEOUT);
    // The console shows the hotline's state, not the click: on a loaded relay a control
    // message can be lost, and then the dispatcher (like this test) clicks again.
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        click(&mut h, "Available");
        let asked = std::time::Instant::now();
        while std::time::Instant::now() - asked < Duration::from_secs(15)
            && !gui_common::shows(&h, "Calls are offered to you.")
        {
            h.step();
            std::thread::sleep(Duration::from_millis(15));
        }
        if gui_common::shows(&h, "Calls are offered to you.") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hotline never took our presence"
        );
    }

    // A caller with the hotline assist, as a person's client has it.
    let (caller, _assist) = world.rt.block_on(async {
        let caller = person(&relay, caller_identity.clone(), 700.0).await;
        let assist = CallerAssist::start(caller.engine.clone(), &caller.transport);
        caller.engine.dial(
            hotline_identity.public_key(),
            CallType::Voice,
            PrivacyMode::Fast,
        );
        (caller, assist)
    });
    wait_for_text(&mut h, "Incoming call: c-", TIMEOUT);
    click(&mut h, "Answer");
    // The hotline hands the caller over; the caller's client calls us and we take it.
    wait_for_text(&mut h, "Connected", TIMEOUT);
    drop(caller);
}

#[test]
fn a_voicemail_left_by_an_overflowing_caller_is_listed_and_plays_through_the_speaker() {
    let world = World::new(true);
    let relay = world.relay.as_ref().unwrap().url().clone();
    let me = Identity::generate();
    let hotline_identity = Identity::generate();
    let mut settings = Settings::load(world.dir.path()).unwrap();
    settings.hotline = Some(hotline_identity.npub());
    settings.save(world.dir.path()).unwrap();
    let db = world.dir.path().join("hotline.db");
    // We stay away: the caller overflows into voicemail after a second.
    let _service = world.rt.block_on(help_line_with(
        &relay,
        &hotline_identity,
        &me.public_key(),
        &db,
        "max_wait_secs = 1\noverflow = \"voicemail\"\nvoicemail_max_secs = 10",
    ));
    let devices = SyntheticDevices::new(300.0);
    let probes = devices.probes.clone();
    let mut options = world.options(devices);
    options.network = NetworkConfig::loopback();
    let mut h = world.harness(options);
    h.state_mut().unlocked(me.clone());
    wait_for_text(&mut h, "Online", TIMEOUT);
    h.get_by_label("Dispatcher").click();
    h.step();
    wait_for_text(&mut h, "No voicemail.", TIMEOUT);

    // A caller leaves three seconds of their 700 Hz tone, then hangs up.
    world.rt.block_on(async {
        let caller = person(&relay, Identity::generate(), 700.0).await;
        let assist = CallerAssist::start(caller.engine.clone(), &caller.transport);
        let mut told = assist.events();
        let call = caller.engine.dial(
            hotline_identity.public_key(),
            CallType::Voice,
            PrivacyMode::Fast,
        );
        tokio::time::timeout(TIMEOUT, async {
            while !matches!(told.recv().await, Ok(CallerEvent::LeaveMessage { .. })) {}
        })
        .await
        .expect("the caller is asked to leave a message");
        tokio::time::sleep(Duration::from_secs(4)).await;
        caller.engine.hangup(call);
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    wait_for_text(&mut h, "1 · 1 new", TIMEOUT);
    let before = probes.speakers().len();
    click(&mut h, "Play");
    wait_for_text(&mut h, "Voicemail 1 played", TIMEOUT);
    let speaker = probes
        .speakers()
        .into_iter()
        .nth(before)
        .expect("the voicemail played through a speaker of the app");
    let played = speaker.recording.samples();
    assert!(
        played.len() >= 2 * 48_000,
        "{} samples played",
        played.len()
    );
    let middle = &played[played.len() / 2 - 24_000..played.len() / 2 + 24_000];
    assert!(
        ToneCheck::detect(middle, 700.0).dominant,
        "the caller's tone is heard"
    );
    // Played, so heard: for the whole team, as the hotline's next snapshot says.
    wait_for_text(&mut h, "1 · 0 new", TIMEOUT);
}
