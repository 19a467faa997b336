//! The plan's participant cap, room lifetime and the end of a room.

mod sfu_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use sfu_jitsi_bridge::sfu::{RoomId, Sfu, SfuConfig, SfuError};
use sfu_jitsi_bridge::tiers::{LimitExceeded, Tier};
use sfu_support::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_beyond_the_plans_cap_is_refused_with_a_clear_error() {
    let sfu = Sfu::new(SfuConfig::loopback());
    let room = RoomId::random();
    // The host's plan is Free: two participants.
    let a = Client::join(&sfu, room, Tier::Free, 1, false)
        .await
        .unwrap();
    // A later joiner's own tier does not change the room's cap.
    let b = Client::join(&sfu, room, Tier::Enterprise, 2, false)
        .await
        .unwrap();
    let refused = Client::join(&sfu, room, Tier::Enterprise, 3, false).await;
    let Err(error) = refused else {
        panic!("a third participant joined a Free room");
    };
    assert_eq!(
        error,
        SfuError::Limit(LimitExceeded::RoomFull {
            tier: Tier::Free,
            max: 2
        })
    );
    assert_eq!(
        error.to_string(),
        "the room is full: the free plan allows 2 participants"
    );
    assert_eq!(sfu.participant_count(room), 2);

    // Someone leaves: there is room again.
    sfu.leave(room, &b.id).await.unwrap();
    b.close().await;
    let c = Client::join(&sfu, room, Tier::Free, 3, false)
        .await
        .unwrap();
    assert_eq!(sfu.participant_count(room), 2);

    // The room vanishes with its last participant.
    sfu.leave(room, &a.id).await.unwrap();
    sfu.leave(room, &c.id).await.unwrap();
    assert_eq!(sfu.room_count(), 0);
    assert_eq!(sfu.leave(room, &c.id).await, Err(SfuError::NoSuchRoom));
    a.close().await;
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_room_tells_everyone_and_closes_it() {
    let sfu = Sfu::new(SfuConfig::loopback());
    let room = RoomId::random();
    let a = Client::join(&sfu, room, Tier::Pro, 1, false).await.unwrap();
    let b = Client::join(&sfu, room, Tier::Pro, 2, false).await.unwrap();
    sfu.end_room(room).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(a.removed.load(Ordering::Acquire) && b.removed.load(Ordering::Acquire));
    assert_eq!(sfu.room_count(), 0);
    assert!(a.signals.lock().unwrap().iter().any(|s| s == "RoomEnded"));
    // Joining the same id again opens a fresh room.
    let c = Client::join(&sfu, room, Tier::Free, 3, false)
        .await
        .unwrap();
    assert_eq!(sfu.participant_count(room), 1);
    for client in [a, b, c] {
        client.close().await;
    }
}
