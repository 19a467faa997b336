//! What the call commands print while a call runs: one line per state change and a live
//! figures line once a second.

use calling::{
    CallEvent, CallStats, EndReason, EngineEvent, GroupChange, GroupEvent, MediaEvent, MemberState,
    Reason,
};
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
        Reason::Ended(EndReason::RemotePhoneRefused(refusal)) => {
            format!("ended: {refusal}")
        }
        Reason::Ended(end) => format!(
            "ended: {end:?}{}",
            if event.missed { " (missed)" } else { "" }
        ),
        other => format!("{other:?}"),
    };
    let phone = match &event.phone {
        Some(leg) => format!(
            "  phone {}: {}",
            phantomcall::gui::widgets::phone_number(leg),
            phantomcall::gui::widgets::PHONE_NOT_E2EE
        ),
        None => String::new(),
    };
    format!(
        "{:?} {:?} call with {}…  {:?}  [{}]  mode {}{phone}",
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
        EngineEvent::Group(g) => describe_group(g),
        EngineEvent::Media { event, .. } => describe_media(event),
        EngineEvent::SignalingError { error, .. } => Some(format!("signaling: {error}")),
        EngineEvent::Dropped(d) => {
            tracing::debug!(reason = ?d.reason, input = ?d.input, "input dropped");
            None
        }
        EngineEvent::Stats { .. } => None,
    }
}

/// A key as the CLI shows it: the start of its npub.
fn short(key: &nostr_signal::PublicKey) -> String {
    let npub = encode_npub(key);
    format!("{}…", &npub[..16.min(npub.len())])
}

/// One line for a group call event worth showing, if it is one.
pub fn describe_group(event: &GroupEvent) -> Option<String> {
    let list =
        |keys: &[nostr_signal::PublicKey]| keys.iter().map(short).collect::<Vec<_>>().join(", ");
    Some(match &event.change {
        GroupChange::Ringing {
            from,
            members,
            call_type,
            mode,
        } => format!(
            "group {call_type:?} call from {} with {}  mode {mode}",
            short(from),
            list(members)
        ),
        GroupChange::Joined {
            members,
            call_type,
            mode,
        } => format!(
            "in a group {call_type:?} call with {}  mode {mode}",
            list(members)
        ),
        GroupChange::Member { member, state } => {
            let state = match state {
                MemberState::Invited => "invited".to_owned(),
                MemberState::Connecting => "connecting".to_owned(),
                MemberState::Connected => "connected".to_owned(),
                MemberState::Reconnecting => "reconnecting".to_owned(),
                MemberState::Left(why) => format!("left ({why:?})"),
                MemberState::Failed(why) => format!("failed: {why}"),
            };
            format!("  {}: {state}", short(member))
        }
        GroupChange::Media { member, event } => {
            format!("  {}: {}", short(member), describe_media(event)?)
        }
        GroupChange::Stats { .. } => return None,
        GroupChange::Keys {
            epoch,
            keyed,
            members,
        } => format!("group keys: MLS epoch {epoch}, {keyed} of {members} members"),
        GroupChange::Ended { reason } => format!("group call ended: {reason:?}"),
    })
}

/// One line for a media event worth showing; voice activity only when the peer mutes
/// (speaking and pauses would be a line every few seconds; the app shows them).
fn describe_media(event: &MediaEvent) -> Option<String> {
    Some(match event {
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
        MediaEvent::VoiceProcessingFault { fault, gave_up } => {
            phantomcall::gui::state::calls::voice_processing_notice(fault, *gave_up)
        }
        MediaEvent::RemoteVoice(voice) if voice.muted => "peer muted their microphone".into(),
        MediaEvent::RemoteVoice(_) => return None,
        MediaEvent::VoiceOverBluetooth => {
            phantomcall::gui::state::calls::VOICE_OVER_BLUETOOTH.into()
        }
    })
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
