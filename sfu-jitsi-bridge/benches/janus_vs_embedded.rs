//! Side-by-side bench: the embedded SFU and Janus VideoRoom (Debian's `janus`, one instance
//! started here on loopback) forwarding the same synthetic load through the same
//! `MediaBackend` trait: N participants (default 5), each publishing audio (~40 kbit/s) and
//! video (~480 kbit/s) of random "ciphertext", everyone receiving everyone.
//!
//! Printed for each: forwarded Mbit/s (payload the participants received in the window),
//! the media server's CPU (embedded: its Tokio threads, `sfu-worker`; Janus: the janus
//! process, `/proc/<pid>/stat`) and Mbit/s per core of it, p95 end-to-end delay (send to
//! receive through both legs; Janus has no in-server hook, so both are measured the same
//! way), and the server's memory per participant (embedded: this process's RSS growth less
//! the clients' own, taken from the Janus run where the clients are the only thing here;
//! Janus: its RSS growth). Then the ratios embedded / Janus. No assertions: figures to read.
//!
//! Run: `cargo bench -p sfu-jitsi-bridge --bench janus_vs_embedded` (optionally `-- 8` for
//! the room size).

#[path = "../tests/janus_support/mod.rs"]
mod janus_support;
#[path = "../tests/sfu_support/mod.rs"]
mod sfu_support;

use std::sync::Arc;
use std::time::Duration;

use sfu_jitsi_bridge::backend::{EmbeddedBackend, MediaBackend};
use sfu_jitsi_bridge::janus::{InstanceConfig, JanusBackend, JanusConfig};
use sfu_jitsi_bridge::sfu::{RoomId, Sfu, SfuConfig};
use sfu_jitsi_bridge::tiers::Tier;
use sfu_support::Client;

const AUDIO_LEN: usize = 100;
const VIDEO_LEN: usize = 1200;
const VIDEO_PPS: u32 = 50;
const WARM_UP: Duration = Duration::from_secs(4);
const WINDOW: Duration = Duration::from_secs(8);

struct Figures {
    mbps: f64,
    server_cores: f64,
    per_core: f64,
    p95_ms: f64,
    rss_growth_kib: i64,
    server_kib_per_participant: f64,
    delivered: f64,
}

/// Nanoseconds on CPU of this process's threads named `prefix*`.
fn thread_cpu_ns(prefix: &str) -> u64 {
    let mut total = 0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for task in tasks.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if name.starts_with(prefix) {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            total += stat
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// CPU nanoseconds of process `pid` (utime + stime; 10 ms ticks).
fn process_cpu_ns(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    ticks * 10_000_000
}

fn rss_kib(pid: &str) -> i64 {
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

/// Runs the load on `backend`; `server_cpu` reads the server's CPU nanoseconds,
/// `server_rss` its RSS in KiB.
fn run(
    n: usize,
    backend: Arc<dyn MediaBackend>,
    clients_rt: &tokio::runtime::Runtime,
    server_cpu: &dyn Fn() -> u64,
    server_rss: &dyn Fn() -> i64,
) -> Figures {
    let room = RoomId::random();
    let (self_before, server_before) = (rss_kib("self"), server_rss());
    let clients: Vec<Arc<Client>> = clients_rt.block_on(async {
        let mut clients = Vec::new();
        for i in 0..n {
            let c = Client::join_on(backend.clone(), room, Tier::Enterprise, i as u8 + 1, true)
                .await
                .expect("join");
            clients.push(Arc::new(c));
        }
        clients
    });
    let streaming: Vec<_> = clients
        .iter()
        .map(|c| {
            let c = c.clone();
            clients_rt.spawn(async move {
                c.stream(WARM_UP + WINDOW, 10, AUDIO_LEN, VIDEO_LEN, VIDEO_PPS)
                    .await
            })
        })
        .collect();
    std::thread::sleep(WARM_UP);
    for c in &clients {
        c.clear_delays();
    }
    let packets_before: u64 = clients.iter().map(|c| c.delays_and_packets().1).sum();
    let bytes_before = received_bytes(&clients);
    let cpu_before = server_cpu();
    std::thread::sleep(WINDOW);
    let cpu = server_cpu().saturating_sub(cpu_before);
    let bytes = received_bytes(&clients) - bytes_before;
    let mut delays = Vec::new();
    let mut packets = 0;
    for c in &clients {
        let (d, p) = c.delays_and_packets();
        delays.extend(d);
        packets += p;
    }
    let (self_after, server_after) = (rss_kib("self"), server_rss());
    clients_rt.block_on(async {
        for s in streaming {
            let _ = s.await;
        }
        for c in &clients {
            let _ = backend.leave(room, &c.id).await;
            c.close().await;
        }
    });
    let expected_per_s = (50 + VIDEO_PPS) as f64 * n as f64 * (n - 1) as f64;
    let delivered = (packets - packets_before) as f64 / (expected_per_s * WINDOW.as_secs_f64());
    let mbps = bytes as f64 * 8.0 / WINDOW.as_secs_f64() / 1e6;
    let server_cores = cpu as f64 / WINDOW.as_nanos() as f64;
    Figures {
        mbps,
        server_cores,
        per_core: mbps / server_cores.max(1e-9),
        p95_ms: p95(delays),
        rss_growth_kib: self_after - self_before,
        server_kib_per_participant: (server_after - server_before) as f64 / n as f64,
        delivered,
    }
}

fn received_bytes(clients: &[Arc<Client>]) -> u64 {
    clients
        .iter()
        .map(|c| {
            c.received
                .lock()
                .unwrap()
                .flows
                .values()
                .map(|f| f.bytes)
                .sum::<u64>()
        })
        .sum()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let sfu_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sfu-worker")
        .enable_all()
        .build()
        .unwrap();
    let clients_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client-worker")
        .enable_all()
        .build()
        .unwrap();

    let janus = janus_support::Janus::start("bench");
    let pid = janus.pid().expect("janus runs");
    let config = JanusConfig {
        instances: vec![InstanceConfig {
            name: "bench".into(),
            url: janus.url(),
            region: "here".into(),
            cascade_ip: "127.0.0.1".into(),
            max_participants: 1000,
        }],
        region: None,
    };
    let janus_backend: Arc<dyn MediaBackend> =
        Arc::new(clients_rt.block_on(JanusBackend::start(config)));
    let j = run(
        n,
        janus_backend,
        &clients_rt,
        &|| process_cpu_ns(pid),
        &|| rss_kib(&pid.to_string()),
    );

    let sfu = sfu_rt.block_on(async {
        Sfu::new(SfuConfig {
            last_n: n,
            ..SfuConfig::loopback()
        })
    });
    let embedded: Arc<dyn MediaBackend> = Arc::new(EmbeddedBackend { sfu });
    let e = run(
        n,
        embedded,
        &clients_rt,
        &|| thread_cpu_ns("sfu-worker"),
        &|| rss_kib("self"),
    );
    // The embedded SFU shares this process with the clients: its own growth is the
    // process's less what the clients alone grew by in the Janus run.
    let e_server_kib = (e.rss_growth_kib - j.rss_growth_kib) as f64 / n as f64;

    println!("{n} participants, each {AUDIO_LEN} B audio every 20 ms and {VIDEO_PPS} x {VIDEO_LEN} B video per s, {}s window", WINDOW.as_secs());
    println!("backend   | Mbit/s fwd | server cores | Mbit/s per core | p95 e2e ms | server KiB/participant | delivered");
    for (name, f, kib) in [
        ("embedded", &e, e_server_kib),
        ("janus", &j, j.server_kib_per_participant),
    ] {
        println!(
            "{name:<9} | {:>10.2} | {:>12.3} | {:>15.1} | {:>10.2} | {:>22.0} | {:>8.1}%",
            f.mbps,
            f.server_cores,
            f.per_core,
            f.p95_ms,
            kib,
            f.delivered * 100.0
        );
    }
    println!(
        "ratios embedded/janus: Mbit/s per core {:.2}, p95 delay {:.2}, memory per participant {:.2}",
        e.per_core / j.per_core,
        e.p95_ms / j.p95_ms,
        e_server_kib / j.server_kib_per_participant
    );
}
