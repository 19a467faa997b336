//! The SFU is an untrusted forwarder: it passes payloads through byte for byte and reads
//! nothing of them but their length; what it knows of a packet is its RTP header.

mod sfu_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sfu_jitsi_bridge::sfu::{
    ForwardHook, ForwardedPacket, MediaKind, RoomId, Sfu, SfuConfig, SfuSignal,
};
use sfu_jitsi_bridge::tiers::Tier;
use sfu_support::{parse_tag, payload, Client, Kind};

/// One packet as the hook saw it: kind, audio level, payload.
type Seen = (MediaKind, Option<u8>, Vec<u8>);

#[derive(Default)]
struct Capture {
    seen: Mutex<Vec<Seen>>,
}

impl ForwardHook for Capture {
    fn on_forward(&self, packet: &ForwardedPacket<'_>) {
        self.seen.lock().unwrap().push((
            packet.kind,
            packet.header.audio_level,
            packet.payload.to_vec(),
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sfu_forwards_ciphertext_unchanged_never_parses_it_and_sees_only_headers() {
    let capture = Arc::new(Capture::default());
    let sfu = Sfu::with_hook(SfuConfig::loopback(), Some(capture.clone()));
    let room = RoomId::random();
    let a = Arc::new(Client::join(&sfu, room, Tier::Pro, 1, false).await.unwrap());
    let b = Arc::new(Client::join(&sfu, room, Tier::Pro, 2, false).await.unwrap());

    // Give set-up a moment, then send payloads that no codec would accept: random bytes
    // behind a tag (what SFrame ciphertext looks like to the SFU), of odd sizes, including
    // one byte past the tag and one near the MTU.
    let sizes = [13usize, 77, 160, 999, 1100];
    let (a2, b2) = (a.clone(), b.clone());
    let streams = tokio::spawn(async move {
        tokio::join!(
            a2.stream(Duration::from_millis(1500), 20, 100, 600, 50),
            b2.stream(Duration::from_millis(1500), 20, 100, 600, 50),
        )
    });
    streams.await.unwrap();
    for (i, len) in sizes.iter().enumerate() {
        assert!(a.send_video(10_000 + i as u32, *len, true).await);
        assert!(a.send_audio(10_000 + i as u32, (*len).min(400), 20).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;

    // The receiver got every byte as sent (compared against a regeneration of the sender's
    // bytes), including the odd sizes.
    for (receiver, sender) in [(&b, &a), (&a, &b)] {
        let audio = receiver.flow(sender.marker, Kind::Audio);
        let video = receiver.flow(sender.marker, Kind::Video);
        assert!(audio.packets > 20 && video.packets > 20);
        assert_eq!(audio.corrupted + video.corrupted, 0);
        assert_eq!(receiver.received.lock().unwrap().foreign, 0);
    }
    let odd = b.flow(a.marker, Kind::Video);
    assert!(odd.packets > 0);

    // What the SFU had in hand: the same ciphertext, untouched, and from the header the
    // audio level the sender set (20).
    let seen = std::mem::take(&mut *capture.seen.lock().unwrap());
    assert!(!seen.is_empty());
    let mut odd_seen = 0;
    for (kind, level, bytes) in seen.iter() {
        let (sender, tagged_kind, seq) = parse_tag(bytes).expect("a tagged payload");
        assert_eq!(bytes, &payload(sender, tagged_kind, seq, bytes.len()));
        match kind {
            MediaKind::Audio => {
                assert_eq!(tagged_kind, Kind::Audio);
                assert_eq!(*level, Some(20));
            }
            MediaKind::Video => {
                assert_eq!(tagged_kind, Kind::Video);
                assert_eq!(*level, None);
            }
        }
        if seq >= 10_000 {
            odd_seen += 1;
        }
    }
    assert!(
        odd_seen >= 2 * sizes.len() - 2,
        "odd-sized packets seen: {odd_seen}"
    );

    // Nothing the SFU sends a participant names the other's address in a log-able form.
    let signals = b.signals.lock().unwrap().join(" ");
    assert!(!signals.contains("127.0.0.1"), "{signals}");
    assert!(format!("{:?}", SfuSignal::Offer("c=IN IP4 127.0.0.1".into())) == "Offer");
    a.close().await;
    b.close().await;
}
