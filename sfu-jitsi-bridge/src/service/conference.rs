//! Rooms and the media backend together: joins (caps, locks, anonymous limits), leaving, host
//! removal, the end of a room (by its host or its plan's duration limit, with a warning
//! before), and the MLS delivery service's relaying.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::config::Limits;
use super::directory::Directory;
use super::protocol::{MlsKind, MlsMessage, ParticipantInfo, ServerMessage};
use super::rooms::{ConfRoom, JoinRefused, Outbox, Rooms};
use crate::backend::{Leg, MediaBackend, Placement};
use crate::sfu::{IceCandidate, ParticipantId, RoomId, SfuError, SfuSignal};
use crate::tiers::{check_screen_share, Tier};

/// The service's rooms and media backend. Cheap to clone.
#[derive(Clone)]
pub struct Conference {
    sfu: Arc<dyn MediaBackend>,
    rooms: Arc<Rooms>,
    limits: Arc<Limits>,
    /// Where rooms are recorded to outlive this process.
    directory: Arc<Directory>,
}

/// Who is joining.
pub struct JoinRequest {
    pub room: RoomId,
    /// The signed-in wallet as a keyed hash ([`super::directory::host_key`]); `None`: an
    /// anonymous guest (by link).
    pub wallet_key: Option<String>,
    pub display_name: String,
    pub offer: String,
    /// The region the client says it is nearest to (placement across media servers).
    pub region: Option<String>,
}

/// A participant in a room.
pub struct Member {
    pub room: Arc<ConfRoom>,
    pub id: ParticipantId,
    pub anonymous: bool,
    /// The SFU's offers and candidates for this participant.
    pub signals: UnboundedReceiver<SfuSignal>,
    /// Messages from the room.
    pub outbox: Outbox,
    /// The `joined` reply.
    pub reply: ServerMessage,
}

impl Conference {
    /// Rooms on the media backend `sfu` with these limits, recorded in `directory`.
    pub fn new(sfu: Arc<dyn MediaBackend>, limits: Limits, directory: Directory) -> Self {
        Self {
            sfu,
            rooms: Arc::new(Rooms::default()),
            limits: Arc::new(limits),
            directory: Arc::new(directory),
        }
    }

    /// The media backend.
    pub fn backend(&self) -> &Arc<dyn MediaBackend> {
        &self.sfu
    }

    /// Whether this process holds the open room `id`.
    pub fn has_room(&self, id: RoomId) -> bool {
        self.rooms.get(id).is_some()
    }

    /// Rooms open now.
    pub fn room_count(&self) -> usize {
        self.rooms.count()
    }

    /// A new room hosted by the wallet whose keyed hash is `host_key`, on `tier`;
    /// recorded in the directory before it is returned (a join through another process,
    /// or after a restart, may follow at once). Forgotten if nobody joins it in time.
    pub async fn create_room(&self, host_key: &str, tier: Tier) -> Arc<ConfRoom> {
        let room = self.rooms.create(host_key, tier);
        let wait = Duration::from_secs(self.limits.unjoined_room_secs);
        let lasts = wait + self.limits.room_duration(tier);
        self.directory.record(room.id, host_key, tier, lasts).await;
        self.forget_unless_started(&room, wait);
        room
    }

    /// Ends `room` if nobody has joined it `wait` from now.
    fn forget_unless_started(&self, room: &Arc<ConfRoom>, wait: Duration) {
        let (weak, this) = (Arc::downgrade(room), self.clone());
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(room) = weak.upgrade() {
                if !room.started() {
                    room.mark_ended();
                    this.rooms.forget(&room);
                    this.directory.forget(room.id).await;
                }
            }
        });
    }

    /// The open room `id`, or the room this process held before a restart, reopened as
    /// the directory recorded it (its participants come back within the rejoin grace, or
    /// it ends).
    async fn open_room(&self, id: RoomId) -> Option<Arc<ConfRoom>> {
        if let Some(room) = self.rooms.get(id) {
            return Some(room);
        }
        let reopen = self.directory.reopenable(id).await?;
        let room = self
            .rooms
            .reopen(id, &reopen.host_key, reopen.tier, reopen.ends_at);
        tracing::info!(room = ?id, "room reopened after a restart");
        self.forget_unless_started(&room, self.rejoin_grace());
        Some(room)
    }

    fn rejoin_grace(&self) -> Duration {
        Duration::from_secs(self.limits.rejoin_grace_secs)
    }

    /// Joins a room: checks, then the SFU's answer to the offer.
    pub async fn join(&self, request: JoinRequest) -> Result<Member, ServerMessage> {
        let refused = |e: JoinRefused| ServerMessage::error(e.code(), e.to_string());
        let room = self
            .open_room(request.room)
            .await
            .ok_or_else(|| refused(JoinRefused::NoSuchRoom))?;
        let anonymous = request.wallet_key.is_none();
        // A participant publishes what its first offer carries (after that only the SFU
        // offers): a second sending video section is a screen share.
        if anonymous && sending_video_sections(&request.offer) > 1 {
            return Err(ServerMessage::error(
                "screen_share_not_allowed",
                "anonymous participants cannot share their screen: offer one audio and one camera track",
            ));
        }
        let host = room
            .reserve(request.wallet_key.as_deref())
            .map_err(refused)?;
        let id = ParticipantId::random();
        let joined = match self
            .sfu
            .join(
                room.id,
                room.tier,
                id.clone(),
                request.offer,
                Placement {
                    region: request.region,
                },
            )
            .await
        {
            Ok(j) => j,
            Err(e) => {
                room.cancel();
                self.rooms.forget_if_empty(&room);
                return Err(ServerMessage::error("join_refused", e.to_string()));
            }
        };
        let info = ParticipantInfo {
            id: id.as_str().to_owned(),
            display_name: request.display_name,
            host,
            anonymous,
            muted: false,
        };
        let admitted = match room.admit(id.clone(), info, self.limits.room_duration(room.tier)) {
            Ok(a) => a,
            // Ended while the SFU set the connection up.
            Err(e) => {
                let _ = self.sfu.leave(room.id, &id).await;
                return Err(refused(e));
            }
        };
        if admitted.first {
            // The room's end is fixed now: a restart reopens it with the time it has left.
            let left = Duration::from_secs(admitted.seconds_left);
            self.directory
                .record(room.id, room.host_key(), room.tier, left)
                .await;
            self.spawn_duration_limit(&room, left);
        }
        tracing::info!(room = ?room.id, participant = ?id, host, anonymous, "joined");
        let reply = ServerMessage::Joined {
            participant_id: id.as_str().to_owned(),
            host,
            anonymous,
            answer: joined.answer,
            participants: admitted.participants,
            locked: admitted.locked,
            epoch: admitted.epoch,
            seconds_left: admitted.seconds_left,
        };
        Ok(Member {
            room,
            id,
            anonymous,
            signals: joined.signals,
            outbox: admitted.outbox,
            reply,
        })
    }

    /// The participant's answer to the backend's latest offer on `leg`.
    pub async fn apply_answer(
        &self,
        room: &ConfRoom,
        id: &ParticipantId,
        leg: Leg,
        sdp: String,
    ) -> Result<(), SfuError> {
        self.sfu.apply_answer(room.id, id, leg, sdp).await
    }

    /// One of the participant's ICE candidates on `leg`.
    pub async fn add_candidate(
        &self,
        room: &ConfRoom,
        id: &ParticipantId,
        leg: Leg,
        candidate: IceCandidate,
    ) -> Result<(), SfuError> {
        self.sfu
            .add_ice_candidate(room.id, id, leg, candidate)
            .await
    }

    /// After a `reconnect`: the participant's new offer; the answer.
    pub async fn rejoin(
        &self,
        room: &ConfRoom,
        id: &ParticipantId,
        offer: String,
    ) -> Result<String, SfuError> {
        self.sfu.rejoin(room.id, id, offer).await
    }

    /// The participant leaves (`deliberately`: it said so) or its connection ended. The
    /// room ends with its last participant: at once when they left, after the rejoin grace
    /// when their connection was lost (they are probably reconnecting).
    pub async fn leave(&self, room: &Arc<ConfRoom>, id: &ParticipantId, deliberately: bool) {
        if room.remove_member(id) {
            tracing::info!(room = ?room.id, participant = ?id, deliberately, "left");
        }
        // Already gone from the SFU when removed or ended: nothing to undo.
        let _ = self.sfu.leave(room.id, id).await;
        if deliberately {
            self.forget_if_empty(room).await;
            return;
        }
        if room.is_empty() {
            let (this, room, grace) = (self.clone(), room.clone(), self.rejoin_grace());
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                this.forget_if_empty(&room).await;
            });
        }
    }

    async fn forget_if_empty(&self, room: &Arc<ConfRoom>) {
        if self.rooms.forget_if_empty(room) {
            self.directory.forget(room.id).await;
        }
    }

    /// The host removes `target`: the SFU stops its streams, it is told, and everyone else is
    /// told to move the MLS group to an epoch without it.
    pub async fn remove(
        &self,
        room: &Arc<ConfRoom>,
        by: &ParticipantId,
        target: &str,
    ) -> Result<(), ServerMessage> {
        let target = self.host_target(room, by, target)?;
        if &target == by {
            return Err(ServerMessage::error(
                "bad_request",
                "the host cannot remove themselves: leave or end the room",
            ));
        }
        // Queued before the SFU closes its media, so it learns why first.
        room.send_to(&target, ServerMessage::Removed);
        room.remove_member(&target);
        let _ = self.sfu.remove(room.id, &target).await;
        room.broadcast(
            &ServerMessage::ParticipantRemoved {
                participant: target.as_str().to_owned(),
            },
            None,
        );
        tracing::info!(room = ?room.id, participant = ?target, "removed by the host");
        Ok(())
    }

    /// The host mutes `target` (it is told to mute its microphone).
    pub fn mute(
        &self,
        room: &Arc<ConfRoom>,
        by: &ParticipantId,
        target: &str,
    ) -> Result<(), ServerMessage> {
        let target = self.host_target(room, by, target)?;
        room.mute(&target);
        Ok(())
    }

    /// The host locks or unlocks the room.
    pub fn set_locked(
        &self,
        room: &Arc<ConfRoom>,
        by: &ParticipantId,
        locked: bool,
    ) -> Result<(), ServerMessage> {
        require_host(room, by)?;
        room.set_locked(locked);
        Ok(())
    }

    /// The host ends the room.
    pub async fn end_by_host(
        &self,
        room: &Arc<ConfRoom>,
        by: &ParticipantId,
    ) -> Result<(), ServerMessage> {
        require_host(room, by)?;
        self.end(room, "the host ended the room".to_owned()).await;
        Ok(())
    }

    /// Whether `id` may share a screen of `height` pixels.
    pub fn screen_share(
        &self,
        room: &Arc<ConfRoom>,
        anonymous: bool,
        height: u32,
    ) -> ServerMessage {
        if anonymous {
            return ServerMessage::error(
                "screen_share_not_allowed",
                "anonymous participants cannot share their screen: sign in to share",
            );
        }
        match check_screen_share(room.tier, height) {
            Ok(()) => ServerMessage::ScreenShareAllowed {
                max_height: room.tier.entitlements().screen_share_max_height,
            },
            Err(e) => ServerMessage::error("screen_share_too_large", e.to_string()),
        }
    }

    /// Relays an MLS handshake message (commits: ordered, see [`ConfRoom::commit`]).
    pub fn mls(
        &self,
        room: &Arc<ConfRoom>,
        from: &ParticipantId,
        message: MlsMessage,
    ) -> Result<(), ServerMessage> {
        if message.kind == MlsKind::Commit {
            let epoch = message.epoch.unwrap_or_default();
            return room
                .commit(from, epoch, message.data)
                .map_err(|wrong| ServerMessage::Error {
                    code: "stale_epoch".to_owned(),
                    message: format!(
                        "commit for epoch {epoch} refused: the group is at epoch {}",
                        wrong.current
                    ),
                    current_epoch: Some(wrong.current),
                });
        }
        let relayed = ServerMessage::Mls {
            from: from.as_str().to_owned(),
            kind: message.kind,
            epoch: message.epoch,
            data: message.data,
        };
        match message.to {
            Some(to) => {
                let target = room.member(&to).ok_or_else(no_such_participant)?;
                room.send_to(&target, relayed);
            }
            None => room.broadcast(&relayed, Some(from)),
        }
        Ok(())
    }

    /// Ends a room: everyone is told, the SFU closes every connection, the room is forgotten.
    async fn end(&self, room: &Arc<ConfRoom>, reason: String) {
        if !room.mark_ended() {
            return;
        }
        room.broadcast(&ServerMessage::RoomEnded { reason }, None);
        self.rooms.forget(room);
        self.directory.forget(room.id).await;
        let _ = self.sfu.end_room(room.id).await;
        tracing::info!(room = ?room.id, "room ended");
    }

    /// Warns before the plan's duration limit and ends the room at it, `left` from now (a
    /// reopened room has less than its plan's whole duration).
    fn spawn_duration_limit(&self, room: &Arc<ConfRoom>, left: Duration) {
        let this = self.clone();
        let weak: Weak<ConfRoom> = Arc::downgrade(room);
        let duration = left;
        let plan = self.limits.room_duration(room.tier);
        let warn = Duration::from_secs(self.limits.warn_before_end_secs);
        tokio::spawn(async move {
            if duration > warn {
                tokio::time::sleep(duration - warn).await;
                let Some(room) = weak.upgrade() else { return };
                room.broadcast(
                    &ServerMessage::RoomEnding {
                        seconds_left: warn.as_secs(),
                    },
                    None,
                );
                drop(room);
                tokio::time::sleep(warn).await;
            } else {
                tokio::time::sleep(duration).await;
            }
            let Some(room) = weak.upgrade() else { return };
            let minutes = plan.as_secs() / 60;
            let reason = format!(
                "the {} plan's time limit was reached ({minutes} minutes)",
                room.tier
            );
            this.end(&room, reason).await;
        });
    }

    fn host_target(
        &self,
        room: &Arc<ConfRoom>,
        by: &ParticipantId,
        target: &str,
    ) -> Result<ParticipantId, ServerMessage> {
        require_host(room, by)?;
        room.member(target).ok_or_else(no_such_participant)
    }
}

fn require_host(room: &ConfRoom, by: &ParticipantId) -> Result<(), ServerMessage> {
    if room.is_host(by) {
        Ok(())
    } else {
        Err(ServerMessage::error(
            "not_host",
            "only the room's host can do that",
        ))
    }
}

fn no_such_participant() -> ServerMessage {
    ServerMessage::error("no_such_participant", "no such participant in this room")
}

/// Video sections of an SDP offer that send (`sendrecv` or `sendonly`; the default is
/// `sendrecv`).
pub fn sending_video_sections(sdp: &str) -> usize {
    let mut count = 0;
    let mut in_video = false;
    let mut sends = false;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(media) = line.strip_prefix("m=") {
            if in_video && sends {
                count += 1;
            }
            in_video = media.starts_with("video ");
            sends = true;
        } else if in_video && matches!(line, "a=recvonly" | "a=inactive") {
            sends = false;
        }
    }
    if in_video && sends {
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::sending_video_sections;

    #[test]
    fn sending_video_sections_counts_camera_and_screen_but_not_receive_only() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n";
        assert_eq!(sending_video_sections(sdp), 2);
        assert_eq!(sending_video_sections("v=0\r\n"), 0);
    }
}
