//! Host removal: the removed participant's streams stop reaching the others at once (the
//! bound is measured and printed), it receives nothing more, and the others carry on.

mod sfu_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sfu_jitsi_bridge::sfu::{RoomId, Sfu, SfuConfig, SfuError};
use sfu_jitsi_bridge::tiers::Tier;
use sfu_support::{Client, Kind};

/// The removed participant's media may still be in flight on loopback for this long.
const STOP_BOUND: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_removal_the_removed_participants_streams_stop_at_once_and_it_receives_nothing() {
    let sfu = Sfu::new(SfuConfig::loopback());
    let room = RoomId::random();
    let mut clients = Vec::new();
    for marker in 1..=3u8 {
        clients.push(Arc::new(
            Client::join(&sfu, room, Tier::Pro, marker, false)
                .await
                .unwrap(),
        ));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for c in &clients {
        let c = c.clone();
        tasks.spawn(async move { c.stream(Duration::from_secs(4), 40, 100, 800, 50).await });
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (a, b, removed) = (&clients[0], &clients[1], &clients[2]);
    assert!(a.flow(removed.marker, Kind::Audio).packets > 0);
    assert!(removed.flow(a.marker, Kind::Video).packets > 0);

    let at = Instant::now();
    sfu.remove(room, &removed.id).await.unwrap();
    let call = at.elapsed();
    assert_eq!(sfu.participant_count(room), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let removed_total_then: u64 = [a.marker, b.marker]
        .iter()
        .map(|m| removed.flow(*m, Kind::Audio).packets + removed.flow(*m, Kind::Video).packets)
        .sum();
    while tasks.join_next().await.is_some() {} // the removed one keeps sending, in vain
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Its streams stopped reaching the others within the bound.
    let mut worst = Duration::ZERO;
    let mut latest = None;
    for other in [a, b] {
        for kind in [Kind::Audio, Kind::Video] {
            let flow = other.flow(removed.marker, kind);
            let last = flow.last.expect("received before removal");
            worst = worst.max(last.saturating_duration_since(at));
            latest = latest.max(Some(last));
        }
    }
    let latest = latest.unwrap();
    if latest >= at {
        println!("remove() returned after {call:?}; the removed participant's last packet arrived {:?} after the call began", latest - at);
    } else {
        println!("remove() returned after {call:?}; the removed participant's last packet arrived {:?} before the call began", at - latest);
    }
    assert!(
        worst <= STOP_BOUND,
        "still arriving {worst:?} after removal"
    );

    // It was told, and received nothing more once its connection was closed.
    assert!(removed.removed.load(Ordering::Acquire));
    let removed_total_end: u64 = [a.marker, b.marker]
        .iter()
        .map(|m| removed.flow(*m, Kind::Audio).packets + removed.flow(*m, Kind::Video).packets)
        .sum();
    assert_eq!(removed_total_then, removed_total_end);

    // The others still hear each other right up to the end.
    for (rx, tx) in [(a, b), (b, a)] {
        let flow = rx.flow(tx.marker, Kind::Audio);
        assert!(flow.last.unwrap() > at + Duration::from_millis(1500));
        assert_eq!(flow.corrupted, 0);
    }
    // It is no longer in the room.
    assert_eq!(
        sfu.add_ice_candidate(
            room,
            &removed.id,
            sfu_jitsi_bridge::sfu::IceCandidate {
                candidate: String::new(),
                sdp_mid: None,
                sdp_mline_index: None
            }
        )
        .await,
        Err(SfuError::NoSuchParticipant)
    );
    sfu.end_room(room).await.unwrap();
    assert_eq!(sfu.room_count(), 0);
    for c in &clients {
        c.close().await;
    }
}
