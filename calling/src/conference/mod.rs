//! The conference client: joins a room of the PhantomCall conference service
//! (`phantomcall-conference`) by its invite link, takes part in the room's MLS group through
//! the service's delivery service, and sends and receives media through its SFU as SFrame
//! ciphertext under the MLS epoch key. The service sees headers and ciphertext only.
//!
//! - [`link`]: invite links -> the service's signaling URL and the room.
//! - [`wire`]: the signaling protocol v1, checked.
//! - [`mls_room`]: membership and epochs (who commits, when to welcome).
//! - `media`: the connection to the SFU and the pipelines.
//! - `session`: the join path (socket, media, join, MLS room), for the first join and
//!   every rejoin; `run`: one connection's loop; `reconnect`: rejoining when the signaling
//!   connection is lost.
//!
//! [`join`] connects, joins and returns a [`Conference`] handle (commands, figures) and a
//! stream of [`ConferenceEvent`]s. A lost signaling connection does not end the conference:
//! the client rejoins ([`ConferenceEvent::Reconnecting`], [`ConferenceEvent::Reconnected`]).

// Field-level docs are missing on the protocol-shaped types (their names are the
// protocol's); to be filled in.
#![allow(missing_docs)]

pub mod link;
mod media;
pub mod meter;
pub mod mls_room;
mod reconnect;
mod run;
mod session;
mod socket;
pub mod wire;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ::media::video::DecodedFrame;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::devices::MediaDevices;
use crate::peer::NetworkConfig;

pub use link::{ConferenceLink, LinkError, MAX_LINK_BYTES};
pub use socket::ConnectError;
pub use wire::Participant;

/// How to join.
#[derive(Clone)]
pub struct JoinOptions {
    /// The room and its service.
    pub link: ConferenceLink,
    /// A session token (from signing in with a wallet); `None` joins as an anonymous guest.
    pub token: Option<String>,
    /// The name the others see (the service trims it to 50 characters).
    pub display_name: String,
    /// Send our (blacked-out) camera.
    pub video: bool,
    /// Offer a screen-share section (signed-in participants; guests may not).
    pub screen_share: bool,
    /// Keep each sender's latest decoded frame, for a participant grid.
    pub keep_frames: bool,
    pub devices: Arc<dyn MediaDevices>,
    /// Sockets and servers for the media path.
    pub network: NetworkConfig,
    /// Certificates (DER) trusted for `wss://` besides the web's roots.
    pub extra_roots: Vec<Vec<u8>>,
}

impl JoinOptions {
    /// Defaults for `link`: anonymous, audio and video, no screen share, this machine's
    /// network (loopback when the service is on loopback).
    pub fn new(link: ConferenceLink, devices: Arc<dyn MediaDevices>) -> Self {
        let network = if link.tls {
            NetworkConfig::default()
        } else {
            NetworkConfig::loopback()
        };
        Self {
            link,
            token: None,
            display_name: "Guest".into(),
            video: true,
            screen_share: false,
            keep_frames: false,
            devices,
            network,
            extra_roots: Vec::new(),
        }
    }
}

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The service refused the join; `message` is for the user ("the room is locked by its
    /// host: no one else can join").
    #[error("{message}")]
    Refused { code: String, message: String },
    #[error("media set-up failed: {0}")]
    Media(String),
    #[error("the room's keys could not be set up: {0}")]
    Keys(String),
    #[error("the conference service closed the connection")]
    Closed,
    #[error("the conference service did not answer in time")]
    Timeout,
}

/// What a participant can ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConferenceCommand {
    /// Mute or unmute our own microphone.
    SetMuted(bool),
    /// Host: ask a participant to mute.
    Mute(String),
    /// Host: remove a participant.
    Remove(String),
    /// Host: lock or unlock the room.
    Lock(bool),
    /// Host: end the room for everyone.
    End,
    /// Ask to share our first screen at this height; once the service allows it (up to
    /// the host's plan's height), the share starts.
    ShareScreen { height: u32 },
    /// Stop our screen share.
    StopScreenShare,
    /// Leave the room.
    Leave,
}

/// Something that happened in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConferenceEvent {
    /// The participant list changed.
    Participants(Vec<Participant>),
    /// A new MLS epoch: its key, `members` participants (ourselves included) hold it.
    Keys { epoch: u64, members: usize },
    /// The media path to the SFU is up (or not).
    Connected(bool),
    /// The host asked us to mute (our microphone is muted).
    MutedByHost,
    /// The host removed us; the room is left.
    Removed,
    /// The room was locked or unlocked.
    RoomState { locked: bool },
    /// The plan's duration limit ends the room in `seconds_left`.
    RoomEnding { seconds_left: u64 },
    /// The room ended; the room is left.
    Ended { reason: String },
    /// The service allowed a screen share up to this height: ours has started.
    ScreenShareAllowed { max_height: u32 },
    /// Our screen share could not start, or ended by itself (with why).
    ScreenShareFailed(String),
    /// The service refused a request (`code` is stable, `message` for the user).
    Refused { code: String, message: String },
    /// The signaling connection was lost (not ended by us or the service): the media is
    /// stopped and this is try number `attempt` (from 1) to rejoin the room with the same
    /// options. `Reconnected` follows, or `Ended` with why it could not be.
    Reconnecting { attempt: u32 },
    /// In the room again after `Reconnecting`: a new participant id, new media, a new place
    /// in the room's MLS group; the usual `Participants` and `Keys` follow.
    Reconnected,
    /// We left (or the conference ended, or could not be rejoined); nothing follows.
    Left,
}

/// What we know of one other participant's media.
#[derive(Debug, Clone, Default)]
pub struct SenderFigures {
    pub participant: String,
    /// Audio packets that arrived, opened under its key, and refused (no key: it was
    /// removed, or sent under a key we do not hold).
    pub audio_packets: u64,
    pub audio_opened: u64,
    pub audio_refused: u64,
    /// When its last audio frame opened.
    pub last_audio: Option<Instant>,
    /// The dominant frequency of its audio (a test tone), Hz.
    pub tone_hz: Option<f32>,
    /// Smoothed audio level (RMS, full scale 1).
    pub level: f32,
    /// Video frames decoded.
    pub video_frames: u64,
    /// Its latest decoded frame (with [`JoinOptions::keep_frames`]).
    pub last_frame: Option<Arc<DecodedFrame>>,
    /// Frames of its screen share decoded.
    pub screen_frames: u64,
    /// Whether its screen share is live (a frame in the last 3 s).
    pub sharing_screen: bool,
    /// Its screen share's latest frame (with [`JoinOptions::keep_frames`]).
    pub last_screen_frame: Option<Arc<DecodedFrame>>,
}

/// A snapshot of the conference's figures.
#[derive(Debug, Clone, Default)]
pub struct ConferenceFigures {
    pub participant_id: String,
    pub host: bool,
    pub anonymous: bool,
    pub locked: bool,
    pub participants: Vec<Participant>,
    /// The MLS epoch we send under, and how many participants hold its key.
    pub epoch: Option<u64>,
    pub key_members: usize,
    pub muted: bool,
    pub connected: bool,
    /// While rejoining after the signaling connection was lost: the try under way (from 1).
    pub reconnecting: Option<u32>,
    /// Frames we sent (after encryption).
    pub audio_frames_sent: u64,
    pub video_frames_sent: u64,
    /// Whether we share a screen, and its frames sent.
    pub sharing_screen: bool,
    pub screen_frames_sent: u64,
    /// Seconds left by the plan when the room was joined, and when that was.
    pub seconds_left_at_join: u64,
    pub joined_at: Option<Instant>,
    pub senders: Vec<SenderFigures>,
}

impl ConferenceFigures {
    /// The loudest sender above the speaking level, if any.
    pub fn active_speaker(&self) -> Option<&str> {
        self.senders
            .iter()
            .filter(|s| s.level > meter::SPEAKING_RMS)
            .filter(|s| s.last_audio.is_some_and(|t| t.elapsed().as_millis() < 500))
            .max_by(|a, b| a.level.total_cmp(&b.level))
            .map(|s| s.participant.as_str())
    }
}

/// A joined conference.
pub struct Conference {
    commands: UnboundedSender<ConferenceCommand>,
    figures: Arc<Mutex<run::Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Conference {
    /// Asks for something; the outcome comes as an event.
    pub fn command(&self, command: ConferenceCommand) {
        let _ = self.commands.send(command);
    }

    /// A snapshot of the figures.
    pub fn figures(&self) -> ConferenceFigures {
        run::snapshot(&self.figures.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether the conference is over (left, removed, ended, or lost and not rejoined).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Leaves and waits until the media is stopped.
    pub async fn leave(self) {
        let _ = self.commands.send(ConferenceCommand::Leave);
        let _ = self.task.await;
    }
}

/// Connects to the service, joins the room and starts the media. Fails with the service's
/// own words when it refuses the join (locked, full, ended, unauthorized). Once joined, a
/// lost signaling connection is rejoined (for up to a minute) rather than ending the
/// conference.
pub async fn join(
    options: JoinOptions,
) -> Result<(Conference, UnboundedReceiver<ConferenceEvent>), JoinError> {
    let (events_tx, events_rx) = unbounded_channel();
    let (commands_tx, commands_rx) = unbounded_channel();
    let (figures, task) = reconnect::start(options, events_tx, commands_rx).await?;
    Ok((
        Conference {
            commands: commands_tx,
            figures,
            task,
        },
        events_rx,
    ))
}
