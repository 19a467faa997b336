//! What one bridged call costs the gateway and how much delay the gateway adds.
//!
//! 1. **Calls per core.** Each bridged call, every 20 ms and in each direction, does what the
//!    gateway's own code and the engine's codec do for it: phone to user, G.711 decode,
//!    8 to 48 kHz, Opus encode; user to phone, Opus decode, 48 to 8 kHz, the keypad
//!    detector, G.711 encode. N calls are run on one thread for 10 s of audio each; the
//!    figure is how many such calls one core keeps up with, from the thread's own CPU
//!    time (`/proc/thread-self/schedstat`, so other processes on a shared machine do not
//!    count; wall time where that file is missing), and the p95 wall time of one 20 ms
//!    round for all N calls (which must stay under 20 ms for N to be real-time, and
//!    does include the machine's other load).
//!    SRTP and the network stacks are not counted (the same for any SFU or client).
//!    A second table does the same with Opus on the SIP leg (a trunk that offers it):
//!    the phone's packet is Opus-decoded and brought to the leg's 8 kHz frame, and the
//!    frame to the phone is brought back to 48 kHz and Opus-encoded, as `rtp::codec` does.
//! 2. **Added delay.** Real parts on loopback: a "carrier" socket sends G.711 RTP every
//!    20 ms to the gateway's RTP session; the line's microphone (what the engine reads)
//!    returns the impulse the carrier put in; and back, an impulse written to the line's
//!    speaker comes out in an RTP packet the carrier receives. The delay is media time:
//!    when the engine could have the sample minus when the carrier sent it (and the
//!    reverse), over 20 impulses each way, median and p95.
//!
//! Run: `cargo bench --workspace --locked --profile dev --bench bridged_calls`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::MediaDevices;
use media::audio::{DtmfDetector, OpusDecoder, OpusEncoder, DEFAULT_BITRATE};
use nostr_signal::Identity;
use phantomcall_schemas::CallId;
use pstn_gateway::bridge::resample::{Downsampler, Upsampler};
use pstn_gateway::bridge::{PhoneAudio, PhoneDevices};
use pstn_gateway::g711::G711;
use pstn_gateway::rtp::packet::RtpPacket;
use pstn_gateway::rtp::session::{self, MediaChannels, MediaStats, Silence};
use pstn_gateway::sdp::{Codec, MediaDirection, Negotiated};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

const FRAME_8K: usize = 160;
const FRAME_48K: usize = 960;

/// One call's per-direction state.
struct Call {
    up: Upsampler,
    down: Downsampler,
    encoder: OpusEncoder,
    decoder: OpusDecoder,
    keys: DtmfDetector,
    phone_bytes: Vec<u8>,
    user_packet: Vec<u8>,
    /// Opus on the SIP leg instead of G.711.
    phone_opus: Option<PhoneOpus>,
}

/// The SIP leg's Opus state (what `rtp::codec` keeps per call).
struct PhoneOpus {
    encoder: OpusEncoder,
    decoder: OpusDecoder,
    up: Upsampler,
    down: Downsampler,
    packet: Vec<u8>,
}

fn speechish(n: usize, seed: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = (i + seed * 37) as f64 / 8000.0;
            (6000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
                + 3000.0 * (2.0 * std::f64::consts::PI * 1370.0 * t).sin()) as i16
        })
        .collect()
}

fn new_call(seed: usize, opus_leg: bool) -> Call {
    let mut encoder = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
    let user_pcm: Vec<i16> = speechish(FRAME_8K * 6, seed);
    let user_packet = encoder.encode(&user_pcm[..FRAME_48K]).unwrap();
    Call {
        up: Upsampler::default(),
        down: Downsampler::default(),
        encoder,
        decoder: OpusDecoder::new().unwrap(),
        keys: DtmfDetector::new(8_000),
        phone_bytes: G711::Pcmu.encode(&speechish(FRAME_8K, seed)),
        user_packet,
        phone_opus: opus_leg.then(|| {
            let mut encoder = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
            let mut up = Upsampler::default();
            let packet = encoder
                .encode(&up.process(&speechish(FRAME_8K, seed + 1)))
                .unwrap();
            PhoneOpus {
                encoder,
                decoder: OpusDecoder::new().unwrap(),
                up,
                down: Downsampler::default(),
                packet,
            }
        }),
    }
}

/// One 20 ms round of one call, both directions.
fn round(call: &mut Call) {
    let pcm = match call.phone_opus.as_mut() {
        Some(leg) => leg
            .down
            .process(&leg.decoder.decode(Some(&leg.packet)).unwrap()),
        None => G711::Pcmu.decode(&call.phone_bytes),
    };
    let wide = call.up.process(&pcm);
    std::hint::black_box(call.encoder.encode(&wide).unwrap());
    let heard = call.decoder.decode(Some(&call.user_packet)).unwrap();
    let narrow = call.down.process(&heard);
    std::hint::black_box(call.keys.push(&narrow));
    match call.phone_opus.as_mut() {
        Some(leg) => {
            let wide = leg.up.process(&narrow);
            std::hint::black_box(leg.encoder.encode(&wide).unwrap());
        }
        None => {
            std::hint::black_box(G711::Pcmu.encode(&narrow));
        }
    }
}

/// CPU time this thread has used, if the kernel says (`schedstat`'s first field, ns).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn calls_per_core(opus_leg: bool) {
    let leg = if opus_leg { "Opus" } else { "G.711" };
    println!("calls per core ({leg} <-> Opus, both directions, one thread, 10 s of audio):");
    println!("  calls  cpu per call-second  calls/core  p95 round, wall time (all calls)");
    for n in [1usize, 10, 50, 100] {
        let mut calls: Vec<Call> = (0..n).map(|seed| new_call(seed, opus_leg)).collect();
        let rounds = 500; // 10 s
        let mut round_times = Vec::with_capacity(rounds);
        let start = Instant::now();
        let cpu_start = thread_cpu();
        for _ in 0..rounds {
            let t = Instant::now();
            for call in calls.iter_mut() {
                round(call);
            }
            round_times.push(t.elapsed());
        }
        // The thread's CPU time; wall time only when the kernel does not say.
        let total = match (cpu_start, thread_cpu()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => start.elapsed(),
        };
        round_times.sort();
        let p95 = round_times[rounds * 95 / 100];
        let per_call_second = total.as_secs_f64() / (n as f64 * 10.0);
        println!(
            "  {n:>5}  {:>14.2} ms  {:>10.0}  {:>8.2} ms{}",
            per_call_second * 1e3,
            1.0 / per_call_second,
            p95.as_secs_f64() * 1e3,
            if p95 < Duration::from_millis(20) {
                ""
            } else {
                "  (over 20 ms: not real-time)"
            }
        );
    }
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Media-time delay through the gateway, both directions, with the real RTP session and
/// phone line devices.
async fn added_delay() {
    let (gateway_socket, gateway_addr) = session::bind("127.0.0.1".parse().unwrap()).await.unwrap();
    let carrier = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let carrier_addr = carrier.local_addr().unwrap();
    let (from_tx, from_phone) = mpsc::channel(8);
    let (to_phone, to_rx) = mpsc::channel(8);
    let (kf_tx, _kf) = mpsc::channel(8);
    let (_kt, kt_rx) = mpsc::channel(8);
    let (_keep, target) = watch::channel(Negotiated {
        codec: Codec::G711(G711::Pcmu),
        codec_pt: 0,
        dtmf_pt: None,
        dtmf_clock: 8000,
        remote: carrier_addr,
        direction: MediaDirection::SendRecv,
    });
    let stop = CancellationToken::new();
    tokio::spawn(session::run(
        gateway_socket,
        target,
        MediaChannels {
            from_phone: from_tx,
            to_phone: to_rx,
            keys_from_phone: kf_tx,
            keys_to_phone: kt_rx,
        },
        Arc::new(MediaStats::default()),
        stop.clone(),
        Silence {
            timeout: Duration::from_secs(60),
            lost: None,
        },
    ));
    let lines = PhoneDevices::default();
    let call = CallId::new_random();
    lines.connect(
        call,
        PhoneAudio {
            from_phone,
            to_phone,
            keys_from_phone: None,
            keys_to_phone: None,
        },
    );
    let who = Identity::generate().public_key();
    let mut microphone = lines.microphone_for(call, &who).unwrap();
    let mut speaker = lines.speaker_for(call, &who).unwrap();

    // Phone -> user: the carrier sends a frame every 20 ms; every 10th carries an impulse
    // in its last sample. The engine side reads frames on its own thread.
    let origin = Instant::now();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<f64>();
    let reader = std::thread::spawn(move || {
        for _ in 0..1_100 {
            let Ok(frame) = microphone.read_frame() else {
                return;
            };
            let now = origin.elapsed().as_secs_f64();
            if let Some(at) = frame.samples.iter().position(|s| s.abs() > 8_000) {
                // The sample at `at` could be had when the frame was complete.
                let _ = seen_tx.send(now - (FRAME_48K - at) as f64 / 48_000.0);
            }
        }
    });
    let mut sent_at = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for seq in 0..1_000u16 {
        tick.tick().await;
        let mut pcm = vec![0i16; FRAME_8K];
        if seq % 10 == 5 {
            pcm[FRAME_8K - 1] = 24_000;
            sent_at.push(origin.elapsed().as_secs_f64());
        }
        let packet = RtpPacket {
            marker: seq == 0,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * FRAME_8K as u32,
            ssrc: 7,
            payload: &G711::Pcmu.encode(&pcm),
        }
        .to_bytes();
        carrier.send_to(&packet, gateway_addr).await.unwrap();
        if seq == 199 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen: Vec<f64> = seen_rx.try_iter().collect();
    let mut inbound: Vec<f64> = sent_at
        .iter()
        .zip(&seen)
        .map(|(sent, seen)| (seen - sent) * 1e3)
        .collect();
    inbound.sort_by(f64::total_cmp);

    // User -> phone: the engine writes 48 kHz frames every 20 ms; every 10th has an
    // impulse in its last sample; the carrier notes where it lands.
    let receiver = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        let mut landed = Vec::new();
        while landed.len() < 20 {
            let Ok(Ok((len, _))) =
                tokio::time::timeout(Duration::from_secs(2), carrier.recv_from(&mut buf)).await
            else {
                break;
            };
            let at = origin.elapsed().as_secs_f64();
            let Ok(packet) = RtpPacket::parse(&buf[..len]) else {
                continue;
            };
            let pcm = G711::Pcmu.decode(packet.payload);
            if let Some(pos) = pcm.iter().position(|s| s.abs() > 4_000) {
                // The packet left at `at`; its sample `pos` is that much older.
                landed.push(at - (FRAME_8K - pos) as f64 / 8_000.0);
            }
        }
        landed
    });
    let mut written_at = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..200 {
        tick.tick().await;
        let mut frame = vec![0i16; FRAME_48K];
        if i % 10 == 5 {
            frame[FRAME_48K - 1] = 30_000;
            frame[FRAME_48K - 2] = 30_000;
            written_at.push(origin.elapsed().as_secs_f64());
        }
        speaker.write_frame(&frame).unwrap();
    }
    let landed = receiver.await.unwrap();
    let mut outbound: Vec<f64> = written_at
        .iter()
        .zip(&landed)
        .map(|(w, l)| (l - w) * 1e3)
        .collect();
    outbound.sort_by(f64::total_cmp);
    stop.cancel();
    drop(reader);

    println!("added delay through the gateway (media time, real RTP session on loopback):");
    for (name, v) in [("phone -> user", &inbound), ("user -> phone", &outbound)] {
        if v.is_empty() {
            println!("  {name}: no impulse came through");
            continue;
        }
        println!(
            "  {name}: median {:.1} ms, p95 {:.1} ms over {} impulses",
            percentile(v, 50),
            percentile(v, 95),
            v.len()
        );
    }
}

fn main() {
    calls_per_core(false);
    calls_per_core(true);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(added_delay());
}
