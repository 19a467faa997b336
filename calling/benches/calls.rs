//! Call figures on loopback, printed (median and p95): set-up time (offer sent ->
//! connected), time to first decoded audio, mouth-to-ear audio latency (timestamped tone
//! bursts from capture to playout), CPU share and resident memory of an audio call and a
//! 640x480 video call, and the leak check: after 100 sequential calls the task count,
//! thread count and memory are back at their baseline (the bench fails otherwise).
//!
//! The first video call of a fresh process is measured in child processes, with and
//! without the models' warm-up ([`blackout::prepare_in_background`]).
//!
//! `cargo bench -p calling --bench calls` (`-- --calls N` for the set-up sample size,
//! `-- --quick` for a short run, `-- --leak-only` for the leak check alone).

mod common;

use common::{
    cpu_time, held_mib, proc_status, report, rss_mib, serve_relay, start_relay_process, Side,
};

use std::time::{Duration, Instant};

use calling::{CallState, EngineEvent, FilterChoice, Reason};
use nostr_signal::RelayUrl;
use phantomcall_schemas::{CallId, CallType, PrivacyMode};
use tokio::sync::broadcast::Receiver;

const ALICE_HZ: f32 = 440.0;
const BOB_HZ: f32 = 660.0;

async fn side(relay: &RelayUrl, tone: f32, bursts: bool) -> Side {
    side_with(relay, tone, bursts, FilterChoice::AllBlack).await
}

async fn side_with(relay: &RelayUrl, tone: f32, bursts: bool, filter: FilterChoice) -> Side {
    common::side(
        relay,
        common::SideOptions {
            bursts,
            filter,
            ..common::SideOptions::tone(tone)
        },
    )
    .await
}

/// Waits for `call` to reach `state` on this event stream; returns when.
async fn until_state(
    events: &mut Receiver<EngineEvent>,
    call: CallId,
    state: CallState,
) -> Instant {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), events.recv()).await {
            Ok(Ok(EngineEvent::Call(e))) if e.call_id == call && e.state == state => {
                return Instant::now()
            }
            Ok(Ok(EngineEvent::Call(e))) if e.call_id == call && e.state == CallState::Ended => {
                panic!("call ended: {:?}", e.reason)
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("events: {e}"),
            Err(_) => panic!("no {state:?} within 20 s"),
        }
    }
}

struct OneCall {
    setup: Duration,
    first_audio: Duration,
    /// Video calls: from connected to the first decoded frame of the peer's camera.
    first_video: Option<Duration>,
}

/// Waits for the first decoded frame in the remote view `index` of `side` (opened by the
/// call); the time it arrived. Polls: the probe has no notification, and 2 ms is below
/// a frame interval.
async fn first_remote_frame(side: &Side, index: usize) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let views = side.devices.probes.videos();
        if views.get(index).is_some_and(|v| v.snapshot().frames > 0) {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "no video frame within 5 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One call: dial, connected, first audio, hang up, ended on both sides.
async fn one_call(
    alice: &Side,
    bob_key: nostr_signal::PublicKey,
    call_type: CallType,
    talk: Duration,
) -> OneCall {
    let mut events = alice.engine.events();
    let views_before = alice.devices.probes.videos().len();
    let call = alice.engine.dial(bob_key, call_type, PrivacyMode::Fast);
    let offer_sent = loop {
        match events.recv().await {
            Ok(EngineEvent::Call(e)) if e.call_id == call && e.reason == Reason::OfferSent => {
                break Instant::now()
            }
            Ok(_) => {}
            Err(e) => panic!("events: {e}"),
        }
    };
    let connected = until_state(&mut events, call, CallState::Connected).await;
    let first_video = match call_type {
        CallType::Video => Some(
            first_remote_frame(alice, views_before)
                .await
                .saturating_duration_since(connected),
        ),
        CallType::Voice => None,
    };
    let first_audio = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(EngineEvent::Stats { call_id, stats })) if call_id == call => {
                if let Some(at) = stats.first_audio_at {
                    break at;
                }
            }
            Ok(Ok(_)) => {}
            _ => panic!("no audio within 5 s"),
        }
    };
    let remaining = talk.saturating_sub(connected.elapsed());
    tokio::time::sleep(remaining).await;
    alice.engine.hangup(call);
    until_state(&mut events, call, CallState::Ended).await;
    OneCall {
        setup: connected - offer_sent,
        first_audio: first_audio.saturating_duration_since(offer_sent),
        first_video,
    }
}

async fn load(
    alice: &Side,
    bob_key: nostr_signal::PublicKey,
    call_type: CallType,
    seconds: u64,
) -> (f64, f64) {
    let cpu_before = cpu_time();
    let wall = Instant::now();
    one_call(alice, bob_key, call_type, Duration::from_secs(seconds)).await;
    let cpu = cpu_time() - cpu_before;
    let share = cpu.as_secs_f64() / wall.elapsed().as_secs_f64() * 100.0;
    (share, rss_mib())
}

/// `--first-call URL [--warm]`: the first video call of this process (human blackout on
/// both cameras, relay at URL), after the app's warm-up has finished (`--warm`) or without
/// one; prints the first remote frame's delay after connected, ms.
fn first_call_child(args: &[String]) {
    let url = args
        .iter()
        .position(|a| a == "--first-call")
        .and_then(|i| args.get(i + 1))
        .expect("--first-call URL");
    let relay = RelayUrl::parse(url).expect("a relay URL");
    let warm = args.iter().any(|a| a == "--warm");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        if warm {
            // What the app starts when it starts; the user dials seconds later.
            let warmup = blackout::prepare_in_background(640, 480);
            let done = warmup.wait(Duration::from_secs(60));
            assert!(matches!(done, Some(Ok(()))), "warm-up: {done:?}");
        }
        let blackout = || FilterChoice::Blackout(blackout::FilterConfig::default());
        let carol = side_with(&relay, ALICE_HZ, false, blackout()).await;
        let dave = side_with(&relay, BOB_HZ, false, blackout()).await;
        let c = one_call(
            &carol,
            dave.key,
            CallType::Video,
            Duration::from_millis(1300),
        )
        .await;
        let ms = c.first_video.expect("a video call").as_secs_f64() * 1000.0;
        println!("{ms:.1}");
        carol.engine.shutdown().await;
        dave.engine.shutdown().await;
        carol.transport.shutdown().await;
        dave.transport.shutdown().await;
    });
}

/// The first video call of `runs` fresh processes each, with and without the warm-up
/// (alternating, so load on the machine falls on both alike): first remote frame, ms.
fn first_calls(relay: &RelayUrl, runs: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut warm, mut cold) = (Vec::new(), Vec::new());
    for i in 0..runs * 2 {
        let with_warm_up = i % 2 == 0;
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command.args(["--first-call", &relay.to_string()]);
        if with_warm_up {
            command.arg("--warm");
        }
        let out = command.output().expect("the first-call process runs");
        assert!(
            out.status.success(),
            "first call: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ms: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the first-call process prints ms");
        if with_warm_up { &mut warm } else { &mut cold }.push(ms);
    }
    (warm, cold)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve-relay") {
        serve_relay();
        return;
    }
    if args.iter().any(|a| a == "--first-call") {
        first_call_child(&args);
        return;
    }
    let (relay_process, relay) = start_relay_process();
    let quick = args.iter().any(|a| a == "--quick");
    let leak_only = args.iter().any(|a| a == "--leak-only");
    let calls: usize = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if quick { 5 } else { 30 });
    let leak_calls = if quick { 10 } else { 100 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let first_call_relay = relay.clone();
    let ok = runtime.block_on(async move {
        let alice = side(&relay, ALICE_HZ, true).await;
        let bob = side(&relay, BOB_HZ, true).await;
        let bob_key = bob.key;

        println!("PhantomCall calls on loopback (embedded relay, webrtc-rs, Opus; both ends in this process)");
        let mut setup = Vec::new();
        let mut first_audio = Vec::new();
        let calls = if leak_only { 0 } else { calls };
        for _ in 0..calls {
            let c = one_call(&alice, bob_key, CallType::Voice, Duration::from_millis(1300)).await;
            setup.push(c.setup.as_secs_f64() * 1000.0);
            first_audio.push(c.first_audio.as_secs_f64() * 1000.0);
        }
        if !leak_only {
        report("set-up (offer -> connected)", setup, "ms");
        report("first decoded audio", first_audio, "ms");
        report("mouth-to-ear (tone bursts)", common::mouth_to_ear(&alice.devices, &bob.devices), "ms");

        let seconds = if quick { 3 } else { 10 };
        let (cpu, rss) = load(&alice, bob_key, CallType::Voice, seconds).await;
        println!("audio call, {seconds} s              CPU {cpu:>5.1} % of one core   RSS {rss:>6.1} MiB");
        let (cpu, rss) = load(&alice, bob_key, CallType::Video, seconds).await;
        println!("video call 640x480, {seconds} s      CPU {cpu:>5.1} % of one core   RSS {rss:>6.1} MiB   (blackout off: black frames)");
        // The same first-frame figure without segmentation: what the filters' share of
        // the two cores costs when both ends run in this one process.
        let mut first_frame = Vec::new();
        for _ in 0..if quick { 3 } else { 10 } {
            let c = one_call(&alice, bob_key, CallType::Video, Duration::from_millis(800)).await;
            first_frame.extend(c.first_video.map(|d| d.as_secs_f64() * 1000.0));
        }
        report("first remote video frame after connected (blackout off)", first_frame, "ms");
        {
            // The real pipeline: both cameras through human blackout (segmentation).
            let blackout = || FilterChoice::Blackout(blackout::FilterConfig::default());
            let carol = side_with(&relay, ALICE_HZ, false, blackout()).await;
            let dave = side_with(&relay, BOB_HZ, false, blackout()).await;
            let (cpu, rss) = load(&carol, dave.key, CallType::Video, seconds).await;
            println!("video call 640x480, {seconds} s      CPU {cpu:>5.1} % of one core   RSS {rss:>6.1} MiB   (human blackout on both cameras)");
            // Video set-up next to voice: camera and blackout model open beside signaling.
            let video_calls = if quick { 3 } else { 10 };
            let (mut video_setup, mut first_frame) = (Vec::new(), Vec::new());
            for _ in 0..video_calls {
                let c = one_call(&carol, dave.key, CallType::Video, Duration::from_millis(1300)).await;
                video_setup.push(c.setup.as_secs_f64() * 1000.0);
                first_frame.extend(c.first_video.map(|d| d.as_secs_f64() * 1000.0));
            }
            report("video set-up (offer -> connected, human blackout on both)", video_setup, "ms");
            report("first remote video frame after connected (blackout on both)", first_frame, "ms");
            carol.engine.shutdown().await;
            dave.engine.shutdown().await;
            carol.transport.shutdown().await;
            dave.transport.shutdown().await;
            // A process's first video call: the models are prepared by it, or by the
            // app's warm-up before it.
            let runs = if quick { 3 } else { 5 };
            let (warm, cold) = tokio::task::spawn_blocking(move || first_calls(&first_call_relay, runs))
                .await
                .unwrap();
            report("first call of a process: first remote video frame after connected, no warm-up", cold, "ms");
            report("first call of a process: first remote video frame after connected, after the warm-up", warm, "ms");
        }
        }

        // Leak check: warm up (caches and allocator arenas fill), take the baseline, run
        // the calls, let things settle.
        let metrics = tokio::runtime::Handle::current().metrics();
        for _ in 0..leak_calls / 4 {
            one_call(&alice, bob_key, CallType::Voice, Duration::ZERO).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The synthetic speakers record every call (that is what they are for): not
        // the engine's memory.
        let forget = || {
            alice.devices.probes.forget();
            bob.devices.probes.forget();
        };
        forget();
        let tasks_before = metrics.num_alive_tasks();
        let threads_before = proc_status("Threads:");
        let rss_before = held_mib();
        for _ in 0..leak_calls {
            one_call(&alice, bob_key, CallType::Voice, Duration::ZERO).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        forget();
        let tasks_after = metrics.num_alive_tasks();
        let threads_after = proc_status("Threads:");
        let rss_after = held_mib();
        println!(
            "after {leak_calls} calls: tasks {tasks_before} -> {tasks_after}, threads {threads_before} -> {threads_after}, RSS {rss_before:.1} -> {rss_after:.1} MiB"
        );
        // Memory may grow a little as allocator arenas settle; a leak of a call's
        // buffers (MiBs each) would not stay under this.
        let ok = tasks_after <= tasks_before
            && threads_after <= threads_before
            && rss_after <= rss_before + 16.0;
        alice.engine.shutdown().await;
        bob.engine.shutdown().await;
        alice.transport.shutdown().await;
        bob.transport.shutdown().await;
        ok
    });
    drop(relay_process);
    if !ok {
        eprintln!("LEAK: task, thread or memory count did not return to its baseline");
        std::process::exit(1);
    }
}
