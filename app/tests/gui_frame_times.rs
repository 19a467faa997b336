//! The frame-time log that measures the UI thread during a call: a video call with human
//! blackout on our camera runs for a few seconds while every frame's time in
//! `PhantomApp::show` is logged, and the log is printed. The 50 ms budget itself is judged
//! by `scripts/perf.sh` (a measurement, not a timed test: a loaded CI machine would fail it
//! and a fast one would prove nothing).

mod gui_common;

use std::time::Duration;

use calling::{FilterChoice, SyntheticDevices};
use gui_common::{click, pump_for, pump_until, World, CALL_TIMEOUT};
use phantomcall::gui::perf::UI_BUDGET;

#[test]
fn the_frame_time_log_covers_every_ui_frame_of_a_video_call() {
    let world = World::new(true);
    let mut peer = world.peer(660.0);
    let mut ours = SyntheticDevices::new(440.0);
    ours.filter = FilterChoice::Blackout(blackout::FilterConfig::default());
    let mut h = world.harness(world.options(ours));
    world.video_call_to(&mut h, &mut peer);
    let devices = h.state().devices().unwrap().clone();
    pump_until(&mut h, "remote video", CALL_TIMEOUT, |_| {
        devices.remote.frames() > 10
    });
    // Measured from here: the call is up, both videos flow, the filter runs.
    let before = h.state().frame_log().in_call.clone();
    pump_for(&mut h, Duration::from_secs(6));
    let log = h.state().frame_log().in_call.clone();
    println!("UI frame times during the call: {}", log.summary());
    assert!(
        log.frames > before.frames + 100,
        "too few frames: {}",
        log.frames
    );
    assert!(
        devices.remote.frames() > 50,
        "the remote video kept arriving"
    );
    assert!(
        log.max > Duration::ZERO && log.max >= log.percentile(50.0),
        "the log measured nothing: {}",
        log.summary()
    );
    println!("worst UI frame {:?} (budget {UI_BUDGET:?})", log.max);
    click(&mut h, "Hang up");
    h.state_mut().shutdown();
}
