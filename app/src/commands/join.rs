//! `phantomcall join <link>`: join a conference room by its invite link
//! (`phantomcall://join/<host>/<room>` or `https://<host>/join/<room>`), headless.
//!
//! Progress goes to standard error for a person; with `--json`, events and figures (one
//! JSON object a line, every second) go to standard output for scripts and tests. Host
//! controls and the rest are read from standard input, one command a line: `mute <id>`,
//! `remove <id>`, `lock`, `unlock`, `end`, `share-screen [height]`, `stop-screen`, `mute-self`,
//! `unmute-self`, `leave`.
//!
//! A lost connection to the service is rejoined (`reconnecting` lines, then `reconnected`
//! with the new participant id). Exit codes: 0 left or the room ended, 2 the join was
//! refused, 3 removed by the host, 4 the connection was lost and could not be rejoined.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use calling::conference::{
    self, ConferenceCommand, ConferenceEvent, ConferenceFigures, ConferenceLink, JoinError,
    JoinOptions,
};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt as _;

use crate::call_args::{call_duration, DeviceArgs};

/// Everything `join` needs.
pub struct JoinArgs<'a> {
    pub link: String,
    pub token_file: Option<PathBuf>,
    /// Sign in with the wallet imported beside this identity.
    pub wallet: Option<&'a nostr_signal::KeyFile>,
    pub name: String,
    pub audio_only: bool,
    pub seconds: u64,
    pub json: bool,
    pub devices: DeviceArgs,
}

pub async fn run(args: JoinArgs<'_>) -> Result<ExitCode> {
    let link = ConferenceLink::parse(&args.link)?;
    let duration = call_duration(args.seconds)?;
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the session token {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => match args.wallet {
            Some(key_file) => {
                let service = phantomcall::wallet::service::ConferenceService::for_link(&link);
                let session = super::wallet::sign_in(key_file, service).await?;
                eprintln!("signed in ({} plan)", session.tier);
                Some(session.access_token.as_str().to_owned())
            }
            None => None,
        },
    };
    let mut options = JoinOptions::new(link.clone(), args.devices.devices());
    options.screen_share = token.is_some();
    options.token = token;
    options.display_name = args.name.clone();
    options.video = !args.audio_only;
    eprintln!(
        "joining room {}… on {} ({})",
        &link.room[..8],
        link.host,
        if options.token.is_some() {
            "signed in"
        } else {
            "anonymous guest"
        }
    );
    let out = Out { json: args.json };
    let (conference, mut events) = match conference::join(options).await {
        Ok(joined) => joined,
        Err(JoinError::Refused { code, message }) => {
            out.event(json!({"event": "join_refused", "code": code, "message": message}));
            eprintln!("error: cannot join: {message}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let figures = conference.figures();
    out.event(
        json!({"event": "joined", "participant_id": figures.participant_id,
        "host": figures.host, "anonymous": figures.anonymous, "locked": figures.locked,
        "seconds_left": figures.seconds_left_at_join}),
    );
    eprintln!(
        "joined as {}{}: end-to-end encrypted, the server forwards ciphertext only",
        if figures.host { "host " } else { "" },
        &figures.participant_id[..8]
    );
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let deadline = tokio::time::sleep(duration);
    tokio::pin!(deadline);
    let mut code = ExitCode::SUCCESS;
    let mut reconnecting = false;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let end = matches!(event, ConferenceEvent::Left);
                match event {
                    ConferenceEvent::Removed => code = ExitCode::from(3),
                    ConferenceEvent::Reconnecting { .. } => reconnecting = true,
                    ConferenceEvent::Reconnected => reconnecting = false,
                    ConferenceEvent::Ended { .. } if reconnecting => code = ExitCode::from(4),
                    _ => {}
                }
                out.conference_event(&event, &conference);
                if end {
                    break;
                }
            }
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => match parse_command(&line) {
                    Some(command) => conference.command(command),
                    None => eprintln!("unknown command: {}", line.trim()),
                },
                _ => stdin_open = false,
            },
            _ = every.tick() => out.figures(&conference.figures()),
            _ = &mut deadline => {
                conference.command(ConferenceCommand::Leave);
            }
        }
    }
    out.figures(&conference.figures());
    conference.leave().await;
    Ok(code)
}

/// One line of standard input as a command.
fn parse_command(line: &str) -> Option<ConferenceCommand> {
    let mut words = line.split_whitespace();
    let command = match (words.next()?, words.next()) {
        ("mute", Some(id)) => ConferenceCommand::Mute(id.to_owned()),
        ("remove", Some(id)) => ConferenceCommand::Remove(id.to_owned()),
        ("lock", None) => ConferenceCommand::Lock(true),
        ("unlock", None) => ConferenceCommand::Lock(false),
        ("end", None) => ConferenceCommand::End,
        ("leave", None) => ConferenceCommand::Leave,
        ("mute-self", None) => ConferenceCommand::SetMuted(true),
        ("unmute-self", None) => ConferenceCommand::SetMuted(false),
        ("stop-screen", None) => ConferenceCommand::StopScreenShare,
        ("share-screen", height) => ConferenceCommand::ShareScreen {
            height: height.map_or(Some(1080), |h| h.parse().ok())?,
        },
        _ => return None,
    };
    Some(command)
}

struct Out {
    json: bool,
}

impl Out {
    fn event(&self, value: Value) {
        if self.json {
            println!("{value}");
        }
    }

    fn conference_event(&self, event: &ConferenceEvent, conference: &conference::Conference) {
        let (value, text) = match event {
            ConferenceEvent::Participants(list) => {
                let people: Vec<Value> = list
                    .iter()
                    .map(|p| {
                        json!({"id": p.id, "name": p.display_name, "host": p.host,
                        "anonymous": p.anonymous, "muted": p.muted})
                    })
                    .collect();
                (
                    json!({"event": "participants", "participants": people}),
                    format!("{} in the room", list.len()),
                )
            }
            ConferenceEvent::Keys { epoch, members } => (
                json!({"event": "keys", "epoch": epoch, "members": members}),
                format!("new key: MLS epoch {epoch}, {members} members hold it"),
            ),
            ConferenceEvent::Connected(up) => (
                json!({"event": "connected", "up": up}),
                format!("media path {}", if *up { "up" } else { "down" }),
            ),
            ConferenceEvent::MutedByHost => (
                json!({"event": "muted_by_host"}),
                "the host muted you".to_owned(),
            ),
            ConferenceEvent::Removed => (
                json!({"event": "removed"}),
                "the host removed you from the room".to_owned(),
            ),
            ConferenceEvent::RoomState { locked } => (
                json!({"event": "room_state", "locked": locked}),
                format!("the room is {}", if *locked { "locked" } else { "open" }),
            ),
            ConferenceEvent::RoomEnding { seconds_left } => (
                json!({"event": "room_ending", "seconds_left": seconds_left}),
                format!("this room ends in {} minutes", seconds_left.div_ceil(60)),
            ),
            ConferenceEvent::Ended { reason } => (
                json!({"event": "ended", "reason": reason}),
                format!("the room ended: {reason}"),
            ),
            ConferenceEvent::ScreenShareAllowed { max_height } => (
                json!({"event": "screen_share_allowed", "max_height": max_height}),
                format!("sharing your screen (up to {max_height} lines)"),
            ),
            ConferenceEvent::ScreenShareFailed(why) => (
                json!({"event": "screen_share_failed", "reason": why}),
                format!("screen share failed: {why}"),
            ),
            ConferenceEvent::Refused { code, message } => (
                json!({"event": "refused", "code": code, "message": message}),
                format!("refused: {message}"),
            ),
            ConferenceEvent::Reconnecting { attempt } => (
                json!({"event": "reconnecting", "attempt": attempt}),
                format!(
                    "lost the connection to the conference service: rejoining (try {attempt})…"
                ),
            ),
            ConferenceEvent::Reconnected => {
                // The figures are the new connection's by the time this event comes.
                let f = conference.figures();
                (
                    json!({"event": "reconnected", "participant_id": f.participant_id,
                    "host": f.host}),
                    format!(
                        "back in the room as {}{}",
                        if f.host { "host " } else { "" },
                        f.participant_id.get(..8).unwrap_or_default()
                    ),
                )
            }
            ConferenceEvent::Left => (json!({"event": "left"}), "left the room".to_owned()),
        };
        self.event(value);
        eprintln!("{text}");
    }

    fn figures(&self, f: &ConferenceFigures) {
        if !self.json {
            return;
        }
        let senders: Vec<Value> = f
            .senders
            .iter()
            .map(|s| {
                json!({"participant": s.participant, "audio_packets": s.audio_packets,
                    "audio_opened": s.audio_opened, "audio_refused": s.audio_refused,
                    "tone_hz": s.tone_hz, "level": s.level, "video_frames": s.video_frames,
                    "screen_frames": s.screen_frames, "sharing_screen": s.sharing_screen})
            })
            .collect();
        self.event(
            json!({"event": "figures", "participant_id": f.participant_id,
            "reconnecting": f.reconnecting, "muted": f.muted, "epoch": f.epoch, "key_members": f.key_members,
            "connected": f.connected, "audio_sent": f.audio_frames_sent,
            "video_sent": f.video_frames_sent, "screen_sent": f.screen_frames_sent,
            "sharing_screen": f.sharing_screen, "active_speaker": f.active_speaker(),
            "senders": senders}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_input_commands() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse_command(&format!("remove {id}")),
            Some(ConferenceCommand::Remove(id.into()))
        );
        assert_eq!(parse_command(" lock "), Some(ConferenceCommand::Lock(true)));
        assert_eq!(
            parse_command("share-screen"),
            Some(ConferenceCommand::ShareScreen { height: 1080 })
        );
        assert_eq!(parse_command("share-screen tall"), None);
        assert_eq!(parse_command("lock now"), None);
        assert_eq!(parse_command(""), None);
    }
}
