//! Load bench of the embedded SFU: 1, 5, 10 and 25 participants on loopback, each publishing
//! audio (~40 kbit/s) and video (~480 kbit/s) of random "ciphertext". Prints, per room size:
//! forwarded Mbit/s (payload), the SFU's CPU time and Mbit/s per core of it, p95 forwarding
//! delay inside the SFU (read to written to the last subscriber's track, from the hook) and
//! end to end (send to receive, through both DTLS-SRTP legs), delivery ratio, and RSS per
//! participant; "read by SFU" is the share of the packets sent that the SFU read (what is
//! missing was lost before it: in a socket buffer), "delivered" the share of the expected
//! copies the participants received, "UDP buffer drops" the kernel's count of datagrams
//! dropped for a full receive buffer during the window (machine-wide). No assertions:
//! figures to read.
//!
//! The SFU runs on a Tokio runtime of its own (threads `sfu-worker`), the synthetic
//! participants on another (`client-worker`), in this one process: the SFU's CPU is the sum
//! of its threads' run time (`/proc/self/task/*/schedstat`). The participants' own cost
//! (SRTP, their peer connections) competes for the same cores, which is what limits the
//! larger rooms on a two-core machine.
//!
//! Run: `cargo bench -p sfu-jitsi-bridge --bench sfu_forwarding` (optionally with room sizes
//! as arguments: `-- 5 10`).

#[path = "../tests/sfu_support/mod.rs"]
mod sfu_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sfu_jitsi_bridge::sfu::{ForwardHook, ForwardedPacket, RoomId, Sfu, SfuConfig};
use sfu_jitsi_bridge::tiers::Tier;
use sfu_support::Client;

/// 100 bytes every 20 ms: 40 kbit/s of audio.
const AUDIO_LEN: usize = 100;
/// 1200 bytes, 50 packets/s: 480 kbit/s of video.
const VIDEO_LEN: usize = 1200;
const VIDEO_PPS: u32 = 50;
/// Streaming before the measurement starts (ICE, DTLS, renegotiations).
const WARM_UP: Duration = Duration::from_secs(3);
/// The measurement window.
const WINDOW: Duration = Duration::from_secs(6);

/// Records forwarding delays while `on`.
#[derive(Default)]
struct DelayHook {
    on: AtomicBool,
    delays_us: Mutex<Vec<u32>>,
}

impl ForwardHook for DelayHook {
    fn on_forward(&self, packet: &ForwardedPacket<'_>) {
        if self.on.load(Ordering::Relaxed) && packet.subscribers > 0 {
            self.delays_us
                .lock()
                .unwrap()
                .push(packet.delay.as_micros() as u32);
        }
    }
}

/// Nanoseconds on CPU of this process's threads whose name starts with `prefix` (all of
/// them for "").
fn cpu_ns(prefix: &str) -> u64 {
    let mut total = 0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Datagrams the kernel dropped for want of room in a UDP receive buffer, machine-wide
/// (`RcvbufErrors` in /proc/net/snmp).
fn udp_rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn p95(mut v: Vec<u32>) -> Option<u32> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[(v.len() * 95 / 100).min(v.len() - 1)])
}

fn ms(us: Option<u32>) -> String {
    us.map_or("-".to_owned(), |us| {
        format!("{:.2}", f64::from(us) / 1000.0)
    })
}

struct Row {
    n: usize,
    mbps: f64,
    sfu_cores: f64,
    process_cores: f64,
    per_core: f64,
    p95_sfu: Option<u32>,
    p95_e2e: Option<u32>,
    delivered: f64,
    reached_sfu: f64,
    rcvbuf_drops: u64,
    rss_per_participant_kib: u64,
}

fn run(n: usize, sfu_rt: &tokio::runtime::Runtime, clients_rt: &tokio::runtime::Runtime) -> Row {
    let hook = Arc::new(DelayHook::default());
    let config = SfuConfig {
        // Every subscriber gets every video: the heaviest case for the forwarding loop.
        last_n: n,
        ..SfuConfig::loopback()
    };
    let sfu = sfu_rt.block_on(async { Sfu::with_hook(config, Some(hook.clone())) });
    let room = RoomId::random();
    let rss_before = rss_kib();
    clients_rt.block_on(async move {
        let mut clients = Vec::new();
        for i in 0..n {
            let client = Client::join(&sfu, room, Tier::Enterprise, i as u8 + 1, true)
                .await
                .expect("join");
            clients.push(Arc::new(client));
        }
        let mut tasks = tokio::task::JoinSet::new();
        for c in &clients {
            let c = c.clone();
            tasks.spawn(async move {
                c.stream(WARM_UP + WINDOW, 40, AUDIO_LEN, VIDEO_LEN, VIDEO_PPS)
                    .await
            });
        }
        tokio::time::sleep(WARM_UP).await;
        let rss_during = rss_kib();
        let packets_before: u64 = clients.iter().map(|c| c.delays_and_packets().1).sum();
        clients.iter().for_each(|c| c.clear_delays());
        let stats_before = sfu.stats();
        let drops_before = udp_rcvbuf_errors();
        let (sfu_cpu0, all_cpu0) = (cpu_ns("sfu-worker"), cpu_ns(""));
        hook.on.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        tokio::time::sleep(WINDOW).await;
        hook.on.store(false, Ordering::Relaxed);
        let wall = t0.elapsed().as_secs_f64();
        let (sfu_cpu1, all_cpu1) = (cpu_ns("sfu-worker"), cpu_ns(""));
        let stats_after = sfu.stats();
        let rcvbuf_drops = udp_rcvbuf_errors().saturating_sub(drops_before);
        let mut e2e = Vec::new();
        let mut packets_after = 0;
        for c in &clients {
            let (d, p) = c.delays_and_packets();
            e2e.extend(d);
            packets_after += p;
        }
        while tasks.join_next().await.is_some() {}

        let bytes = stats_after.bytes_out - stats_before.bytes_out;
        let read_by_sfu = (stats_after.packets_in - stats_before.packets_in) as f64;
        let mbps = bytes as f64 * 8.0 / wall / 1e6;
        let sfu_cores = (sfu_cpu1 - sfu_cpu0) as f64 / 1e9 / wall;
        let process_cores = (all_cpu1 - all_cpu0) as f64 / 1e9 / wall;
        // Expected in the window: each sender's packets times its n-1 subscribers.
        let sent_per_sender = WINDOW.as_secs_f64() * (50.0 + f64::from(VIDEO_PPS));
        let expected = sent_per_sender * n as f64 * (n.saturating_sub(1)) as f64;
        let delivered = if expected > 0.0 {
            (packets_after - packets_before) as f64 / expected
        } else {
            1.0
        };
        let reached_sfu = read_by_sfu / (sent_per_sender * n as f64);
        let sfu_delays = std::mem::take(&mut *hook.delays_us.lock().unwrap());
        for c in &clients {
            let _ = sfu.leave(room, &c.id).await;
            c.close().await;
        }
        Row {
            n,
            mbps,
            sfu_cores,
            process_cores,
            per_core: if sfu_cores > 0.0 {
                mbps / sfu_cores
            } else {
                0.0
            },
            p95_sfu: p95(sfu_delays),
            p95_e2e: p95(e2e),
            delivered,
            reached_sfu,
            rcvbuf_drops,
            rss_per_participant_kib: rss_during.saturating_sub(rss_before) / n as u64,
        }
    })
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1, 5, 10, 15, 20, 25]
    } else {
        sizes
    };
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
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "SFU forwarding bench: audio {} kbit/s + video {} kbit/s per participant, {} s window after {} s warm-up, {cores} cores",
        AUDIO_LEN * 8 * 50 / 1000,
        VIDEO_LEN * 8 * VIDEO_PPS as usize / 1000,
        WINDOW.as_secs(),
        WARM_UP.as_secs()
    );
    println!(
        "| participants | forwarded Mbit/s | SFU CPU (cores) | process CPU (cores) | Mbit/s per SFU core | p95 in SFU (ms) | p95 end to end (ms) | read by SFU | delivered | UDP buffer drops | RSS per participant (KiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let row = run(n, &sfu_rt, &clients_rt);
        println!(
            "| {} | {:.1} | {:.2} | {:.2} | {:.0} | {} | {} | {:.1}% | {:.1}% | {} | {} |",
            row.n,
            row.mbps,
            row.sfu_cores,
            row.process_cores,
            row.per_core,
            ms(row.p95_sfu),
            ms(row.p95_e2e),
            row.reached_sfu * 100.0,
            row.delivered * 100.0,
            row.rcvbuf_drops,
            row.rss_per_participant_kib
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("(RSS per participant counts the SFU's peer connection and the synthetic participant's, both in this process.)");
}
