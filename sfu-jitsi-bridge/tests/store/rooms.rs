//! Suite case: the room directory (which service process holds a room).

use super::Open;

pub fn a_room_is_found_by_another_instance_until_it_expires_or_ends(open: Open) {
    let (a, b) = (open(), open());
    let room = "0f1e2d3c4b5a49788796a5b4c3d2e1f0";
    assert_eq!(b.room_owner(room, 10).unwrap(), None);
    a.put_room(room, "ws://10.0.0.5:8080", 100).unwrap();
    assert_eq!(
        b.room_owner(room, 10).unwrap().as_deref(),
        Some("ws://10.0.0.5:8080")
    );
    // Expired: not found, and purged.
    assert_eq!(b.room_owner(room, 100).unwrap(), None);
    assert_eq!(b.purge_expired(100).unwrap(), 1);
    // Recorded again, then ended: gone for everyone.
    a.put_room(room, "ws://10.0.0.6:8080", 200).unwrap();
    assert_eq!(
        b.room_owner(room, 10).unwrap().as_deref(),
        Some("ws://10.0.0.6:8080")
    );
    a.drop_room(room).unwrap();
    assert_eq!(b.room_owner(room, 10).unwrap(), None);
}
