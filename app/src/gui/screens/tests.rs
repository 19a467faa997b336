//! Screens drawn alone over plain view models, with no backend, engine or runtime: what
//! the user clicks becomes the expected [`Action`].

use calling::{CallEvent, CallState, Direction, Reason};
use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use nostr_signal::{Identity, PublicKey};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};

use super::call::{incoming_window, CallScreen, CallViewModel};
use super::contacts::{ContactsScreen, ContactsView};
use super::history::{self, HistoryView};
use super::lobby::{LobbyScreen, LobbyView};
use crate::gui::action::Action;
use crate::gui::calllog::{entry_for, CallLog, LogDirection, LogResult};
use crate::gui::calls::CallView;
use crate::gui::contacts::{AutoDelete, Contact, ContactBook};
use crate::gui::devices::FrameSlot;
use crate::gui::lobby::LobbyStatus;
use crate::gui::settings::DeviceChoice;

fn contact(name: &str, key: &PublicKey) -> Contact {
    Contact {
        name: name.into(),
        key: key.to_hex(),
        mode: PrivacyMode::Fast,
        auto_delete: AutoDelete::Never,
        relays: Vec::new(),
        nip05: None,
    }
}

/// The contacts screen with its view's data and the actions it pushed.
struct ContactsWorld {
    screen: ContactsScreen,
    contacts: Vec<Contact>,
    online: bool,
    added: u64,
    phone_gateway: bool,
    out: Vec<Action>,
}

fn contacts_harness(world: ContactsWorld) -> Harness<'static, ContactsWorld> {
    Harness::builder().with_size([800.0, 600.0]).build_ui_state(
        |ui, w: &mut ContactsWorld| {
            let view = ContactsView {
                contacts: &w.contacts,
                online: w.online,
                looking_up: false,
                demo: false,
                added: w.added,
                phone_gateway: w.phone_gateway,
            };
            w.screen.show(&view, ui, &mut w.out);
        },
        world,
    )
}

/// A few frames: spinners keep asking for repaints, so `run` would never settle.
fn frames<S>(h: &mut Harness<'_, S>) {
    for _ in 0..3 {
        h.step();
    }
}

fn click<S>(h: &mut Harness<'_, S>, label: &str) {
    h.get_by_role_and_label(egui::accesskit::Role::Button, label)
        .click();
    frames(h);
}

#[test]
fn contacts_screen_dials_and_adds_through_actions() {
    let bob = Identity::generate().public_key();
    let mut h = contacts_harness(ContactsWorld {
        phone_gateway: false,
        screen: ContactsScreen::default(),
        contacts: vec![contact("Bob", &bob)],
        online: true,
        added: 0,
        out: Vec::new(),
    });
    frames(&mut h);
    click(&mut h, "Video call");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::Dial { peer, call_type: CallType::Video }] if *peer == bob
    ));

    h.state_mut().out.clear();
    for (field, text) in [("Name", "Carol"), ("npub", "carol@example.org")] {
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, field)
            .focus();
        frames(&mut h);
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, field)
            .type_text(text);
        frames(&mut h);
    }
    click(&mut h, "Add contact");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::AddContact { name, address, mode: PrivacyMode::Private }]
            if name == "Carol" && address == "carol@example.org"
    ));
    // The form stays until the contact is added, then clears.
    assert_eq!(h.state().screen.form.name, "Carol");
    h.state_mut().added = 1;
    frames(&mut h);
    assert_eq!(h.state().screen.form.name, "");
}

#[test]
fn contacts_screen_offline_cannot_dial() {
    let mut h = contacts_harness(ContactsWorld {
        phone_gateway: false,
        screen: ContactsScreen::default(),
        contacts: vec![contact("Bob", &Identity::generate().public_key())],
        online: false,
        added: 0,
        out: Vec::new(),
    });
    frames(&mut h);
    click(&mut h, "Audio call");
    assert!(h.state().out.is_empty());
}

#[test]
fn history_names_contacts_gives_each_call_its_quality_and_coalesces_strangers() {
    let bob = Identity::generate().public_key();
    let mut book = ContactBook::default();
    book.contacts.push(contact("Bob", &bob));
    let mut log = CallLog::default();
    let mut answered = entry_for(
        &bob,
        0,
        Some(std::time::Duration::from_secs(65)),
        LogDirection::Outgoing,
        LogResult::Answered,
    );
    answered.quality = Some(crate::gui::quality::QualitySummary {
        worst: crate::gui::quality::QualityLevel::Fair,
        loss_percent: 3.12,
        concealed_percent: 0.0,
        max_rtt_ms: Some(182.4),
        worst_reason: Some("the connection is losing 3 % of packets".into()),
    });
    log.record(answered, false);
    for at in 0..3 {
        let stranger = Identity::generate().public_key();
        let missed = entry_for(
            &stranger,
            at,
            None,
            LogDirection::Incoming,
            LogResult::Missed,
        );
        log.record(missed, true);
    }
    let view = HistoryView::new(Some(&log), &book);
    assert_eq!(
        view.rows.as_deref(),
        Some(
            &["Bob · outgoing · answered · 1:05 · 1970-01-01 00:00 UTC · quality fair: 3.1 % lost, round trip up to 182 ms"
                .to_owned()][..]
        )
    );
    assert_eq!(
        view.strangers.as_deref(),
        Some("3 missed calls from unknown callers · last 1970-01-01 00:00 UTC")
    );
    assert_eq!(HistoryView::new(None, &book).rows, None);

    let mut h = Harness::builder().build_ui_state(
        |ui, out: &mut Vec<Action>| history::show(&view, ui, out),
        Vec::new(),
    );
    frames(&mut h);
    assert!(h
        .query_all_by_label_contains("3 missed calls from unknown callers")
        .next()
        .is_some());
    click(&mut h, "Clear all");
    assert!(matches!(h.state().as_slice(), [Action::ClearLog]));
}

#[test]
fn incoming_call_window_accepts_and_declines() {
    let peer = Identity::generate().public_key();
    let call = CallView::from_event(&CallEvent {
        phone: None,
        call_id: CallId::new_random(),
        peer,
        direction: Direction::Incoming,
        call_type: CallType::Video,
        mode: PrivacyMode::Private,
        state: CallState::Ringing,
        reason: Reason::OfferReceived,
        missed: false,
        peer_without_modes: false,
        signaled_via: None,
    });
    let id = call.call_id;
    let mut h = Harness::builder().with_size([800.0, 600.0]).build_ui_state(
        |ui, out: &mut Vec<Action>| {
            let view = CallViewModel {
                call: &call,
                name: "Alice".into(),
                devices: None,
                note: None,
            };
            incoming_window(Some(&view), ui.ctx(), out);
        },
        Vec::new(),
    );
    frames(&mut h);
    assert!(h
        .query_all_by_label_contains("Alice is calling")
        .next()
        .is_some());
    click(&mut h, "Accept video");
    assert!(matches!(
        h.state().as_slice(),
        [Action::Accept { call, video: true }] if *call == id
    ));
    h.state_mut().clear();
    click(&mut h, "Decline");
    assert!(matches!(h.state().as_slice(), [Action::Decline(call)] if *call == id));
}

#[test]
fn an_incoming_call_over_bluetooth_says_its_path_and_what_bluetooth_reveals() {
    let event = |via| CallEvent {
        phone: None,
        call_id: CallId::new_random(),
        peer: Identity::generate().public_key(),
        direction: Direction::Incoming,
        call_type: CallType::Voice,
        mode: PrivacyMode::Fast,
        state: CallState::Ringing,
        reason: Reason::OfferReceived,
        missed: false,
        peer_without_modes: false,
        signaled_via: Some(via),
    };
    let render = |call: CallView| {
        let mut h = Harness::builder().with_size([800.0, 600.0]).build_ui_state(
            move |ui, out: &mut Vec<Action>| {
                let view = CallViewModel {
                    call: &call,
                    name: "Alice".into(),
                    devices: None,
                    note: None,
                };
                incoming_window(Some(&view), ui.ctx(), out);
            },
            Vec::new(),
        );
        frames(&mut h);
        h
    };
    let ble = nostr_signal::Via {
        link: nostr_signal::LinkKind::Ble,
        hops: Some(2),
    };
    let h = render(CallView::from_event(&event(ble)));
    h.get_by_label("Signaling via Bluetooth, 2 hops");
    h.get_by_label(crate::gui::widgets::BLE_REVEALS);
    let relays = nostr_signal::Via::link(nostr_signal::LinkKind::Relays);
    let h = render(CallView::from_event(&event(relays)));
    assert!(h.query_by_label_contains("Signaling via").is_none());
    assert!(h.query_by_label(crate::gui::widgets::BLE_REVEALS).is_none());
}

#[test]
fn lobby_sets_the_next_call_mode() {
    let slot = FrameSlot::default();
    let devices = DeviceChoice::default();
    let mut screen = LobbyScreen::default();
    let mut h = Harness::builder().with_size([900.0, 700.0]).build_ui_state(
        |ui, out: &mut Vec<Action>| {
            let view = LobbyView {
                running: Some((LobbyStatus::default(), &slot)),
                starts: 1,
                mode: PrivacyMode::Paranoid,
                next_call_mode: None,
                devices: &devices,
                conference: None,
            };
            screen.show(&view, ui, out);
        },
        Vec::new(),
    );
    frames(&mut h);
    h.get_by_label("Use it for my next call instead of the contact's mode")
        .click();
    frames(&mut h);
    assert!(matches!(
        h.state().as_slice(),
        [Action::SetNextCallMode(Some(PrivacyMode::Paranoid))]
    ));
}

#[test]
fn ticking_two_contacts_offers_a_group_call_with_both() {
    let (bob, carol) = (
        Identity::generate().public_key(),
        Identity::generate().public_key(),
    );
    let mut h = contacts_harness(ContactsWorld {
        phone_gateway: false,
        screen: ContactsScreen::default(),
        contacts: vec![contact("Bob", &bob), contact("Carol", &carol)],
        online: true,
        added: 0,
        out: Vec::new(),
    });
    frames(&mut h);
    assert!(
        h.query_by_label("Group audio call").is_none(),
        "not for one"
    );
    for name in ["Bob", "Carol"] {
        h.get_by_role_and_label(egui::accesskit::Role::CheckBox, name)
            .click();
        frames(&mut h);
    }
    click(&mut h, "Group audio call");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::DialGroup { peers, call_type: CallType::Voice }] if *peers == vec![bob, carol]
    ));
    assert!(h.state().screen.selected.is_empty(), "the selection clears");
}

/// The group screen over a view model, with what it pushed.
struct GroupWorld {
    screen: super::group::GroupScreen,
    call: crate::gui::state::groups::GroupsModel,
    out: Vec<Action>,
}

fn group_events(call_id: CallId, members: &[PublicKey]) -> Vec<calling::GroupEvent> {
    use calling::{GroupChange, GroupEvent, MemberState};
    let mut events = vec![GroupEvent {
        call_id,
        change: GroupChange::Joined {
            members: members.to_vec(),
            call_type: CallType::Voice,
            mode: PrivacyMode::Private,
        },
    }];
    events.push(GroupEvent {
        call_id,
        change: GroupChange::Member {
            member: members[0],
            state: MemberState::Connected,
        },
    });
    events.push(GroupEvent {
        call_id,
        change: GroupChange::Keys {
            epoch: 2,
            keyed: 2,
            members: 3,
        },
    });
    events
}

#[test]
fn the_group_screen_shows_each_member_who_speaks_who_is_muted_and_how_many_hold_the_group_keys() {
    let (bob, carol) = (
        Identity::generate().public_key(),
        Identity::generate().public_key(),
    );
    let call_id = CallId::new_random();
    let mut model = crate::gui::state::groups::GroupsModel::default();
    for event in group_events(call_id, &[bob, carol]) {
        model.apply(&event);
    }
    let mut h = Harness::builder().with_size([900.0, 600.0]).build_ui_state(
        move |ui, w: &mut GroupWorld| {
            let names = |k: &PublicKey| {
                if *k == bob {
                    "Bob".to_owned()
                } else {
                    "Carol".to_owned()
                }
            };
            let call = w.call.live().unwrap();
            let view = super::group::GroupViewModel {
                call,
                names: &names,
                invitable: Vec::new(),
                devices: None,
            };
            w.screen.show(&view, ui, &mut w.out);
        },
        GroupWorld {
            screen: Default::default(),
            call: model,
            out: Vec::new(),
        },
    );
    frames(&mut h);
    h.get_by_label("Bob");
    h.get_by_label("Carol");
    h.get_by_label("connected");
    h.get_by_label("invited");
    // Carol's app has no group keys yet: said, in the warning colour's words.
    let keys = "Group keys · MLS epoch 2, 2 of 3 members: the others have DTLS-SRTP only \
                (their app has no group keys)";
    h.get_by_label(keys);
    // Bob speaks, Carol mutes: each tile says so.
    assert!(h.query_by_label("muted").is_none() && h.query_by_label("speaking").is_none());
    for (member, speaking, muted) in [(bob, true, false), (carol, false, true)] {
        h.state_mut().call.apply(&calling::GroupEvent {
            call_id,
            change: calling::GroupChange::Media {
                member,
                event: calling::MediaEvent::RemoteVoice(calling::VoiceActivity { speaking, muted }),
            },
        });
    }
    frames(&mut h);
    h.get_by_label("speaking");
    h.get_by_label("muted");
    click(&mut h, "Mute");
    click(&mut h, "Leave");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::SetMuted(c, true), Action::Hangup(d)] if *c == call_id && *d == call_id
    ));
}

#[test]
fn an_incoming_group_call_names_who_else_is_in_it_and_joins_on_click() {
    use calling::{GroupChange, GroupEvent};
    let (alice, carol) = (
        Identity::generate().public_key(),
        Identity::generate().public_key(),
    );
    let call_id = CallId::new_random();
    let mut model = crate::gui::state::groups::GroupsModel::default();
    model.apply(&GroupEvent {
        call_id,
        change: GroupChange::Ringing {
            from: alice,
            members: vec![alice, carol],
            call_type: CallType::Video,
            mode: PrivacyMode::Private,
        },
    });
    let mut h = Harness::builder().with_size([900.0, 600.0]).build_ui_state(
        move |ui, w: &mut GroupWorld| {
            let names = |k: &PublicKey| {
                if *k == alice {
                    "Alice".to_owned()
                } else {
                    "Carol".to_owned()
                }
            };
            super::group::incoming_group_window(w.call.ringing(), &names, ui.ctx(), &mut w.out);
        },
        GroupWorld {
            screen: Default::default(),
            call: model,
            out: Vec::new(),
        },
    );
    frames(&mut h);
    h.get_by_label("Alice invites you to a group call");
    h.get_by_label("Also in it: Carol");
    click(&mut h, "Join");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::Accept { call, video: true }] if *call == call_id
    ));
}

#[test]
fn a_phone_call_says_who_is_on_the_phone_and_never_that_it_is_end_to_end_encrypted() {
    let event = |state, reason, phone| CallEvent {
        phone,
        call_id: CallId::new_random(),
        peer: Identity::generate().public_key(),
        direction: Direction::Incoming,
        call_type: CallType::Voice,
        mode: PrivacyMode::Private,
        state,
        reason,
        missed: false,
        peer_without_modes: false,
        signaled_via: None,
    };
    let ringing = |phone| {
        let call = CallView::from_event(&event(CallState::Ringing, Reason::OfferReceived, phone));
        let mut h = Harness::builder().with_size([800.0, 600.0]).build_ui_state(
            move |ui, out: &mut Vec<Action>| {
                let view = CallViewModel {
                    call: &call,
                    name: "Hotline gateway".into(),
                    devices: None,
                    note: None,
                };
                incoming_window(Some(&view), ui.ctx(), out);
            },
            Vec::new(),
        );
        frames(&mut h);
        h
    };
    let leg = phantomcall_schemas::PhoneLeg::phone("+1 555 …12");
    let h = ringing(leg.clone());
    h.get_by_label("Phone call: +1 555 …12");
    h.get_by_label(crate::gui::widgets::PHONE_NOT_E2EE);
    assert!(h.query_by_label("End-to-end encrypted").is_none());
    let h = ringing(None);
    assert!(h.query_by_label_contains("Phone call").is_none());
    h.get_by_label("End-to-end encrypted");

    // In the call too, from the first event to the last.
    let mut call = CallView::from_event(&event(CallState::Connecting, Reason::LocalAccept, leg));
    call.apply(&event(CallState::Connected, Reason::MediaConnected, None));
    let call_id = call.call_id;
    let mut h = Harness::builder().with_size([900.0, 800.0]).build_ui_state(
        move |ui, out: &mut Vec<Action>| {
            let view = CallViewModel {
                call: &call,
                name: "Hotline gateway".into(),
                devices: None,
                note: None,
            };
            CallScreen::default().show(&view, ui, out);
        },
        Vec::new(),
    );
    frames(&mut h);
    h.get_by_label(crate::gui::widgets::PHONE_NOT_E2EE);
    assert!(h.query_by_label("End-to-end encrypted").is_none());
    // The keypad sends keys to the telephone.
    h.get_by_label("Keypad");
    h.get_by_label("5").click();
    frames(&mut h);
    h.get_by_label("#").click();
    frames(&mut h);
    assert!(matches!(
        h.state().as_slice(),
        [Action::Keypad(a, '5'), Action::Keypad(b, '#')] if *a == call_id && *b == call_id
    ));
}

#[test]
fn a_phone_number_is_called_through_the_gateway_with_its_notice() {
    let mut h = contacts_harness(ContactsWorld {
        phone_gateway: true,
        screen: ContactsScreen::default(),
        contacts: Vec::new(),
        online: true,
        added: 0,
        out: Vec::new(),
    });
    frames(&mut h);
    h.get_by_label(crate::gui::widgets::PHONE_NOT_E2EE);
    let type_number = |h: &mut Harness<'_, ContactsWorld>, text: &str| {
        h.state_mut().screen.phone_number.clear();
        frames(h);
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Phone number")
            .focus();
        frames(h);
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Phone number")
            .type_text(text);
        frames(h);
    };
    type_number(&mut h, "555 1234");
    h.get_by_label("Write it with + and the country code, e.g. +1 555 123 4567");
    click(&mut h, "Call number");
    assert!(h.state().out.is_empty(), "not a number to call");
    type_number(&mut h, "+1 555 123 4567");
    click(&mut h, "Call number");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::DialPhone { number }] if number == "+15551234567"
    ));

    // Without a gateway there is nothing to call through: the screen says where to set one.
    let mut h = contacts_harness(ContactsWorld {
        phone_gateway: false,
        screen: ContactsScreen::default(),
        contacts: Vec::new(),
        online: true,
        added: 0,
        out: Vec::new(),
    });
    frames(&mut h);
    h.get_by_label("Set a phone gateway in Settings to call telephone numbers.");
    assert!(h.query_by_label("Call number").is_none());
}
