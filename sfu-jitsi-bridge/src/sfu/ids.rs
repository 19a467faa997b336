//! Room and participant identifiers, log-safe by construction: neither has `Display`, and
//! `Debug` prints only a shortened form ([`crate::logsafe::ShortAddress`]), so a log line
//! cannot carry one in full by accident.

use std::fmt;
use std::sync::Arc;

use crate::logsafe::ShortAddress;

/// A room: a random UUIDv4 (the invite link carries it, so it must not be guessable).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoomId(uuid::Uuid);

/// A room id that is not a UUIDv4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a room id is a UUIDv4")]
pub struct BadRoomId;

impl RoomId {
    /// A fresh random room id.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// Parses a room id, refusing anything but a UUIDv4 (an older or hand-made UUID could be
    /// guessable).
    pub fn parse(text: &str) -> Result<Self, BadRoomId> {
        let id = uuid::Uuid::parse_str(text).map_err(|_| BadRoomId)?;
        if id.get_version() != Some(uuid::Version::Random) {
            return Err(BadRoomId);
        }
        Ok(Self(id))
    }

    /// The full id, for the invite link and storage (never for logs).
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl fmt::Debug for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.simple().to_string();
        write!(f, "RoomId({})", ShortAddress(&text))
    }
}

/// A participant of one room, as the service names it (an opaque string: a random id per
/// join, never the wallet address). The SFU also puts it in the SDP (`a=msid`) of the tracks
/// it forwards, so the other members can tell whose media each track carries and pick that
/// sender's SFrame key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ParticipantId(Arc<str>);

impl ParticipantId {
    /// An id as the service chose it. It should be random: the SFU shows it to the other
    /// members of the room.
    pub fn new(id: impl Into<String>) -> Self {
        Self(Arc::from(id.into()))
    }

    /// A fresh random id (a UUIDv4 without dashes).
    pub fn random() -> Self {
        Self::new(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The full id (SDP, tests), never for logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shortened form logs carry.
    pub fn short(&self) -> ShortAddress<'_> {
        ShortAddress(&self.0)
    }
}

impl fmt::Debug for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParticipantId({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_uuid_v4_and_debug_never_shows_them_whole() {
        let room = RoomId::random();
        let text = room.as_uuid().to_string();
        assert_eq!(RoomId::parse(&text), Ok(room));
        assert!(!format!("{room:?}").contains(&room.as_uuid().simple().to_string()));
        // Version 1 (time-based) and garbage are refused.
        assert_eq!(
            RoomId::parse("c232ab00-9414-11ec-b3c8-9f6bdeced846"),
            Err(BadRoomId)
        );
        assert_eq!(RoomId::parse("not a uuid"), Err(BadRoomId));
    }

    #[test]
    fn participant_debug_is_short() {
        let id = ParticipantId::new("0123456789abcdef");
        assert_eq!(format!("{id:?}"), "ParticipantId(0123…cdef)");
    }
}
