//! Voice quality through a real call under loss and jitter: Alice's microphone plays a
//! speech clip, every datagram between the two sides passes a UDP proxy that drops and
//! delays them, and what Bob's speaker plays is written out for scoring (PESQ-WB and
//! ViSQOL, by `scripts/quality_score.py`; `scripts/quality-bench.sh` runs it all).
//!
//! `cargo bench --profile dev -p calling --bench quality -- --speech FILE --out DIR
//! [--loss 0,3,10,20] [--jitter-ms 30] [--delay-ms 40] [--repeat 3]`: FILE is 48 kHz mono signed
//! 16-bit little-endian PCM; DIR receives `ref.s16` (the clip),
//! `loss<L>_fec<on|off>_<run>.s16` (what Bob heard in each call: about two clip lengths,
//! for the scorer to align) and `runs.tsv` (the call's own figures per run). Each setting
//! is measured in `--repeat` separate calls: one call's score varies with where the losses
//! fall.

#[path = "../tests/netem/mod.rs"]
mod netem;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use calling::client::{self, Callers, ClientSetup};
use calling::peer::NetworkConfig;
use calling::{CallState, CallStats, EngineEvent, SyntheticDevices};
use media::audio::SAMPLE_RATE;
use netem::{Impairment, ThroughProxy, UdpProxy};
use nostr_signal::{EmbeddedRelay, Identity, NostrTransportConfig, RelayUrl, SignalTransport};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::broadcast::Receiver;

struct Options {
    speech: PathBuf,
    out: PathBuf,
    losses: Vec<u32>,
    delay: Duration,
    jitter: Duration,
    repeat: u32,
}

fn options() -> Result<Options, String> {
    let mut speech = None;
    let mut out = None;
    let mut losses = vec![0, 3, 10, 20];
    let mut delay = Duration::from_millis(40);
    let mut jitter = Duration::from_millis(30);
    let mut repeat = 3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let ms = |v: String| {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| format!("{v}: {e}"))
        };
        match arg.as_str() {
            "--speech" => speech = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--loss" => {
                losses = value()?
                    .split(',')
                    .map(|l| l.trim().parse::<u32>().map_err(|e| format!("{l}: {e}")))
                    .collect::<Result<_, _>>()?;
                if losses.iter().any(|&l| l > 90) {
                    return Err("loss is a percentage up to 90".into());
                }
            }
            "--delay-ms" => delay = ms(value()?)?,
            "--jitter-ms" => jitter = ms(value()?)?,
            "--repeat" => {
                repeat = value()?
                    .parse::<u32>()
                    .ok()
                    .filter(|r| (1..=20).contains(r))
                    .ok_or("--repeat takes 1 to 20")?
            }
            // What `cargo bench` adds.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if jitter > delay {
        return Err("jitter larger than the delay would need negative delays".into());
    }
    Ok(Options {
        speech: speech.ok_or("--speech FILE is required (see scripts/quality-bench.sh)")?,
        out: out.ok_or("--out DIR is required")?,
        losses,
        delay,
        jitter,
        repeat,
    })
}

/// Reads 48 kHz mono s16le PCM.
fn read_pcm(path: &Path) -> Result<Vec<i16>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 2 != 0 || bytes.is_empty() {
        return Err(format!("{} is not 16-bit PCM", path.display()));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

fn write_pcm(path: &Path, samples: &[i16]) {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// One side through `proxy`, speaking `clip` (or silence).
async fn side(
    relay: &RelayUrl,
    proxy: &Arc<UdpProxy>,
    clip: Option<Arc<[i16]>>,
    fec: bool,
) -> (
    calling::CallEngine,
    SyntheticDevices,
    nostr_signal::PublicKey,
) {
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    let mut devices = SyntheticDevices::new(660.0);
    devices.tone_level = 0.0;
    devices.microphone_clip = clip;
    devices.opus_fec = fec;
    let mut setup = ClientSetup::new(
        Identity::generate(),
        config,
        Arc::new(devices.clone()),
        Callers::Anyone,
    );
    setup.network = NetworkConfig::loopback();
    let proxy = proxy.clone();
    setup.signaling = Some(Box::new(move |transport| {
        ThroughProxy::wrap(transport as Arc<dyn SignalTransport>, proxy)
    }));
    setup.configure = Some(Box::new(|config: &mut calling::EngineConfig| {
        client::takes_any_mode(config);
        client::answers_everything(config);
    }));
    let client = client::connect(setup).await.expect("side starts");
    (client.engine, devices, client.key)
}

async fn until_connected(events: &mut Receiver<EngineEvent>, call: CallId) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(EngineEvent::Call(e))) if e.call_id == call => match e.state {
                CallState::Connected => return,
                CallState::Ended => panic!("call ended: {:?}", e.reason),
                _ => {}
            },
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("events: {e}"),
            Err(_) => panic!("not connected within 20 s"),
        }
    }
}

/// The newest figures of `call`: those already queued, else the next ones.
async fn latest_stats(events: &mut Receiver<EngineEvent>, call: CallId) -> CallStats {
    let mut newest = None;
    loop {
        match events.try_recv() {
            Ok(EngineEvent::Stats { call_id, stats }) if call_id == call => newest = Some(stats),
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    if let Some(stats) = newest {
        return stats;
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(EngineEvent::Stats { call_id, stats })) if call_id == call => return stats,
            Ok(Ok(_)) => {}
            other => panic!("no stats: {other:?}"),
        }
    }
}

struct Run {
    loss: u32,
    fec: bool,
    index: u32,
    dropped_share: f64,
    received: CallStats,
    sent_with_fec: u64,
    sent: u64,
    /// Alice's voice bitrate at the end of the call (raised with the loss Bob reports).
    bitrate_kbps: u32,
}

async fn run_one(
    relay: &RelayUrl,
    clip: &Arc<[i16]>,
    options: &Options,
    loss: u32,
    fec: bool,
    index: u32,
) -> Run {
    let proxy = UdpProxy::new();
    let (alice, _, _) = side(relay, &proxy, Some(clip.clone()), fec).await;
    let (bob, bob_devices, bob_key) = side(relay, &proxy, None, true).await;
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();
    let call = alice.dial(bob_key, CallType::Voice, PrivacyMode::Fast);
    until_connected(&mut alice_events, call).await;
    until_connected(&mut bob_events, call).await;
    // Impaired once connected: set-up is not what is measured, speech is.
    proxy.set_impairment(Impairment {
        loss: f64::from(loss) / 100.0,
        delay: options.delay,
        jitter: options.jitter,
    });
    let (forwarded0, dropped0) = (proxy.forwarded(), proxy.dropped());
    // Two clip lengths and the playout's settling time: the scorer finds one whole
    // clip in it wherever the loop stood.
    let clip_time = Duration::from_secs_f64(clip.len() as f64 / f64::from(SAMPLE_RATE));
    tokio::time::sleep(clip_time * 2 + Duration::from_secs(1)).await;
    let heard = bob_devices
        .probes
        .speakers()
        .pop()
        .expect("Bob's speaker")
        .recording
        .last(2 * clip.len() + SAMPLE_RATE as usize / 2);
    let received = latest_stats(&mut bob_events, call).await;
    let sent_stats = latest_stats(&mut alice_events, call).await;
    let (forwarded, dropped) = (proxy.forwarded() - forwarded0, proxy.dropped() - dropped0);
    let name = format!(
        "loss{loss}_fec{}_{index}.s16",
        if fec { "on" } else { "off" }
    );
    write_pcm(&options.out.join(name), &heard);
    alice.hangup(call);
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.shutdown().await;
    bob.shutdown().await;
    Run {
        loss,
        fec,
        index,
        dropped_share: dropped as f64 / (forwarded + dropped).max(1) as f64,
        received,
        sent_with_fec: sent_stats.audio_frames_sent_with_fec,
        sent: sent_stats.audio_frames_sent,
        bitrate_kbps: sent_stats.audio_bitrate_kbps,
    }
}

fn main() {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("quality bench: {e}");
            std::process::exit(2);
        }
    };
    let clip: Arc<[i16]> = match read_pcm(&options.speech) {
        Ok(samples) => samples.into(),
        Err(e) => {
            eprintln!("quality bench: {e}");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&options.out).expect("output directory");
    write_pcm(&options.out.join("ref.s16"), &clip);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let runs = runtime.block_on(async {
        let relay = EmbeddedRelay::start_on_loopback().await.expect("relay");
        let mut runs = Vec::new();
        for &loss in &options.losses {
            for fec in [true, false] {
                for index in 1..=options.repeat {
                    let fec_word = if fec { "on" } else { "off" };
                    eprintln!("quality bench: {loss} % loss, FEC {fec_word}, call {index}");
                    runs.push(run_one(relay.url(), &clip, &options, loss, fec, index).await);
                }
            }
        }
        relay.shutdown().await;
        runs
    });
    let mut tsv = String::from(
        "loss_pct\tfec\trun\tdropped_pct\tplayed\tconcealed\trecovered\tsent\tsent_with_fec\tbitrate_kbps\trtt_ms\tjitter_ms\n",
    );
    println!(
        "network: {} ms delay +- {} ms jitter (uniform), loss both ways",
        options.delay.as_millis(),
        options.jitter.as_millis()
    );
    // "From the next packet": decoded with the next packet's FEC data when it carries
    // some, else concealed by the decoder from it.
    println!(
        "| loss | FEC | call | datagrams dropped | frames played | concealed | decoded from the next packet | voice bitrate |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for run in &runs {
        let r = &run.received;
        println!(
            "| {} % | {} | {} | {:.1} % | {} | {} | {} | {} kbit/s |",
            run.loss,
            if run.fec { "on" } else { "off" },
            run.index,
            run.dropped_share * 100.0,
            r.audio_frames_played,
            r.audio_frames_concealed,
            r.audio_frames_recovered,
            run.bitrate_kbps
        );
        tsv.push_str(&format!(
            "{}\t{}\t{}\t{:.2}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            run.loss,
            if run.fec { "on" } else { "off" },
            run.index,
            run.dropped_share * 100.0,
            r.audio_frames_played,
            r.audio_frames_concealed,
            r.audio_frames_recovered,
            run.sent,
            run.sent_with_fec,
            run.bitrate_kbps,
            r.peer.rtt_ms.map_or(String::new(), |v| format!("{v:.0}")),
            r.peer
                .audio_jitter_ms
                .map_or(String::new(), |v| format!("{v:.1}")),
        ));
    }
    std::fs::write(options.out.join("runs.tsv"), tsv).expect("runs.tsv");
}
