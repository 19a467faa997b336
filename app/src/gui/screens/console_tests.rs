//! Dispatcher mode's screens drawn over view models built by a real `HotlineCore` (the
//! demo hotline, driven with inputs): what the dispatcher clicks becomes the expected
//! [`ConsoleAction`], and the core accepts it.

use std::time::Duration;

use eframe::egui;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use hotline::core::{EntryKind, Input, Presence};

use super::dispatcher::DispatcherScreen;
use super::hotline_stats;
use crate::gui::console::demo::DemoHotline;
use crate::gui::console::{
    percent, ConsoleAction, ConsoleModel, ConsoleView, DeskState, Npub, VoicemailListing,
};

const ME: Npub = Npub::from_bytes([0x77; 32]);

/// A snapshot of the demo hotline and what the console pushed.
struct World {
    view: ConsoleView,
    desk: DeskState,
    names: Vec<(Npub, String)>,
    age: Duration,
    screen: DispatcherScreen,
    out: Vec<ConsoleAction>,
    voicemails: Vec<VoicemailListing>,
}

impl World {
    fn of(demo: &DemoHotline) -> World {
        let (view, desk) = demo.snapshot();
        let names = view
            .dispatchers
            .iter()
            .filter_map(|d| Some((d.npub, demo.name(&d.npub)?.to_owned())))
            .collect();
        World {
            view,
            desk,
            names,
            age: Duration::ZERO,
            screen: DispatcherScreen::default(),
            out: Vec::new(),
            voicemails: Vec::new(),
        }
    }

    fn name(&self, npub: &Npub) -> String {
        self.names
            .iter()
            .find(|(n, _)| n == npub)
            .map_or_else(|| "?".into(), |(_, name)| name.clone())
    }
}

/// The console (or, with `stats`, the statistics screen) over the world's snapshot.
fn harness(world: World, stats: bool) -> Harness<'static, World> {
    let mut h = Harness::builder()
        .with_size([1100.0, 900.0])
        .build_ui_state(
            move |ui, w: &mut World| {
                let names_of = w.names.clone();
                let names = move |k: &Npub| {
                    names_of
                        .iter()
                        .find(|(n, _)| n == k)
                        .map_or_else(|| "someone".into(), |(_, name)| name.clone())
                };
                let model = ConsoleModel {
                    view: Some(&w.view),
                    desk: &w.desk,
                    age: w.age,
                    names: &names,
                    voicemails: &w.voicemails,
                    voicemail_note: None,
                };
                if stats {
                    hotline_stats::show(&model, ui);
                } else {
                    w.screen.show(&model, ui, &mut w.out);
                }
            },
            world,
        );
    frames(&mut h);
    h
}

/// A new snapshot from the demo, keeping the screen's typed note.
fn refresh(h: &mut Harness<'static, World>, demo: &DemoHotline) {
    let (view, desk) = demo.snapshot();
    let w = h.state_mut();
    w.view = view;
    w.desk = desk;
    w.out.clear();
    frames(h);
}

/// A few frames: the console asks for repaints, so `run` would never settle.
fn frames<S>(h: &mut Harness<'_, S>) {
    for _ in 0..3 {
        h.step();
    }
}

fn button<'h>(h: &'h Harness<'_, World>, label: &'h str) -> egui_kittest::Node<'h> {
    h.get_by_role_and_label(egui::accesskit::Role::Button, label)
}

fn click(h: &mut Harness<'_, World>, label: &str) {
    button(h, label).click();
    frames(h);
}

/// A hotline with us and three colleagues signed in as `presences` (Ana, Ben, Chloé),
/// us available, nobody answering by themselves.
fn hotline(presences: [Presence; 3]) -> DemoHotline {
    let mut demo = DemoHotline::new(ME, false, std::time::Instant::now());
    demo.set_auto(false, false);
    let colleagues = demo.colleagues().to_vec();
    for (d, p) in colleagues.into_iter().zip(presences) {
        demo.apply(Input::SetPresence(d, p)).unwrap();
    }
    demo.apply(Input::SetPresence(ME, Presence::Available))
        .unwrap();
    demo
}

#[test]
fn answering_the_offer_returns_answer_and_the_core_hands_the_call_over() {
    let mut demo = hotline([Presence::Busy, Presence::Busy, Presence::Away]);
    let entry = demo.call_in(1, 0).expect("queued");
    demo.advance(Duration::from_secs(4));
    let mut h = harness(World::of(&demo), false);
    assert_eq!(h.state().desk.offer.as_ref().map(|o| o.entry), Some(entry));
    h.get_by_label_contains("Incoming call: c-");
    h.get_by_label_contains("rings 0:16 more");
    click(&mut h, "Answer");
    assert_eq!(h.state().out, vec![ConsoleAction::Answer(entry)]);
    demo.act(&ConsoleAction::Answer(entry)).unwrap();
    let (_, desk) = demo.snapshot();
    assert_eq!(desk.call.map(|c| c.entry), Some(entry));
    assert_eq!(desk.presence, Presence::Busy);
}

#[test]
fn a_callback_offer_is_called_back_not_answered() {
    let mut demo = hotline([Presence::Busy, Presence::Busy, Presence::Away]);
    demo.apply(Input::RequestCallback {
        caller: DemoHotline::caller_npub(2),
        priority: 0,
    })
    .unwrap();
    let mut h = harness(World::of(&demo), false);
    let offer = h.state().desk.offer.clone().expect("offered to us");
    assert_eq!(offer.kind, EntryKind::Callback);
    assert!(h
        .query_by_role_and_label(egui::accesskit::Role::Button, "Answer")
        .is_none());
    click(&mut h, "Call back");
    assert_eq!(h.state().out, vec![ConsoleAction::CallBack(offer.entry)]);
    h.state_mut().out.clear();
    click(&mut h, "Decline");
    assert_eq!(h.state().out, vec![ConsoleAction::Decline(offer.entry)]);
}

#[test]
fn transfer_offers_only_free_colleagues() {
    // Only we are free when the caller rings, so we take it; then Ana signs in.
    let mut demo = hotline([Presence::Busy, Presence::Busy, Presence::Away]);
    let entry = demo.call_in(1, 0).unwrap();
    demo.act(&ConsoleAction::Answer(entry)).unwrap();
    let [ana, ben, _] = [
        demo.colleagues()[0],
        demo.colleagues()[1],
        demo.colleagues()[2],
    ];
    demo.apply(Input::SetPresence(ana, Presence::Available))
        .unwrap();
    let mut h = harness(World::of(&demo), false);
    assert!(!button(&h, "Transfer to Ana").accesskit_node().is_disabled());
    for busy in ["Transfer to Ben", "Transfer to Chloé"] {
        assert!(button(&h, busy).accesskit_node().is_disabled(), "{busy}");
        click(&mut h, busy);
    }
    assert!(
        h.state().out.is_empty(),
        "a busy colleague cannot be picked"
    );
    assert!(h
        .query_by_role_and_label(egui::accesskit::Role::Button, "Transfer to You")
        .is_none());
    click(&mut h, "Transfer to Ana");
    assert_eq!(h.state().out, vec![ConsoleAction::Transfer(entry, ana)]);

    // Available but ringing with another caller is not free: the core would refuse.
    let second = demo.call_in(2, 0).unwrap();
    refresh(&mut h, &demo);
    let ana_view = h.state().view.dispatchers[0].clone();
    assert_eq!(ana_view.presence, Presence::Available);
    assert!(button(&h, "Transfer to Ana").accesskit_node().is_disabled());
    assert!(
        demo.act(&ConsoleAction::Transfer(entry, ana)).is_err(),
        "the core refuses a transfer to a ringing colleague"
    );
    // Once she has the other caller and Ben is free, Ben is the one offered.
    demo.apply(Input::Answer(second, ana)).unwrap();
    demo.apply(Input::SetPresence(ben, Presence::Available))
        .unwrap();
    refresh(&mut h, &demo);
    assert!(button(&h, "Transfer to Ana").accesskit_node().is_disabled());
    click(&mut h, "Transfer to Ben");
    let transfer = ConsoleAction::Transfer(entry, ben);
    assert_eq!(h.state().out, vec![transfer.clone()]);
    demo.act(&transfer).unwrap();
    assert_eq!(demo.snapshot().1.call, None, "the call left us");
}

#[test]
fn wrap_up_counts_down_and_ready_now_ends_it() {
    let mut demo = hotline([Presence::Busy, Presence::Busy, Presence::Away]);
    let entry = demo.call_in(1, 0).unwrap();
    demo.act(&ConsoleAction::Answer(entry)).unwrap();
    demo.advance(Duration::from_secs(95));
    let mut h = harness(World::of(&demo), false);
    h.get_by_label_contains("On call with c-");
    h.get_by_label("1:35");
    click(&mut h, "End call");
    assert_eq!(h.state().out, vec![ConsoleAction::End(entry)]);
    demo.act(&ConsoleAction::End(entry)).unwrap();
    demo.advance(Duration::from_secs(4));
    refresh(&mut h, &demo);
    let wrap = demo.core().config().wrap_up;
    assert_eq!(
        h.state().desk.wrap_up_left,
        Some(wrap - Duration::from_secs(4))
    );
    // Seven seconds after the snapshot the countdown has moved on by itself.
    h.state_mut().age = Duration::from_secs(7);
    frames(&mut h);
    let left = wrap - Duration::from_secs(11);
    h.get_by_label(&format!("Wrap-up: {} left", crate::gui::calls::clock(left)));
    click(&mut h, "Ready now");
    assert_eq!(h.state().out, vec![ConsoleAction::EndWrapUp]);
    demo.act(&ConsoleAction::EndWrapUp).unwrap();
    assert_eq!(demo.snapshot().1.presence, Presence::Available);
    assert_eq!(demo.snapshot().1.wrap_up_left, None);
}

#[test]
fn presence_cannot_change_during_a_call() {
    let mut demo = hotline([Presence::Busy, Presence::Busy, Presence::Away]);
    let mut h = harness(World::of(&demo), false);
    click(&mut h, "Away");
    assert_eq!(
        h.state().out,
        vec![ConsoleAction::SetPresence(Presence::Away)]
    );
    let entry = demo.call_in(1, 0).unwrap();
    demo.act(&ConsoleAction::Answer(entry)).unwrap();
    refresh(&mut h, &demo);
    assert!(button(&h, "Away").accesskit_node().is_disabled());
    click(&mut h, "Away");
    assert!(h.state().out.is_empty());
}

#[test]
fn a_saved_note_reaches_the_queue_entry() {
    let mut demo = hotline([Presence::Busy, Presence::Busy, Presence::Away]);
    let entry = demo.call_in(1, 0).unwrap();
    demo.act(&ConsoleAction::Answer(entry)).unwrap();
    let mut h = harness(World::of(&demo), false);
    assert!(button(&h, "Save note").accesskit_node().is_disabled());
    let field = "Note (seen by the hotline's dispatchers)";
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, field)
        .focus();
    frames(&mut h);
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, field)
        .type_text("Needs a shelter tonight");
    frames(&mut h);
    click(&mut h, "Save note");
    let save = ConsoleAction::SaveNote(entry, "Needs a shelter tonight".into());
    assert_eq!(h.state().out, vec![save.clone()]);
    demo.act(&save).unwrap();
    refresh(&mut h, &demo);
    assert_eq!(
        demo.snapshot().1.call.and_then(|c| c.note).as_deref(),
        Some("Needs a shelter tonight")
    );
    assert!(h
        .query_all_by_label("Needs a shelter tonight")
        .next()
        .is_some());
}

/// Every label of the screen that contains `text`.
fn labels_with(h: &Harness<'_, World>, text: &str) -> Vec<String> {
    h.query_all_by_label_contains(text)
        .filter_map(|n| n.accesskit_node().label())
        .collect()
}

#[test]
fn caller_npubs_are_never_shown_unless_the_operator_allows_them() {
    let hidden = DemoHotline::morning(ME, false);
    let (view, desk) = hidden.snapshot();
    assert!(desk.call.is_some() && view.entries.len() >= 5);
    for stats in [false, true] {
        let h = harness(World::of(&hidden), stats);
        assert_eq!(labels_with(&h, "npub1"), Vec::<String>::new());
        assert!(h.query_by_label("Caller's npub").is_none());
    }
    // The same morning with the operator's permission: the npub of the caller on our
    // call is on screen, in the card and in the queue's column.
    let shown = DemoHotline::morning(ME, true);
    let (view, desk) = shown.snapshot();
    let call = desk.call.expect("on a call");
    let npub = view
        .entries
        .iter()
        .find(|e| e.entry == call.entry)
        .and_then(|e| e.caller_npub.clone())
        .expect("allowed");
    let h = harness(World::of(&shown), false);
    h.get_by_label(&format!("Caller's npub: {npub}"));
    h.get_by_label("Caller's npub");
    // The statistics screen names no caller even then.
    let h = harness(World::of(&shown), true);
    assert_eq!(labels_with(&h, "npub1"), Vec::<String>::new());
    assert_eq!(labels_with(&h, "c-"), Vec::<String>::new());
}

#[test]
fn the_queue_table_follows_the_cores_service_order() {
    let demo = DemoHotline::morning(ME, false);
    let (view, _) = demo.snapshot();
    let h = harness(World::of(&demo), false);
    let waiting: Vec<_> = view
        .entries
        .iter()
        .filter(|e| e.position.is_some())
        .collect();
    assert_eq!(waiting.len(), 5, "the finale leaves five waiting");
    // The urgent caller came second but is served first.
    assert!(waiting[0].priority > 0);
    assert_eq!(
        demo.core().waiting(),
        waiting.iter().map(|e| e.entry).collect::<Vec<_>>()
    );
    assert!(
        waiting.iter().any(|e| e.repeat) && waiting.iter().any(|e| e.kind == EntryKind::Callback)
    );
    h.get_by_label("1 (urgent)");
    h.get_by_label_contains(&format!("{} waiting · longest", waiting.len()));
}

#[test]
fn statistics_show_what_the_core_counted_over_a_morning() {
    let demo = DemoHotline::morning(ME, false);
    let stats = demo.core().stats().clone();
    // A realistic morning: every counter the screen shows moved.
    assert!(stats.answered > 50, "{stats:?}");
    assert!(
        stats.abandoned > 0 && stats.callbacks_created > 0,
        "{stats:?}"
    );
    let (view, _) = demo.snapshot();
    assert!(view.dispatchers.iter().any(|d| d.missed > 0));
    assert!(view.dispatchers.iter().any(|d| d.declined > 0));
    let h = harness(World::of(&demo), true);
    let level = stats.service_level().expect("calls were answered");
    let shown = percent(level);
    h.get_by_label(&shown);
    h.get_by_label(&format!(
        "{} of {} answered within {} s (abandoned count as missed)",
        stats.answered_within_sl,
        stats.answered + stats.abandoned,
        view.service_level_threshold.as_secs()
    ));
    for d in &view.dispatchers {
        h.get_by_label(&h.state().name(&d.npub));
    }
    // Chloé went on her break mid-morning and is still away.
    let chloe = demo.colleagues()[2];
    assert_eq!(
        view.dispatchers
            .iter()
            .find(|d| d.npub == chloe)
            .map(|d| d.presence),
        Some(Presence::Away)
    );
    // Calls taken add up: every answered call and placed callback was taken by someone,
    // transfers count again for the dispatcher taking over.
    let taken: u64 = view.dispatchers.iter().map(|d| d.taken_total).sum();
    assert!(taken >= stats.answered + stats.callbacks_placed);
}

#[test]
fn voicemails_are_listed_by_opaque_caller_with_play_mark_heard_and_delete() {
    let demo = hotline([Presence::Busy, Presence::Busy, Presence::Away]);
    let mut world = World::of(&demo);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    world.voicemails = vec![
        VoicemailListing {
            id: 12,
            caller: "c-0a1b2c3d4e5f".into(),
            recorded_unix_secs: now - 125,
            duration: Duration::from_secs(42),
            heard: false,
        },
        VoicemailListing {
            id: 9,
            caller: "c-99aa88bb77cc".into(),
            recorded_unix_secs: now - 3 * 86_400,
            duration: Duration::from_secs(75),
            heard: true,
        },
    ];
    let mut h = harness(world, false);
    h.get_by_label_contains("2 · 1 new");
    h.get_by_label("c-0a1b2c3d4e5f");
    h.get_by_label("2 min ago");
    h.get_by_label("0:42");
    h.get_by_label("new");
    h.get_by_label("c-99aa88bb77cc");
    h.get_by_label("3 days ago");
    h.get_by_label("1:15");
    h.get_by_label("heard");
    // Only the new one can be marked heard.
    assert_eq!(
        h.query_all_by_role_and_label(egui::accesskit::Role::Button, "Mark heard")
            .count(),
        1
    );
    let plays: Vec<_> = h
        .query_all_by_role_and_label(egui::accesskit::Role::Button, "Play")
        .collect();
    assert_eq!(plays.len(), 2);
    plays[0].click();
    frames(&mut h);
    assert_eq!(h.state().out, vec![ConsoleAction::PlayVoicemail(12)]);
    h.state_mut().out.clear();
    click(&mut h, "Mark heard");
    assert_eq!(h.state().out, vec![ConsoleAction::VoicemailHeard(12)]);
    h.state_mut().out.clear();
    let deletes: Vec<_> = h
        .query_all_by_role_and_label(egui::accesskit::Role::Button, "Delete")
        .collect();
    deletes[1].click();
    frames(&mut h);
    assert_eq!(h.state().out, vec![ConsoleAction::DeleteVoicemail(9)]);
    // The demo hotline keeps no voicemail: the action is refused, not misapplied.
    let mut demo = demo;
    assert!(demo.act(&ConsoleAction::PlayVoicemail(12)).is_err());
}
