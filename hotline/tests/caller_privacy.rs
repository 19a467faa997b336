//! Caller ids are opaque: what dispatchers and the operator see never names a caller's
//! npub, unless the operator allowed it.

mod common;

use common::*;
use hotline::core::{CoreConfig, Input, Presence};
use hotline::store::Store;

/// Every form a caller's key could leak in: hex (lower and upper), bech32, and hex of
/// the first half (a truncated key is still an identifier).
fn forms(n: u8) -> Vec<String> {
    let npub = caller(n);
    let hex = npub.to_hex();
    vec![
        hex.clone(),
        hex.to_uppercase(),
        npub.to_bech32(),
        hex[..32].to_owned(),
    ]
}

/// A busy hotline: callers waiting, ringing, assigned, on hold, with notes, abandoned,
/// overflowed into callbacks; returns everything a console and stats screen shows.
fn busy_hotline(show_caller_npub: bool) -> (Sim, String) {
    let mut sim = Sim::new(
        CoreConfig {
            show_caller_npub,
            max_queue_len: Some(3),
            max_wait: Some(secs(120)),
            ..CoreConfig::default()
        },
        2,
    );
    sim.input(Input::SetPresence(dispatcher(2), Presence::Away))
        .unwrap();
    let first = sim.incoming(1, 0).unwrap();
    sim.input(Input::Answer(first, dispatcher(1))).unwrap();
    sim.input(Input::Hold(first, dispatcher(1), true)).unwrap();
    sim.input(Input::Note(
        first,
        dispatcher(1),
        "called about housing".into(),
    ))
    .unwrap();
    for n in 2..=6 {
        sim.advance(secs(10));
        sim.incoming(n, 0);
    }
    let leaving = sim.core.entry_for_call(&call(3)).unwrap();
    sim.input(Input::CallerLeft(leaving)).unwrap();
    sim.advance(secs(200));
    let view = sim.core.view(sim.now);
    let shown = format!("{view:?}\n{:?}\n{:?}", view.stats, sim.core.stats());
    (sim, shown)
}

#[test]
fn the_console_and_stats_never_show_a_caller_npub_unless_allowed() {
    let (sim, shown) = busy_hotline(false);
    assert!(
        sim.core.view(sim.now).entries.len() >= 4,
        "the view has callers in it"
    );
    for n in 1..=6 {
        for form in forms(n) {
            assert!(!shown.contains(&form), "caller {n} leaked as {form}");
        }
        // What the console does show: the opaque id.
        let id = sim.core.caller_id(&caller(n)).short();
        if n != 3 {
            assert!(shown.contains(&id), "caller {n} appears by opaque id");
        }
    }
    // The outputs and logs the driver sees carry keys only where needed, and their
    // Debug form (what would reach a log) never shows them.
    let log = format!("{:?}", sim.log);
    for n in 1..=6 {
        for form in forms(n) {
            assert!(!log.contains(&form), "caller {n} in a logged output");
        }
    }
}

#[test]
fn the_operator_may_allow_dispatchers_to_see_caller_npubs() {
    let (_, shown) = busy_hotline(true);
    assert!(shown.contains(&caller(1).to_bech32()));
}

#[test]
fn the_store_forgets_a_callers_npub_once_the_entry_ends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let mut store = Store::open(&path).unwrap();
    let mut sim = Sim::new(CoreConfig::default(), 1);
    let e = sim.incoming(1, 0).unwrap();
    store.write_through(&mut sim.core).unwrap();
    sim.input(Input::Answer(e, dispatcher(1))).unwrap();
    sim.input(Input::End(e, dispatcher(1))).unwrap();
    store.write_through(&mut sim.core).unwrap();
    drop(store); // the last connection checkpoints the WAL into the file
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(path.with_extension("sqlite-wal")) {
        bytes.extend(wal);
    }
    let key = caller(1);
    assert!(
        !bytes.windows(32).any(|w| w == key.as_bytes()),
        "the caller's key stays in the database file after the entry ended"
    );
    // The opaque id stays (repeat flag): it is what the file may keep.
    let id = sim.core.caller_id(&key);
    assert!(bytes.windows(16).any(|w| w == id.as_bytes()));
}
