//! One joined connection's loop: the signaling socket, the MLS room and the media, driven
//! over the service's messages, the connection's events and the user's commands. It ends
//! when the conference is over (left, removed, ended) or when the signaling connection is
//! lost; [`super::reconnect`] then rejoins and starts a new one.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use phantomcall_schemas::IceCandidate;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::media::{ConferenceMedia, Senders};
use super::mls_room::MlsRoom;
use super::session::Session;
use super::socket::{self, Frame, Socket};
use super::wire::{ClientMessage, Participant, ServerMessage};
use super::{ConferenceCommand, ConferenceEvent, ConferenceFigures, SenderFigures};
use crate::devices::MediaDevices;
use crate::peer::{PathState, PeerEvent};

/// A sender's screen share counts as live this long after its last frame (shares run at
/// a few frames a second, and a still screen still sends them).
const SCREEN_LIVE: Duration = Duration::from_secs(3);

/// We ping the service this often; its pong (or anything else) shows the connection lives.
const KEEPALIVE: Duration = Duration::from_secs(10);

/// Nothing heard for this long (three pings unanswered): the connection is lost even though
/// no close came (a network that vanished without a word).
const SILENCE: Duration = Duration::from_secs(30);

/// What the handle reads while the task runs.
pub(crate) struct Shared {
    pub base: ConferenceFigures,
    /// The current connection's senders (empty while reconnecting).
    pub senders: Senders,
    /// Frames sent (audio, video, screen): by earlier connections, and by this one.
    pub carried: (u64, u64, u64),
    pub sent: (u64, u64, u64),
}

impl Shared {
    /// Before the first join.
    pub fn new() -> Self {
        Self {
            base: ConferenceFigures::default(),
            senders: Senders::default(),
            carried: (0, 0, 0),
            sent: (0, 0, 0),
        }
    }
}

pub(crate) fn snapshot(shared: &Shared) -> ConferenceFigures {
    let mut figures = shared.base.clone();
    let (c, s) = (shared.carried, shared.sent);
    figures.audio_frames_sent = c.0 + s.0;
    figures.video_frames_sent = c.1 + s.1;
    figures.screen_frames_sent = c.2 + s.2;
    let senders = shared
        .senders
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // Only participants still in the room, in the room's order.
    figures.senders = figures
        .participants
        .iter()
        .filter(|p| p.id != figures.participant_id)
        .map(|p| {
            let mut f = SenderFigures {
                participant: p.id.clone(),
                ..Default::default()
            };
            if let Some(s) = senders.get(&p.id) {
                f.audio_packets = s.audio_packets;
                f.audio_opened = s.audio_opened;
                f.audio_refused = s.audio_refused;
                f.last_audio = s.last_audio;
                f.tone_hz = s.meter.as_ref().and_then(|m| m.tone_hz);
                f.level = s.meter.as_ref().map_or(0.0, |m| m.level);
                f.video_frames = s.video.as_ref().map_or(0, |c| {
                    crate::pipeline::Counters::read(&c.video_frames_decoded)
                });
                f.last_frame = s.last_frame.clone();
                f.screen_frames = s.screen.as_ref().map_or(0, |c| {
                    crate::pipeline::Counters::read(&c.screen_frames_decoded)
                });
                f.sharing_screen = s.last_screen_at.is_some_and(|t| t.elapsed() < SCREEN_LIVE);
                f.last_screen_frame = s.last_screen_frame.clone();
            }
            f
        })
        .collect();
    figures
}

/// How a connection's loop ended.
pub(crate) enum Outcome {
    /// Left, removed or ended: nothing follows.
    Over,
    /// The signaling connection was lost: rejoin, keeping our microphone as it was. Our
    /// screen share (if `sharing`) stopped with the old media.
    Lost { muted: bool, sharing: bool },
}

/// One joined connection.
pub(crate) struct Run {
    socket: Socket,
    media: ConferenceMedia,
    room: MlsRoom,
    peer_events: UnboundedReceiver<PeerEvent>,
    shared: Arc<Mutex<Shared>>,
    events: UnboundedSender<ConferenceEvent>,
    me: String,
    /// Where our screen share comes from.
    devices: Arc<dyn MediaDevices>,
}

impl Run {
    /// Takes a joined session: the figures are the new connection's, then (after
    /// `Reconnected` on a rejoin) the participant list and our first MLS step go out.
    pub async fn begin(
        session: Session,
        shared: Arc<Mutex<Shared>>,
        events: UnboundedSender<ConferenceEvent>,
        devices: Arc<dyn MediaDevices>,
        rejoined: bool,
    ) -> Self {
        let Session {
            socket,
            media,
            room,
            peer_events,
            joined,
            first,
        } = session;
        {
            let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
            s.senders = media.senders.clone();
            s.sent = (0, 0, 0);
            let f = &mut s.base;
            f.participant_id = joined.participant_id.clone();
            f.host = joined.host;
            f.anonymous = joined.anonymous;
            f.locked = joined.locked;
            f.participants = joined.participants.clone();
            f.seconds_left_at_join = joined.seconds_left;
            f.joined_at = Some(Instant::now());
            f.muted = media.muted();
            f.epoch = None;
            f.key_members = 0;
            f.connected = false;
            f.sharing_screen = false;
            f.reconnecting = None;
        }
        let mut run = Run {
            socket,
            media,
            room,
            peer_events,
            shared,
            events,
            me: joined.participant_id,
            devices,
        };
        if rejoined {
            let _ = run.events.send(ConferenceEvent::Reconnected);
        }
        let _ = run
            .events
            .send(ConferenceEvent::Participants(joined.participants));
        run.send_all(first).await;
        run.keys_changed(None);
        run
    }

    /// The service allowed our screen share: the first screen, held to `max_height`.
    fn start_screen(&mut self, max_height: u32) {
        let listed = self.devices.screen_targets();
        let opened = match listed.targets.first() {
            Some(target) => self.devices.screen(target).map_err(|e| e.to_string()),
            None => Err(listed
                .problems
                .first()
                .cloned()
                .unwrap_or_else(|| "no screen to share".to_owned())),
        };
        match opened {
            Ok(source) => {
                self.media.start_screen(source, max_height);
                self.update(|f| f.sharing_screen = true);
                let _ = self
                    .events
                    .send(ConferenceEvent::ScreenShareAllowed { max_height });
            }
            Err(why) => {
                let _ = self.events.send(ConferenceEvent::ScreenShareFailed(why));
            }
        }
    }

    async fn send(&mut self, message: ClientMessage) {
        if socket::send(&mut self.socket, message.to_json())
            .await
            .is_err()
        {
            tracing::debug!("signaling socket closed while sending");
        }
    }

    async fn send_all(&mut self, messages: Vec<ClientMessage>) {
        for message in messages {
            self.send(message).await;
        }
    }

    fn update(&self, f: impl FnOnce(&mut ConferenceFigures)) {
        f(&mut self
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .base);
    }

    /// Applies the room's epoch keys to the media when the epoch moved.
    fn keys_changed(&mut self, before: Option<u64>) {
        let now = self.room.epoch();
        if now.is_none() || (now == before && self.media.sframe.epoch().is_some()) {
            return;
        }
        match self.room.epoch_keys() {
            Ok(keys) => {
                if let Err(e) = self.media.sframe.apply(&keys) {
                    tracing::warn!(error = %e, "epoch keys refused");
                    return;
                }
                let members = self.room.members();
                self.update(|f| {
                    f.epoch = Some(keys.epoch);
                    f.key_members = members;
                });
                let _ = self.events.send(ConferenceEvent::Keys {
                    epoch: keys.epoch,
                    members,
                });
            }
            Err(e) => tracing::warn!(error = %e, "no epoch keys"),
        }
    }

    /// Runs until the conference is over or the connection is lost; the media is stopped
    /// either way.
    pub async fn drive(mut self, commands: &mut UnboundedReceiver<ConferenceCommand>) -> Outcome {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        let mut heard = Instant::now();
        let lost = loop {
            tokio::select! {
                frame = socket::next_frame(&mut self.socket) => {
                    heard = Instant::now();
                    match frame {
                        Frame::Text(text) => match ServerMessage::parse(&text) {
                            Ok(message) => {
                                if !self.on_server(message).await {
                                    break false;
                                }
                            }
                            Err(e) => tracing::debug!(error = %e, "conference signaling"),
                        },
                        Frame::Other => {}
                        Frame::Closed => break true,
                    }
                }
                Some(event) = self.peer_events.recv() => self.on_peer(event).await,
                command = commands.recv() => {
                    // The handle was dropped: leave.
                    let command = command.unwrap_or(ConferenceCommand::Leave);
                    if !self.on_command(command).await {
                        break false;
                    }
                }
                _ = keepalive.tick() => {
                    if heard.elapsed() > SILENCE {
                        tracing::info!("no word from the conference service: connection lost");
                        break true;
                    }
                    if socket::ping(&mut self.socket).await.is_err() {
                        break true;
                    }
                }
                _ = tick.tick() => self.tally(),
            }
        };
        let muted = self.media.muted();
        let sharing = self
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .base
            .sharing_screen;
        // A connection that went silent may not take the close either.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.socket.close(None)).await;
        self.tally();
        {
            let mut s = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            let (c, n) = (s.carried, s.sent);
            s.carried = (c.0 + n.0, c.1 + n.1, c.2 + n.2);
            s.sent = (0, 0, 0);
            s.base.connected = false;
            s.base.sharing_screen = false;
        }
        self.media.stop().await;
        if lost {
            Outcome::Lost { muted, sharing }
        } else {
            Outcome::Over
        }
    }

    /// The media's counters into the figures.
    fn tally(&self) {
        let (audio, video) = self.media.sent();
        let screen = self.media.screen_sent();
        let muted = self.media.muted();
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.sent = (audio, video, screen);
        shared.base.muted = muted;
    }

    /// Handles one message; `false` ends the conference.
    async fn on_server(&mut self, message: ServerMessage) -> bool {
        match message {
            ServerMessage::Offer { sdp } => match self.media.session.answer(&sdp).await {
                Ok(answer) => {
                    self.send(ClientMessage::Answer(answer)).await;
                    self.media.request_keyframe();
                }
                Err(e) => tracing::warn!(error = %e.log_text(), "SFU offer refused"),
            },
            ServerMessage::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => {
                let candidate = IceCandidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                };
                for e in self.media.session.add_remote_candidates(&[candidate]).await {
                    tracing::debug!(error = %e.log_text(), "SFU candidate refused");
                }
            }
            ServerMessage::Participants(list) => self.on_participants(list).await,
            ServerMessage::Mls {
                from,
                kind,
                epoch,
                data,
            } => {
                let before = self.room.epoch();
                match self.room.on_mls(&from, kind, epoch, &data) {
                    Ok(out) => self.send_all(out).await,
                    Err(e) => tracing::warn!(error = %e, "MLS message refused"),
                }
                self.keys_changed(before);
            }
            ServerMessage::Error {
                code,
                message,
                current_epoch,
            } => {
                if code == "stale_epoch" || current_epoch.is_some() {
                    self.room.on_stale_commit();
                }
                let _ = self.events.send(ConferenceEvent::Refused { code, message });
            }
            ServerMessage::Muted => {
                self.media.set_muted(true);
                let _ = self.events.send(ConferenceEvent::MutedByHost);
            }
            ServerMessage::Removed => {
                let _ = self.events.send(ConferenceEvent::Removed);
                return false;
            }
            ServerMessage::ParticipantRemoved(_) => {
                // The new list follows; the leader's commit removes them from the key.
            }
            ServerMessage::RoomState { locked } => {
                self.update(|f| f.locked = locked);
                let _ = self.events.send(ConferenceEvent::RoomState { locked });
            }
            ServerMessage::RoomEnding { seconds_left } => {
                let _ = self
                    .events
                    .send(ConferenceEvent::RoomEnding { seconds_left });
            }
            ServerMessage::RoomEnded { reason } => {
                let _ = self.events.send(ConferenceEvent::Ended { reason });
                return false;
            }
            ServerMessage::ScreenShareAllowed { max_height } => self.start_screen(max_height),
            ServerMessage::Joined { .. } => {}
        }
        true
    }

    async fn on_participants(&mut self, list: Vec<Participant>) {
        let ids: Vec<String> = list.iter().map(|p| p.id.clone()).collect();
        // Forget the figures of those who left.
        self.media
            .senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| ids.contains(id));
        let before = self.room.epoch();
        match self.room.on_participants(&ids) {
            Ok(out) => self.send_all(out).await,
            Err(e) => tracing::warn!(error = %e, "MLS step failed"),
        }
        self.keys_changed(before);
        let host = list.iter().any(|p| p.id == self.me && p.host);
        self.update(|f| {
            f.participants = list.clone();
            f.host = host;
        });
        let _ = self.events.send(ConferenceEvent::Participants(list));
    }

    async fn on_peer(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Candidate(c) => {
                self.send(ClientMessage::Candidate {
                    candidate: c.candidate,
                    sdp_mid: c.sdp_mid,
                    sdp_mline_index: c.sdp_mline_index,
                })
                .await
            }
            PeerEvent::State(state) => {
                let connected = state == PathState::Connected;
                self.media.set_connected(connected);
                self.update(|f| f.connected = connected);
                let _ = self.events.send(ConferenceEvent::Connected(connected));
            }
            PeerEvent::RemoteTrack(track, kind) => self.media.attach(track, kind).await,
            PeerEvent::CandidateWithheld(_) | PeerEvent::IcePath(_) => {}
        }
    }

    /// Handles one command; `false` ends the conference.
    async fn on_command(&mut self, command: ConferenceCommand) -> bool {
        let message = match command {
            ConferenceCommand::SetMuted(muted) => {
                self.media.set_muted(muted);
                self.update(|f| f.muted = muted);
                return true;
            }
            ConferenceCommand::Mute(p) => ClientMessage::Mute(p),
            ConferenceCommand::Remove(p) => ClientMessage::Remove(p),
            ConferenceCommand::Lock(true) => ClientMessage::Lock,
            ConferenceCommand::Lock(false) => ClientMessage::Unlock,
            ConferenceCommand::End => ClientMessage::End,
            ConferenceCommand::ShareScreen { height } => ClientMessage::ScreenShare { height },
            ConferenceCommand::StopScreenShare => {
                self.media.stop_screen();
                self.update(|f| f.sharing_screen = false);
                return true;
            }
            ConferenceCommand::Leave => {
                self.send(ClientMessage::Leave).await;
                return false;
            }
        };
        self.send(message).await;
        true
    }
}
