//! Last-N, driven by the audio level: with N = 2 and four publishers, a subscriber gets the
//! video of the two who speak and the audio of all four.

mod sfu_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sfu_jitsi_bridge::sfu::{RoomId, Sfu, SfuConfig};
use sfu_jitsi_bridge::tiers::Tier;
use sfu_support::{Client, Flow, Kind};

const SILENT: u8 = 127;
const LOUD: u8 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_last_2_a_subscriber_gets_video_of_only_the_two_speakers_and_audio_of_all() {
    let config = SfuConfig {
        last_n: 2,
        ..SfuConfig::loopback()
    };
    let sfu = Sfu::new(config);
    let room = RoomId::random();
    // Publishers 1 and 2 join first and stay silent, so that before anyone speaks they
    // hold the two video slots (join order); 3 and 4 speak; 5 listens.
    let mut clients = Vec::new();
    for marker in 1..=5u8 {
        clients.push(Arc::new(
            Client::join(&sfu, room, Tier::Pro, marker, false)
                .await
                .unwrap(),
        ));
    }
    let level = |marker: u8| {
        if marker == 3 || marker == 4 {
            LOUD
        } else {
            SILENT
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for c in &clients {
        let c = c.clone();
        let lv = level(c.marker);
        tasks.spawn(async move { c.stream(Duration::from_secs(4), lv, 100, 600, 50).await });
    }
    // Let set-up finish and the speakers take the slots.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let observer = &clients[4];
    let snapshot = |c: &Client| -> Vec<(Flow, Flow)> {
        (1..=4u8)
            .map(|m| (c.flow(m, Kind::Audio), c.flow(m, Kind::Video)))
            .collect()
    };
    let before = snapshot(observer);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = snapshot(observer);
    while tasks.join_next().await.is_some() {}

    let active = sfu.active_speaker(room).expect("someone speaks");
    assert!(active == clients[2].id || active == clients[3].id);
    for (i, ((a0, v0), (a1, v1))) in before.iter().zip(&after).enumerate() {
        let marker = i as u8 + 1;
        let audio = a1.packets - a0.packets;
        let video = v1.packets - v0.packets;
        println!(
            "observer, from publisher {marker}: {audio} audio, {video} video packets in 1.5 s"
        );
        assert!(audio >= 50, "audio of everyone ({marker}: {audio})");
        if level(marker) == LOUD {
            assert!(video >= 50, "video of speaker {marker}: {video}");
        } else {
            assert_eq!(video, 0, "video of silent publisher {marker}");
        }
        assert_eq!(a1.corrupted + v1.corrupted, 0);
    }
    // The speakers were asked for a keyframe when their video was switched on.
    for speaker in [&clients[2], &clients[3]] {
        assert!(speaker.keyframe_requests.load(Ordering::Relaxed) > 0);
    }
    // A speaker gets the other speaker and one silent publisher (never itself).
    let three = &clients[2];
    assert_eq!(three.flow(3, Kind::Video).packets, 0);
    for c in &clients {
        c.close().await;
    }
}
