//! Video on a bad link, end to end: a real video call whose every media datagram crosses the
//! in-test proxy.
//!
//! Video yields to voice: the link is capped like a thin uplink (300 kbit/s each way,
//! a bounded drop-tail queue). The caller's camera sends a busy picture that wants far
//! more than the link carries. The congestion controller must see the bottleneck and the
//! video encoder must come down towards its floor, so the voice keeps flowing with few
//! gaps; when the cap is lifted, the video must climb back.
//!
//! Were video not yielding, it would keep sending its 500+ kbit/s into the 300 kbit/s link:
//! the queue would overflow and drop about half of every stream, the voice's too, which
//! the receiver's concealment count shows.
//!
//! A lost picture is repaired: after an outage longer than retransmission can cover, the
//! receiver asks for a keyframe and the sender sends one, well before its periodic keyframe.

mod netem;
mod support;

use std::sync::Arc;
use std::time::Duration;

use calling::peer::NetworkConfig;
use calling::{CallStats, EngineEvent, MediaDevices, SyntheticDevices};
use netem::{Bandwidth, ThroughProxy, UdpProxy};
use nostr_signal::{Identity, SignalTransport};
use phantomcall_schemas::CallId;
use support::busy_camera::BusyCamera;
use support::{connected_video_call, phone, relay, Phone, PhoneOptions, Relay};

/// A phone whose candidates all point at `proxy`.
fn through(tone_hz: f32, proxy: &Arc<UdpProxy>) -> PhoneOptions {
    let proxy = proxy.clone();
    PhoneOptions {
        network: NetworkConfig::loopback(),
        wrap: Some(Box::new(move |transport| {
            ThroughProxy::wrap(transport as Arc<dyn SignalTransport>, proxy)
        })),
        ..PhoneOptions::tone(tone_hz)
    }
}

/// A video call through `proxy`: Alice (440 Hz) sends the busy picture, Bob (660 Hz) answers.
async fn busy_video_call(relay: &Relay, proxy: &Arc<UdpProxy>) -> (Phone, Phone, CallId) {
    let alice_options = PhoneOptions {
        devices: Some(Box::new(|inner: SyntheticDevices| {
            Arc::new(BusyCamera(inner)) as Arc<dyn MediaDevices>
        })),
        ..through(440.0, proxy)
    };
    let mut alice = phone(relay, &Identity::generate(), alice_options).await;
    let mut bob = phone(relay, &Identity::generate(), through(660.0, proxy)).await;
    let call = connected_video_call(&mut alice, &mut bob).await;
    (alice, bob, call)
}

/// Every stats snapshot of `call` that `phone` reports for `period`.
async fn stats_for(phone: &mut Phone, call: CallId, period: Duration) -> Vec<CallStats> {
    let deadline = tokio::time::Instant::now() + period;
    let mut seen = Vec::new();
    while let Ok(event) = tokio::time::timeout_at(deadline, phone.events.recv()).await {
        if let Ok(EngineEvent::Stats { call_id, stats }) = event {
            if call_id == call && stats.media_up {
                seen.push(stats);
            }
        }
    }
    seen
}

/// Both phones' stats over the same `period`.
async fn both_for(
    alice: &mut Phone,
    bob: &mut Phone,
    call: CallId,
    period: Duration,
) -> (Vec<CallStats>, Vec<CallStats>) {
    tokio::join!(stats_for(alice, call, period), stats_for(bob, call, period))
}

fn show(phase: &str, sender: &[CallStats], receiver: &[CallStats]) {
    for (s, r) in sender.iter().zip(receiver) {
        eprintln!(
            "{phase}: target {:>4} kbit/s  video {:>4} kbit/s  voice {:>2} kbit/s  out {:>5.0} kbit/s | received: played {} concealed {} audio packets {} video frames {}",
            s.peer.target_bitrate_bps / 1000,
            s.video_bitrate_kbps,
            s.audio_bitrate_kbps,
            s.bitrate_out_kbps,
            r.audio_frames_played,
            r.audio_frames_concealed,
            r.audio_packets_received,
            r.video_frames_decoded,
        );
    }
}

fn median(mut values: Vec<u32>) -> u32 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// The link's rate while capped, kbit/s.
const CAP_KBPS: u32 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_thin_link_video_yields_to_voice_and_comes_back_when_it_widens() {
    let relay = relay().await;
    let proxy = UdpProxy::new();
    let (mut alice, mut bob, call) = busy_video_call(&relay, &proxy).await;
    bob.wait_hears(440.0).await;

    // Open link: the video climbs well past what the cap will carry.
    let (s, r) = both_for(&mut alice, &mut bob, call, Duration::from_secs(4)).await;
    show("open", &s, &r);
    let open = s.iter().map(|s| s.video_bitrate_kbps).max().unwrap_or(0);
    assert!(open >= 400, "video wants more than the cap: {open} kbit/s");
    let voice_kbps = s.last().map(|s| s.audio_bitrate_kbps).unwrap_or(0);

    // Capped: the first seconds are the controller finding the bottleneck (what the video
    // sent into a full queue is lost meanwhile); then the link is the voice's first.
    proxy.set_bandwidth(Some(Bandwidth {
        bits_per_second: u64::from(CAP_KBPS) * 1000,
        max_queue_delay: Duration::from_millis(250),
    }));
    let (s, r) = both_for(&mut alice, &mut bob, call, Duration::from_secs(4)).await;
    show("capped, settling", &s, &r);
    let settling_min = s
        .iter()
        .map(|s| s.video_bitrate_kbps)
        .min()
        .unwrap_or(u32::MAX);
    let window = Duration::from_secs(10);
    let (s, r) = both_for(&mut alice, &mut bob, call, window).await;
    show("capped", &s, &r);
    let (Some(first), Some(last)) = (r.first(), r.last()) else {
        panic!("no stats from the receiver while capped");
    };
    let seconds = last
        .connected_for
        .zip(first.connected_for)
        .map_or(window.as_secs_f64(), |(l, f)| (l - f).as_secs_f64())
        .max(1.0);
    let packets = (last.audio_packets_received - first.audio_packets_received) as f64;
    let played = last.audio_frames_played - first.audio_frames_played;
    let concealed = last.audio_frames_concealed - first.audio_frames_concealed;
    // Video yields: down to (near) its floor at first, and below the link on the whole.
    assert!(
        settling_min <= 150,
        "the video encoder came down on the thin link: {settling_min} kbit/s at least"
    );
    let capped_video = median(s.iter().map(|s| s.video_bitrate_kbps).collect());
    assert!(
        capped_video < CAP_KBPS,
        "video kept under the {CAP_KBPS} kbit/s link: median {capped_video} kbit/s"
    );
    // The voice keeps its rate and flows: 50 packets a second sent, few gaps.
    // (It may rise: the encoder adds redundancy for the loss the peer reports.)
    let default_kbps = (media::audio::DEFAULT_BITRATE / 1000) as u32;
    assert!(
        s.iter().all(|s| s.audio_bitrate_kbps >= default_kbps),
        "the voice's bitrate was never cut below its {default_kbps} kbit/s (open: {voice_kbps})"
    );
    assert!(
        // 44-50 a second when it works, 3 when the video does not yield: a wide margin
        // for a loaded machine.
        packets / seconds >= 35.0,
        "voice packets arrive: {:.1} a second",
        packets / seconds
    );
    assert!(
        // About 3 % concealed when it works, over 60 % when the video does not yield.
        concealed * 5 <= played + concealed,
        "few gaps in the voice: {concealed} of {} frames concealed",
        played + concealed
    );
    eprintln!("overflowed {}", proxy.overflowed());

    // Lifted: the video climbs back above what the link carried.
    proxy.set_bandwidth(None);
    let mut climbed = 0;
    for _ in 0..12 {
        let (s, r) = both_for(&mut alice, &mut bob, call, Duration::from_secs(2)).await;
        show("lifted", &s, &r);
        climbed = s.iter().map(|s| s.video_bitrate_kbps).max().unwrap_or(0);
        if climbed >= 2 * CAP_KBPS {
            break;
        }
    }
    assert!(
        climbed >= 2 * CAP_KBPS,
        "video came back when the link widened: {climbed} kbit/s"
    );
    let decoded = r.last().map_or(0, |r| r.video_frames_decoded);
    bob.wait_stats(call, |s| s.video_frames_decoded > decoded + 10)
        .await;
    alice.engine.hangup(call);
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

/// How soon after the outage the picture must be repaired: a request and a keyframe take
/// a round trip and a frame, and stats come once a second, so the wait seen here is late
/// by up to a second. The sender's periodic keyframes are 3 s apart
/// (`media::video::KEYFRAME_INTERVAL`).
const REPAIR_BOUND: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_picture_lost_to_an_outage_is_repaired_by_a_keyframe_the_receiver_asks_for() {
    let relay = relay().await;
    let proxy = UdpProxy::new();
    let (mut alice, mut bob, call) = busy_video_call(&relay, &proxy).await;
    bob.wait_stats(call, |s| s.video_frames_decoded > 24).await;
    // A shared screen too: mostly still slides, which get no periodic keyframe at all.
    let slides = alice.devices.screen_targets().targets[0].clone();
    alice.engine.start_screen_share(call, slides);
    bob.wait_stats(call, |s| s.remote_screen && s.remote_screen_frames > 3)
        .await;

    // A clean link: nothing to repair, so (almost) nothing asked for.
    let (_, r) = both_for(&mut alice, &mut bob, call, Duration::from_secs(3)).await;
    let (Some(first), Some(last)) = (r.first(), r.last()) else {
        panic!("no stats from the receiver");
    };
    let clean_requests = last.keyframe_requests_sent - first.keyframe_requests_sent;
    assert!(
        clean_requests <= 3,
        "{clean_requests} keyframe requests in 3 s on a clean link (a storm is 12)"
    );

    // An outage longer than the five retransmission requests of a lost packet (100 ms
    // apart), shorter than ICE's 2 s disconnection timeout.
    let before = bob.wait_stats(call, |_| true).await;
    let sender_before = alice.wait_stats(call, |_| true).await;
    let asked_before = sender_before.keyframe_requests_received;
    proxy.set_blackhole(true);
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.set_blackhole(false);
    let back = std::time::Instant::now();
    let repaired = bob
        .wait_stats(call, |s| {
            s.video_keyframes_received > before.video_keyframes_received
                && s.keyframe_requests_sent > before.keyframe_requests_sent
        })
        .await;
    let took = back.elapsed();
    let asked = alice
        .wait_stats(call, |s| s.keyframe_requests_received > asked_before)
        .await;
    eprintln!(
        "keyframe {} ms after the link came back; requests sent {}, received {}; keyframes sent {}",
        took.as_millis(),
        repaired.keyframe_requests_sent - before.keyframe_requests_sent,
        asked.keyframe_requests_received - asked_before,
        asked.video_keyframes_sent,
    );
    assert!(
        took < REPAIR_BOUND,
        "the keyframe came {} ms after the outage",
        took.as_millis()
    );
    // The screen share's requests reach its encoder the same way when its packets were lost
    // too, but a still slide deck may send nothing during a short outage (seen with the
    // other test of this file running beside it), so that is not asserted here.
    let shared = alice.wait_stats(call, |_| true).await;
    eprintln!(
        "screen: requests received {}, keyframes sent {} (before the outage {}, {})",
        shared.screen_keyframe_requests_received,
        shared.screen_keyframes_sent,
        sender_before.screen_keyframe_requests_received,
        sender_before.screen_keyframes_sent,
    );
    let decoded = repaired.video_frames_decoded;
    bob.wait_stats(call, |s| s.video_frames_decoded > decoded + 10)
        .await;
    alice.engine.hangup(call);
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}
