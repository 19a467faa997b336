//! Janus's Admin API replies (`list_handles`, `handle_info`), parsed and validated before
//! the metrics poller ([`super::poller`]) uses them. Janus is a separate program: its
//! replies are outside input, so what is read is typed and bounded, and anything else is
//! refused with an [`AdminError`] (never a panic). Only counters are kept: the room numbers,
//! feed ids, addresses and SDPs a `handle_info` also holds are skipped unread.
//!
//! The module depends on `serde`, `serde_json` and `thiserror` only, so the fuzz target
//! (`fuzz/fuzz_targets/janus_admin_reply.rs`) compiles it by path.
//!
//! What Debian's Janus 1.1.2 returns for `handle_info` (checked by running it): `info.plugin`,
//! `info.plugin_specific.type` (VideoRoom: `publisher` or `subscriber`), and
//! `info.webrtc.media`, an object keyed by m-line index whose entries carry
//! `stats.in.{packets,bytes}`, `stats.out.{packets,bytes,nacks}` and
//! `rtcp.main.{lost,lost-by-remote}` (cumulative since the handle's PeerConnection began).
//! A handle without a PeerConnection yet has no `webrtc`.

use std::collections::HashMap;

use serde::Deserialize;

/// Largest Admin API reply read (a `handle_info` carries the handle's SDPs: a subscriber in a
/// room of a hundred has a few hundred m-lines).
pub const MAX_ADMIN_REPLY_BYTES: usize = 1024 * 1024;
/// Most handles read from one `list_handles`.
pub const MAX_HANDLES: usize = 10_000;
/// Most media (m-lines) read from one `handle_info`.
pub const MAX_MEDIA: usize = 1024;

/// The VideoRoom plugin's package name, as `handle_info` reports it.
const VIDEOROOM: &str = "janus.plugin.videoroom";

/// Why an Admin API reply was refused. Names the field or the kind of fault, never a value
/// from the reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("admin reply larger than {MAX_ADMIN_REPLY_BYTES} bytes")]
    TooLarge,
    #[error("admin reply is not Janus Admin API JSON ({0})")]
    Malformed(&'static str),
    #[error("invalid field {0} in an admin reply")]
    Invalid(&'static str),
    #[error("admin reply for another request")]
    OtherTransaction,
    /// Janus refused the request: its error code (403: wrong admin secret, 458: no such
    /// session, 459: no such handle).
    #[error("Janus refused the admin request (code {0})")]
    Refused(i64),
}

/// A handle's role in VideoRoom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Receives a participant's media (`stats.in`).
    Publisher,
    /// Sends the others' media to a participant (`stats.out`): what Janus forwards.
    Subscriber,
    /// No VideoRoom role (the service's room-management handle, another plugin).
    #[default]
    Other,
}

/// One handle's counters, summed over its media (cumulative, as Janus keeps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandleStats {
    pub role: Role,
    /// RTP packets and bytes Janus received on this handle.
    pub in_packets: u64,
    pub in_bytes: u64,
    /// RTP packets and bytes Janus sent on this handle.
    pub out_packets: u64,
    pub out_bytes: u64,
    /// Packets lost on the way to Janus (Janus's count from sequence numbers).
    pub lost: u64,
    /// Packets lost on the way from Janus, as the receiver's RTCP reports say.
    pub lost_by_remote: u64,
    /// NACKs the receiver sent Janus (retransmission requests).
    pub nacks_out: u64,
}

#[derive(Deserialize)]
struct Envelope {
    janus: String,
    #[serde(default)]
    transaction: Option<String>,
    #[serde(default)]
    error: Option<ErrorBody>,
    #[serde(default)]
    handles: Option<Vec<u64>>,
    #[serde(default)]
    info: Option<Info>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: i64,
}

#[derive(Deserialize)]
struct Info {
    #[serde(default)]
    plugin: Option<String>,
    #[serde(default)]
    plugin_specific: Option<PluginSpecific>,
    #[serde(default)]
    webrtc: Option<Webrtc>,
}

#[derive(Deserialize)]
struct PluginSpecific {
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Webrtc {
    #[serde(default)]
    media: HashMap<String, Media>,
}

#[derive(Deserialize)]
struct Media {
    #[serde(default)]
    stats: Option<Stats>,
    #[serde(default)]
    rtcp: Option<Rtcp>,
}

#[derive(Deserialize)]
struct Stats {
    #[serde(default, rename = "in")]
    incoming: Option<Counters>,
    #[serde(default, rename = "out")]
    outgoing: Option<Counters>,
}

#[derive(Deserialize)]
struct Counters {
    #[serde(default)]
    packets: u64,
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    nacks: u64,
}

#[derive(Deserialize)]
struct Rtcp {
    #[serde(default)]
    main: Option<RtcpMain>,
}

#[derive(Deserialize)]
struct RtcpMain {
    // Janus keeps these as signed 32-bit numbers (RTCP's cumulative loss is signed: duplicates
    // make it negative); read as i64, counted from zero.
    #[serde(default)]
    lost: i64,
    #[serde(default, rename = "lost-by-remote")]
    lost_by_remote: i64,
}

/// Reads the envelope: size, JSON, the transaction this reply must answer, success.
fn envelope(text: &str, transaction: &str) -> Result<Envelope, AdminError> {
    if text.len() > MAX_ADMIN_REPLY_BYTES {
        return Err(AdminError::TooLarge);
    }
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
        // The category only: serde's message can quote the offending value.
        AdminError::Malformed(match e.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "unexpected field type",
            serde_json::error::Category::Eof => "truncated",
        })
    })?;
    if envelope.transaction.as_deref() != Some(transaction) {
        return Err(AdminError::OtherTransaction);
    }
    match envelope.janus.as_str() {
        "success" => Ok(envelope),
        "error" => Err(AdminError::Refused(
            envelope.error.as_ref().map_or(0, |e| e.code),
        )),
        _ => Err(AdminError::Invalid("janus")),
    }
}

/// A `list_handles` reply answering `transaction`: the session's handle ids (non-zero, at
/// most [`MAX_HANDLES`]).
pub fn parse_handles(text: &str, transaction: &str) -> Result<Vec<u64>, AdminError> {
    let handles = envelope(text, transaction)?
        .handles
        .ok_or(AdminError::Invalid("handles"))?;
    if handles.len() > MAX_HANDLES {
        return Err(AdminError::Invalid("handles"));
    }
    if handles.contains(&0) {
        return Err(AdminError::Invalid("handles"));
    }
    Ok(handles)
}

/// A `handle_info` reply answering `transaction`: the handle's role and counters.
pub fn parse_handle_info(text: &str, transaction: &str) -> Result<HandleStats, AdminError> {
    let info = envelope(text, transaction)?
        .info
        .ok_or(AdminError::Invalid("info"))?;
    let role = match (info.plugin.as_deref(), &info.plugin_specific) {
        (Some(VIDEOROOM), Some(p)) => match p.kind.as_deref() {
            Some("publisher") => Role::Publisher,
            Some("subscriber") => Role::Subscriber,
            _ => Role::Other,
        },
        _ => Role::Other,
    };
    let mut stats = HandleStats {
        role,
        ..HandleStats::default()
    };
    let Some(webrtc) = info.webrtc else {
        return Ok(stats);
    };
    if webrtc.media.len() > MAX_MEDIA {
        return Err(AdminError::Invalid("webrtc.media"));
    }
    for media in webrtc.media.values() {
        let add = |total: &mut u64, n: u64| *total = total.saturating_add(n);
        if let Some(s) = &media.stats {
            if let Some(c) = &s.incoming {
                add(&mut stats.in_packets, c.packets);
                add(&mut stats.in_bytes, c.bytes);
            }
            if let Some(c) = &s.outgoing {
                add(&mut stats.out_packets, c.packets);
                add(&mut stats.out_bytes, c.bytes);
                add(&mut stats.nacks_out, c.nacks);
            }
        }
        if let Some(main) = media.rtcp.as_ref().and_then(|r| r.main.as_ref()) {
            add(&mut stats.lost, main.lost.max(0) as u64);
            add(&mut stats.lost_by_remote, main.lost_by_remote.max(0) as u64);
        }
    }
    Ok(stats)
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
