//! Voice over one direct Bluetooth LE connection of the simulated radio (15 KB/s each
//! way, 15 ms latency, 244-byte frames), in virtual time, at 0, 5 and 10 % loss, with and
//! without the repeated previous frame: what the voice puts on the air against what the
//! link carries, and where mouth-to-ear latency goes (framing, transmission, playout
//! buffer), with the concealment counts.
//!
//! `cargo bench -p calling --bench ble_voice` (`-- --quick` for 20 s calls instead of
//! 60 s; `-- --bitrate 16000` for another Opus bitrate).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calling::ble_voice::{
    BleVoiceConfig, BleVoiceKeys, BleVoiceReceiver, BleVoiceSender, ReceiverStats, Role, Source,
    FRAME, MESH_HEADER_LEN,
};
use media::audio::{AudioFrame, AudioSource, ToneSource, FRAME_DURATION, SAMPLE_RATE};
use nostr_signal::ble_fallback::sim::{SimAir, SimParams};
use nostr_signal::ble_fallback::{MeshConfig, MeshNode, NeighborId};
use tokio::time::Instant;

const LINK_BYTES_PER_SEC: u64 = 15_000;

/// Per packet (by sequence number): when it was ready to send, when it arrived.
#[derive(Default)]
struct Timeline {
    ready: HashMap<u16, Instant>,
    arrived: HashMap<u16, Instant>,
}

struct Outcome {
    air_bytes: u64,
    packets: u64,
    stats: ReceiverStats,
    concealed_in_call: u64,
    transmission: Vec<Duration>,
    buffered: Vec<Duration>,
    total: Vec<Duration>,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// One direction of a call from `a` to `b`: `a` talks for `length`, `b` plays.
async fn one_way(loss: f64, config: BleVoiceConfig, length: Duration) -> Outcome {
    let air = SimAir::new(SimParams {
        bytes_per_sec: LINK_BYTES_PER_SEC,
        loss,
        seed: 7,
        ..SimParams::default()
    });
    let node = |name: &str, seed| {
        let radio = Arc::new(air.add_node(name));
        let config = MeshConfig {
            seed: Some(seed),
            ..MeshConfig::default()
        };
        (radio.clone(), Arc::new(MeshNode::spawn(radio, config)))
    };
    let (ra, a) = node("a", 1);
    let (rb, b) = node("b", 2);
    air.set_in_range(&ra, &rb, true);
    let mut status = a.status();
    let to_b: NeighborId = status
        .wait_for(|s| !s.neighbor_ids.is_empty())
        .await
        .expect("connected")
        .neighbor_ids[0];
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (ka, kb) = (BleVoiceKeys::generate(), BleVoiceKeys::generate());
    let (sa, sb) = (ka.public_share(), kb.public_share());
    let caller = ka.agree(&sb, "bench", Role::Caller).unwrap();
    let callee = kb.agree(&sa, "bench", Role::Callee).unwrap();
    let mut sender = BleVoiceSender::new(caller.send, &config).unwrap();
    let receiver = Arc::new(Mutex::new(
        BleVoiceReceiver::new(callee.recv, &config).unwrap(),
    ));
    let timeline = Arc::new(Mutex::new(Timeline::default()));

    // b: packets in as they arrive (their seq read from the clear header).
    let rx_task = {
        let (b, receiver, timeline) = (b.clone(), receiver.clone(), timeline.clone());
        tokio::spawn(async move {
            while let Some((_, packet)) = b.recv_voice().await {
                let now = Instant::now();
                if packet.len() > 3 {
                    let seq = u16::from_be_bytes([packet[1], packet[2]]);
                    timeline.lock().unwrap().arrived.insert(seq, now);
                }
                let _ = receiver.lock().unwrap().push(&packet, now.into_std());
            }
        })
    };
    // b: the playout clock, until told to stop.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let play_task = {
        let receiver = receiver.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FRAME);
            let mut pulls = Vec::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => return pulls,
                    _ = tick.tick() => {
                        let now = Instant::now();
                        let pulled = receiver.lock().unwrap().pull(now.into_std());
                        pulls.push((pulled.source, pulled.timestamp, now));
                    }
                }
            }
        })
    };
    // a: the microphone, frame k captured from t0 + 20 ms * k and handed over 20 ms on.
    let t0 = Instant::now();
    let mut tone = ToneSource::new(440.0, 0.5).paced(false);
    let frames = (length.as_millis() / FRAME_DURATION.as_millis()) as u32;
    for k in 0..frames {
        let captured = t0 + FRAME_DURATION * k;
        tokio::time::sleep_until(captured + FRAME_DURATION).await;
        let frame = AudioFrame {
            samples: tone.read_frame().unwrap().samples,
            captured_at: captured.into_std(),
        };
        if let Some(packet) = sender.push_frame(&frame).unwrap() {
            timeline
                .lock()
                .unwrap()
                .ready
                .insert(packet.seq, Instant::now());
            a.send_voice(to_b, packet.bytes);
        }
    }
    // The last packets arrive and play within the buffer's maximum.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(());
    let pulls = play_task.await.unwrap();
    rx_task.abort();
    a.shutdown().await;
    b.shutdown().await;
    // Concealed turns while the call ran (not the tail after the last packet).
    let first = pulls
        .iter()
        .position(|p| p.0 == Source::Packet)
        .unwrap_or(0);
    let last = pulls
        .iter()
        .rposition(|p| p.0 == Source::Packet)
        .unwrap_or(0);
    let concealed_in_call = pulls[first..=last]
        .iter()
        .filter(|p| p.0 == Source::Concealed)
        .count() as u64;

    let sent = sender.stats();
    let timeline = timeline.lock().unwrap();
    let mut outcome = Outcome {
        air_bytes: sent.bytes + MESH_HEADER_LEN as u64 * sent.packets,
        packets: sent.packets,
        stats: receiver.lock().unwrap().stats(),
        concealed_in_call,
        transmission: Vec::new(),
        buffered: Vec::new(),
        total: Vec::new(),
    };
    for (seq, ready) in &timeline.ready {
        if let Some(arrived) = timeline.arrived.get(seq) {
            outcome.transmission.push(*arrived - *ready);
        }
    }
    let played = pulls
        .iter()
        .filter(|p| p.0 == Source::Packet)
        .filter_map(|p| Some((p.1?, p.2)));
    for (ts, played_at) in played {
        let seq =
            (u64::from(ts) / (FRAME.as_millis() as u64 * u64::from(SAMPLE_RATE) / 1000)) as u16;
        let captured =
            t0 + Duration::from_nanos(u64::from(ts) * 1_000_000_000 / u64::from(SAMPLE_RATE));
        outcome.total.push(played_at - captured);
        if let Some(arrived) = timeline.arrived.get(&seq) {
            outcome.buffered.push(played_at - *arrived);
        }
    }
    outcome.transmission.sort();
    outcome.buffered.sort();
    outcome.total.sort();
    outcome
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let bitrate = args
        .iter()
        .position(|a| a == "--bitrate")
        .and_then(|i| args.get(i + 1))
        .and_then(|b| b.parse().ok())
        .unwrap_or(BleVoiceConfig::default().bitrate);
    let length = Duration::from_secs(if quick { 20 } else { 60 });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");

    println!(
        "Bluetooth voice on the simulated radio: {} KB/s per direction, 15 ms latency, \
         Opus {bitrate} b/s in {} ms frames, {} s calls (virtual time)",
        LINK_BYTES_PER_SEC / 1000,
        FRAME.as_millis(),
        length.as_secs()
    );
    println!(
        "{:>5} {:>6} {:>6} {:>8} {:>6} | {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} | {:>6} {:>6} {:>5} {:>5} {:>5} {:>5}",
        "loss", "repeat", "B/pkt", "air B/s", "link%", "frame", "tx", "target", "buffer", "m2e", "m2e95",
        "played", "lost", "rep", "fec", "conc", "under"
    );
    for loss in [0.0, 0.05, 0.10] {
        for redundancy in [true, false] {
            let config = BleVoiceConfig {
                bitrate,
                redundancy,
                ..BleVoiceConfig::default()
            };
            let o = runtime.block_on(one_way(loss, config, length));
            let seconds = length.as_secs_f64();
            let air_per_sec = o.air_bytes as f64 / seconds;
            let s = &o.stats;
            println!(
                "{:>4.0}% {:>6} {:>6} {:>8.0} {:>5.1}% | {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} | {:>6} {:>6} {:>5} {:>5} {:>5} {:>5}",
                loss * 100.0,
                if redundancy { "on" } else { "off" },
                o.air_bytes / o.packets.max(1),
                air_per_sec,
                100.0 * air_per_sec / LINK_BYTES_PER_SEC as f64,
                FRAME.as_millis(),
                ms(pct(&o.transmission, 0.5)),
                s.playout.target_ms,
                ms(pct(&o.buffered, 0.5)),
                ms(pct(&o.total, 0.5)),
                ms(pct(&o.total, 0.95)),
                s.played,
                s.playout.lost,
                s.from_redundancy,
                s.from_fec,
                o.concealed_in_call,
                s.playout.underruns,
            );
        }
    }
    println!(
        "air B/s: voice packets with the mesh header ({MESH_HEADER_LEN} B) on the air; link%: of the \
         {} B/s one connection carries each way. frame: packetisation (40 ms of audio before a \
         packet exists); tx: ready to arrival (airtime + latency, median); target: the playout buffer's \
         target at the end (80 ms configured, raised for jitter); buffer: arrival to playout \
         (median); m2e: capture of the first sample to playout (median, p95; no device \
         buffers). rep: lost frames rebuilt from the repeated copy; fec: from libopus's in-band \
         FEC (1.3 codes none at 6-16 kbit/s, so these sound like concealment); conc: concealed \
         while the call ran; under: buffer underruns. The playout clock's phase against the \
         sender's adds 0-40 ms to the buffer figure from run to run.",
        LINK_BYTES_PER_SEC
    );
}
