//! Suite case: the room directory (which service process holds a room, and what reopens
//! it after a restart).

use sfu_jitsi_bridge::store::RoomRecord;
use sfu_jitsi_bridge::tiers::Tier;

use super::Open;

fn record(owner: &str, expires_at: i64) -> RoomRecord {
    RoomRecord {
        owner: owner.into(),
        expires_at,
        host_key: "ab".repeat(32),
        tier: Tier::Pro,
    }
}

pub fn a_room_is_found_by_another_instance_until_it_expires_or_ends(open: Open) {
    let (a, b) = (open(), open());
    let room = "0f1e2d3c4b5a49788796a5b4c3d2e1f0";
    assert_eq!(b.room_owner(room, 10).unwrap(), None);
    a.put_room(room, &record("ws://10.0.0.5:8080", 100))
        .unwrap();
    assert_eq!(
        b.room_owner(room, 10).unwrap().as_deref(),
        Some("ws://10.0.0.5:8080")
    );
    // The whole record reads back: enough to reopen the room with its host and plan.
    assert_eq!(
        b.room_record(room, 10).unwrap(),
        Some(record("ws://10.0.0.5:8080", 100))
    );
    // Expired: not found, and purged.
    assert_eq!(b.room_owner(room, 100).unwrap(), None);
    assert_eq!(b.purge_expired(100).unwrap(), 1);
    // Recorded again, then updated (the room started: its end moves), then ended.
    a.put_room(room, &record("ws://10.0.0.6:8080", 200))
        .unwrap();
    a.put_room(room, &record("ws://10.0.0.6:8080", 150))
        .unwrap();
    assert_eq!(b.room_record(room, 10).unwrap().unwrap().expires_at, 150);
    a.drop_room(room).unwrap();
    assert_eq!(b.room_owner(room, 10).unwrap(), None);
}

pub fn a_dead_processs_room_is_claimed_by_one_process_only(open: Open) {
    let (a, b, c) = (open(), open(), open());
    let room = "1f1e2d3c4b5a49788796a5b4c3d2e1f0";
    assert_eq!(b.last_beat("ws://a").unwrap(), None);
    a.beat("ws://a", 50).unwrap();
    a.beat("ws://a", 55).unwrap();
    assert_eq!(b.last_beat("ws://a").unwrap(), Some(55));
    a.put_room(room, &record("ws://a", 1_000)).unwrap();
    // B and C both find A silent and claim its room: one of them gets it.
    assert!(b.claim_room(room, "ws://a", "ws://b").unwrap());
    assert!(!c.claim_room(room, "ws://a", "ws://c").unwrap());
    assert_eq!(c.room_owner(room, 10).unwrap().as_deref(), Some("ws://b"));
    // The record keeps what reopens the room.
    let moved = c.room_record(room, 10).unwrap().unwrap();
    assert_eq!(moved.host_key, record("ws://a", 1_000).host_key);
    // A process silent for a day is purged; one seen since is kept.
    b.beat("ws://b", 100_000).unwrap();
    b.purge_expired(100_000).unwrap();
    assert_eq!(c.last_beat("ws://a").unwrap(), None);
    assert_eq!(c.last_beat("ws://b").unwrap(), Some(100_000));
}
