//! Calling a hotline from the window, against the real hotline voice service and a real
//! dispatcher's client on a real relay: the waiting line shows our place in the queue, and
//! when a dispatcher takes the call the app follows the hotline's hand-over by itself (the
//! line closes, the dispatcher is called and answers) and says who put us through.

mod gui_common;

use std::sync::Arc;
use std::time::Duration;

use calling::SyntheticDevices;
use gui_common::hotline::{help_line, person};
use gui_common::{click, wait_for_text, World};
use hotline::core::Presence;
use hotline::voice::{DispatcherClient, DispatcherEvent};
use nostr_signal::Identity;
use phantomcall_schemas::PrivacyMode;

const TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn the_app_waits_in_the_queue_then_follows_the_hand_over_to_a_dispatcher() {
    let world = World::new(true);
    let relay = world.relay.as_ref().unwrap().url().clone();
    let hotline_identity = Identity::generate();
    let db = world.dir.path().join("hotline.db");

    // A dispatcher's own client, enrolled with the hotline, answering every offer.
    let (dispatcher, line, service) = world.rt.block_on(async {
        let dispatcher = person(&relay, Identity::generate(), 300.0).await;
        let service = help_line(&relay, &hotline_identity, &dispatcher.key, &db).await;
        let line = Arc::new(DispatcherClient::start(
            dispatcher.engine.clone(),
            dispatcher.transport.clone(),
            hotline_identity.public_key(),
            PrivacyMode::Fast,
        ));
        let mut events = line.events();
        let answering = line.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if let DispatcherEvent::Offered { entry, .. } = event {
                    let _ = answering.answer(entry).await;
                }
            }
        });
        (dispatcher, line, service)
    });

    let mut h = world.harness(world.options(SyntheticDevices::new(500.0)));
    h.state_mut().unlocked(Identity::generate());
    assert!(h
        .state_mut()
        .add_contact("Help line", &hotline_identity.npub(), PrivacyMode::Fast));
    wait_for_text(&mut h, "Online", TIMEOUT);
    click(&mut h, "Audio call");
    // Nobody is available yet: the line answers and says where we stand.
    wait_for_text(&mut h, "You are next in the queue", TIMEOUT);

    world
        .rt
        .block_on(line.set_presence(Presence::Available))
        .expect("dispatcher signs in");
    wait_for_text(
        &mut h,
        "A dispatcher of Help line, who put you through",
        TIMEOUT,
    );
    wait_for_text(&mut h, "Connected", TIMEOUT);
    assert!(!gui_common::shows(&h, "in the queue"));
    drop((dispatcher, service));
}
