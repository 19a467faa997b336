//! First run and contacts, through the UI only: creating a key, a wrong password on
//! unlock, adding a contact by npub (and a bad one), and the Fast-mode IP warning.

mod gui_common;

use std::time::Duration;

use calling::SyntheticDevices;
use egui_kittest::kittest::Queryable;
use gui_common::{click, pump_until, shows, type_into, wait_for_text, World};
use nostr_signal::{Identity, KeyFile};

const PASSWORD: &str = "correct horse battery";

#[test]
fn onboarding_creates_an_encrypted_key_and_shows_the_npub() {
    let world = World::new(false);
    let options = world.options(SyntheticDevices::new(440.0));
    let key_path = options.key_file.clone();
    let mut h = world.harness(options);
    h.step();
    assert!(shows(&h, "Create a new identity"));

    // A short password is refused with a clear message, nothing is written.
    type_into(&mut h, "Password", "short");
    type_into(&mut h, "Repeat password", "short");
    click(&mut h, "Create identity");
    assert!(shows(&h, "at least 8 characters"));
    assert!(!key_path.exists());

    let mut h = world.harness(world.options(SyntheticDevices::new(440.0)));
    h.step();
    type_into(&mut h, "Password", PASSWORD);
    type_into(&mut h, "Repeat password", PASSWORD);
    click(&mut h, "Create identity");
    wait_for_text(&mut h, "Your identity is ready", Duration::from_secs(20));
    let npub = h.state().identity().expect("identity").npub();
    assert!(shows(&h, &npub), "the npub is shown in full");
    assert!(h.query_by_label("Copy npub").is_some());
    assert!(h.query_by_label("QR code of your npub").is_some());

    // The file holds an ncryptsec that opens with the password, never the nsec.
    let text = std::fs::read_to_string(&key_path).unwrap();
    assert!(text.starts_with("ncryptsec1"));
    let loaded = KeyFile::new(&key_path).load(PASSWORD).unwrap();
    assert_eq!(loaded.npub(), npub);

    click(&mut h, "Continue");
    assert!(shows(&h, "Contacts"));

    // Next start: the unlock screen; a wrong password is an error on screen.
    let mut h = world.harness(world.options(SyntheticDevices::new(440.0)));
    h.step();
    assert!(shows(&h, "Unlock your identity"));
    type_into(&mut h, "Password", "not the password");
    click(&mut h, "Unlock");
    wait_for_text(&mut h, "wrong password", Duration::from_secs(20));
    assert!(h.state().identity().is_none());
}

#[test]
fn import_of_a_bad_key_is_a_clear_error() {
    let world = World::new(false);
    let mut h = world.harness(world.options(SyntheticDevices::new(440.0)));
    h.step();
    type_into(&mut h, "Password", PASSWORD);
    type_into(&mut h, "Repeat password", PASSWORD);
    type_into(&mut h, "nsec or ncryptsec", "nsec1garbage");
    click(&mut h, "Import");
    wait_for_text(&mut h, "not a valid nsec", Duration::from_secs(10));

    let nsec = Identity::generate();
    type_into(&mut h, "nsec or ncryptsec", &nsec.export_nsec());
    click(&mut h, "Import");
    wait_for_text(&mut h, "Your identity is ready", Duration::from_secs(20));
    assert_eq!(h.state().identity().unwrap().npub(), nsec.npub());
}

#[test]
fn adding_a_contact_by_npub_and_fast_mode_warns_about_the_ip() {
    let world = World::new(false);
    let mut h = world.harness(world.options(SyntheticDevices::new(440.0)));
    h.state_mut().unlocked(Identity::generate());
    h.step();
    assert!(shows(&h, "No contacts yet"));

    type_into(&mut h, "Name", "Bob");
    type_into(&mut h, "npub", "npub1notakey");
    click(&mut h, "Add contact");
    assert!(shows(&h, "not a valid npub"));
    assert!(h.state().contacts().contacts.is_empty());

    let bob = Identity::generate();
    type_into(&mut h, "npub", &bob.npub());
    click(&mut h, "Add contact");
    pump_until(&mut h, "contact listed", Duration::from_secs(2), |h| {
        h.query_by_label("Audio call").is_some()
    });
    assert_eq!(h.state().contacts().contacts.len(), 1);
    assert_eq!(h.state().contacts().contacts[0].name, "Bob");
    // Private by default: the IP is hidden.
    assert!(!shows(&h, "Peer may see your IP"));

    // Switch Bob to Fast: the warning shows.
    h.get_by_role_and_label(eframe::egui::accesskit::Role::ComboBox, "Privacy mode")
        .click();
    h.run_steps(3);
    h.get_by_label("Fast").click();
    h.step();
    h.step();
    assert!(shows(&h, "Mode: Fast"));
    assert!(shows(&h, "Peer may see your IP"));
    // Saved, encrypted.
    let raw = std::fs::read(world.dir.path().join("contacts.enc")).unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("Bob"));
}
