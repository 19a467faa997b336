//! The app's conference: joining runs on the background runtime; the controller polls it
//! every frame for its events and a snapshot of its figures, which the Conferences screen
//! draws.

use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::conference::{
    self, Conference, ConferenceCommand, ConferenceEvent, ConferenceFigures, ConferenceLink,
    JoinOptions,
};
use calling::MediaDevices;
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedReceiver;

use super::screens::conference::ConferencePhase;

type Joined = Result<(Conference, UnboundedReceiver<ConferenceEvent>), String>;

/// The conference the app is in (at most one).
#[derive(Default)]
pub struct ConferenceState {
    /// Where it stands.
    pub phase: ConferencePhase,
    /// The last snapshot of its figures.
    pub figures: Option<ConferenceFigures>,
    /// When the plan's limit ends the room.
    pub ends_at: Option<Instant>,
    /// The service's or the share's last word on a request ("screen share refused: …").
    pub notice: Option<String>,
    /// A room chosen but not joined yet: the lobby is shown first.
    pub pending: Option<PendingJoin>,
    joining: Option<Receiver<Joined>>,
    /// Between `Reconnecting` and `Reconnected`: an end then means the rejoin failed.
    reconnecting: bool,
    conference: Option<Conference>,
    events: Option<UnboundedReceiver<ConferenceEvent>>,
}

/// A room the user chose to join, waiting for the lobby's "Join the room".
pub struct PendingJoin {
    /// Which room.
    pub link: ConferenceLink,
    /// The session to join with (the host's), or none for a guest.
    pub token: Option<zeroize::Zeroizing<String>>,
}

impl PendingJoin {
    /// What the lobby says about it: "room 3f2b8c1e on meet.example.org, as host".
    pub fn describe(&self) -> String {
        format!(
            "room {} on {}{}",
            &self.link.room[..8],
            self.link.host,
            if self.token.is_some() {
                ", as host"
            } else {
                ", as a guest"
            }
        )
    }
}

impl ConferenceState {
    /// Starts joining `link` with `devices`: signed in with `token` (a session of the
    /// room's service), else as a guest.
    pub fn join(
        &mut self,
        handle: &Handle,
        link: ConferenceLink,
        devices: Arc<dyn MediaDevices>,
        token: Option<zeroize::Zeroizing<String>>,
    ) {
        if self.conference.is_some() || self.joining.is_some() {
            return;
        }
        let mut options = JoinOptions::new(link, devices);
        options.display_name = "PhantomCall user".into();
        options.keep_frames = true;
        options.screen_share = token.is_some();
        options.token = token.map(|t| t.as_str().to_owned());
        let (tx, rx) = channel();
        handle.spawn(async move {
            let joined = conference::join(options).await.map_err(|e| e.to_string());
            let _ = tx.send(joined);
        });
        self.joining = Some(rx);
        self.phase = ConferencePhase::Joining;
    }

    /// Passes a command on.
    pub fn command(&self, command: ConferenceCommand) {
        if let Some(c) = &self.conference {
            c.command(command);
        }
    }

    /// Back to the join form.
    pub fn close(&mut self) {
        if let Some(c) = self.conference.take() {
            c.command(ConferenceCommand::Leave);
        }
        *self = Self::default();
    }

    /// Whether anything is going on (the window then repaints on its own).
    pub fn active(&self) -> bool {
        matches!(self.phase, ConferencePhase::Joining | ConferencePhase::In)
    }

    /// Time left by the plan.
    pub fn time_left(&self) -> Option<Duration> {
        self.ends_at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Takes what happened since the last frame.
    pub fn poll(&mut self) {
        if let Some(rx) = &self.joining {
            match rx.try_recv() {
                Ok(Ok((conference, events))) => {
                    let figures = conference.figures();
                    self.ends_at = figures
                        .joined_at
                        .map(|at| at + Duration::from_secs(figures.seconds_left_at_join));
                    self.figures = Some(figures);
                    self.conference = Some(conference);
                    self.events = Some(events);
                    self.joining = None;
                    self.phase = ConferencePhase::In;
                }
                Ok(Err(why)) => {
                    self.joining = None;
                    self.phase = ConferencePhase::Over(format!("Could not join: {why}"));
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.joining = None;
                    self.phase = ConferencePhase::Over("Could not join.".into());
                }
            }
        }
        while let Some(event) = self.events.as_mut().and_then(|e| e.try_recv().ok()) {
            self.on_event(event);
        }
        if let Some(c) = &self.conference {
            self.figures = Some(c.figures());
        }
    }

    fn on_event(&mut self, event: ConferenceEvent) {
        let over = match event {
            ConferenceEvent::Removed => Some("The host removed you from the room.".to_owned()),
            ConferenceEvent::Ended { reason } if self.reconnecting => {
                Some(format!("You are no longer in the room: {reason}"))
            }
            ConferenceEvent::Ended { reason } => Some(format!("The room ended: {reason}")),
            ConferenceEvent::Reconnecting { .. } => {
                self.reconnecting = true;
                None
            }
            ConferenceEvent::Reconnected => {
                self.reconnecting = false;
                // A new join: the plan's clock as the service gives it now.
                if let Some(f) = self.conference.as_ref().map(Conference::figures) {
                    self.ends_at = f
                        .joined_at
                        .map(|at| at + Duration::from_secs(f.seconds_left_at_join));
                }
                None
            }
            ConferenceEvent::Left => Some("You left the room.".to_owned()),
            ConferenceEvent::RoomEnding { seconds_left } => {
                self.ends_at = Some(Instant::now() + Duration::from_secs(seconds_left));
                None
            }
            ConferenceEvent::Refused { message, .. } => {
                self.notice = Some(message);
                None
            }
            ConferenceEvent::ScreenShareFailed(why) => {
                self.notice = Some(format!("Your screen share stopped: {why}"));
                None
            }
            ConferenceEvent::ScreenShareAllowed { .. } => {
                self.notice = None;
                None
            }
            _ => None,
        };
        if let Some(why) = over {
            // The first reason stands ("removed" before the "left" that follows it).
            if self.phase == ConferencePhase::In {
                self.phase = ConferencePhase::Over(why);
            }
            self.conference = None;
        }
    }
}
