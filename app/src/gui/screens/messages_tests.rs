//! The messages screen drawn over plain conversations: what it says about each message and
//! what the user's clicks and typing become.

use eframe::egui;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use nostr_signal::{Identity, LinkKind, PublicKey, Via};

use super::messages::{MessagesScreen, MessagesView};
use crate::gui::action::Action;
use crate::gui::messages::{Arrived, Delivery, Messages};

struct World {
    screen: MessagesScreen,
    messages: Messages,
    names: Vec<(String, String)>,
    online: bool,
    bluetooth: bool,
    out: Vec<Action>,
}

fn harness(world: World) -> Harness<'static, World> {
    Harness::builder().with_size([900.0, 600.0]).build_ui_state(
        |ui, w: &mut World| {
            let names = w.names.clone();
            let name = move |hex: &str| {
                names
                    .iter()
                    .find(|(k, _)| k == hex)
                    .map_or_else(|| hex[..8].to_owned(), |(_, n)| n.clone())
            };
            let view = MessagesView {
                messages: &w.messages,
                name: &name,
                online: w.online,
                bluetooth: w.bluetooth,
            };
            w.screen.show(&view, ui, &mut w.out);
        },
        world,
    )
}

fn frames<S>(h: &mut Harness<'_, S>) {
    for _ in 0..3 {
        h.step();
    }
}

fn key() -> PublicKey {
    Identity::generate().public_key()
}

/// Me, Bob and Carol; a group conversation in which Bob wrote over Bluetooth, and one of
/// ours that waits in the mesh, one that failed.
fn group_world() -> (World, PublicKey, PublicKey, u64) {
    let (me, bob, carol) = (key(), key(), key());
    let mut messages = Messages::default();
    let mut room = vec![bob.to_hex(), carol.to_hex()];
    room.sort();
    let receivers = [me.to_hex(), carol.to_hex()];
    messages.received(
        Arrived {
            sender: bob,
            receivers: &receivers,
            text: "Meet at the north gate.",
            rumor_id: "r1".into(),
            at: 1_000,
            via: Via {
                link: LinkKind::Ble,
                hops: Some(2),
            },
        },
        &me,
        |_| true,
        false,
    );
    let waiting = messages.outgoing(room.clone(), "On my way", 1_010);
    messages.sent(waiting, None, Delivery::Waiting);
    let failed = messages.outgoing(room, "Bring water", 1_020);
    messages.sent(
        failed,
        None,
        Delivery::Failed("not sent: no relay answered".into()),
    );
    let world = World {
        screen: MessagesScreen::default(),
        messages,
        names: vec![
            (bob.to_hex(), "Bob".into()),
            (carol.to_hex(), "Carol".into()),
        ],
        online: true,
        bluetooth: true,
        out: Vec::new(),
    };
    (world, bob, carol, failed)
}

#[test]
fn a_conversation_shows_its_path_its_state_and_offers_retry() {
    let (world, bob, carol, failed) = group_world();
    let mut h = harness(world);
    frames(&mut h);
    // Unread until opened.
    let title = if bob.to_hex() < carol.to_hex() {
        "Bob, Carol (1)"
    } else {
        "Carol, Bob (1)"
    };
    h.get_by_label(title).click();
    frames(&mut h);
    let Some(Action::OpenConversation(members)) = h.state_mut().out.pop() else {
        panic!("picking a conversation opens it");
    };
    h.state_mut().messages.open_with(members);
    frames(&mut h);
    h.get_by_label_contains("Received via Bluetooth, 2 hops");
    h.get_by_label_contains("Waiting: no one in Bluetooth range took it yet");
    h.get_by_label_contains("not sent: no relay answered");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Retry")
        .click();
    frames(&mut h);
    assert!(matches!(h.state().out.as_slice(), [Action::RetryMessage(id)] if *id == failed));
}

#[test]
fn enter_sends_what_was_written_to_the_conversations_people_and_calls_are_offered() {
    let (world, bob, carol, _) = group_world();
    let mut h = harness(world);
    let room = {
        let mut r = vec![bob.to_hex(), carol.to_hex()];
        r.sort();
        r
    };
    h.state_mut().messages.open_with(room.clone());
    frames(&mut h);
    let field = h.get_by_role(egui::accesskit::Role::TextInput);
    field.focus();
    frames(&mut h);
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text("Five minutes");
    frames(&mut h);
    h.key_press(egui::Key::Enter);
    frames(&mut h);
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::SendMessage { members, text }] if *members == room && text == "Five minutes"
    ));
    assert!(
        h.state().screen.drafts.values().all(String::is_empty),
        "the box empties once sent"
    );
    h.state_mut().out.clear();
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Audio call")
        .click();
    frames(&mut h);
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::DialGroup { peers, .. }] if peers.len() == 2
    ));
}

#[test]
fn strangers_are_counted_and_offline_says_so() {
    let me = key();
    let mut messages = Messages::default();
    let receivers = [me.to_hex()];
    messages.received(
        Arrived {
            sender: key(),
            receivers: &receivers,
            text: "click this link",
            rumor_id: "s".into(),
            at: 1,
            via: Via::link(LinkKind::Relays),
        },
        &me,
        |_| false,
        true,
    );
    let bob = key();
    messages.open_with(vec![bob.to_hex()]);
    let mut h = harness(World {
        screen: MessagesScreen::default(),
        messages,
        names: vec![(bob.to_hex(), "Bob".into())],
        online: false,
        bluetooth: false,
        out: Vec::new(),
    });
    frames(&mut h);
    h.get_by_label_contains("1 message(s) from people not in your contacts were not shown");
    h.get_by_label_contains("Not connected");
    assert!(h.query_by_label_contains("click this link").is_none());
    assert!(h
        .get_by_role_and_label(egui::accesskit::Role::Button, "Audio call")
        .accesskit_node()
        .is_disabled());
}

#[test]
fn a_message_too_long_to_send_stays_in_the_box_and_says_so() {
    let (world, bob, carol, _) = group_world();
    let mut h = harness(world);
    let mut room = vec![bob.to_hex(), carol.to_hex()];
    room.sort();
    h.state_mut().messages.open_with(room.clone());
    let long = "x".repeat(crate::gui::messages::MAX_TEXT_BYTES + 1);
    h.state_mut()
        .screen
        .drafts
        .insert(room.clone(), long.clone());
    frames(&mut h);
    h.get_by_label_contains("Too long to send");
    assert!(h
        .get_by_role_and_label(egui::accesskit::Role::Button, "Send")
        .accesskit_node()
        .is_disabled());
    assert!(h.state().out.is_empty());
    assert_eq!(
        h.state().screen.drafts[&room],
        long,
        "nothing the user wrote is lost"
    );
}
