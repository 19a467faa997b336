//! What each privacy mode costs, side by side in one run on loopback: call set-up time
//! (offer sent -> connected: median, p95 and max, since a tail is what users feel) and
//! mouth-to-ear audio latency (timestamped tone bursts from capture to playout), with
//! ratios to Fast.
//!
//! - Fast: direct path on loopback.
//! - Private: relayed by a real coturn (Debian's `turnserver`, started here on 127.0.0.4).
//! - Paranoid: Nostr and TURN (over TCP) through a real SOCKS5 proxy (Debian's `danted`)
//!   to the same coturn. Tor's own delay is not in it: a Tor circuit adds hundreds of
//!   milliseconds per round trip, which no loopback run can show.
//!
//! `cargo bench -p calling --bench modes` (50 calls per mode; `-- --calls N`, `-- --quick`,
//! `-- --only fast|private|paranoid`).

mod common;
#[path = "../tests/socks/mod.rs"]
mod socks;
#[path = "../tests/turn/mod.rs"]
mod turn;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use calling::peer::NetworkConfig;
use calling::{CallState, EngineEvent, Reason};
use common::Side;
use nostr_signal::{EmbeddedRelay, RelayUrl};
use phantomcall_schemas::{CallType, PrivacyMode};

const ALICE_HZ: f32 = 440.0;
const BOB_HZ: f32 = 660.0;

async fn side(
    relay: &RelayUrl,
    tone: f32,
    network: NetworkConfig,
    proxy: Option<SocketAddr>,
) -> Side {
    common::side(
        relay,
        common::SideOptions {
            bursts: true,
            network,
            proxy,
            ..common::SideOptions::tone(tone)
        },
    )
    .await
}

/// One voice call in `mode`: the set-up time; it talks for `talk` and hangs up.
async fn one_call(alice: &Side, bob: &Side, mode: PrivacyMode, talk: Duration) -> Duration {
    let mut events = alice.engine.events();
    let call = alice.engine.dial(bob.key, CallType::Voice, mode);
    let mut offer_sent = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    let connected = loop {
        let event = tokio::time::timeout_at(deadline.into(), events.recv())
            .await
            .unwrap_or_else(|_| panic!("{mode} call not connected within 30 s"));
        match event {
            Ok(EngineEvent::Call(e)) if e.call_id == call => match (e.state, e.reason) {
                (_, Reason::OfferSent) => offer_sent = Some(Instant::now()),
                (CallState::Connected, _) => break Instant::now(),
                (CallState::Ended, reason) => panic!("{mode} call ended: {reason:?}"),
                _ => {}
            },
            Ok(EngineEvent::Media {
                call_id,
                event: calling::MediaEvent::SetupFailed(why),
            }) if call_id == call => panic!("{mode} call not set up: {why}"),
            _ => {}
        }
    };
    tokio::time::sleep(talk).await;
    alice.engine.hangup(call);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Ok(EngineEvent::Call(e))) if e.call_id == call && e.state == CallState::Ended => {
                break
            }
            Ok(_) => {}
            Err(_) => panic!("{mode} call did not end"),
        }
    }
    connected - offer_sent.expect("offer sent before connected")
}

struct Figures {
    setup_ms: Vec<f64>,
    mouth_to_ear_ms: Vec<f64>,
}

/// Median, p95 and max.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.95), at(1.0))
}

async fn measure(
    relay: &RelayUrl,
    mode: PrivacyMode,
    networks: (NetworkConfig, NetworkConfig),
    proxy: Option<SocketAddr>,
    calls: usize,
) -> Figures {
    let alice = side(relay, ALICE_HZ, networks.0, proxy).await;
    let bob = side(relay, BOB_HZ, networks.1, proxy).await;
    let mut setup_ms = Vec::new();
    for _ in 0..calls {
        // Long enough for two tone bursts (every 400 ms) per call.
        let setup = one_call(&alice, &bob, mode, Duration::from_millis(1000)).await;
        setup_ms.push(setup.as_secs_f64() * 1000.0);
    }
    let mouth_to_ear_ms = common::mouth_to_ear(&alice.devices, &bob.devices);
    for side in [alice, bob] {
        side.engine.shutdown().await;
        side.transport.shutdown().await;
    }
    assert!(
        !mouth_to_ear_ms.is_empty(),
        "{mode}: no tone burst was heard"
    );
    Figures {
        setup_ms,
        mouth_to_ear_ms,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let calls: usize = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if quick { 3 } else { 50 });
    let only: Option<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
        let coturn = turn::Coturn::start();
        let dante = socks::Dante::start();
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let paranoid = |id: &str| NetworkConfig {
            socks5_proxy: Some(dante.addr),
            ..coturn.network(loopback, id)
        };
        let runs = [
            (
                PrivacyMode::Fast,
                (NetworkConfig::loopback(), NetworkConfig::loopback()),
                None,
            ),
            (
                PrivacyMode::Private,
                (
                    coturn.network(turn::ALICE_IP, "alice"),
                    coturn.network(turn::BOB_IP, "bob"),
                ),
                None,
            ),
            (
                PrivacyMode::Paranoid,
                (paranoid("alice"), paranoid("bob")),
                Some(dante.addr),
            ),
        ];
        println!(
            "PhantomCall privacy modes on loopback: {calls} voice calls each (embedded relay, coturn, Dante SOCKS5)"
        );
        println!(
            "{:<9} {:>14} {:>10} {:>10} {:>9}   {:>16} {:>10} {:>9}",
            "mode", "set-up median", "p95", "max", "x Fast", "mouth-to-ear med", "p95", "x Fast"
        );
        let mut fast: Option<(f64, f64)> = None;
        for (mode, networks, proxy) in runs {
            if only
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(&mode.to_string()))
            {
                continue;
            }
            let figures = measure(relay.url(), mode, networks, proxy, calls).await;
            let (setup, setup_p95, setup_max) = spread(&figures.setup_ms);
            let (m2e, m2e_p95, _) = spread(&figures.mouth_to_ear_ms);
            let (fast_setup, fast_m2e) = *fast.get_or_insert((setup, m2e));
            println!(
                "{:<9} {:>11.1} ms {:>7.1} ms {:>7.1} ms {:>8.2}x   {:>13.1} ms {:>7.1} ms {:>8.2}x",
                mode.to_string(),
                setup,
                setup_p95,
                setup_max,
                setup / fast_setup,
                m2e,
                m2e_p95,
                m2e / fast_m2e
            );
        }
        relay.shutdown().await;
    });
}
