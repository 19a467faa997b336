//! The conference signaling protocol, version 1: JSON text messages over the service's
//! WebSocket (`/v1/signal`), parsed and validated here before anything acts on them.
//!
//! Every message is a JSON object `{"v": 1, "type": "...", ...}`. Unknown types, unknown
//! fields, a missing or different `v`, over-long fields and malformed ids are refused with a
//! [`ProtocolError`] whose text is sent back to the client as is. The module depends on
//! `serde`, `serde_json` and `base64` only, so the fuzz target
//! (`fuzz/fuzz_targets/conference_signal.rs`) compiles it by path.
//!
//! Client to service: `join`, `answer`, `candidate`, `rejoin`, `screen_share`, `mute`,
//! `remove`, `lock`, `unlock`, `end`, `leave`, `mls`. Service to client: [`ServerMessage`].
//!
//! Media legs: on the embedded SFU a participant has one connection. On Janus it has two,
//! the one it offered at `join` (publishing) and a receiving one the service offers
//! (`offer` with `"leg": "subscriber"`); `answer` and `candidate` name the leg they are for
//! (absent: the main one). `reconnect` tells the client its media server is gone: it makes
//! new connections and sends `rejoin` with a new offer.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version this service speaks.
pub const PROTOCOL_VERSION: u64 = 1;
/// Largest text message accepted (the WebSocket layer enforces it too).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Largest SDP accepted.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Largest ICE candidate line accepted.
pub const MAX_CANDIDATE_BYTES: usize = 1024;
/// Longest `sdpMid` accepted.
pub const MAX_MID_BYTES: usize = 32;
/// Display names are cut to this many characters after trimming.
pub const MAX_DISPLAY_NAME_CHARS: usize = 50;
/// Longest region name accepted.
pub const MAX_REGION_BYTES: usize = 32;
/// Largest session token accepted.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Largest MLS handshake message, decoded.
pub const MAX_MLS_BYTES: usize = 128 * 1024;
/// Tallest screen share anyone may ask for.
pub const MAX_SCREEN_HEIGHT: u32 = 4320;

/// A message from a client, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Join `room` (a UUIDv4 in canonical form) with an SDP `offer`; `token` is a session
    /// JWT, or `None` for an anonymous join by link.
    Join {
        room: String,
        token: Option<String>,
        display_name: String,
        offer: String,
        /// The region the client is nearest to (lowercase letters, digits, `-`).
        region: Option<String>,
    },
    /// The answer to the service's latest offer on `leg`.
    Answer { sdp: String, leg: MediaLeg },
    /// A trickled ICE candidate for `leg`.
    Candidate {
        candidate: String,
        sdp_mid: Option<String>,
        sdp_mline_index: Option<u16>,
        leg: MediaLeg,
    },
    /// After `reconnect`: a new offer for the main leg.
    Rejoin { offer: String },
    /// Asks to share a screen of `height` pixels.
    ScreenShare { height: u32 },
    /// Host: tell a participant they are muted.
    Mute { participant: String },
    /// Host: remove a participant.
    Remove { participant: String },
    /// Host: refuse new joins.
    Lock,
    /// Host: accept new joins again.
    Unlock,
    /// Host: end the room for everyone.
    End,
    /// Leave the room.
    Leave,
    /// An MLS handshake message, relayed as an opaque blob.
    Mls(MlsMessage),
}

/// Which of a participant's media connections a message is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaLeg {
    /// The connection offered at `join` (the only one on the embedded SFU).
    #[default]
    Main,
    /// The receive-only connection the service offers (Janus).
    Subscriber,
}

impl MediaLeg {
    fn is_main(&self) -> bool {
        *self == MediaLeg::Main
    }
}

/// The kinds of MLS handshake message the delivery service relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MlsKind {
    KeyPackage,
    Welcome,
    Proposal,
    Commit,
}

/// An MLS handshake message as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlsMessage {
    pub kind: MlsKind,
    /// The epoch a commit (or proposal) was made in; required for commits.
    pub epoch: Option<u64>,
    /// The one participant it is for (required for a Welcome); `None`: every other member.
    pub to: Option<String>,
    /// The blob, standard base64 as received (validated, never interpreted).
    pub data: String,
}

/// Why a client message was refused. The text is sent to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("message is larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    #[error("message is not a JSON object")]
    NotAnObject,
    #[error("unsupported protocol version: this service speaks version 1")]
    Version,
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("invalid field {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

fn invalid(field: &'static str, reason: &'static str) -> ProtocolError {
    ProtocolError::Invalid { field, reason }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Wire {
    Join {
        room: String,
        #[serde(default)]
        token: Option<String>,
        display_name: String,
        offer: String,
        #[serde(default)]
        region: Option<String>,
    },
    Answer {
        sdp: String,
        #[serde(default)]
        leg: MediaLeg,
    },
    Candidate {
        candidate: String,
        #[serde(rename = "sdpMid", default)]
        sdp_mid: Option<String>,
        #[serde(rename = "sdpMLineIndex", default)]
        sdp_mline_index: Option<u16>,
        #[serde(default)]
        leg: MediaLeg,
    },
    Rejoin {
        offer: String,
    },
    ScreenShare {
        height: u32,
    },
    Mute {
        participant: String,
    },
    Remove {
        participant: String,
    },
    // Empty struct variants, not unit ones: serde's deny_unknown_fields skips unit variants
    // of an internally tagged enum.
    Lock {},
    Unlock {},
    End {},
    Leave {},
    Mls {
        kind: MlsKind,
        #[serde(default)]
        epoch: Option<u64>,
        #[serde(default)]
        to: Option<String>,
        data: String,
    },
}

impl ClientMessage {
    /// Parses and validates one text message.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(ProtocolError::TooLarge);
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|_| ProtocolError::Malformed("not JSON".to_owned()))?;
        let Value::Object(mut object) = value else {
            return Err(ProtocolError::NotAnObject);
        };
        match object.remove("v").and_then(|v| v.as_u64()) {
            Some(PROTOCOL_VERSION) => {}
            _ => return Err(ProtocolError::Version),
        }
        let wire: Wire = serde_json::from_value(Value::Object(object))
            // serde's text names the offending field or type, never echoes values.
            .map_err(|e| ProtocolError::Malformed(short_reason(&e.to_string())))?;
        Self::validate(wire)
    }

    fn validate(wire: Wire) -> Result<Self, ProtocolError> {
        Ok(match wire {
            Wire::Join {
                room,
                token,
                display_name,
                offer,
                region,
            } => {
                if !is_uuid_v4(&room) {
                    return Err(invalid("room", "a room id is a UUIDv4"));
                }
                if let Some(t) = &token {
                    if t.is_empty() || t.len() > MAX_TOKEN_BYTES || !t.is_ascii() {
                        return Err(invalid("token", "not a session token"));
                    }
                }
                Self::Join {
                    room,
                    token,
                    display_name: display_name_of(&display_name)?,
                    offer: sdp(offer, "offer")?,
                    region: region.map(region_of).transpose()?,
                }
            }
            Wire::Answer { sdp: s, leg } => Self::Answer {
                sdp: sdp(s, "sdp")?,
                leg,
            },
            Wire::Rejoin { offer } => Self::Rejoin {
                offer: sdp(offer, "offer")?,
            },
            Wire::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
                leg,
            } => {
                if candidate.len() > MAX_CANDIDATE_BYTES || has_line_break(&candidate) {
                    return Err(invalid("candidate", "not one candidate line"));
                }
                if let Some(mid) = &sdp_mid {
                    if mid.len() > MAX_MID_BYTES || has_line_break(mid) {
                        return Err(invalid("sdpMid", "too long"));
                    }
                }
                Self::Candidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                    leg,
                }
            }
            Wire::ScreenShare { height } => {
                if height == 0 || height > MAX_SCREEN_HEIGHT {
                    return Err(invalid("height", "out of range"));
                }
                Self::ScreenShare { height }
            }
            Wire::Mute { participant } => Self::Mute {
                participant: participant_id(participant, "participant")?,
            },
            Wire::Remove { participant } => Self::Remove {
                participant: participant_id(participant, "participant")?,
            },
            Wire::Lock {} => Self::Lock,
            Wire::Unlock {} => Self::Unlock,
            Wire::End {} => Self::End,
            Wire::Leave {} => Self::Leave,
            Wire::Mls {
                kind,
                epoch,
                to,
                data,
            } => {
                if kind == MlsKind::Commit && epoch.is_none() {
                    return Err(invalid("epoch", "a commit names the epoch it was made in"));
                }
                if kind == MlsKind::Welcome && to.is_none() {
                    return Err(invalid("to", "a welcome names its recipient"));
                }
                let to = to.map(|t| participant_id(t, "to")).transpose()?;
                if data.is_empty() || data.len() > MAX_MLS_BYTES.div_ceil(3) * 4 {
                    return Err(invalid("data", "empty or too large"));
                }
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(&data)
                    .map_err(|_| invalid("data", "not standard base64"))?;
                if decoded.len() > MAX_MLS_BYTES {
                    return Err(invalid("data", "empty or too large"));
                }
                Self::Mls(MlsMessage {
                    kind,
                    epoch,
                    to,
                    data,
                })
            }
        })
    }
}

/// serde's message up to the position suffix, capped (it names a field or variant).
fn short_reason(text: &str) -> String {
    let cut = text.split(" at line ").next().unwrap_or(text);
    cut.chars().take(120).collect()
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n'])
}

fn sdp(s: String, field: &'static str) -> Result<String, ProtocolError> {
    if s.len() > MAX_SDP_BYTES {
        return Err(invalid(field, "session description too large"));
    }
    if !s.starts_with("v=0") {
        return Err(invalid(field, "not a session description"));
    }
    Ok(s)
}

/// Trims, refuses control characters and emptiness, cuts to 50 characters.
pub fn display_name_of(raw: &str) -> Result<String, ProtocolError> {
    let trimmed = raw.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(invalid("display_name", "contains control characters"));
    }
    let name: String = trimmed.chars().take(MAX_DISPLAY_NAME_CHARS).collect();
    let name = name.trim_end().to_owned();
    if name.is_empty() {
        return Err(invalid("display_name", "empty"));
    }
    Ok(name)
}

/// A region name: 1 to 32 lowercase letters, digits or `-`.
fn region_of(s: String) -> Result<String, ProtocolError> {
    let ok = !s.is_empty()
        && s.len() <= MAX_REGION_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(s)
    } else {
        Err(invalid(
            "region",
            "lowercase letters, digits and -, 32 at most",
        ))
    }
}

/// Participant ids are what the service hands out: 32 lowercase hex digits.
fn participant_id(s: String, field: &'static str) -> Result<String, ProtocolError> {
    if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(s)
    } else {
        Err(invalid(field, "not a participant id"))
    }
}

/// A UUIDv4 in canonical hyphenated form (either case), RFC 4122 variant.
pub fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        };
        if !ok {
            return false;
        }
    }
    b[14] == b'4' && matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
}

/// One participant as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    pub id: String,
    pub display_name: String,
    pub host: bool,
    pub anonymous: bool,
    pub muted: bool,
}

/// A message from the service to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The join succeeded.
    Joined {
        participant_id: String,
        host: bool,
        anonymous: bool,
        answer: String,
        participants: Vec<ParticipantInfo>,
        locked: bool,
        /// The MLS epoch the delivery service expects the next commit for.
        epoch: u64,
        /// Seconds until the room ends by its plan's duration limit.
        seconds_left: u64,
    },
    /// A new SDP offer for `leg`: reply with `answer` (same leg).
    Offer {
        sdp: String,
        #[serde(default, skip_serializing_if = "MediaLeg::is_main")]
        leg: MediaLeg,
    },
    /// The media server is gone: close the media connections, offer again with `rejoin`.
    Reconnect,
    /// The answer to a `rejoin` offer.
    Rejoined { answer: String },
    /// One of the SFU's ICE candidates.
    Candidate {
        candidate: String,
        #[serde(rename = "sdpMid")]
        sdp_mid: Option<String>,
        #[serde(rename = "sdpMLineIndex")]
        sdp_mline_index: Option<u16>,
    },
    /// The participant list changed.
    Participants { participants: Vec<ParticipantInfo> },
    /// The host muted you: mute your microphone.
    Muted,
    /// The host removed you; your media connection is closed.
    Removed,
    /// The host removed someone: start a new MLS epoch without them.
    ParticipantRemoved { participant: String },
    /// The room was locked or unlocked.
    RoomState { locked: bool },
    /// The room ends in `seconds_left` seconds (plan duration limit).
    RoomEnding { seconds_left: u64 },
    /// The room ended; the connection closes.
    RoomEnded { reason: String },
    /// A screen share of up to `max_height` pixels is allowed.
    ScreenShareAllowed { max_height: u32 },
    /// A relayed MLS message (a commit: accepted for `epoch`, fanned out to everyone).
    Mls {
        from: String,
        kind: MlsKind,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
        data: String,
    },
    /// A request was refused. `code` is stable; `message` is for people.
    Error {
        code: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        current_epoch: Option<u64>,
    },
}

impl ServerMessage {
    /// An error without an epoch.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self::Error {
            code: code.to_owned(),
            message: message.into(),
            current_epoch: None,
        }
    }

    /// The JSON text, with `"v": 1`.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()));
        if let Value::Object(object) = &mut value {
            object.insert("v".to_owned(), Value::from(PROTOCOL_VERSION));
        }
        value.to_string()
    }
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
