//! What the call commands print while a call runs: one line per state change and a live
//! figures line once a second.

use calling::{CallEvent, CallStats, EngineEvent, MediaEvent, Reason};
use nostr_signal::encode_npub;
use tokio::sync::broadcast::{error::RecvError, Receiver};

/// The next engine event; `None` once the engine is gone. A subscriber that fell behind
/// skips what it missed (noted in the log) instead of giving up: the call goes on.
pub async fn next_event(events: &mut Receiver<EngineEvent>) -> Option<EngineEvent> {
    loop {
        match events.recv().await {
            Ok(event) => return Some(event),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "fell behind the engine's events");
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

/// One line for a call state change.
pub fn describe_call(event: &CallEvent) -> String {
    let peer = encode_npub(&event.peer);
    let reason = match event.reason {
        Reason::Ended(end) => format!(
            "ended: {end:?}{}",
            if event.missed { " (missed)" } else { "" }
        ),
        other => format!("{other:?}"),
    };
    format!(
        "{:?} {:?} call with {}…  {:?}  [{}]  mode {}",
        event.direction,
        event.call_type,
        &peer[..16.min(peer.len())],
        event.state,
        reason,
        event.mode
    )
}

/// One line for an engine event worth showing, if it is one.
pub fn describe(event: &EngineEvent) -> Option<String> {
    match event {
        EngineEvent::Call(e) => Some(describe_call(e)),
        EngineEvent::Media { event, .. } => Some(match event {
            MediaEvent::Reconnecting => "media path lost: reconnecting…".into(),
            MediaEvent::IceRestartSent => "ICE restart sent".into(),
            MediaEvent::Reconnected => "media path restored".into(),
            MediaEvent::DeviceError(e) => format!("device problem: {e}"),
            MediaEvent::SetupFailed(why) => format!("call not started: {why}"),
            MediaEvent::Blackout { state, .. } => format!("video: {state}"),
            MediaEvent::CandidateWithheld(why) => format!("candidate withheld: {why}"),
            MediaEvent::PolicyViolation(why) => format!("refused from peer: {why}"),
            MediaEvent::ScreenShareStarted { what } => format!("sharing {what}"),
            MediaEvent::ScreenShareStopped { why: None } => "screen share stopped".into(),
            MediaEvent::ScreenShareStopped { why: Some(why) } => {
                format!("screen share stopped: {why}")
            }
            MediaEvent::RemoteScreenShare { active: true } => "peer is sharing their screen".into(),
            MediaEvent::RemoteScreenShare { active: false } => "peer stopped sharing".into(),
            MediaEvent::MediaKeys(keys) => keys.to_string(),
        }),
        EngineEvent::SignalingError { error, .. } => Some(format!("signaling: {error}")),
        EngineEvent::Dropped(d) => {
            tracing::debug!(reason = ?d.reason, input = ?d.input, "input dropped");
            None
        }
        EngineEvent::Stats { .. } => None,
    }
}

/// The live figures line: state, RTT, jitter, loss, bitrates, fps.
pub fn stats_line(stats: &CallStats) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
    let elapsed = stats.connected_for.map_or("--:--".to_owned(), |d| {
        format!("{:02}:{:02}", d.as_secs() / 60, d.as_secs() % 60)
    });
    format!(
        "{} {elapsed}  rtt {}  jitter {}  lost {}  in {:.0} kbit/s  out {:.0} kbit/s  video {:.1} fps  path {}{}",
        if stats.media_up { "connected" } else { "reconnecting" },
        ms(stats.peer.rtt_ms),
        ms(stats.peer.audio_jitter_ms),
        stats.peer.packets_lost.max(0),
        stats.bitrate_in_kbps,
        stats.bitrate_out_kbps,
        stats.video_fps,
        stats.peer.local_candidate_type.as_deref().unwrap_or("-"),
        if stats.relayed { " (relayed)" } else { "" },
    )
}
