//! What the benches share: a calling side on a relay, the relay in a child process, the
//! mouth-to-ear measure, and the process's CPU time and memory.
#![allow(dead_code)] // each bench uses a different part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::client::{self, Callers, ClientSetup};
use calling::peer::NetworkConfig;
use calling::{CallEngine, FilterChoice, SyntheticDevices};
use nostr_signal::{
    EmbeddedRelay, Identity, NostrTransport, NostrTransportConfig, PublicKey, RelayUrl,
};

/// One device of the bench: engine, synthetic devices (with their probes), transport.
pub struct Side {
    pub engine: CallEngine,
    pub devices: SyntheticDevices,
    pub transport: Arc<NostrTransport>,
    pub key: PublicKey,
}

/// How a bench side is set up.
pub struct SideOptions {
    /// Frequency of its tone.
    pub tone: f32,
    /// Tone bursts (for mouth-to-ear) instead of a steady tone.
    pub bursts: bool,
    /// Peak level of the steady tone (fraction of full scale).
    pub level: f32,
    /// Its camera's privacy filter.
    pub filter: FilterChoice,
    /// Sockets and servers.
    pub network: NetworkConfig,
    /// SOCKS5 proxy for its relay connections.
    pub proxy: Option<SocketAddr>,
}

impl SideOptions {
    /// A loopback side with a steady tone and an all-black camera.
    pub fn tone(tone: f32) -> Self {
        Self {
            tone,
            bursts: false,
            level: 0.3,
            filter: FilterChoice::AllBlack,
            network: NetworkConfig::loopback(),
            proxy: None,
        }
    }
}

/// A side on `relay` that lets strangers ring (the benches' sides know no contacts).
pub async fn side(relay: &RelayUrl, options: SideOptions) -> Side {
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.proxy = options.proxy;
    let mut devices = SyntheticDevices::new(options.tone);
    devices.tone_level = options.level;
    devices.filter = options.filter;
    if options.bursts {
        devices.bursts = Some((Duration::from_millis(400), Duration::from_millis(100)));
    }
    let mut setup = ClientSetup::new(
        Identity::generate(),
        config,
        Arc::new(devices.clone()),
        Callers::Anyone,
    );
    setup.network = options.network;
    // The benches call in every mode between identities that do not know each other, and
    // the called side answers at once.
    setup.configure = Some(Box::new(|config: &mut calling::EngineConfig| {
        client::takes_any_mode(config);
        client::answers_everything(config);
    }));
    let client = client::connect(setup).await.unwrap();
    Side {
        engine: client.engine,
        devices,
        transport: client.transport,
        key: client.key,
    }
}

/// Mouth-to-ear latencies (ms): each tone burst heard at `receiver`'s speaker against the
/// burst `sender`'s tone source started last before it. Bursts come every 400 ms, so
/// anything later than 200 ms belongs to no burst of ours.
pub fn mouth_to_ear(sender: &SyntheticDevices, receiver: &SyntheticDevices) -> Vec<f64> {
    let captured: Vec<Instant> = sender
        .probes
        .burst_logs()
        .iter()
        .flat_map(|log| log.onsets())
        .collect();
    let mut latencies = Vec::new();
    for speaker in receiver.probes.speakers() {
        for played in speaker.onsets() {
            if let Some(cap) = captured.iter().filter(|c| **c <= played).max() {
                let ms = played.duration_since(*cap).as_secs_f64() * 1000.0;
                if ms < 200.0 {
                    latencies.push(ms);
                }
            }
        }
    }
    latencies
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn report(name: &str, mut values: Vec<f64>, unit: &str) {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        println!("{name:<28} no samples");
        return;
    }
    println!(
        "{name:<28} median {:>7.1} {unit}   p95 {:>7.1} {unit}   (n = {})",
        percentile(&values, 0.5),
        percentile(&values, 0.95),
        values.len()
    );
}

/// CPU time (user + system) of this process so far.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ") ".
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let hz = 100; // USER_HZ on Linux
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / hz)
}

pub fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

pub fn rss_mib() -> f64 {
    proc_status("VmRSS:") as f64 / 1024.0
}

/// Resident memory after handing the allocator's free pages back to the system: what
/// the process really holds, not what glibc keeps cached in its per-thread arenas.
pub fn held_mib() -> f64 {
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    rss_mib()
}

/// The relay runs in a child process (this binary, re-run with `--serve-relay`): it keeps
/// every event it relays, which is its job, and must not count as the engine's memory.
pub fn serve_relay() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
        println!("{}", relay.url());
        // Until the parent closes our stdin (or dies).
        let mut line = String::new();
        let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
        relay.shutdown().await;
    });
}

pub struct RelayProcess(pub std::process::Child);

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_relay_process() -> (RelayProcess, RelayUrl) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--serve-relay")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("relay process starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = RelayUrl::parse(line.trim()).expect("relay prints its URL");
    (RelayProcess(child), url)
}
