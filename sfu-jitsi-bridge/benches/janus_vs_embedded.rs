//! Side-by-side bench: the conference service (`phantomcall-conference`, its own process)
//! on the embedded SFU and on Janus VideoRoom (Debian's `janus`, its own process), with the
//! same synthetic load from the same participants (`tests/conf_support/peer.rs`, webrtc-rs,
//! signaling over the service's WebSocket): N participants (default 5), each sending audio
//! (100 B every 20 ms) and video (600 B every 20 ms) of random "ciphertext", everyone
//! receiving everyone.
//!
//! Printed for each: forwarded Mbit/s (payload the participants received in the window);
//! the media server's CPU in cores over the window (embedded: the service process; Janus:
//! the Janus process plus the service process, which only signals) and Mbit/s per core of
//! it; p95 end-to-end delay (send to receive through both legs, from send times kept by the
//! senders, since Janus rewrites RTP timestamps); and the server side's memory per
//! participant (RSS growth of the same processes from before the joins to the end of the
//! window, divided by N). Then the ratios embedded / Janus. No assertions: figures to read.
//!
//! Also the service's own `/metrics` figure for the same window, beside the bench's: the
//! growth of `phantomcall_media_forwarded_bytes_total` (embedded: payload it forwarded;
//! Janus: whole RTP packets as Janus's Admin API counts them, polled every second here,
//! so the window's ends are known to a second) and, on Janus, the last interval's
//! `phantomcall_media_server_forwarded_bits_per_second`.
//!
//! Run: `cargo bench -p sfu-jitsi-bridge --bench janus_vs_embedded` (optionally `-- 8` for
//! the room size).

#[path = "../tests/conf_support/mod.rs"]
mod conf_support;
#[path = "../tests/janus_support/mod.rs"]
mod janus_support;
#[path = "../tests/sfu_support/mod.rs"]
mod sfu_support;

use std::sync::Arc;
use std::time::Duration;

use conf_support::peer::{stream_all, Peer, PeerOptions};
use conf_support::{Options, Service, Wallet};

/// Streaming before the window (ICE, DTLS, subscriptions).
const WARM_UP: Duration = Duration::from_secs(4);
/// The measurement window.
const WINDOW: Duration = Duration::from_secs(8);

struct Figures {
    mbps: f64,
    server_cores: f64,
    per_core: f64,
    p95_ms: f64,
    kib_per_participant: f64,
    delivered: f64,
    /// Mbit/s from the growth of the service's forwarded-bytes counter over the window.
    metric_mbps: f64,
    /// Janus: the instance's forwarded bitrate gauge at the end of the window.
    gauge_mbps: Option<f64>,
}

/// The value of `series` in the service's `/metrics`.
async fn metric(service: &Service, series: &str) -> Option<f64> {
    let text = service.request("GET", "/metrics", &[], b"").await.text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// CPU nanoseconds of process `pid` (utime + stime, 10 ms ticks).
fn cpu_ns(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    ticks * 10_000_000
}

fn rss_kib(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn p95(mut v: Vec<u32>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    f64::from(v[(v.len() * 95 / 100).min(v.len() - 1)]) / 1000.0
}

/// The load on `service`, whose media server processes are `servers`.
async fn run(n: usize, service: &Service, servers: &[u32], seed: u8) -> Figures {
    let host = Wallet::new(seed);
    service.buy_pro(&host, &format!("evt_bench_{seed}")).await;
    let session = service.sign_in(&host).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let room = service.create_room(&token).await.json()["room"]
        .as_str()
        .unwrap()
        .to_owned();
    let cpu = || servers.iter().map(|p| cpu_ns(*p)).sum::<u64>();
    let rss = || servers.iter().map(|p| rss_kib(*p)).sum::<i64>();
    let rss_before = rss();
    let mut peers = Vec::new();
    for i in 0..n {
        let options = PeerOptions {
            keep_delays: true,
            ..PeerOptions::default()
        };
        let peer = Arc::new(Peer::connect_with(&service.ws_url(), i as u8 + 1, options).await);
        let token = (i == 0).then_some(token.as_str());
        let joined = peer.join(&room, token).await;
        assert_eq!(joined["type"], "joined", "{joined}");
        peers.push(peer);
    }
    let streams = stream_all(&peers, WARM_UP + WINDOW + Duration::from_secs(1));
    tokio::time::sleep(WARM_UP).await;
    let counter = "phantomcall_media_forwarded_bytes_total";
    let counted_before = metric(service, counter).await.unwrap_or(0.0);
    let before: Vec<(Vec<u32>, u64, u64)> = peers.iter().map(|p| p.totals()).collect();
    let cpu_before = cpu();
    tokio::time::sleep(WINDOW).await;
    let server_ns = cpu().saturating_sub(cpu_before);
    let counted = metric(service, counter).await.unwrap_or(0.0) - counted_before;
    let gauge = "phantomcall_media_server_forwarded_bits_per_second{server=\"bench\"}";
    let gauge_mbps = metric(service, gauge).await.map(|v| v / 1e6);
    let rss_after = rss();
    let (mut delays, mut packets, mut bytes) = (Vec::new(), 0, 0);
    for (p, (d0, p0, b0)) in peers.iter().zip(before) {
        let (d, pk, b) = p.totals();
        delays.extend_from_slice(&d[d0.len().min(d.len())..]);
        packets += pk - p0;
        bytes += b - b0;
    }
    for s in streams {
        s.abort();
    }
    for p in &peers {
        p.close().await;
    }
    // 50 audio and 50 video packets a second from each, to each of the others.
    let expected = 100.0 * (n * (n - 1)) as f64 * WINDOW.as_secs_f64();
    let mbps = bytes as f64 * 8.0 / WINDOW.as_secs_f64() / 1e6;
    let server_cores = server_ns as f64 / WINDOW.as_nanos() as f64;
    Figures {
        mbps,
        server_cores,
        per_core: mbps / server_cores.max(1e-9),
        p95_ms: p95(delays),
        kib_per_participant: (rss_after - rss_before) as f64 / n as f64,
        delivered: packets as f64 / expected,
        metric_mbps: counted * 8.0 / WINDOW.as_secs_f64() / 1e6,
        gauge_mbps,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    // Janus gathers no loopback candidates: the participants use the machine's own address
    // in both runs, and the embedded SFU is told to bind it too.
    let ip = janus_support::host_ip();
    sfu_support::use_client_ip(ip);
    sfu_support::record_send_times();

    let embedded = {
        // Every subscriber gets every video, as on Janus (no last-N).
        let service = Service::start(Options {
            sfu: format!("last_n = {n}"),
            ..Options::default()
        });
        // The tests' configuration binds the SFU to 127.0.0.1; clients on `ip` reach it
        // through the loopback route all the same.
        let servers = [service.pid()];
        run(n, &service, &servers, 61).await
    };
    let janus = {
        let janus = janus_support::Janus::start("bench");
        let service = Service::start(Options {
            extra: format!(
                "[janus]\nstats_every_ms = 1000\n[[janus.instances]]\nname = \"bench\"\n\
                 region = \"here\"\nurl = \"{}\"\nadmin_url = \"{}\"\nadmin_secret_file = \"{}\"\n",
                janus.url(),
                janus.admin_url(),
                janus.admin_secret_file().display()
            ),
            ..Options::default()
        });
        let servers = [janus.pid().expect("janus runs"), service.pid()];
        run(n, &service, &servers, 62).await
    };

    println!(
        "{n} participants on {ip}, each 100 B audio and 600 B video every 20 ms, {} s window",
        WINDOW.as_secs()
    );
    println!(
        "backend   | Mbit/s fwd | server cores | Mbit/s per core | p95 e2e ms | server KiB/participant | delivered"
    );
    for (name, f) in [("embedded", &embedded), ("janus", &janus)] {
        println!(
            "{name:<9} | {:>10.2} | {:>12.3} | {:>15.1} | {:>10.2} | {:>22.0} | {:>8.1}%",
            f.mbps,
            f.server_cores,
            f.per_core,
            f.p95_ms,
            f.kib_per_participant,
            f.delivered * 100.0
        );
    }
    for (name, f) in [("embedded", &embedded), ("janus", &janus)] {
        println!(
            "{name}: the service's /metrics say {:.2} Mbit/s forwarded over the window ({:.2} x \
             the bench's payload measure){}",
            f.metric_mbps,
            f.metric_mbps / f.mbps,
            f.gauge_mbps.map_or(String::new(), |g| format!(
                "; last interval's gauge {g:.2} Mbit/s ({:.2} x)",
                g / f.mbps
            ))
        );
    }
    println!(
        "ratios embedded/janus: Mbit/s per core {:.2}, p95 delay {:.2}, memory per participant {:.2}",
        embedded.per_core / janus.per_core,
        embedded.p95_ms / janus.p95_ms,
        embedded.kib_per_participant / janus.kib_per_participant
    );
}
