//! The media backend: what forwards a room's media. The conference service talks to one
//! [`MediaBackend`]; clients talk only to the service, never to the engine behind it.
//!
//! Two implementations: [`EmbeddedBackend`], the crate's own SFU (the default, one
//! machine), and [`crate::janus::JanusBackend`], Janus VideoRoom instances driven through
//! Janus's WebSocket API, cascaded across instances with VideoRoom's remote publishers
//! (conferences beyond one machine). A Jitsi Videobridge (COLIBRI2) backend would be a third
//! implementation; none ships, because none could be tested here (docs/decisions.md, "Conferences on Janus").
//!
//! Every backend forwards SFrame ciphertext untouched and holds no media key.

use async_trait::async_trait;

use crate::sfu::{IceCandidate, Joined, ParticipantId, RoomId, Sfu, SfuError};
use crate::tiers::Tier;

/// Which of a participant's connections a message is for. The embedded SFU has one
/// ([`Leg::Main`]); Janus has a publishing one (`Main`) and a receiving one
/// ([`Leg::Subscriber`]), because VideoRoom keeps publishers and subscribers on separate
/// handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Leg {
    #[default]
    Main,
    Subscriber,
}

/// Figures for health and metrics: counts only, nothing that identifies anyone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Rooms with media now.
    pub rooms: u64,
    /// Participants with media now.
    pub participants: u64,
    /// Payload bytes forwarded since start (0 where the engine does not report it).
    pub bytes_forwarded: u64,
    /// Media servers reachable now (1 for the embedded SFU).
    pub servers_up: u64,
    /// Media servers configured.
    pub servers: u64,
}

/// One media server's forwarding figures (Janus, from its Admin API): sums per server only.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerMedia {
    /// The operator's name for the server.
    pub server: String,
    /// The last poll succeeded recently; otherwise the rates below are `None` (stale).
    pub fresh: bool,
    /// Bytes sent to subscribers since the service started (RTP packets as Janus counts them).
    pub forwarded_bytes_total: u64,
    /// Bits per second sent to subscribers over the last poll interval.
    pub forwarded_bits_per_second: Option<f64>,
    /// Bits per second received from publishers over the last poll interval.
    pub received_bits_per_second: Option<f64>,
    /// Share of publishers' packets lost on the way to the server (last interval).
    pub loss_to_server: Option<f64>,
    /// Share of forwarded packets the subscribers report lost (last interval).
    pub loss_to_subscribers: Option<f64>,
}

/// A participant's placement hint: the region it is nearest to (as the client or the
/// service's configuration says).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub region: Option<String>,
}

/// What forwards a room's media. Implementations are cheap to share (`Arc`).
#[async_trait]
pub trait MediaBackend: Send + Sync + 'static {
    /// `embedded` or `janus` (for logs and metrics).
    fn kind(&self) -> &'static str;

    /// `participant` joins `room` with its SDP offer; the answer, and the channel of what the
    /// backend sends it later (offers, candidates, removal, reconnect).
    async fn join(
        &self,
        room: RoomId,
        tier: Tier,
        participant: ParticipantId,
        offer: String,
        placement: Placement,
    ) -> Result<Joined, SfuError>;

    /// After [`crate::sfu::SfuSignal::Reconnect`]: the participant's new offer, placed again;
    /// the answer. Later signals keep arriving on the channel of its join.
    async fn rejoin(
        &self,
        _room: RoomId,
        _participant: &ParticipantId,
        _offer: String,
    ) -> Result<String, SfuError> {
        Err(SfuError::Unsupported)
    }

    /// The participant's answer to the backend's latest offer on `leg`.
    async fn apply_answer(
        &self,
        room: RoomId,
        participant: &ParticipantId,
        leg: Leg,
        answer: String,
    ) -> Result<(), SfuError>;

    /// One of the participant's trickled candidates on `leg`.
    async fn add_ice_candidate(
        &self,
        room: RoomId,
        participant: &ParticipantId,
        leg: Leg,
        candidate: IceCandidate,
    ) -> Result<(), SfuError>;

    /// The participant leaves.
    async fn leave(&self, room: RoomId, participant: &ParticipantId) -> Result<(), SfuError>;

    /// The host removes the participant: its media stops reaching the others at once.
    async fn remove(&self, room: RoomId, participant: &ParticipantId) -> Result<(), SfuError>;

    /// Ends the room for everyone.
    async fn end_room(&self, room: RoomId) -> Result<(), SfuError>;

    /// Counts for metrics.
    fn stats(&self) -> BackendStats;

    /// Participants on each media server, by the operator's server name (metrics).
    fn server_loads(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    /// Forwarding figures per media server, where the engine reports them (metrics).
    fn server_media(&self) -> Vec<ServerMedia> {
        Vec::new()
    }

    /// Stops placing new participants on the named media servers (and resumes on the others);
    /// those already there stay until they leave.
    fn set_draining(&self, _servers: &[String]) {}

    /// Whether new participants can be placed now (readiness).
    fn ready(&self) -> bool {
        true
    }
}

/// The embedded SFU as a backend: behaviour unchanged, one connection per participant.
#[derive(Clone)]
pub struct EmbeddedBackend {
    pub sfu: Sfu,
}

#[async_trait]
impl MediaBackend for EmbeddedBackend {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn join(
        &self,
        room: RoomId,
        tier: Tier,
        participant: ParticipantId,
        offer: String,
        _placement: Placement,
    ) -> Result<Joined, SfuError> {
        self.sfu.join(room, tier, participant, offer).await
    }

    async fn apply_answer(
        &self,
        room: RoomId,
        participant: &ParticipantId,
        leg: Leg,
        answer: String,
    ) -> Result<(), SfuError> {
        match leg {
            Leg::Main => self.sfu.apply_answer(room, participant, answer).await,
            Leg::Subscriber => Err(SfuError::NoOfferOutstanding),
        }
    }

    async fn add_ice_candidate(
        &self,
        room: RoomId,
        participant: &ParticipantId,
        leg: Leg,
        candidate: IceCandidate,
    ) -> Result<(), SfuError> {
        match leg {
            Leg::Main => {
                self.sfu
                    .add_ice_candidate(room, participant, candidate)
                    .await
            }
            Leg::Subscriber => Err(SfuError::BadCandidate),
        }
    }

    async fn leave(&self, room: RoomId, participant: &ParticipantId) -> Result<(), SfuError> {
        self.sfu.leave(room, participant).await
    }

    async fn remove(&self, room: RoomId, participant: &ParticipantId) -> Result<(), SfuError> {
        self.sfu.remove(room, participant).await
    }

    async fn end_room(&self, room: RoomId) -> Result<(), SfuError> {
        self.sfu.end_room(room).await
    }

    fn stats(&self) -> BackendStats {
        let s = self.sfu.stats();
        BackendStats {
            rooms: self.sfu.room_count() as u64,
            participants: self.sfu.participant_total() as u64,
            bytes_forwarded: s.bytes_out,
            servers_up: 1,
            servers: 1,
        }
    }
}
