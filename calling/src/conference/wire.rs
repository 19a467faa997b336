//! The conference service's signaling protocol v1 as the client speaks it: JSON text over
//! the WebSocket, `{"v": 1, "type": ...}`. What the service sends is parsed and checked
//! here (sizes, ids, base64) before anything acts on it; a message that fails is dropped
//! with a reason. Depends on `serde`, `serde_json` and `base64` only, so the fuzz target
//! (`fuzz/fuzz_targets/conference_link.rs`) compiles it by path.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

/// Largest message taken from the service.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Largest SDP taken.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Largest MLS message, decoded.
pub const MAX_MLS_BYTES: usize = 128 * 1024;
/// Display names are cut to this many characters.
pub const MAX_NAME_CHARS: usize = 50;
/// Most participants a list may hold (Enterprise's cap is 50).
pub const MAX_PARTICIPANTS: usize = 256;

/// One participant as the service lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Participant {
    pub id: String,
    pub display_name: String,
    pub host: bool,
    pub anonymous: bool,
    pub muted: bool,
}

/// The kinds of MLS message the delivery service relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MlsKind {
    KeyPackage,
    Welcome,
    Proposal,
    Commit,
}

impl MlsKind {
    fn as_str(self) -> &'static str {
        match self {
            MlsKind::KeyPackage => "key_package",
            MlsKind::Welcome => "welcome",
            MlsKind::Proposal => "proposal",
            MlsKind::Commit => "commit",
        }
    }
}

/// A message from the service, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    Joined {
        participant_id: String,
        host: bool,
        anonymous: bool,
        answer: String,
        participants: Vec<Participant>,
        locked: bool,
        epoch: u64,
        seconds_left: u64,
    },
    Offer {
        sdp: String,
    },
    Candidate {
        candidate: String,
        sdp_mid: Option<String>,
        sdp_mline_index: Option<u16>,
    },
    Participants(Vec<Participant>),
    Muted,
    Removed,
    ParticipantRemoved(String),
    RoomState {
        locked: bool,
    },
    RoomEnding {
        seconds_left: u64,
    },
    RoomEnded {
        reason: String,
    },
    ScreenShareAllowed {
        max_height: u32,
    },
    Mls {
        from: String,
        kind: MlsKind,
        epoch: Option<u64>,
        data: Vec<u8>,
    },
    Error {
        code: String,
        message: String,
        current_epoch: Option<u64>,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Wire {
    Joined {
        participant_id: String,
        host: bool,
        anonymous: bool,
        answer: String,
        participants: Vec<Participant>,
        locked: bool,
        epoch: u64,
        seconds_left: u64,
    },
    Offer {
        sdp: String,
    },
    Candidate {
        candidate: String,
        #[serde(rename = "sdpMid", default)]
        sdp_mid: Option<String>,
        #[serde(rename = "sdpMLineIndex", default)]
        sdp_mline_index: Option<u16>,
    },
    Participants {
        participants: Vec<Participant>,
    },
    Muted {},
    Removed {},
    ParticipantRemoved {
        participant: String,
    },
    RoomState {
        locked: bool,
    },
    RoomEnding {
        seconds_left: u64,
    },
    RoomEnded {
        reason: String,
    },
    ScreenShareAllowed {
        max_height: u32,
    },
    Mls {
        from: String,
        kind: MlsKind,
        #[serde(default)]
        epoch: Option<u64>,
        data: String,
    },
    Error {
        code: String,
        message: String,
        #[serde(default)]
        current_epoch: Option<u64>,
    },
}

/// Why a message from the service was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub &'static str);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dropped a message from the conference service: {}",
            self.0
        )
    }
}

impl std::error::Error for WireError {}

impl ServerMessage {
    /// Parses and checks one text message.
    pub fn parse(text: &str) -> Result<Self, WireError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(WireError("too large"));
        }
        let value: Value = serde_json::from_str(text).map_err(|_| WireError("not JSON"))?;
        if value.get("v").and_then(Value::as_u64) != Some(1) {
            return Err(WireError("not protocol version 1"));
        }
        let wire: Wire = serde_json::from_value(value).map_err(|_| WireError("malformed"))?;
        Ok(match wire {
            Wire::Joined {
                participant_id,
                host,
                anonymous,
                answer,
                participants,
                locked,
                epoch,
                seconds_left,
            } => Self::Joined {
                participant_id: id(participant_id)?,
                host,
                anonymous,
                answer: sdp(answer)?,
                participants: list(participants)?,
                locked,
                epoch,
                seconds_left,
            },
            Wire::Offer { sdp: s } => Self::Offer { sdp: sdp(s)? },
            Wire::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => {
                if candidate.len() > 1024 || candidate.contains(['\r', '\n']) {
                    return Err(WireError("not one candidate line"));
                }
                if sdp_mid.as_ref().is_some_and(|m| m.len() > 32) {
                    return Err(WireError("mid too long"));
                }
                Self::Candidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                }
            }
            Wire::Participants { participants } => Self::Participants(list(participants)?),
            Wire::Muted {} => Self::Muted,
            Wire::Removed {} => Self::Removed,
            Wire::ParticipantRemoved { participant } => Self::ParticipantRemoved(id(participant)?),
            Wire::RoomState { locked } => Self::RoomState { locked },
            Wire::RoomEnding { seconds_left } => Self::RoomEnding { seconds_left },
            Wire::RoomEnded { reason } => Self::RoomEnded {
                reason: text_of(&reason, 200),
            },
            Wire::ScreenShareAllowed { max_height } => Self::ScreenShareAllowed { max_height },
            Wire::Mls {
                from,
                kind,
                epoch,
                data,
            } => {
                if data.len() > MAX_MLS_BYTES.div_ceil(3) * 4 {
                    return Err(WireError("MLS message too large"));
                }
                let data = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|_| WireError("MLS message not base64"))?;
                if data.is_empty() || (kind == MlsKind::Commit && epoch.is_none()) {
                    return Err(WireError("MLS message incomplete"));
                }
                Self::Mls {
                    from: id(from)?,
                    kind,
                    epoch,
                    data,
                }
            }
            Wire::Error {
                code,
                message,
                current_epoch,
            } => Self::Error {
                code: text_of(&code, 64),
                message: text_of(&message, 300),
                current_epoch,
            },
        })
    }
}

fn id(s: String) -> Result<String, WireError> {
    if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(s)
    } else {
        Err(WireError("not a participant id"))
    }
}

fn sdp(s: String) -> Result<String, WireError> {
    if s.len() > MAX_SDP_BYTES || !s.starts_with("v=0") {
        return Err(WireError("not a session description"));
    }
    Ok(s)
}

/// Printable text of at most `max` characters (control characters dropped): the
/// service's words are shown to the user as they are, but never steer a terminal.
fn text_of(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

fn list(participants: Vec<Participant>) -> Result<Vec<Participant>, WireError> {
    if participants.len() > MAX_PARTICIPANTS {
        return Err(WireError("participant list too long"));
    }
    participants
        .into_iter()
        .map(|p| {
            Ok(Participant {
                id: id(p.id)?,
                display_name: text_of(&p.display_name, MAX_NAME_CHARS),
                ..p
            })
        })
        .collect()
}

/// What the client sends, as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    Join {
        room: String,
        token: Option<String>,
        display_name: String,
        offer: String,
    },
    Answer(String),
    Candidate {
        candidate: String,
        sdp_mid: Option<String>,
        sdp_mline_index: Option<u16>,
    },
    ScreenShare {
        height: u32,
    },
    Mute(String),
    Remove(String),
    Lock,
    Unlock,
    End,
    Leave,
    Mls {
        kind: MlsKind,
        epoch: Option<u64>,
        to: Option<String>,
        data: Vec<u8>,
    },
}

impl ClientMessage {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        let value = match self {
            ClientMessage::Join {
                room,
                token,
                display_name,
                offer,
            } => {
                let mut v = json!({"type": "join", "room": room,
                    "display_name": display_name, "offer": offer});
                if let Some(token) = token {
                    v["token"] = json!(token);
                }
                v
            }
            ClientMessage::Answer(sdp) => json!({"type": "answer", "sdp": sdp}),
            ClientMessage::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => json!({"type": "candidate", "candidate": candidate,
                "sdpMid": sdp_mid, "sdpMLineIndex": sdp_mline_index}),
            ClientMessage::ScreenShare { height } => {
                json!({"type": "screen_share", "height": height})
            }
            ClientMessage::Mute(p) => json!({"type": "mute", "participant": p}),
            ClientMessage::Remove(p) => json!({"type": "remove", "participant": p}),
            ClientMessage::Lock => json!({"type": "lock"}),
            ClientMessage::Unlock => json!({"type": "unlock"}),
            ClientMessage::End => json!({"type": "end"}),
            ClientMessage::Leave => json!({"type": "leave"}),
            ClientMessage::Mls {
                kind,
                epoch,
                to,
                data,
            } => {
                let mut v = json!({"type": "mls", "kind": kind.as_str(),
                    "data": base64::engine::general_purpose::STANDARD.encode(data)});
                if let Some(epoch) = epoch {
                    v["epoch"] = json!(epoch);
                }
                if let Some(to) = to {
                    v["to"] = json!(to);
                }
                v
            }
        };
        let mut value = value;
        value["v"] = json!(1);
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_services_messages_parse_and_bad_ones_are_dropped() {
        let joined = format!(
            r#"{{"v":1,"type":"joined","participant_id":"{P}","host":true,"anonymous":false,
            "answer":"v=0\r\n","participants":[{{"id":"{P}","display_name":"Ann\u0007ie",
            "host":true,"anonymous":false,"muted":false}}],"locked":false,"epoch":0,"seconds_left":1800}}"#
        );
        match ServerMessage::parse(&joined).unwrap() {
            ServerMessage::Joined { participants, .. } => {
                assert_eq!(
                    participants[0].display_name, "Annie",
                    "no control characters"
                )
            }
            other => panic!("{other:?}"),
        }
        let mls = format!(
            r#"{{"v":1,"type":"mls","from":"{P}","kind":"commit","epoch":3,"data":"AAEC"}}"#
        );
        assert_eq!(
            ServerMessage::parse(&mls).unwrap(),
            ServerMessage::Mls {
                from: P.into(),
                kind: MlsKind::Commit,
                epoch: Some(3),
                data: vec![0, 1, 2]
            }
        );
        for bad in [
            r#"{"type":"muted"}"#.to_owned(),
            r#"{"v":2,"type":"muted"}"#.to_owned(),
            r#"{"v":1,"type":"offer","sdp":"hello"}"#.to_owned(),
            r#"{"v":1,"type":"participant_removed","participant":"../etc"}"#.to_owned(),
            format!(r#"{{"v":1,"type":"mls","from":"{P}","kind":"commit","data":"AAEC"}}"#),
            format!(r#"{{"v":1,"type":"mls","from":"{P}","kind":"welcome","data":"!!"}}"#),
            r#"{"v":1,"type":"warp"}"#.to_owned(),
            "[]".to_owned(),
        ] {
            assert!(ServerMessage::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_messages_carry_the_version_and_base64() {
        let text = ClientMessage::Mls {
            kind: MlsKind::Welcome,
            epoch: None,
            to: Some(P.into()),
            data: vec![0, 1, 2],
        }
        .to_json();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["kind"], "welcome");
        assert_eq!(v["data"], "AAEC");
        assert_eq!(v["to"], P);
        assert!(v.get("epoch").is_none());
    }
}
