//! What a group call (NIP-AC mesh, MLS + SFrame keys) costs on this machine, for 3, 4, 6
//! and 8 people, next to a 1:1 call (2 people, the baseline), every member in this one process on loopback (the relay in a child
//! process): set-up time from the first offer to every member connected to every other
//! (group keys included: media waits for them), CPU share and memory per member over a
//! steady stretch, and mouth-to-ear latency through the receiver's mix (tone bursts of one
//! member heard by another while everyone else talks). The per-frame SFrame cost is in
//! the `e2ee` bench.
//!
//! `cargo bench -p calling --bench group` (`-- --quick`: 2 and 4 people, shorter).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use calling::{CallState, EngineEvent, GroupChange, MemberState};
use common::{
    cpu_time, held_mib, mouth_to_ear, report, serve_relay, side, start_relay_process, Side,
    SideOptions,
};
use nostr_signal::{PublicKey, RelayUrl};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};

/// The burst frequency of the measured pair; the others talk on steady tones of their own,
/// far enough above it that the burst detector's 2.5 ms window does not hear them, and
/// quietly (background talkers at -26 dBFS): at the bursts' level, six of them would clip
/// the mix, and clipping spreads energy over the burst's frequency.
const BURST_HZ: f32 = 1000.0;
const OTHER_TONES: [f32; 6] = [2500.0, 3000.0, 3500.0, 4000.0, 4500.0, 5000.0];
const OTHERS_LEVEL: f32 = 0.05;

/// Every member accepts the group call when it rings (the benches' sides take calls by
/// themselves; group invitations are the app's to accept).
fn accept_group_calls(side: &Side) {
    let engine = side.engine.clone();
    let mut events = side.engine.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let EngineEvent::Group(g) = event {
                if matches!(g.change, GroupChange::Ringing { .. }) {
                    engine.accept(g.call_id, false);
                }
            }
        }
    });
}

/// Waits until every member reports every other member connected and the group keys
/// settled for all; returns how long that took from `start`, or what each member had
/// reached (members connected, people keyed) when it gave up.
async fn all_connected(
    sides: &[Side],
    call: CallId,
    start: Instant,
) -> Result<Duration, Vec<(usize, usize)>> {
    let n = sides.len();
    let mut tasks = Vec::new();
    for side in sides {
        let mut events = side.engine.events();
        tasks.push(tokio::spawn(async move {
            let mut connected: HashSet<PublicKey> = HashSet::new();
            let mut keyed = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while connected.len() < n - 1 || keyed < n {
                let event = match tokio::time::timeout_at(deadline, events.recv()).await {
                    Ok(Ok(event)) => event,
                    _ => return Err((connected.len(), keyed)),
                };
                let EngineEvent::Group(g) = event else {
                    continue;
                };
                if g.call_id != call {
                    continue;
                }
                match g.change {
                    GroupChange::Member {
                        member,
                        state: MemberState::Connected,
                    } => {
                        connected.insert(member);
                    }
                    GroupChange::Keys { keyed: k, .. } => keyed = k,
                    _ => {}
                }
            }
            Ok(Instant::now())
        }));
    }
    let mut last = Ok(start);
    for task in tasks {
        last = match (last, task.await.expect("member task")) {
            (Ok(a), Ok(b)) => Ok(a.max(b)),
            (Ok(_), Err(reached)) => Err(vec![reached]),
            (Err(mut all), Err(reached)) => {
                all.push(reached);
                Err(all)
            }
            (Err(all), Ok(_)) => Err(all),
        };
    }
    last.map(|t| t - start)
}

/// Dials a 1:1 call (the 2-person row: what a group's figures compare with) and waits
/// until both sides report it connected; its post-quantum keys come with the offer and
/// answer, before that.
async fn pair_connected(sides: &[Side], start: Instant) -> Result<Duration, Vec<(usize, usize)>> {
    let mut listeners: Vec<_> = sides.iter().map(|s| s.engine.events()).collect();
    let call = sides[0]
        .engine
        .dial(sides[1].key, CallType::Voice, PrivacyMode::Fast);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut last = start;
    for events in &mut listeners {
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Ok(EngineEvent::Call(e)))
                    if e.call_id == call && e.state == CallState::Connected =>
                {
                    break
                }
                Ok(Ok(_)) => {}
                _ => return Err(vec![(0, 0)]),
            }
        }
        last = last.max(Instant::now());
    }
    Ok(last - start)
}

struct Figures {
    setup: Duration,
    cpu_per_member: f64,
    mib_per_member: f64,
    mouth_to_ear: Vec<f64>,
}

async fn group_of(
    relay: &RelayUrl,
    n: usize,
    steady: Duration,
) -> Result<Figures, Vec<(usize, usize)>> {
    let held_before = held_mib();
    let mut sides = Vec::new();
    for i in 0..n {
        let (tone, bursts) = if i < 2 {
            (BURST_HZ, true)
        } else {
            (OTHER_TONES[i - 2], false)
        };
        let mut options = SideOptions::tone(tone);
        options.bursts = bursts;
        options.level = OTHERS_LEVEL;
        let side = side(relay, options).await;
        accept_group_calls(&side);
        sides.push(side);
    }
    let others: Vec<PublicKey> = sides[1..].iter().map(|s| s.key).collect();
    let start = Instant::now();
    let connected = if n == 2 {
        pair_connected(&sides, start).await
    } else {
        let call = sides[0]
            .engine
            .dial_group(others, CallType::Voice, PrivacyMode::Fast)
            .expect("within the cap");
        all_connected(&sides, call, start).await
    };
    let setup = match connected {
        Ok(setup) => setup,
        Err(reached) => {
            for side in &sides {
                side.engine.shutdown().await;
                side.transport.shutdown().await;
            }
            return Err(reached);
        }
    };
    // Let the playout buffers settle, then measure a steady stretch.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (cpu_before, wall) = (cpu_time(), Instant::now());
    tokio::time::sleep(steady).await;
    let cpu = (cpu_time() - cpu_before).as_secs_f64() / wall.elapsed().as_secs_f64() * 100.0;
    let held = held_mib() - held_before;
    let latencies = mouth_to_ear(&sides[0].devices, &sides[1].devices);
    for side in &sides {
        side.engine.shutdown().await;
    }
    let mut speakers_per_side: HashMap<usize, usize> = HashMap::new();
    for (i, side) in sides.iter().enumerate() {
        speakers_per_side.insert(i, side.devices.probes.speakers().len());
        side.transport.shutdown().await;
    }
    assert!(
        speakers_per_side.values().all(|s| *s == 1),
        "one speaker per member: {speakers_per_side:?}"
    );
    Ok(Figures {
        setup,
        cpu_per_member: cpu / n as f64,
        mib_per_member: held / n as f64,
        mouth_to_ear: latencies,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve-relay") {
        serve_relay();
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // Two people are a 1:1 call (a group needs at least three): the baseline.
    let sizes: &[usize] = if quick { &[2, 4] } else { &[2, 3, 4, 6, 8] };
    let steady = Duration::from_secs(if quick { 3 } else { 8 });
    let (relay_process, relay) = start_relay_process();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "PhantomCall group calls (audio, mesh, MLS + SFrame) on loopback, every member in this process, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let ok = runtime.block_on(async move {
        let mut ok = true;
        for &n in sizes {
            match group_of(&relay, n, steady).await {
                Ok(f) => {
                    println!(
                        "{n} members: set-up to all connected and keyed {:>6.0} ms   CPU {:>5.1} % of one core per member   memory {:>5.1} MiB per member",
                        f.setup.as_secs_f64() * 1000.0,
                        f.cpu_per_member,
                        f.mib_per_member,
                    );
                    report(&format!("  mouth-to-ear through the mix ({n})"), f.mouth_to_ear, "ms");
                }
                Err(reached) => {
                    println!("{n} members: did not all connect and key within 60 s (members connected, people keyed, per member: {reached:?})");
                    ok = false;
                }
            }
        }
        ok
    });
    drop(relay_process);
    if !ok {
        std::process::exit(1);
    }
}
