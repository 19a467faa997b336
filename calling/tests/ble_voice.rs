//! Voice calls over one direct Bluetooth LE connection of the simulated radio (15 KB/s,
//! 15 ms latency, random loss), in virtual time: ten minutes of two-way audio with a
//! tone each way, checked at every minute and at the end, with mouth-to-ear latency and
//! loss concealment measured; a third device that tries to inject into the call; and,
//! in real time, a short call between two devices' microphones and speakers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use calling::ble_voice::{
    BleVoiceCall, BleVoiceConfig, BleVoiceIo, BleVoiceKeys, BleVoiceSender, CallStats, PlayedFrame,
    Role, SessionKeys, Source, FRAME_SAMPLES,
};
use calling::SyntheticDevices;
use media::audio::{AudioFrame, AudioSource, ToneCheck, ToneSource, FRAME_DURATION, SAMPLE_RATE};
use nostr_signal::ble_fallback::sim::{SimAir, SimParams, SimRadio};
use nostr_signal::ble_fallback::{MeshConfig, MeshNode, NeighborId};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const CALLER_HZ: f32 = 440.0;
const CALLEE_HZ: f32 = 660.0;

fn node(air: &SimAir, name: &str, seed: u64) -> (Arc<SimRadio>, Arc<MeshNode>) {
    let radio = Arc::new(air.add_node(name));
    let config = MeshConfig {
        seed: Some(seed),
        ..MeshConfig::default()
    };
    (radio.clone(), Arc::new(MeshNode::spawn(radio, config)))
}

async fn neighbors(mesh: &MeshNode, count: usize) -> Vec<NeighborId> {
    let mut status = mesh.status();
    let ids = tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.neighbor_ids.len() >= count),
    )
    .await
    .expect("connected in time")
    .expect("node running")
    .neighbor_ids
    .clone();
    ids
}

/// Both sides' keys as the offer and answer would give them.
fn session(call_id: &str) -> (SessionKeys, SessionKeys) {
    let (caller, callee) = (BleVoiceKeys::generate(), BleVoiceKeys::generate());
    let (offer, answer) = (caller.public_share(), callee.public_share());
    (
        caller.agree(&answer, call_id, Role::Caller).unwrap(),
        callee.agree(&offer, call_id, Role::Callee).unwrap(),
    )
}

/// A microphone playing `hz` in real (virtual) time: frame `k` is captured from
/// `t0 + 20 ms * k` and handed over when complete, 20 ms later. Returns `t0`.
fn microphone(
    io_mic: tokio::sync::mpsc::Sender<AudioFrame>,
    hz: f32,
    length: Duration,
) -> (Instant, JoinHandle<()>) {
    let t0 = Instant::now();
    let frames = (length.as_millis() / FRAME_DURATION.as_millis()) as u32;
    let task = tokio::spawn(async move {
        let mut tone = ToneSource::new(hz, 0.5).paced(false);
        for k in 0..frames {
            let captured = t0 + FRAME_DURATION * k;
            tokio::time::sleep_until(captured + FRAME_DURATION).await;
            let frame = AudioFrame {
                samples: tone.read_frame().unwrap().samples,
                captured_at: captured.into_std(),
            };
            if io_mic.send(frame).await.is_err() {
                return;
            }
        }
    });
    (t0, task)
}

/// What one side heard.
#[derive(Default)]
struct Heard {
    /// Mouth-to-ear of every frame played from a packet (its own or the repeat).
    latencies: Vec<Duration>,
    /// The last second of audio.
    recent: VecDeque<i16>,
    /// Minute marks at which the peer's tone was checked.
    checks: Vec<(u64, bool)>,
    /// Where every played frame came from.
    sources: Vec<Source>,
}

impl Heard {
    /// Frames not played from their own packet between the first and the last that was
    /// (priming before and the silence after the call do not count).
    fn gaps(&self) -> Vec<Source> {
        let first = self.sources.iter().position(|s| *s == Source::Packet);
        let last = self.sources.iter().rposition(|s| *s == Source::Packet);
        match (first, last) {
            (Some(first), Some(last)) => self.sources[first..=last]
                .iter()
                .copied()
                .filter(|s| *s != Source::Packet)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Plays the speaker side until the call stops: measures latency against the peer's
/// capture clock (`peer_t0`) and checks the peer's tone once a minute.
fn speaker(
    mut speaker: tokio::sync::mpsc::Receiver<PlayedFrame>,
    peer_t0: Instant,
    peer_hz: f32,
) -> JoinHandle<Heard> {
    tokio::spawn(async move {
        let mut heard = Heard::default();
        let mut next_minute = 1;
        while let Some(frame) = speaker.recv().await {
            heard.sources.push(frame.source);
            if let (Some(ts), Source::Packet | Source::Redundancy) = (frame.timestamp, frame.source)
            {
                let captured = peer_t0.into_std()
                    + Duration::from_nanos(u64::from(ts) * 1_000_000_000 / u64::from(SAMPLE_RATE));
                heard.latencies.push(frame.played_at - captured);
            }
            heard.recent.extend(&frame.samples);
            let excess = heard.recent.len().saturating_sub(SAMPLE_RATE as usize);
            heard.recent.drain(..excess);
            let elapsed = frame.played_at - peer_t0.into_std();
            if elapsed >= Duration::from_secs(60 * next_minute) {
                let window: Vec<i16> = heard.recent.iter().copied().collect();
                let report = ToneCheck::detect(&window, peer_hz);
                heard.checks.push((next_minute, report.dominant));
                next_minute += 1;
            }
        }
        heard
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(side: &str, heard: &mut Heard, stats: &CallStats) -> (Duration, Duration) {
    heard.latencies.sort();
    let (median, p95) = (
        percentile(&heard.latencies, 0.5),
        percentile(&heard.latencies, 0.95),
    );
    let r = &stats.receiver;
    eprintln!(
        "{side}: mouth-to-ear median {median:?} p95 {p95:?} max {:?}; played {} repeat {} fec {} \
         concealed {} waiting {}; buffer lost {} late {} underruns {} discarded {} target {} ms \
         jitter {:.1} ms; sent {} packets {} B ({} with the repeat); drops {:?}",
        heard.latencies.last().unwrap(),
        r.played,
        r.from_redundancy,
        r.from_fec,
        r.concealed,
        r.waiting,
        r.playout.lost,
        r.playout.late,
        r.playout.underruns,
        r.playout.discarded,
        r.playout.target_ms,
        r.playout.jitter_ms,
        stats.sender.packets,
        stats.sender.bytes,
        stats.sender.with_redundancy,
        r.dropped,
    );
    (median, p95)
}

#[tokio::test(start_paused = true)]
async fn a_ten_minute_call_over_one_lossy_connection_carries_both_tones() {
    let air = SimAir::new(SimParams {
        bytes_per_sec: 15_000,
        loss: 0.05,
        seed: 16,
        ..SimParams::default()
    });
    let (a, mesh_a) = node(&air, "caller", 1);
    let (b, mesh_b) = node(&air, "callee", 2);
    air.set_in_range(&a, &b, true);
    let peer_of_a = neighbors(&mesh_a, 1).await[0];
    let peer_of_b = neighbors(&mesh_b, 1).await[0];

    let (caller_keys, callee_keys) = session("ten-minute call");
    let config = BleVoiceConfig::default();
    // The caller knows the connection; the callee finds it by the packets that open.
    let (call_a, io_a) = BleVoiceCall::start(mesh_a, Some(peer_of_a), caller_keys, config).unwrap();
    let (call_b, io_b) = BleVoiceCall::start(mesh_b, None, callee_keys, config).unwrap();
    let BleVoiceIo {
        microphone: mic_a,
        speaker: speaker_a,
    } = io_a;
    let BleVoiceIo {
        microphone: mic_b,
        speaker: speaker_b,
    } = io_b;

    let length = Duration::from_secs(600);
    let (t0_a, talk_a) = microphone(mic_a, CALLER_HZ, length);
    let (t0_b, talk_b) = microphone(mic_b, CALLEE_HZ, length);
    let hears_a = speaker(speaker_a, t0_b, CALLEE_HZ);
    let hears_b = speaker(speaker_b, t0_a, CALLER_HZ);
    talk_a.await.unwrap();
    talk_b.await.unwrap();
    // Let the last packets play out.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (stats_a, stats_b) = (call_a.stats(), call_b.stats());
    call_a.stop().await;
    call_b.stop().await;
    let mut heard_a = hears_a.await.unwrap();
    let mut heard_b = hears_b.await.unwrap();

    assert_eq!(
        stats_b.peer,
        Some(peer_of_b),
        "the callee found the connection"
    );
    for (side, heard, stats) in [
        ("caller hears callee", &mut heard_a, &stats_a),
        ("callee hears caller", &mut heard_b, &stats_b),
    ] {
        let (median, p95) = report(side, heard, stats);
        assert!(
            median < Duration::from_millis(400),
            "{side}: median {median:?}"
        );
        assert!(p95 < Duration::from_millis(400), "{side}: p95 {p95:?}");
        assert_eq!(heard.checks.len(), 10, "{side}: {:?}", heard.checks);
        assert!(
            heard.checks.iter().all(|(_, dominant)| *dominant),
            "{side}: the peer's tone at each minute: {:?}",
            heard.checks
        );
        let r = &stats.receiver;
        // 600 s of 40 ms packets each way.
        assert_eq!(stats.sender.packets, 15_000, "{side}");
        let sent = 15_000f64;
        let lost = r.playout.lost as f64;
        assert!(
            (0.035 * sent..0.065 * sent).contains(&lost),
            "{side}: {lost} turns lost of {sent} at 5 % loss"
        );
        assert!(
            r.from_redundancy as f64 >= 0.85 * lost,
            "{side}: {} of {lost} lost frames rebuilt from the repeat",
            r.from_redundancy
        );
        let gaps = heard.gaps();
        let concealed = gaps.iter().filter(|s| **s == Source::Concealed).count();
        eprintln!(
            "{side}: during the call {} frames not from their packet, {concealed} concealed",
            gaps.len()
        );
        assert!(
            (concealed as f64) < 0.2 * lost,
            "{side}: {concealed} concealed for {lost} lost"
        );
        assert_eq!(r.dropped.total(), 0, "{side}: nothing forged on this air");
        assert_eq!(stats.speaker_overflow, 0, "{side}");
        assert_eq!(stats.send_errors, 0, "{side}");
    }
    // The last seconds, as played: each side hears the other's tone, not its own.
    for (heard, peer_hz, own_hz) in [
        (&heard_a, CALLEE_HZ, CALLER_HZ),
        (&heard_b, CALLER_HZ, CALLEE_HZ),
    ] {
        let last: Vec<i16> = heard.recent.iter().copied().collect();
        // The final 400 ms are the silence after the call: look before them.
        let window = &last[..last.len() - 10 * FRAME_SAMPLES];
        let report = ToneCheck::detect(window, peer_hz);
        assert!(report.dominant, "{peer_hz} Hz at the end: {report:?}");
        assert!(!ToneCheck::detect(window, own_hz).dominant);
    }
}

#[tokio::test(start_paused = true)]
async fn a_third_device_cannot_inject_into_the_call() {
    let air = SimAir::new(SimParams {
        bytes_per_sec: 15_000,
        ..SimParams::default()
    });
    let (a, mesh_a) = node(&air, "caller", 1);
    let (b, mesh_b) = node(&air, "callee", 2);
    let (c, mesh_c) = node(&air, "intruder", 3);
    air.line(&[&a, &b, &c]);
    let peer_of_a = neighbors(&mesh_a, 1).await[0];
    neighbors(&mesh_b, 2).await;
    let b_from_c = neighbors(&mesh_c, 1).await[0];

    let (caller_keys, callee_keys) = session("the real call");
    let config = BleVoiceConfig::default();
    let (call_b, io_b) = BleVoiceCall::start(mesh_b, None, callee_keys, config).unwrap();
    // Before the caller talks, the intruder sends packets sealed for another call, a
    // truncated one and noise; the callee does not yet know which connection is its peer.
    let (stranger_keys, _) = session("the real call");
    let mut stranger = BleVoiceSender::new(stranger_keys.send, &config).unwrap();
    let mut tone = ToneSource::new(CALLER_HZ, 0.5).paced(false);
    let mut forged = Vec::new();
    for k in 0..20u32 {
        let frame = AudioFrame {
            samples: tone.read_frame().unwrap().samples,
            captured_at: (Instant::now() + FRAME_DURATION * k).into_std(),
        };
        if let Some(packet) = stranger.push_frame(&frame).unwrap() {
            forged.push(packet.bytes);
        }
    }
    for packet in &forged {
        mesh_c.send_voice(b_from_c, packet.clone());
    }
    mesh_c.send_voice(b_from_c, forged[0][..20].to_vec());
    mesh_c.send_voice(b_from_c, vec![0x55; 120]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = call_b.stats();
    assert_eq!(before.peer, None, "nothing authenticated");
    assert_eq!(before.receiver.accepted, 0);
    let d = before.receiver.dropped;
    assert_eq!(
        (d.forged, d.too_short, d.unknown_version),
        (10, 1, 1),
        "{d:?}"
    );

    // The caller talks: the callee locks on to it; the intruder's packets are now
    // refused unread, and the caller's tone plays.
    let (call_a, io_a) = BleVoiceCall::start(mesh_a, Some(peer_of_a), caller_keys, config).unwrap();
    let (t0_a, talk_a) = microphone(io_a.microphone, CALLER_HZ, Duration::from_secs(10));
    let hears_b = speaker(io_b.speaker, t0_a, CALLER_HZ);
    tokio::time::sleep(Duration::from_secs(5)).await;
    for packet in &forged {
        mesh_c.send_voice(b_from_c, packet.clone());
    }
    talk_a.await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = call_b.stats();
    call_a.stop().await;
    call_b.stop().await;
    let heard = hears_b.await.unwrap();
    assert!(
        after.peer.is_some(),
        "the caller's connection, found by its packets"
    );
    assert_eq!(
        after.receiver.dropped.wrong_neighbor, 10,
        "the intruder's, unread"
    );
    assert_eq!(
        after.receiver.accepted, 250,
        "every packet of 10 s, no loss on this air"
    );
    assert_eq!(heard.gaps(), Vec::<Source>::new(), "nothing concealed");
    let last: Vec<i16> = heard.recent.iter().copied().collect();
    let window = &last[..last.len() - 10 * FRAME_SAMPLES];
    assert!(ToneCheck::detect(window, CALLER_HZ).dominant);
}

#[tokio::test(start_paused = true)]
async fn packets_replayed_over_the_link_are_dropped_and_counted() {
    // Whoever relays or records the link sends the caller's own packets again: once
    // more within the replay window, and once from beyond it.
    let air = SimAir::new(SimParams::default());
    let (a, mesh_a) = node(&air, "caller", 1);
    let (b, mesh_b) = node(&air, "callee", 2);
    air.set_in_range(&a, &b, true);
    let to_b = neighbors(&mesh_a, 1).await[0];
    neighbors(&mesh_b, 1).await;
    let (caller_keys, callee_keys) = session("replays");
    let config = BleVoiceConfig::default();
    let (call_b, _io_b) = BleVoiceCall::start(mesh_b, None, callee_keys, config).unwrap();
    let mut sender = BleVoiceSender::new(caller_keys.send, &config).unwrap();
    let mut tone = ToneSource::new(CALLER_HZ, 0.5).paced(false);
    let mut sent = Vec::new();
    for k in 0..400u32 {
        tokio::time::sleep(FRAME_DURATION).await;
        let frame = AudioFrame {
            samples: tone.read_frame().unwrap().samples,
            captured_at: Instant::now().into_std(),
        };
        if let Some(packet) = sender.push_frame(&frame).unwrap() {
            mesh_a.send_voice(to_b, packet.bytes.clone());
            sent.push(packet.bytes);
        }
        if k == 100 {
            mesh_a.send_voice(to_b, sent[40].clone());
        }
    }
    mesh_a.send_voice(to_b, sent[10].clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = call_b.stats();
    call_b.stop().await;
    let d = stats.receiver.dropped;
    assert_eq!((d.replayed, d.too_old, d.total()), (1, 1, 2), "{d:?}");
    assert_eq!(stats.receiver.accepted, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_between_two_devices_plays_each_peers_tone_on_its_speaker() {
    // Real time: the synthetic microphones pace themselves on the wall clock.
    let air = SimAir::new(SimParams::default());
    let (a, mesh_a) = node(&air, "caller", 1);
    let (b, mesh_b) = node(&air, "callee", 2);
    air.set_in_range(&a, &b, true);
    let peer_of_a = neighbors(&mesh_a, 1).await[0];
    neighbors(&mesh_b, 1).await;
    let (caller_keys, callee_keys) = session("devices");
    let (devices_a, devices_b) = (
        SyntheticDevices::new(CALLER_HZ),
        SyntheticDevices::new(CALLEE_HZ),
    );
    let config = BleVoiceConfig::default();
    let call_a =
        BleVoiceCall::start_with_devices(mesh_a, Some(peer_of_a), caller_keys, config, &devices_a)
            .unwrap();
    let call_b =
        BleVoiceCall::start_with_devices(mesh_b, None, callee_keys, config, &devices_b).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (stats_a, stats_b) = (call_a.stats(), call_b.stats());
    call_a.stop().await;
    call_b.stop().await;
    for (side, devices, stats, peer_hz) in [
        ("caller", &devices_a, &stats_a, CALLEE_HZ),
        ("callee", &devices_b, &stats_b, CALLER_HZ),
    ] {
        assert!(stats.receiver.played > 40, "{side}: {stats:?}");
        let speaker = &devices.probes.speakers()[0];
        // The speaker got 20 ms writes; look at a second played well inside the call.
        let played = speaker.recording.samples();
        assert!(
            played.len() >= 2 * SAMPLE_RATE as usize,
            "{side}: {}",
            played.len()
        );
        let window = &played[played.len() - 2 * SAMPLE_RATE as usize..][..SAMPLE_RATE as usize];
        let report = ToneCheck::detect(window, peer_hz);
        assert!(report.dominant, "{side} hears {peer_hz} Hz: {report:?}");
    }
}
