//! The conference's task: the signaling socket, the MLS room and the media, driven by one
//! loop over the service's messages, the connection's events and the user's commands.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nostr_signal::Identity;
use phantomcall_schemas::{IceCandidate, PrivacyMode};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::media::{ConferenceMedia, Senders};
use super::mls_room::MlsRoom;
use super::socket::{self, Socket};
use super::wire::{ClientMessage, Participant, ServerMessage};
use super::{
    ConferenceCommand, ConferenceEvent, ConferenceFigures, JoinError, JoinOptions, SenderFigures,
};
use crate::peer::{PathState, PeerEvent, PeerSetup};

/// A sender's screen share counts as live this long after its last frame (shares run at
/// a few frames a second, and a still screen still sends them).
const SCREEN_LIVE: Duration = Duration::from_secs(3);

/// How long the service has to answer the join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What the handle reads while the task runs.
pub(crate) struct Shared {
    pub base: ConferenceFigures,
    pub senders: Senders,
    pub sent: (u64, u64),
    pub screen_sent: u64,
}

pub(crate) fn snapshot(shared: &Shared) -> ConferenceFigures {
    let mut figures = shared.base.clone();
    (figures.audio_frames_sent, figures.video_frames_sent) = shared.sent;
    figures.screen_frames_sent = shared.screen_sent;
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

struct Run {
    socket: Socket,
    media: ConferenceMedia,
    room: MlsRoom,
    shared: Arc<Mutex<Shared>>,
    events: UnboundedSender<ConferenceEvent>,
    me: String,
    /// Where our screen share comes from.
    devices: Arc<dyn crate::devices::MediaDevices>,
}

/// Connects, joins, and spawns the loop.
pub(crate) async fn start(
    options: JoinOptions,
    events: UnboundedSender<ConferenceEvent>,
    commands: UnboundedReceiver<ConferenceCommand>,
) -> Result<(Arc<Mutex<Shared>>, tokio::task::JoinHandle<()>), JoinError> {
    let mut socket = socket::connect(&options.link, &options.extra_roots).await?;
    let (peer_tx, mut peer_rx) = unbounded_channel();
    let setup = PeerSetup {
        mode: PrivacyMode::Fast,
        send_video: options.video,
        receive_video: true,
        network: options.network.clone(),
        signaling_hides_address: false,
    };
    let screen = options.screen_share && options.token.is_some();
    let media = ConferenceMedia::start(
        setup,
        screen,
        options.keep_frames,
        &options.devices,
        peer_tx,
    )
    .await
    .map_err(|e| JoinError::Media(e.log_text()))?;
    let offer = match media.session.create_offer(false).await {
        Ok(offer) => offer,
        Err(e) => {
            media.stop().await;
            return Err(JoinError::Media(e.log_text()));
        }
    };
    let join = ClientMessage::Join {
        room: options.link.room.clone(),
        token: options.token.clone(),
        display_name: options.display_name.clone(),
        offer,
    };
    let joined = match exchange_join(&mut socket, join).await {
        Ok(joined) => joined,
        Err(e) => {
            media.stop().await;
            return Err(e);
        }
    };
    let ServerMessage::Joined {
        participant_id,
        host,
        anonymous,
        answer,
        participants,
        locked,
        epoch,
        seconds_left,
    } = joined
    else {
        unreachable!("exchange_join returns Joined only");
    };
    if let Err(e) = media.session.apply_answer(&answer).await {
        media.stop().await;
        return Err(JoinError::Media(e.log_text()));
    }
    let mut room = match MlsRoom::new(&Identity::generate(), &options.link.room) {
        Ok(room) => room,
        Err(e) => {
            media.stop().await;
            return Err(JoinError::Keys(e.to_string()));
        }
    };
    let ids: Vec<String> = participants.iter().map(|p| p.id.clone()).collect();
    let first = room
        .on_joined(&participant_id, &ids, epoch)
        .map_err(|e| JoinError::Keys(e.to_string()));
    let first = match first {
        Ok(first) => first,
        Err(e) => {
            media.stop().await;
            return Err(e);
        }
    };
    let shared = Arc::new(Mutex::new(Shared {
        base: ConferenceFigures {
            participant_id: participant_id.clone(),
            host,
            anonymous,
            locked,
            participants: participants.clone(),
            seconds_left_at_join: seconds_left,
            joined_at: Some(Instant::now()),
            ..Default::default()
        },
        senders: media.senders.clone(),
        sent: (0, 0),
        screen_sent: 0,
    }));
    let mut run = Run {
        socket,
        media,
        room,
        shared: shared.clone(),
        events,
        me: participant_id,
        devices: options.devices.clone(),
    };
    let _ = run.events.send(ConferenceEvent::Participants(participants));
    run.send_all(first).await;
    run.keys_changed(None);
    let task = tokio::spawn(async move {
        run.drive(&mut peer_rx, commands).await;
    });
    Ok((shared, task))
}

/// Sends the join and waits for `joined` (or the refusal).
async fn exchange_join(
    socket: &mut Socket,
    join: ClientMessage,
) -> Result<ServerMessage, JoinError> {
    socket::send(socket, join.to_json())
        .await
        .map_err(|()| JoinError::Closed)?;
    let wait = async {
        loop {
            let Some(text) = socket::next_text(socket).await else {
                return Err(JoinError::Closed);
            };
            match ServerMessage::parse(&text) {
                Ok(joined @ ServerMessage::Joined { .. }) => return Ok(joined),
                Ok(ServerMessage::Error { code, message, .. }) => {
                    return Err(JoinError::Refused { code, message })
                }
                Ok(_) => continue,
                Err(e) => tracing::debug!(error = %e, "before joined"),
            }
        }
    };
    tokio::time::timeout(JOIN_TIMEOUT, wait)
        .await
        .map_err(|_| JoinError::Timeout)?
}

impl Run {
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

    async fn drive(
        mut self,
        peer_events: &mut UnboundedReceiver<PeerEvent>,
        mut commands: UnboundedReceiver<ConferenceCommand>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                text = socket::next_text(&mut self.socket) => {
                    let Some(text) = text else { break };
                    match ServerMessage::parse(&text) {
                        Ok(message) => {
                            if !self.on_server(message).await {
                                break;
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "conference signaling"),
                    }
                }
                Some(event) = peer_events.recv() => self.on_peer(event).await,
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    if !self.on_command(command).await {
                        break;
                    }
                }
                _ = tick.tick() => {
                    let sent = self.media.sent();
                    let muted = self.media.muted();
                    let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
                    shared.sent = sent;
                    shared.screen_sent = self.media.screen_sent();
                    shared.base.muted = muted;
                }
            }
        }
        let _ = self.socket.close(None).await;
        self.update(|f| f.connected = false);
        self.media.stop().await;
        let _ = self.events.send(ConferenceEvent::Left);
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
