//! What Janus sends back over its WebSocket API, parsed and validated before the backend
//! acts on it. Janus is a separate program: its replies are outside input like any other,
//! so every field the backend uses is typed, bounded and checked here, and anything else
//! is refused with a [`WireError`] (the message is dropped, never a panic).
//!
//! The module depends on `serde`, `serde_json` and `thiserror` only, so the fuzz target
//! (`fuzz/fuzz_targets/janus_reply.rs`) compiles it by path.
//!
//! Janus API envelope (`janus` field): `success`, `error`, `ack`, `event`, and the
//! transaction-less notifications `webrtcup`, `media`, `hangup`, `slowlink`, `detached`,
//! `timeout`, `trickle`. VideoRoom replies ride in `plugindata.data` and are read into
//! [`VideoRoomData`].

use serde::Deserialize;
use serde_json::Value;

/// Largest message taken from Janus (a subscriber offer for a big room is the largest).
pub const MAX_REPLY_BYTES: usize = 256 * 1024;
/// Largest SDP taken from Janus.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Most publishers or streams read from one reply.
pub const MAX_LIST: usize = 256;
/// Longest string field kept (transaction ids, reasons, mids, codecs, addresses).
pub const MAX_FIELD: usize = 512;

/// Why a reply from Janus was refused. Names the field, never echoes a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("reply larger than {MAX_REPLY_BYTES} bytes")]
    TooLarge,
    #[error("reply is not a Janus API message: {0}")]
    Malformed(String),
    #[error("invalid field {0} in a Janus reply")]
    Invalid(&'static str),
}

/// The kind of a Janus API message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Success,
    Error,
    Ack,
    Event,
    Webrtcup,
    Media,
    Hangup,
    Slowlink,
    Detached,
    Timeout,
    Trickle,
    /// Anything newer Janus versions add: read, then ignored.
    #[serde(other)]
    Other,
}

/// A session or handle id (`data.id` of a `create` or `attach` success).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct IdData {
    pub id: u64,
}

/// A core API error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    pub code: i64,
    #[serde(default)]
    pub reason: String,
}

/// An SDP Janus produced.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jsep {
    #[serde(rename = "type")]
    pub kind: JsepKind,
    pub sdp: String,
    /// Janus marks end-to-end encrypted streams (`require_e2ee` rooms).
    #[serde(default)]
    pub e2ee: Option<bool>,
}

/// Offer or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsepKind {
    Offer,
    Answer,
}

#[derive(Deserialize)]
struct PluginData {
    plugin: String,
    data: Value,
}

#[derive(Deserialize)]
struct RawMessage {
    janus: Kind,
    #[serde(default)]
    transaction: Option<String>,
    #[serde(default)]
    session_id: Option<u64>,
    #[serde(default)]
    sender: Option<u64>,
    #[serde(default)]
    data: Option<IdData>,
    #[serde(default)]
    plugindata: Option<PluginData>,
    #[serde(default)]
    jsep: Option<Jsep>,
    #[serde(default)]
    error: Option<ApiError>,
}

/// One stream of a publisher, as VideoRoom describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub mindex: u32,
    #[serde(default)]
    pub mid: Option<String>,
    #[serde(default)]
    pub codec: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A publisher in a room, as VideoRoom lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PublisherInfo {
    pub id: u64,
    #[serde(default)]
    pub streams: Vec<StreamInfo>,
}

/// A participant as `listparticipants` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ParticipantEntry {
    pub id: u64,
}

/// The VideoRoom plugin's part of a reply (`plugindata.data`): the fields the backend
/// reads, all optional except the `videoroom` tag.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct VideoRoomData {
    /// `created`, `joined`, `attached`, `event`, `success`, `updated`, `destroyed`, ...
    pub videoroom: String,
    #[serde(default)]
    pub room: Option<u64>,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub configured: Option<String>,
    #[serde(default)]
    pub started: Option<String>,
    #[serde(default)]
    pub streams: Option<Vec<StreamInfo>>,
    #[serde(default)]
    pub publishers: Option<Vec<PublisherInfo>>,
    /// `listparticipants`.
    #[serde(default)]
    pub participants: Option<Vec<ParticipantEntry>>,
    /// `add_remote_publisher`: where to send the remote publisher's RTP.
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub rtcp_port: Option<u16>,
    #[serde(default)]
    pub remote_id: Option<String>,
    /// `exists`.
    #[serde(default)]
    pub exists: Option<bool>,
}

/// A validated message from Janus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub transaction: Option<String>,
    pub session_id: Option<u64>,
    /// The handle the message is about.
    pub sender: Option<u64>,
    /// `data.id` of a `create` or `attach` success.
    pub id: Option<u64>,
    /// VideoRoom's data, when the message came from that plugin.
    pub videoroom: Option<VideoRoomData>,
    pub jsep: Option<Jsep>,
    pub error: Option<ApiError>,
}

impl Message {
    /// The error text of a core or plugin error, if this reply is one.
    pub fn error_text(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(format!("Janus error {}: {}", e.code, e.reason));
        }
        let data = self.videoroom.as_ref()?;
        match (data.error_code, &data.error) {
            (Some(code), reason) => Some(format!(
                "VideoRoom error {code}: {}",
                reason.as_deref().unwrap_or("")
            )),
            (None, Some(reason)) => Some(format!("VideoRoom error: {reason}")),
            (None, None) => None,
        }
    }
}

/// The one plugin this backend attaches to.
pub const VIDEOROOM: &str = "janus.plugin.videoroom";

/// Parses and validates one text message from Janus.
pub fn parse(text: &str) -> Result<Message, WireError> {
    if text.len() > MAX_REPLY_BYTES {
        return Err(WireError::TooLarge);
    }
    let raw: RawMessage =
        serde_json::from_str(text).map_err(|e| WireError::Malformed(short_reason(&e)))?;
    if let Some(t) = &raw.transaction {
        check_field(t, "transaction")?;
    }
    if raw.session_id == Some(0) || raw.sender == Some(0) {
        return Err(WireError::Invalid("session_id"));
    }
    if let Some(IdData { id: 0 }) = raw.data {
        return Err(WireError::Invalid("data.id"));
    }
    if let Some(e) = &raw.error {
        check_field(&e.reason, "error.reason")?;
    }
    if let Some(j) = &raw.jsep {
        if j.sdp.len() > MAX_SDP_BYTES || !j.sdp.starts_with("v=0") {
            return Err(WireError::Invalid("jsep.sdp"));
        }
    }
    let videoroom = match raw.plugindata {
        None => None,
        Some(p) if p.plugin == VIDEOROOM => {
            let data: VideoRoomData = serde_json::from_value(p.data)
                .map_err(|e| WireError::Malformed(short_reason(&e)))?;
            validate_videoroom(&data)?;
            Some(data)
        }
        Some(_) => return Err(WireError::Invalid("plugindata.plugin")),
    };
    Ok(Message {
        kind: raw.janus,
        transaction: raw.transaction,
        session_id: raw.session_id,
        sender: raw.sender,
        id: raw.data.map(|d| d.id),
        videoroom,
        jsep: raw.jsep,
        error: raw.error,
    })
}

fn validate_videoroom(data: &VideoRoomData) -> Result<(), WireError> {
    check_field(&data.videoroom, "videoroom")?;
    for (value, name) in [
        (&data.error, "error"),
        (&data.configured, "configured"),
        (&data.started, "started"),
        (&data.ip, "ip"),
        (&data.remote_id, "remote_id"),
    ] {
        if let Some(v) = value {
            check_field(v, name)?;
        }
    }
    if data.port == Some(0) {
        return Err(WireError::Invalid("port"));
    }
    if let Some(streams) = &data.streams {
        check_streams(streams)?;
    }
    if let Some(participants) = &data.participants {
        if participants.len() > MAX_LIST || participants.iter().any(|p| p.id == 0) {
            return Err(WireError::Invalid("participants"));
        }
    }
    if let Some(publishers) = &data.publishers {
        if publishers.len() > MAX_LIST {
            return Err(WireError::Invalid("publishers"));
        }
        for p in publishers {
            if p.id == 0 {
                return Err(WireError::Invalid("publishers.id"));
            }
            check_streams(&p.streams)?;
        }
    }
    Ok(())
}

fn check_streams(streams: &[StreamInfo]) -> Result<(), WireError> {
    if streams.len() > MAX_LIST {
        return Err(WireError::Invalid("streams"));
    }
    for s in streams {
        check_field(&s.kind, "streams.type")?;
        if let Some(mid) = &s.mid {
            check_field(mid, "streams.mid")?;
        }
        if let Some(codec) = &s.codec {
            check_field(codec, "streams.codec")?;
        }
    }
    Ok(())
}

fn check_field(value: &str, name: &'static str) -> Result<(), WireError> {
    if value.len() > MAX_FIELD || value.chars().any(char::is_control) {
        return Err(WireError::Invalid(name));
    }
    Ok(())
}

/// serde's message without the position suffix, capped (it names a field, not a value).
fn short_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let cut = text.split(" at line ").next().unwrap_or(&text);
    cut.chars().take(120).collect()
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
