//! A restart loses no caller's place: a core rebuilt from the SQLite store has the same
//! queue order, priorities and wait times; ringing entries wait again and are re-offered.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hotline::core::{CoreConfig, EntryState, HotlineCore, Input, Output, Presence, RestoreAction};
use hotline::store::Store;
use hotline::Npub;

fn config() -> CoreConfig {
    CoreConfig {
        wrap_up: secs(10),
        ring_timeout: secs(20),
        max_wait: None,
        ..CoreConfig::default()
    }
}

fn enrolled() -> Vec<(Npub, Option<Duration>)> {
    vec![(dispatcher(1), None), (dispatcher(2), None)]
}

#[test]
fn a_restart_while_two_callers_wait_serves_both_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotline.sqlite");
    let mut store = Store::open(&path).unwrap();
    let key = store.caller_id_key().unwrap();
    let t0 = Instant::now();
    let mut core = HotlineCore::new(config(), &enrolled(), key.clone(), t0, UNIX0);
    let mut now = t0;
    let step = |core: &mut HotlineCore, store: &mut Store, input: Input, now: Instant| {
        core.handle_input(input, now).unwrap();
        store.write_through(core).unwrap();
        while core.poll_output().is_some() {}
    };
    // d1 on a call with caller 9; d2 away.
    step(
        &mut core,
        &mut store,
        Input::SetPresence(dispatcher(1), Presence::Available),
        now,
    );
    let incoming = |n: u8, p: i32| Input::Incoming {
        call: call(n),
        caller: caller(n),
        priority: p,
    };
    step(&mut core, &mut store, incoming(9, 0), now);
    let on_call = core.entry_for_call(&call(9)).unwrap();
    step(
        &mut core,
        &mut store,
        Input::Answer(on_call, dispatcher(1)),
        now,
    );
    // Two callers wait, the later one with higher priority.
    now += secs(5);
    step(&mut core, &mut store, incoming(1, 0), now);
    now += secs(5);
    step(&mut core, &mut store, incoming(2, 3), now);
    let (a, b) = (
        core.entry_for_call(&call(1)).unwrap(),
        core.entry_for_call(&call(2)).unwrap(),
    );
    // d2 signs in: b (priority) is ringing at d2 when the service dies.
    now += secs(2);
    step(
        &mut core,
        &mut store,
        Input::SetPresence(dispatcher(2), Presence::Available),
        now,
    );
    assert!(matches!(
        core.entry_state(b),
        Some(EntryState::Ringing { .. })
    ));
    let before = core.view(now);
    drop(core);
    drop(store);

    // 7 s later, a new process: new Instant epoch, same wall clock.
    let down = secs(7);
    let t1 = Instant::now() + secs(1000); // a different monotonic base
    let unix1 = UNIX0 + u64::try_from((now - t0 + down).as_millis()).unwrap();
    let mut store = Store::open(&path).unwrap();
    let key2 = store.caller_id_key().unwrap();
    assert_eq!(
        key2.caller_id(&caller(1)),
        key.caller_id(&caller(1)),
        "stable caller ids"
    );
    let snapshot = store.load().unwrap();
    let mut core = HotlineCore::restore(config(), &enrolled(), key2, snapshot, t1, unix1);
    let mut outs = Vec::new();
    while let Some(o) = core.poll_output() {
        outs.push(o);
    }
    assert!(outs.contains(&Output::Restored {
        entry: b,
        action: RestoreAction::ReRingCaller
    }));
    assert!(outs.contains(&Output::Restored {
        entry: a,
        action: RestoreAction::ReRingCaller
    }));
    // Same order, priorities and waits (plus the downtime).
    let after = core.view(t1);
    assert_eq!(core.waiting(), vec![b, a]);
    for (x, y) in before.entries.iter().zip(&after.entries) {
        assert_eq!(
            (x.entry, x.priority, x.kind, x.caller.clone()),
            (y.entry, y.priority, y.kind, y.caller.clone())
        );
        assert_eq!(y.waited, x.waited + down, "wait time kept for {}", x.entry);
    }
    assert_eq!(
        core.entry_state(on_call)
            .map(|s| matches!(s, EntryState::Assigned { .. })),
        Some(true),
        "the call in progress stays assigned"
    );
    // The entry that was ringing is offered again at once (d2 is still available).
    assert!(outs.iter().any(|o| matches!(o,
        Output::Offer { entry, dispatchers, .. } if *entry == b && *dispatchers == vec![dispatcher(2)])));
    // Serve both: d2 takes b, d1 ends its call, wraps up, takes a.
    let mut handed = Vec::new();
    let mut later = |core: &mut HotlineCore, input: Option<Input>, at: Instant| {
        match input {
            Some(i) => core.handle_input(i, at).unwrap(),
            None => core.handle_timeout(at),
        }
        store.write_through(core).unwrap();
        while let Some(o) = core.poll_output() {
            if let Output::Transfer {
                entry, dispatcher, ..
            } = o
            {
                handed.push((entry, dispatcher));
            }
        }
    };
    later(
        &mut core,
        Some(Input::Answer(b, dispatcher(2))),
        t1 + secs(1),
    );
    later(
        &mut core,
        Some(Input::End(on_call, dispatcher(1))),
        t1 + secs(2),
    );
    later(&mut core, None, t1 + secs(12));
    assert!(matches!(
        core.entry_state(a),
        Some(EntryState::Ringing { .. })
    ));
    later(
        &mut core,
        Some(Input::Answer(a, dispatcher(1))),
        t1 + secs(13),
    );
    assert_eq!(handed, vec![(b, dispatcher(2)), (a, dispatcher(1))]);
    assert!(core.waiting().is_empty());
    // The store agrees after a second reload: nobody waits, counters kept.
    let snapshot = store.load().unwrap();
    assert_eq!(snapshot.stats.answered, 3);
    assert_eq!(snapshot.stats.completed, 1);
    assert!(snapshot
        .entries
        .iter()
        .all(|e| e.state == hotline::core::StoredEntryState::Assigned));
}

#[test]
fn a_snapshot_round_trips_through_the_store() {
    let mut sim = Sim::new(config(), 2);
    sim.input(Input::SetPresence(dispatcher(2), Presence::Away))
        .unwrap();
    let a = sim.incoming(1, 0).unwrap();
    sim.input(Input::Answer(a, dispatcher(1))).unwrap();
    sim.input(Input::Note(a, dispatcher(1), "needs a translator".into()))
        .unwrap();
    sim.input(Input::Hold(a, dispatcher(1), true)).unwrap();
    sim.input(Input::RequestCallback {
        caller: caller(2),
        priority: 4,
    })
    .unwrap();
    sim.incoming(3, 1).unwrap();
    sim.input(Input::Block(sim.core.caller_id(&caller(7))))
        .unwrap();
    let mut store = Store::in_memory().unwrap();
    store.write_through(&mut sim.core).unwrap();
    assert_eq!(store.load().unwrap(), sorted(sim.core.snapshot()));
    // Write-through keeps up with removals too.
    sim.input(Input::End(a, dispatcher(1))).unwrap();
    store.write_through(&mut sim.core).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded, sorted(sim.core.snapshot()));
    assert!(loaded.entries.iter().all(|e| e.id != a));
    assert_eq!(loaded.stats.completed, 1);
    assert_eq!(store.schema_version().unwrap(), 3);
}

#[test]
fn reopening_a_store_keeps_its_schema_version_and_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let first = Store::open(&path).unwrap().caller_id_key().unwrap();
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    let again = store.caller_id_key().unwrap();
    assert_eq!(first.as_bytes(), again.as_bytes());
    drop(store);
    // A database from a newer build is refused, not guessed at.
    let conn = rusqlite_conn(&path);
    conn.execute("UPDATE schema_version SET version = 99", [])
        .unwrap();
    drop(conn);
    assert!(matches!(
        Store::open(&path),
        Err(hotline::store::StoreError::TooNew { found: 99, .. })
    ));
}

/// The store reads dispatchers in key order; the core keeps enrolment order.
fn sorted(mut s: hotline::core::Snapshot) -> hotline::core::Snapshot {
    s.dispatchers.sort_by_key(|d| d.npub);
    s
}

fn rusqlite_conn(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn a_restart_abandons_a_phone_gateways_waiting_caller_and_rerings_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotline.sqlite");
    let mut store = Store::open(&path).unwrap();
    let key = store.caller_id_key().unwrap();
    // Caller 7 is a phone gateway: its caller's SIP call ends with the waiting line.
    let config = CoreConfig {
        phone_gateways: vec![caller(7)],
        ..config()
    };
    let t0 = Instant::now();
    let mut core = HotlineCore::new(config.clone(), &enrolled(), key.clone(), t0, UNIX0);
    for n in [7, 1] {
        let input = Input::Incoming {
            call: call(n),
            caller: caller(n),
            priority: 0,
        };
        core.handle_input(input, t0).unwrap();
    }
    let (phone, person) = (
        core.entry_for_call(&call(7)).unwrap(),
        core.entry_for_call(&call(1)).unwrap(),
    );
    store.write_through(&mut core).unwrap();
    drop(core);
    let snapshot = store.load().unwrap();
    let mut core = HotlineCore::restore(
        config,
        &enrolled(),
        key,
        snapshot,
        t0 + secs(3),
        UNIX0 + 3_000,
    );
    let mut outs = Vec::new();
    while let Some(o) = core.poll_output() {
        outs.push(o);
    }
    assert!(outs.contains(&Output::Restored {
        entry: person,
        action: RestoreAction::ReRingCaller
    }));
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Output::Restored { entry, .. } if *entry == phone)),
        "the gateway is not rung back for a phone caller who is gone: {outs:?}"
    );
    assert_eq!(core.waiting(), vec![person]);
}
