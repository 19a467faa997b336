//! Messages from the window: NIP-17 conversations with contacts over a real relay, and an
//! offline group over Bluetooth LE (the simulated radio behind the trait the BlueZ driver
//! implements; this machine has no controller), with a member out of range catching up
//! through the devices that carried it.

mod gui_common;

use std::sync::Arc;
use std::time::Duration;

use ble_fallback::sim::{SimAir, SimParams, SimRadio};
use ble_fallback::{MeshConfig, MeshNode};
use calling::SyntheticDevices;
use egui_kittest::kittest::Queryable;
use gui_common::{click, shows, wait_for_text, World};
use nostr_signal::{
    BlePaths, BleSignalLink, Identity, IncomingChats, LinkKind, NostrTransport,
    NostrTransportConfig, VerifiedChat,
};
use phantomcall::ble::SignalingPaths;
use phantomcall::gui::settings::Settings;
use phantomcall_schemas::{ChatMessage, PrivacyMode};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Someone else's client: a transport that takes chats, and its chats from the start.
struct Person {
    identity: Identity,
    transport: NostrTransport,
    chats: IncomingChats,
}

impl Person {
    async fn on_relay(relay: &nostr_signal::RelayUrl) -> Person {
        let identity = Identity::generate();
        let mut config = NostrTransportConfig::new(vec![relay.clone()]);
        config.verifier.accept_chats = true;
        let transport = NostrTransport::connect(identity.clone(), config)
            .await
            .expect("connects");
        transport.publish_dm_relays().await.expect("inbox list");
        Person::with(identity, transport)
    }

    async fn on_air(radio: &Arc<SimRadio>) -> Person {
        let identity = Identity::generate();
        let mut config = NostrTransportConfig::new(Vec::new());
        config.verifier.accept_chats = true;
        let mesh = mesh(radio, &identity);
        let transport =
            NostrTransport::connect_with_ble(identity.clone(), config, mesh, BlePaths::Only)
                .await
                .expect("comes up on the mesh");
        Person::with(identity, transport)
    }

    fn with(identity: Identity, transport: NostrTransport) -> Person {
        let chats = transport.hub().chats_since_start().expect("takes chats");
        Person {
            identity,
            transport,
            chats,
        }
    }

    async fn next_chat(&mut self, what: &str) -> VerifiedChat {
        tokio::time::timeout(TIMEOUT, self.chats.recv())
            .await
            .unwrap_or_else(|_| panic!("{what} in time"))
            .expect("transport running")
    }

    async fn say(&self, to: Vec<String>, text: &str) {
        let sent = self
            .transport
            .hub()
            .send_chat(&ChatMessage::new(to, text))
            .await
            .expect("built");
        assert!(sent.iter().any(|r| r.is_ok()), "someone took it: {sent:?}");
    }
}

fn mesh(radio: &Arc<SimRadio>, identity: &Identity) -> Arc<MeshNode> {
    let config = MeshConfig {
        interests: vec![BleSignalLink::mesh_key(&identity.public_key())],
        ..MeshConfig::default()
    };
    Arc::new(MeshNode::spawn(radio.clone(), config))
}

fn type_and_send(h: &mut egui_kittest::Harness<'_, phantomcall::gui::PhantomApp>, text: &str) {
    let field = h.get_by_role(eframe::egui::accesskit::Role::TextInput);
    field.focus();
    h.step();
    h.get_by_role(eframe::egui::accesskit::Role::TextInput)
        .type_text(text);
    h.step();
    click(h, "Send");
}

#[test]
fn messages_reach_a_contact_over_the_relay_replies_come_back_and_are_kept_sealed() {
    let world = World::new(true);
    let relay = world.relay.as_ref().unwrap().url().clone();
    let mut bob = world.rt.block_on(Person::on_relay(&relay));
    let mallory = world.rt.block_on(Person::on_relay(&relay));
    let me = Identity::generate();

    let mut h = world.harness(world.options(SyntheticDevices::new(500.0)));
    h.state_mut().unlocked(me.clone());
    assert!(h
        .state_mut()
        .add_contact("Bob", &bob.identity.npub(), PrivacyMode::Fast));
    wait_for_text(&mut h, "Online", TIMEOUT);
    click(&mut h, "Message");
    type_and_send(&mut h, "Are you at the office?");

    let got = world.rt.block_on(bob.next_chat("our message at Bob"));
    assert_eq!(
        (
            got.sender,
            got.chat.text.as_str(),
            got.chat.receivers.clone()
        ),
        (
            me.public_key(),
            "Are you at the office?",
            vec![bob.identity.public_key().to_hex()]
        )
    );
    wait_for_text(&mut h, "Sent via relays", TIMEOUT);

    let me_hex = me.public_key().to_hex();
    world
        .rt
        .block_on(bob.say(vec![me_hex.clone()], "Yes, come up"));
    // Someone not in the contacts: counted, never shown.
    world
        .rt
        .block_on(mallory.say(vec![me_hex], "win a prize at evil.example"));
    wait_for_text(&mut h, "Yes, come up", TIMEOUT);
    wait_for_text(&mut h, "Received via relays", TIMEOUT);
    wait_for_text(
        &mut h,
        "from people not in your contacts were not shown",
        TIMEOUT,
    );
    assert!(!shows(&h, "evil.example"));

    // Closing the window keeps the conversation, sealed with the identity.
    h.state_mut().shutdown();
    drop(h);
    let sealed = std::fs::read(world.dir.path().join("messages.enc")).expect("saved");
    let raw = String::from_utf8_lossy(&sealed);
    assert!(!raw.contains("come up") && !raw.contains(&bob.identity.public_key().to_hex()));
    let mut h = world.harness(world.options(SyntheticDevices::new(500.0)));
    h.state_mut().unlocked(me);
    h.step();
    click(&mut h, "Messages");
    click(&mut h, "Bob");
    wait_for_text(&mut h, "Are you at the office?", TIMEOUT);
    wait_for_text(&mut h, "Yes, come up", TIMEOUT);
    h.state_mut().shutdown();
}

#[test]
fn an_offline_group_writes_over_bluetooth_and_a_member_out_of_range_catches_up() {
    let world = World::new(false);
    Settings {
        signaling: SignalingPaths::BluetoothOnly,
        ..Settings::default()
    }
    .save(world.dir.path())
    .expect("settings saved");
    let air = SimAir::new(SimParams::default());
    let (mine, bobs, carols) = (
        Arc::new(air.add_node("me")),
        Arc::new(air.add_node("bob")),
        Arc::new(air.add_node("carol")),
    );
    let mut bob = world.rt.block_on(Person::on_air(&bobs));
    let mut carol = world.rt.block_on(Person::on_air(&carols));
    air.set_in_range(&mine, &bobs, true);

    let me = Identity::generate();
    let mut options = world.options(SyntheticDevices::new(500.0));
    options.radio = Some(mine.clone());
    let mut h = world.harness(options);
    h.state_mut().unlocked(me.clone());
    for (name, who) in [("Bob", &bob), ("Carol", &carol)] {
        assert!(h
            .state_mut()
            .add_contact(name, &who.identity.npub(), PrivacyMode::Fast));
    }
    wait_for_text(&mut h, "Online", TIMEOUT);
    for name in ["Bob", "Carol"] {
        h.get_by_role_and_label(eframe::egui::accesskit::Role::CheckBox, name)
            .click();
        h.step();
    }
    click(&mut h, "Message group");
    type_and_send(&mut h, "Meet at the north gate at six");

    let got = world.rt.block_on(bob.next_chat("the group message at Bob"));
    assert_eq!(got.sender, me.public_key());
    assert_eq!((got.via.link, got.via.hops), (LinkKind::Ble, Some(1)));
    // Bob's device took both copies, Carol's to carry: sent, as far as we can tell.
    wait_for_text(&mut h, "Sent via Bluetooth", TIMEOUT);

    // Carol, out of everyone's range until now, walks up to Bob (not to us).
    air.set_in_range(&bobs, &carols, true);
    let got = world
        .rt
        .block_on(carol.next_chat("the group message at Carol"));
    assert_eq!(got.chat.text, "Meet at the north gate at six");
    assert_eq!(got.via.hops, Some(2));
    let mut room = vec![me.public_key().to_hex(), bob.identity.public_key().to_hex()];
    room.sort();
    world.rt.block_on(carol.say(room, "Got it, see you there"));
    wait_for_text(&mut h, "Got it, see you there", TIMEOUT);
    wait_for_text(&mut h, "Received via Bluetooth, 2 hops", TIMEOUT);

    // We walk off: nobody takes the next message, the window says it waits, and it goes
    // out when we are back in range.
    air.isolate(&mine);
    type_and_send(&mut h, "Running late");
    wait_for_text(
        &mut h,
        "Waiting: no one in Bluetooth range took it yet",
        TIMEOUT,
    );
    air.set_in_range(&mine, &bobs, true);
    // (Bob also has Carol's reply to the group, addressed to him too.)
    let got = world.rt.block_on(async {
        loop {
            let chat = bob.next_chat("the waiting message at Bob").await;
            if chat.sender == me.public_key() {
                break chat;
            }
        }
    });
    assert_eq!(got.chat.text, "Running late");
    drop((bob, carol));
    h.state_mut().shutdown();
}
