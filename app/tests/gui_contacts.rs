//! Contacts by nprofile (relay hints kept) and by NIP-05 name: looked up off the UI
//! thread with a spinner, against a loopback HTTP server that plays the domain; an
//! unreachable domain and an unknown name end in clear errors.

mod gui_common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use calling::SyntheticDevices;
use gui_common::{click, pump_until, shows, type_into, wait_for_text, World};
use nostr_sdk::nips::nip19::{Nip19Profile, ToBech32};
use nostr_sdk::RelayUrl;
use nostr_signal::Identity;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A loopback HTTP server answering every request with `body` (status 200) after `delay`;
/// returns its base URL. It serves until the test process ends.
fn nostr_json_server(body: String, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let n = stream.read(&mut request).unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..n]).to_string();
            std::thread::sleep(delay);
            let (status, body) = if request.starts_with("GET /.well-known/nostr.json?name=") {
                ("200 OK", body.clone())
            } else {
                ("404 Not Found", String::new())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// A port on loopback where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn nprofile_adds_the_right_contact_with_its_relay_hints() {
    let world = World::new(false);
    let mut h = world.harness(world.options(SyntheticDevices::new(440.0)));
    h.state_mut().unlocked(Identity::generate());
    h.step();
    let bob = Identity::generate();
    let hint = RelayUrl::parse("wss://bobs.relay.example").unwrap();
    let nprofile = Nip19Profile::new(bob.public_key(), [hint.clone()])
        .to_bech32()
        .unwrap();
    type_into(&mut h, "Name", "Bob");
    type_into(&mut h, "npub", &nprofile);
    click(&mut h, "Add contact");
    pump_until(&mut h, "contact listed", TIMEOUT, |h| {
        h.state().contacts().contacts.len() == 1
    });
    let contact = &h.state().contacts().contacts[0];
    assert_eq!(contact.name, "Bob");
    assert_eq!(contact.public_key(), Some(bob.public_key()));
    assert_eq!(contact.relays, vec![hint.to_string()]);
}

#[test]
fn nip05_name_is_looked_up_with_a_spinner_and_added() {
    let world = World::new(false);
    let bob = Identity::generate();
    let hex = bob.public_key().to_hex();
    let body = format!(
        r#"{{"names":{{"bob":"{hex}"}},"relays":{{"{hex}":["wss://bobs.relay.example"]}}}}"#
    );
    let mut options = world.options(SyntheticDevices::new(440.0));
    options.nip05_base = Some(nostr_json_server(body, Duration::from_millis(400)));
    let mut h = world.harness(options);
    h.state_mut().unlocked(Identity::generate());
    h.step();

    type_into(&mut h, "npub", "bob@example.com");
    click(&mut h, "Add contact");
    // The UI keeps drawing while the lookup runs: the spinner's text shows.
    assert!(shows(&h, "Looking up bob@example.com"));
    assert_eq!(h.state().nip05_lookup(), Some("bob@example.com"));
    pump_until(&mut h, "contact added", TIMEOUT, |h| {
        h.state().contacts().contacts.len() == 1
    });
    let contact = &h.state().contacts().contacts[0];
    assert_eq!(contact.public_key(), Some(bob.public_key()));
    assert_eq!(contact.nip05.as_deref(), Some("bob@example.com"));
    assert_eq!(
        contact.name, "bob@example.com",
        "no name given: the NIP-05 name"
    );
    assert_eq!(contact.relays, vec!["wss://bobs.relay.example".to_string()]);
    h.step();
    assert!(!shows(&h, "Looking up"));
}

#[test]
fn nip05_against_an_unreachable_domain_says_so() {
    let world = World::new(false);
    let mut options = world.options(SyntheticDevices::new(440.0));
    options.nip05_base = Some(format!("http://127.0.0.1:{}", closed_port()));
    let mut h = world.harness(options);
    h.state_mut().unlocked(Identity::generate());
    h.step();
    type_into(&mut h, "npub", "bob@example.com");
    click(&mut h, "Add contact");
    wait_for_text(
        &mut h,
        "could not reach example.com to look up bob@example.com: are you offline?",
        TIMEOUT,
    );
    assert!(h.state().contacts().contacts.is_empty());
    assert_eq!(h.state().nip05_lookup(), None);
}

#[test]
fn nip05_name_the_domain_does_not_list_is_a_clear_error() {
    let world = World::new(false);
    let other = Identity::generate().public_key().to_hex();
    let mut options = world.options(SyntheticDevices::new(440.0));
    options.nip05_base = Some(nostr_json_server(
        format!(r#"{{"names":{{"carol":"{other}"}}}}"#),
        Duration::ZERO,
    ));
    let mut h = world.harness(options);
    h.state_mut().unlocked(Identity::generate());
    h.step();
    type_into(&mut h, "npub", "bob@example.com");
    click(&mut h, "Add contact");
    wait_for_text(&mut h, "bob@example.com does not resolve", TIMEOUT);
    assert!(shows(&h, "lists no key for \"bob\""));
    assert!(h.state().contacts().contacts.is_empty());
}
