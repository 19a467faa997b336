//! The embedded SFU: forwards each participant's media, as it arrives, to the other
//! participants of its room.
//!
//! Its job: one server-side webrtc-rs peer connection per participant (ICE, DTLS-SRTP);
//! the RTP packets of every track a participant publishes are written, payload untouched, to
//! one local track per subscriber; audio goes to everyone, video to each subscriber only
//! from the `last_n` publishers the active-speaker rule ranks first ([`speaker`]); keyframe
//! requests (PLI/FIR) from subscribers are relayed to the publisher; host removal and the
//! end of a room stop a participant's streams at once.
//!
//! What it must never do:
//! - decrypt or decode media: the payload is SFrame (RFC 9605) ciphertext keyed by the
//!   room's MLS group, and the SFU never parses it. It reads RTP headers only (SSRC,
//!   payload type, sequence number, timestamp, marker, the RFC 6464 audio level), and
//!   rewrites only the header fields the subscriber's leg needs;
//! - hold media keys: it has no key material beyond the DTLS-SRTP keys of each connection;
//! - log payloads, addresses or ids in full: [`RoomId`] and [`ParticipantId`] have no
//!   `Display` and a shortened `Debug`, [`IceCandidate`]'s `Debug` hides the address, and
//!   webrtc-rs's own logs (which name addresses) are for the service to switch off.
//!
//! Signaling is in-process for now ([`Sfu::join`], [`Sfu::apply_answer`],
//! [`Sfu::add_ice_candidate`], and an [`SfuSignal`] channel per participant); the
//! HTTP/WebSocket layer of the service carries it later. The participant offers first; after
//! that only the SFU offers (when the tracks a participant receives change), one offer at a
//! time, so the two sides never offer at once.
//!
//! Main types: [`Sfu`], [`SfuConfig`], [`SfuSignal`], [`ForwardHook`] and
//! [`ForwardedPacket`], [`speaker::SpeakerTracker`].

mod forward;
mod ids;
pub mod media;
mod participant;
mod room;
pub mod speaker;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

pub use forward::{ForwardHook, ForwardedPacket, MediaKind, RtpHeaderView};
pub use ids::{BadRoomId, ParticipantId, RoomId};
pub use speaker::SpeakerConfig;

use crate::tiers::{LimitExceeded, Tier};
use forward::Counters;
use room::Room;

/// How the SFU binds and forwards.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The address the peer connections bind (one UDP socket each). A loopback address for
    /// tests; the server's public address in production (never `0.0.0.0`: the SFU should
    /// announce one address, not every interface it has).
    pub bind_ip: IpAddr,
    /// The UDP ports the sockets take (one per participant), for a firewall rule; `None`:
    /// ephemeral ports.
    pub udp_ports: Option<RangeInclusive<u16>>,
    /// Publishers whose video each subscriber gets (audio: all of them).
    pub last_n: usize,
    /// The active-speaker rule.
    pub speaker: SpeakerConfig,
    /// How often last-N is re-applied: shorter follows a new speaker sooner, at the cost of
    /// a ranking per subscriber each time.
    pub reselect_interval: Duration,
    /// No packet from a participant for this long: disconnected.
    pub ice_disconnected_timeout: Duration,
    /// Disconnected for this long: failed, and the participant leaves the room.
    pub ice_failed_timeout: Duration,
}

impl SfuConfig {
    /// Everything on 127.0.0.1, ephemeral ports: tests and local runs.
    pub fn loopback() -> Self {
        Self {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            udp_ports: None,
            last_n: 4,
            speaker: SpeakerConfig::default(),
            reselect_interval: Duration::from_millis(250),
            ice_disconnected_timeout: Duration::from_secs(5),
            ice_failed_timeout: Duration::from_secs(10),
        }
    }
}

/// A trickled ICE candidate, either way.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    /// The `candidate:` attribute (empty: end of candidates).
    pub candidate: String,
    /// The media section it belongs to.
    #[serde(rename = "sdpMid")]
    pub sdp_mid: Option<String>,
    /// The media section's index.
    #[serde(rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
}

impl fmt::Debug for IceCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The candidate names an address.
        f.debug_struct("IceCandidate")
            .field("sdp_mid", &self.sdp_mid)
            .finish_non_exhaustive()
    }
}

/// What the SFU sends a participant after its join.
#[derive(Clone, PartialEq, Eq)]
pub enum SfuSignal {
    /// A new SDP offer (the tracks it receives changed): answer with [`Sfu::apply_answer`].
    Offer(String),
    /// One of the SFU's candidates.
    Candidate(IceCandidate),
    /// The host removed it: its connection is closed.
    Removed,
    /// The room ended: its connection is closed.
    RoomEnded,
    /// An offer for the participant's second, receive-only connection (backends whose
    /// engine keeps publishing and subscribing apart, like Janus VideoRoom): answer it on
    /// the [`crate::backend::Leg::Subscriber`] leg.
    SubscriberOffer(String),
    /// The media server the participant was on is gone: close both connections, offer
    /// again (`rejoin`), and the backend places it on another one.
    Reconnect,
}

impl fmt::Debug for SfuSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SfuSignal::Offer(_) => f.write_str("Offer"),
            SfuSignal::Candidate(c) => write!(f, "Candidate({c:?})"),
            SfuSignal::Removed => f.write_str("Removed"),
            SfuSignal::RoomEnded => f.write_str("RoomEnded"),
            SfuSignal::SubscriberOffer(_) => f.write_str("SubscriberOffer"),
            SfuSignal::Reconnect => f.write_str("Reconnect"),
        }
    }
}

/// What went wrong. Messages are shown to users as they are, and name no address or id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfuError {
    /// The plan's participant cap.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// No such room (it ended, or its last participant left).
    #[error("no such room")]
    NoSuchRoom,
    /// The room ended while joining.
    #[error("the room has ended")]
    RoomEnded,
    /// Not a participant of this room.
    #[error("not a participant of this room")]
    NoSuchParticipant,
    /// The participant id is already in the room.
    #[error("already in this room")]
    AlreadyJoined,
    /// An answer with no SFU offer to answer.
    #[error("no offer is waiting for an answer")]
    NoOfferOutstanding,
    /// The SDP does not parse or cannot be applied.
    #[error("the session description was refused")]
    BadSdp,
    /// The candidate does not parse or cannot be added.
    #[error("the ICE candidate was refused")]
    BadCandidate,
    /// No UDP port left in the configured range.
    #[error("no UDP port free for a new participant")]
    NoPort,
    /// webrtc-rs refused an operation (its text is not kept: it may name addresses).
    #[error("the media connection could not be set up")]
    Webrtc,
    /// The external media server (Janus) could not be reached or refused; the service's
    /// log has its reason.
    #[error("the media server is unavailable")]
    MediaServer,
    /// This backend does not do that.
    #[error("not supported by this media backend")]
    Unsupported,
}

impl SfuError {
    fn webrtc(_e: webrtc::error::Error) -> Self {
        SfuError::Webrtc
    }
}

/// A participant's way in: the SFU's answer to its offer, and the channel of what the SFU
/// sends it later.
pub struct Joined {
    /// The SFU's SDP answer.
    pub answer: String,
    /// Offers, candidates, removal and the end of the room.
    pub signals: UnboundedReceiver<SfuSignal>,
}

/// Forwarding totals since the SFU started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// RTP packets read from publishers.
    pub packets_in: u64,
    /// Their payload bytes.
    pub bytes_in: u64,
    /// RTP packets written to subscribers.
    pub packets_out: u64,
    /// Their payload bytes.
    pub bytes_out: u64,
}

pub(crate) struct SfuInner {
    config: Arc<SfuConfig>,
    rooms: Mutex<HashMap<RoomId, Arc<Room>>>,
    hook: Option<Arc<dyn ForwardHook>>,
    counters: Arc<Counters>,
    next_port: Mutex<u32>,
}

/// The SFU: rooms by id, each with its participants.
///
/// Its tasks (peer connection drivers, forwarding) run on the Tokio runtime it was created
/// on, whichever runtime calls it (the bench gives it a runtime of its own to measure its CPU
/// time).
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<SfuInner>,
    runtime: tokio::runtime::Handle,
}

impl Sfu {
    /// An SFU on the current Tokio runtime. Panics outside one.
    pub fn new(config: SfuConfig) -> Self {
        Self::with_hook(config, None)
    }

    /// An SFU whose every forwarded packet is shown to `hook`.
    pub fn with_hook(config: SfuConfig, hook: Option<Arc<dyn ForwardHook>>) -> Self {
        Self {
            inner: Arc::new(SfuInner {
                config: Arc::new(config),
                rooms: Mutex::new(HashMap::new()),
                hook,
                counters: Arc::new(Counters::default()),
                next_port: Mutex::new(0),
            }),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Runs `f` on the SFU's runtime.
    async fn run<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = Result<T, SfuError>> + Send + 'static,
    ) -> Result<T, SfuError> {
        self.runtime.spawn(f).await.map_err(|_| SfuError::Webrtc)?
    }

    /// `participant` joins `room` with its SDP `offer`. The first join opens the room with
    /// `tier`, the plan of the room's host, whose participant cap every later join is
    /// checked against ([`crate::tiers::check_join`]); a join beyond it is refused with
    /// [`SfuError::Limit`].
    pub async fn join(
        &self,
        room: RoomId,
        tier: Tier,
        participant: ParticipantId,
        offer: String,
    ) -> Result<Joined, SfuError> {
        let inner = self.inner.clone();
        self.run(async move {
            let room = {
                let mut rooms = inner.rooms.lock().unwrap_or_else(PoisonError::into_inner);
                match rooms.get(&room) {
                    Some(existing) if !existing.is_closed() => existing.clone(),
                    _ => {
                        let created = Room::new(room, tier, &inner);
                        rooms.insert(room, created.clone());
                        created
                    }
                }
            };
            let bind = inner.next_bind()?;
            let (tx, signals) = unbounded_channel();
            match room.join(participant, offer, bind, tx).await {
                Ok(answer) => Ok(Joined { answer, signals }),
                Err(e) => {
                    inner.forget_if_empty(&room);
                    Err(e)
                }
            }
        })
        .await
    }

    /// The participant's answer to the SFU's latest [`SfuSignal::Offer`].
    pub async fn apply_answer(
        &self,
        room: RoomId,
        participant: &ParticipantId,
        answer: String,
    ) -> Result<(), SfuError> {
        let p = self.inner.participant(room, participant)?;
        self.run(async move { p.apply_answer(answer).await }).await
    }

    /// One of the participant's trickled candidates.
    pub async fn add_ice_candidate(
        &self,
        room: RoomId,
        participant: &ParticipantId,
        candidate: IceCandidate,
    ) -> Result<(), SfuError> {
        let p = self.inner.participant(room, participant)?;
        self.run(async move { p.add_candidate(candidate).await })
            .await
    }

    /// The participant leaves. The room vanishes with its last participant.
    pub async fn leave(&self, room: RoomId, participant: &ParticipantId) -> Result<(), SfuError> {
        let (inner, id) = (self.inner.clone(), participant.clone());
        self.run(async move { inner.leave(room, &id, false).await })
            .await
    }

    /// The host removes the participant: its streams stop reaching the others at once, it
    /// gets [`SfuSignal::Removed`] and nothing more. (Its MLS removal, the new epoch that
    /// keeps it from decrypting, is the clients' and the delivery service's.)
    pub async fn remove(&self, room: RoomId, participant: &ParticipantId) -> Result<(), SfuError> {
        let (inner, id) = (self.inner.clone(), participant.clone());
        self.run(async move { inner.leave(room, &id, true).await })
            .await
    }

    /// Ends the room for everyone ([`SfuSignal::RoomEnded`]).
    pub async fn end_room(&self, room: RoomId) -> Result<(), SfuError> {
        let inner = self.inner.clone();
        self.run(async move {
            let found = inner
                .rooms
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&room)
                .ok_or(SfuError::NoSuchRoom)?;
            found.end().await;
            Ok(())
        })
        .await
    }

    /// Rooms open now.
    pub fn room_count(&self) -> usize {
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Participants in `room` now (0 for no such room).
    pub fn participant_count(&self, room: RoomId) -> usize {
        self.inner.room(room).map_or(0, |r| r.participant_count())
    }

    /// Participants in all rooms now.
    pub fn participant_total(&self) -> usize {
        let rooms: Vec<Arc<Room>> = self
            .inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        rooms.iter().map(|r| r.participant_count()).sum()
    }

    /// The room's dominant speaker, if someone is speaking.
    pub fn active_speaker(&self, room: RoomId) -> Option<ParticipantId> {
        self.inner.room(room)?.dominant_speaker()
    }

    /// Forwarding totals.
    pub fn stats(&self) -> SfuStats {
        let c = &self.inner.counters;
        SfuStats {
            packets_in: c.packets_in.load(Ordering::Relaxed),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            packets_out: c.packets_out.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
        }
    }
}

impl SfuInner {
    fn room(&self, room: RoomId) -> Option<Arc<Room>> {
        self.rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&room)
            .cloned()
    }

    fn participant(
        &self,
        room: RoomId,
        id: &ParticipantId,
    ) -> Result<Arc<participant::Participant>, SfuError> {
        self.room(room)
            .ok_or(SfuError::NoSuchRoom)?
            .participant(id)
            .ok_or(SfuError::NoSuchParticipant)
    }

    pub(crate) async fn leave(
        &self,
        room: RoomId,
        id: &ParticipantId,
        removed: bool,
    ) -> Result<(), SfuError> {
        let found = self.room(room).ok_or(SfuError::NoSuchRoom)?;
        if found.leave(id, removed).await? {
            self.forget_if_empty(&found);
        }
        Ok(())
    }

    fn forget_if_empty(&self, room: &Arc<Room>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if room.participant_count() == 0 {
            if let Some(current) = rooms.get(&room.id) {
                if Arc::ptr_eq(current, room) {
                    rooms.remove(&room.id);
                }
            }
        }
    }

    /// The address the next participant's socket binds: an ephemeral port, or the next
    /// free one of the configured range.
    fn next_bind(&self) -> Result<SocketAddr, SfuError> {
        let ip = self.config.bind_ip;
        let Some(range) = &self.config.udp_ports else {
            return Ok(SocketAddr::new(ip, 0));
        };
        let (start, end) = (u32::from(*range.start()), u32::from(*range.end()));
        let len = end.saturating_sub(start) + 1;
        let mut next = self
            .next_port
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for _ in 0..len {
            let port = (start + *next % len) as u16;
            *next = next.wrapping_add(1);
            // Probe: a port another participant (or program) holds is skipped.
            if UdpSocket::bind((ip, port)).is_ok() {
                return Ok(SocketAddr::new(ip, port));
            }
        }
        Err(SfuError::NoPort)
    }
}
