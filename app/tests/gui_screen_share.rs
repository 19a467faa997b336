//! Screen share in the in-call view: "Share screen" opens the picker (listed off the UI
//! thread), picking the synthetic screen shares it (the peer receives it on its screen
//! track, not blacked out), the banner's "Stop" ends it; the peer's share takes the stage
//! with the camera moved aside, and goes when the peer stops.

mod gui_common;

use calling::{MediaDevices, SyntheticDevices};
use egui_kittest::kittest::Queryable;
use gui_common::{click, pump_until, shows, wait_for_text, World, CALL_TIMEOUT};
use media::video::DEFAULT_BLACK_TOLERANCE;

#[test]
fn share_screen_picks_shares_and_stops_and_the_peers_share_takes_the_stage() {
    let world = World::new(true);
    let mut peer = world.peer(660.0);
    let mut h = world.harness(world.options(SyntheticDevices::new(440.0)));
    let call_id = world.video_call_to(&mut h, &mut peer);

    // The picker: cancel closes it without sharing. (Waiting for the list first: the
    // window grows when it arrives, which moves the button.)
    click(&mut h, "Share screen");
    wait_for_text(&mut h, "Demo slides", CALL_TIMEOUT);
    assert!(
        shows(&h, "not your screen"),
        "the picker says the screen is unfiltered"
    );
    click(&mut h, "Cancel");
    assert!(!shows(&h, "Share your screen"));

    // Pick the synthetic screen: it is shared, and the peer receives it as it is.
    click(&mut h, "Share screen");
    wait_for_text(&mut h, "Demo slides", CALL_TIMEOUT);
    click(&mut h, "Demo slides (1280x720)");
    wait_for_text(&mut h, "You are sharing", CALL_TIMEOUT);
    assert!(h.query_by_label("Stop sharing").is_some());
    pump_until(&mut h, "the peer receives the screen", CALL_TIMEOUT, |_| {
        peer.devices
            .probes
            .screens()
            .last()
            .is_some_and(|p| p.snapshot().frames > 3)
    });
    let seen = peer.devices.probes.screens().pop().unwrap().snapshot();
    assert_eq!(seen.black_frames, 0);
    let last = seen.last.unwrap();
    assert_eq!((last.width, last.height), (1280, 720));
    assert!(!last.is_black(DEFAULT_BLACK_TOLERANCE));

    // The banner's Stop ends it; the engine confirms.
    click(&mut h, "Stop");
    pump_until(&mut h, "share stopped", CALL_TIMEOUT, |h| {
        !shows(h, "You are sharing")
            && h.state()
                .live_call()
                .and_then(|c| c.stats.as_ref())
                .is_some_and(|s| s.screen_share.is_none())
    });
    assert!(h.query_by_label("Share screen").is_some());

    // The peer shares: its screen takes the stage, its camera moves aside.
    let slides = peer.devices.screen_targets().targets[0].clone();
    peer.engine.start_screen_share(call_id, slides);
    wait_for_text(&mut h, "is sharing their screen", CALL_TIMEOUT);
    pump_until(&mut h, "shared screen shown", CALL_TIMEOUT, |h| {
        h.query_by_label("Shared screen").is_some() && h.query_by_label("Remote video").is_some()
    });
    let devices = h.state().devices().unwrap().clone();
    assert!(devices.remote_screen.frames() > 0);
    peer.engine.stop_screen_share(call_id);
    pump_until(&mut h, "peer's share gone", CALL_TIMEOUT, |h| {
        !shows(h, "is sharing their screen") && h.query_by_label("Shared screen").is_none()
    });
    click(&mut h, "Hang up");
    h.state_mut().shutdown();
}
