//! Everyone in a room receives everyone else's audio and video through the SFU, byte for
//! byte as sent, and never their own; keyframe requests reach the publisher.

mod sfu_support;

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Mutex;

use sfu_jitsi_bridge::sfu::{ForwardHook, ForwardedPacket, MediaKind, RoomId, Sfu, SfuConfig};
use sfu_jitsi_bridge::tiers::Tier;
use sfu_support::{Client, Kind};

/// Audio packet size: 100 bytes every 20 ms is 40 kbit/s.
const AUDIO_LEN: usize = 100;
/// Video packet size and rate: 1000 bytes, 50 packets/s (400 kbit/s).
const VIDEO_LEN: usize = 1000;
const VIDEO_PPS: u32 = 50;

async fn join_all(sfu: &Sfu, room: RoomId, n: usize) -> Vec<Arc<Client>> {
    let mut clients = Vec::new();
    for i in 0..n {
        let client = Client::join(sfu, room, Tier::Pro, i as u8 + 1, false)
            .await
            .expect("join");
        clients.push(Arc::new(client));
    }
    clients
}

async fn stream_all(clients: &[Arc<Client>], span: Duration, level: u8) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in clients {
        let c = c.clone();
        tasks.spawn(async move { c.stream(span, level, AUDIO_LEN, VIDEO_LEN, VIDEO_PPS).await });
    }
    while tasks.join_next().await.is_some() {}
}

/// How many subscribers each publisher's last packets went to (diagnostics).
#[derive(Default)]
struct Fanout(Mutex<HashMap<(String, MediaKind), usize>>);

impl ForwardHook for Fanout {
    fn on_forward(&self, packet: &ForwardedPacket<'_>) {
        self.0.lock().unwrap().insert(
            (packet.publisher.as_str().to_owned(), packet.kind),
            packet.subscribers,
        );
    }
}

async fn everyone_gets_everyone_else(n: usize) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("sfu_jitsi_bridge=debug"))
        .with_test_writer()
        .try_init();
    let config = SfuConfig {
        last_n: n,
        ..SfuConfig::loopback()
    };
    let fanout = Arc::new(Fanout::default());
    let sfu = Sfu::with_hook(config, Some(fanout.clone()));
    let room = RoomId::random();
    let clients = join_all(&sfu, room, n).await;
    assert_eq!(sfu.participant_count(room), n);

    stream_all(&clients, Duration::from_secs(3), 40).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    for receiver in &clients {
        for sender in &clients {
            let audio = receiver.flow(sender.marker, Kind::Audio);
            let video = receiver.flow(sender.marker, Kind::Video);
            if sender.marker == receiver.marker {
                assert_eq!(
                    audio.packets + video.packets,
                    0,
                    "a participant got its own media"
                );
                continue;
            }
            // 150 audio and 150 video packets were sent; set-up takes part of the first
            // second.
            let diagnose = |kind: MediaKind| {
                format!(
                    "its {kind:?} went to {:?} subscribers; {} tracks arrived; signals {:?}",
                    fanout
                        .0
                        .lock()
                        .unwrap()
                        .get(&(sender.id.as_str().to_owned(), kind)),
                    receiver.received.lock().unwrap().streams.len(),
                    receiver.signals.lock().unwrap(),
                )
            };
            assert!(
                audio.packets >= 75,
                "{} got {} audio packets from {} ({})",
                receiver.marker,
                audio.packets,
                sender.marker,
                diagnose(MediaKind::Audio)
            );
            assert!(
                video.packets >= 75,
                "{} got {} video packets from {} ({})",
                receiver.marker,
                video.packets,
                sender.marker,
                diagnose(MediaKind::Video)
            );
            // Every payload compared with what the sender sent, byte for byte.
            assert_eq!(audio.corrupted + video.corrupted, 0);
        }
        let received = receiver.received.lock().unwrap();
        assert_eq!(received.foreign, 0);
        // The tracks are labelled with the publishers' ids, and never with one's own.
        assert!(!received.streams.iter().any(|s| s == receiver.id.as_str()));
        assert_eq!(received.streams.len(), 2 * (n - 1));
    }
    let stats = sfu.stats();
    assert!(stats.packets_out >= stats.packets_in, "{stats:?}");

    // A subscriber's keyframe request (PLI) reaches the publisher.
    let before: Vec<u64> = clients
        .iter()
        .map(|c| {
            c.keyframe_requests
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await; // past the relay's rate limit
    assert_eq!(clients[0].request_keyframes().await, n - 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (c, before) in clients.iter().zip(before).skip(1) {
        let now = c
            .keyframe_requests
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            now > before,
            "publisher {} got no keyframe request",
            c.marker
        );
    }

    for c in &clients {
        sfu.leave(room, &c.id).await.unwrap();
        c.close().await;
    }
    assert_eq!(
        sfu.room_count(),
        0,
        "the room vanishes with its last participant"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_each_receive_the_two_others_byte_for_byte_and_never_themselves() {
    everyone_gets_everyone_else(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_participants_each_receive_the_four_others_byte_for_byte_and_never_themselves() {
    everyone_gets_everyone_else(5).await;
}
