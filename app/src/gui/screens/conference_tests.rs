//! The Conferences screen drawn over view models: the join form turns a link into a join
//! (and a bad one into its reason), the host part imports a wallet and shows a created
//! room's links, and in a room the host's controls return the commands the client runs.

use std::time::Duration;

use calling::conference::{ConferenceCommand, ConferenceFigures, Participant};
use eframe::egui;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;

use super::conference::{ConferencePhase, ConferenceScreen, ConferenceViewModel};
use crate::gui::action::Action;
use crate::gui::hosting::{Hosting, HostingPhase, RoomLinks};

const ROOM: &str = "3f2b8c1e-9d4a-4e7b-a1c2-0123456789ab";

struct World {
    phase: ConferencePhase,
    figures: Option<ConferenceFigures>,
    time_left: Option<Duration>,
    notice: Option<String>,
    hosting: Hosting,
    signed_in: bool,
    screen: ConferenceScreen,
    out: Vec<Action>,
}

impl World {
    fn idle() -> World {
        World {
            phase: ConferencePhase::Idle,
            figures: None,
            time_left: None,
            notice: None,
            hosting: Hosting::default(),
            signed_in: true,
            screen: ConferenceScreen::default(),
            out: Vec::new(),
        }
    }
}

fn harness(world: World) -> Harness<'static, World> {
    let mut h = Harness::builder()
        .with_size([1000.0, 800.0])
        .build_ui_state(
            |ui, w: &mut World| {
                let view = ConferenceViewModel {
                    phase: &w.phase,
                    figures: w.figures.as_ref(),
                    time_left: w.time_left,
                    notice: w.notice.as_deref(),
                    hosting: &w.hosting,
                    signed_in: w.signed_in,
                };
                w.screen.show(&view, ui, &mut w.out);
            },
            world,
        );
    frames(&mut h);
    h
}

/// A few frames (spinners ask for repaints, so `run` would not settle).
fn frames<S>(h: &mut Harness<'_, S>) {
    for _ in 0..3 {
        h.step();
    }
}

fn click(h: &mut Harness<'_, World>, label: &str) {
    h.get_by_role_and_label(egui::accesskit::Role::Button, label)
        .click();
    frames(h);
}

fn person(id: &str, name: &str, host: bool) -> Participant {
    Participant {
        id: id.into(),
        display_name: name.into(),
        host,
        anonymous: !host,
        muted: false,
    }
}

/// Three in the room, us hosting, the key held by `key_members`.
fn room(key_members: usize) -> ConferenceFigures {
    ConferenceFigures {
        participant_id: "me".into(),
        host: true,
        participants: vec![
            person("me", "Alice", true),
            person("p2", "Bob", false),
            person("p3", "Carol", false),
        ],
        epoch: Some(4),
        key_members,
        ..ConferenceFigures::default()
    }
}

#[test]
fn a_pasted_link_joins_and_a_bad_one_says_why() {
    let mut h = harness(World::idle());
    // The first text field is the invite link's (the second, the service's).
    h.query_all_by_role(egui::accesskit::Role::TextInput)
        .next()
        .unwrap()
        .focus();
    frames(&mut h);
    h.query_all_by_role(egui::accesskit::Role::TextInput)
        .next()
        .unwrap()
        .type_text(&format!("https://meet.example.org/join/{ROOM}"));
    frames(&mut h);
    click(&mut h, "Join");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::JoinConference(link)] if link.ends_with(ROOM)
    ));

    h.state_mut().out.clear();
    h.state_mut().screen.link = "https://meet.example.org/join/not-a-room".into();
    frames(&mut h);
    click(&mut h, "Join");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::ShowError(why)] if why.contains("room id")
    ));
}

#[test]
fn without_a_wallet_the_host_part_imports_one_and_never_shows_the_secret() {
    let mut h = harness(World::idle());
    h.get_by_label_contains("No wallet yet");
    let create = h.get_by_role_and_label(egui::accesskit::Role::Button, "Create a room");
    assert!(
        create.accesskit_node().is_disabled(),
        "no room without a wallet"
    );
    let secret = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T4Nd1mBQtrMJVYVfKf2PJy9NZ";
    h.get_by_role(egui::accesskit::Role::PasswordInput).focus();
    frames(&mut h);
    h.get_by_role(egui::accesskit::Role::PasswordInput)
        .type_text(secret);
    frames(&mut h);
    click(&mut h, "Import wallet");
    match h.state().out.as_slice() {
        [Action::ImportWallet(pasted)] => {
            assert_eq!(pasted.0.as_str(), secret);
            assert!(!format!("{:?}", h.state().out).contains(&secret[..10]));
        }
        other => panic!("expected an import, got {other:?}"),
    }
}

#[test]
fn with_a_wallet_a_room_is_created_and_joined_as_host() {
    let mut world = World::idle();
    world.hosting.wallet_address = Some("4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T".into());
    let mut h = harness(world);
    h.get_by_label("Wallet 4Nd1…DB4T");
    h.state_mut().screen.host.service = " meet.example.org ".into();
    frames(&mut h);
    click(&mut h, "Create a room");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::CreateRoom(service)] if service == "meet.example.org"
    ));

    h.state_mut().out.clear();
    h.state_mut().hosting.phase = HostingPhase::Created(RoomLinks {
        invite_url: format!("https://meet.example.org/join/{ROOM}"),
        app_url: format!("phantomcall://join/meet.example.org/{ROOM}"),
        plan: "Pro plan: up to 10 participants, 240 minutes".into(),
    });
    frames(&mut h);
    h.get_by_label(&format!("https://meet.example.org/join/{ROOM}"));
    h.get_by_label("Pro plan: up to 10 participants, 240 minutes");
    click(&mut h, "Join as host");
    assert!(matches!(h.state().out.as_slice(), [Action::JoinHostedRoom]));
}

#[test]
fn the_host_mutes_removes_and_locks_from_the_room() {
    let mut world = World::idle();
    world.phase = ConferencePhase::In;
    world.figures = Some(room(3));
    let mut h = harness(world);
    h.get_by_label_contains("the key is held by 3 of 3 participants (MLS epoch 4)");
    h.get_by_label_contains("3 in the room · you host");
    // Our own tile has no Remove: two others, two Remove buttons.
    assert_eq!(
        h.query_all_by_role_and_label(egui::accesskit::Role::Button, "Remove")
            .count(),
        2
    );
    h.query_all_by_role_and_label(egui::accesskit::Role::Button, "Remove")
        .nth(1)
        .unwrap()
        .click();
    frames(&mut h);
    click(&mut h, "Lock room");
    assert_eq!(
        h.state()
            .out
            .iter()
            .filter_map(|a| match a {
                Action::Conference(c) => Some(c.clone()),
                _ => None,
            })
            .collect::<Vec<_>>(),
        vec![
            ConferenceCommand::Remove("p3".into()),
            ConferenceCommand::Lock(true)
        ]
    );
}

#[test]
fn a_guest_has_no_host_controls_and_sees_the_plan_end_coming() {
    let mut figures = room(2);
    figures.participant_id = "p2".into();
    figures.host = false;
    figures.anonymous = true;
    let mut world = World::idle();
    world.phase = ConferencePhase::In;
    world.figures = Some(figures);
    world.time_left = Some(Duration::from_secs(4 * 60 + 10));
    let h = harness(world);
    assert_eq!(
        h.query_all_by_role_and_label(egui::accesskit::Role::Button, "Remove")
            .count(),
        0
    );
    assert!(h
        .query_by_role_and_label(egui::accesskit::Role::Button, "Lock room")
        .is_none());
    h.get_by_label_contains("This room ends in 5 minutes");
    // Two of three hold the key: the line says so (and is not shown as all clear).
    h.get_by_label_contains("held by 2 of 3 participants");
}

#[test]
fn the_lobby_comes_before_the_room_and_joins_or_cancels() {
    use super::lobby::{LobbyScreen, LobbyView};
    use crate::gui::devices::FrameSlot;
    use crate::gui::lobby::LobbyStatus;
    use crate::gui::settings::DeviceChoice;
    use phantomcall_schemas::PrivacyMode;

    let slot = FrameSlot::default();
    let devices = DeviceChoice::default();
    let mut screen = LobbyScreen::default();
    let mut h = Harness::builder().with_size([900.0, 700.0]).build_ui_state(
        |ui, out: &mut Vec<Action>| {
            let view = LobbyView {
                running: Some((LobbyStatus::default(), &slot)),
                starts: 1,
                mode: PrivacyMode::Private,
                next_call_mode: None,
                devices: &devices,
                conference: Some("room 3f2b8c1e on meet.example.org, as a guest".into()),
            };
            screen.show(&view, ui, out);
        },
        Vec::new(),
    );
    frames(&mut h);
    h.get_by_label_contains("Ready to join room 3f2b8c1e on meet.example.org, as a guest");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Join the room")
        .click();
    frames(&mut h);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Cancel")
        .click();
    frames(&mut h);
    assert!(matches!(
        h.state().as_slice(),
        [Action::ConfirmConferenceJoin, Action::CancelConferenceJoin]
    ));
}

#[test]
fn a_shared_screen_is_shown_large_and_only_the_signed_in_may_share() {
    let mut figures = room(3);
    figures.anonymous = false;
    let frame = media::video::DecodedFrame {
        width: 64,
        height: 36,
        i420: vec![128; 64 * 36 * 3 / 2],
    };
    figures.senders = vec![calling::conference::SenderFigures {
        participant: "p2".into(),
        screen_frames: 12,
        sharing_screen: true,
        last_screen_frame: Some(std::sync::Arc::new(frame)),
        ..Default::default()
    }];
    let mut world = World::idle();
    world.phase = ConferencePhase::In;
    world.figures = Some(figures);
    world.notice = Some("Your screen share stopped: capture revoked".into());
    let mut h = harness(world);
    h.get_by_label("Bob is sharing their screen");
    h.get_by_label("Your screen share stopped: capture revoked");
    click(&mut h, "Share screen");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::Conference(ConferenceCommand::ShareScreen {
            height: 720
        })]
    ));

    // Sharing: the button stops it, and the room says so.
    h.state_mut().out.clear();
    h.state_mut().figures.as_mut().unwrap().sharing_screen = true;
    frames(&mut h);
    h.get_by_label("You are sharing your screen");
    click(&mut h, "Stop sharing");
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::Conference(ConferenceCommand::StopScreenShare)]
    ));

    // A guest has no share button.
    let mut guest = room(3);
    guest.host = false;
    guest.anonymous = true;
    h.state_mut().figures = Some(guest);
    frames(&mut h);
    assert!(h
        .query_by_role_and_label(egui::accesskit::Role::Button, "Share screen")
        .is_none());
}

#[test]
fn a_reconnecting_banner_shows_while_the_client_rejoins_and_goes_once_back_in() {
    let mut figures = room(3);
    figures.reconnecting = Some(2);
    figures.epoch = None;
    figures.key_members = 0;
    let mut world = World::idle();
    world.phase = ConferencePhase::In;
    world.figures = Some(figures);
    let mut h = harness(world);
    h.get_by_label("Reconnecting… the connection to the conference service was lost (try 2)");
    // Muting still works meanwhile (the rejoin keeps it): our own Mute is the last one (the
    // host's per-tile Mute buttons come first).
    h.query_all_by_role_and_label(egui::accesskit::Role::Button, "Mute")
        .last()
        .unwrap()
        .click();
    frames(&mut h);
    assert!(matches!(
        h.state().out.as_slice(),
        [Action::Conference(ConferenceCommand::SetMuted(true))]
    ));
    // Back in: the banner goes.
    h.state_mut().figures = Some(room(3));
    frames(&mut h);
    assert!(h.query_by_label_contains("Reconnecting").is_none());
    h.get_by_label_contains("the key is held by 3 of 3 participants");
}
