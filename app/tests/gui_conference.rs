//! Hosting and joining a conference from the window, against the real conference service
//! and a real `phantomcall join` guest: the wallet pasted and sealed, a room created, its
//! links shown, the lobby before the room, the room with its encryption line, the guest
//! arriving, and the host removing the guest (whose process ends).

mod conference_support;
mod gui_common;

use std::time::Duration;

use conference_support::{Participant, Service};
use ed25519_dalek::SigningKey;
use egui_kittest::kittest::{NodeT, Queryable};
use gui_common::{click, pump_until, shows, type_into, wait_for_text, World};
use nostr_signal::Identity;

const TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn the_window_hosts_a_room_a_guest_joins_and_the_host_removes_the_guest() {
    let world = World::new(false);
    let service = world.rt.block_on(Service::start_at_its_own_address());
    let mut h = world.harness(world.options(calling::SyntheticDevices::new(440.0)));
    h.state_mut().unlocked(Identity::generate());
    h.step();
    h.get_by_label("Conferences").click();
    h.step();
    wait_for_text(&mut h, "No wallet yet", TIMEOUT);

    let wallet = SigningKey::from_bytes(&[45; 32]);
    let address = bs58::encode(wallet.verifying_key().as_bytes()).into_string();
    type_into(
        &mut h,
        "Wallet secret key",
        &bs58::encode(wallet.to_keypair_bytes()).into_string(),
    );
    click(&mut h, "Import wallet");
    wait_for_text(
        &mut h,
        &format!("Wallet {}…{}", &address[..4], &address[address.len() - 4..]),
        TIMEOUT,
    );

    type_into(
        &mut h,
        "Conference service",
        &format!("127.0.0.1:{}", service.port),
    );
    click(&mut h, "Create a room");
    wait_for_text(&mut h, "Room created", TIMEOUT);
    assert!(shows(&h, "Free plan: up to 2 participants, 30 minutes"));
    let prefix = format!("http://127.0.0.1:{}/join/", service.port);
    let invite = h
        .query_all_by_label_contains(&prefix)
        .next()
        .expect("the invite link is shown")
        .accesskit_node();
    let invite = invite
        .label()
        .or_else(|| invite.value())
        .expect("the link's text")
        .to_string();

    click(&mut h, "Join as host");
    wait_for_text(&mut h, "Ready to join room", TIMEOUT);
    assert!(shows(&h, "as host"));
    pump_until(&mut h, "the lobby's preview runs", TIMEOUT, |h| {
        h.state().lobby_running()
    });
    click(&mut h, "Join the room");
    wait_for_text(&mut h, "1 in the room · you host", TIMEOUT);
    assert!(!h.state().lobby_running(), "the lobby let go of the camera");

    let mut guest = Participant::spawn(&invite, "Guest", 660, None);
    wait_for_text(&mut h, "2 in the room · you host", TIMEOUT);
    wait_for_text(&mut h, "the key is held by 2 of 2 participants", TIMEOUT);
    click(&mut h, "Remove");
    world.rt.block_on(async {
        guest.wait_for(TIMEOUT, |v| v["event"] == "removed").await;
        assert_eq!(guest.exit_code(Duration::from_secs(30)).await, Some(3));
    });
    wait_for_text(&mut h, "1 in the room · you host", TIMEOUT);
}

#[test]
fn an_opened_invite_link_lands_in_the_lobby_and_a_bad_one_says_why() {
    let world = World::new(false);
    let mut options = world.options(calling::SyntheticDevices::new(440.0));
    options.open_link =
        Some("phantomcall://join/meet.example.org/3f2b8c1e-9d4a-4e7b-a1c2-0123456789ab".into());
    let mut h = world.harness(options);
    h.state_mut().unlocked(Identity::generate());
    wait_for_text(
        &mut h,
        "Ready to join room 3f2b8c1e on meet.example.org, as a guest",
        TIMEOUT,
    );
    click(&mut h, "Cancel");
    wait_for_text(&mut h, "Join a room with the invite link", TIMEOUT);

    let mut options = world.options(calling::SyntheticDevices::new(440.0));
    options.open_link = Some("phantomcall://join/meet.example.org/not-a-room".into());
    let mut h = world.harness(options);
    h.state_mut().unlocked(Identity::generate());
    wait_for_text(&mut h, "Cannot open the link", TIMEOUT);
    assert!(!shows(&h, "Ready to join"));
}

#[test]
fn a_link_opened_while_the_window_runs_goes_to_that_window() {
    let world = World::new(false);
    let mut h = world.harness(world.options(calling::SyntheticDevices::new(440.0)));
    h.state_mut().unlocked(Identity::generate());
    h.step();
    // What `phantomcall open <link>` does first: hand the link to the running window.
    let link = "https://meet.example.org/join/3f2b8c1e-9d4a-4e7b-a1c2-0123456789ab";
    assert!(phantomcall::gui::instance::hand_over(
        world.dir.path(),
        link
    ));
    wait_for_text(
        &mut h,
        "Ready to join room 3f2b8c1e on meet.example.org, as a guest",
        TIMEOUT,
    );
    assert!(!phantomcall::gui::instance::hand_over(
        world.dir.path(),
        "not a link"
    ));
}
