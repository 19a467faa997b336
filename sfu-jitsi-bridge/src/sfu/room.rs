//! A room: its participants, their published tracks, who gets what (every audio track, the
//! video of the last-N speakers), and leaving, removal and the end of the room.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::forward::{
    forward_track, relay_keyframe_requests, Counters, Downstream, ForwardHook, MediaKind,
    Publication,
};
use super::ids::{ParticipantId, RoomId};
use super::participant::{Handler, Participant};
use super::speaker::SpeakerTracker;
use super::{media, SfuConfig, SfuError, SfuInner, SfuSignal};
use crate::tiers::{check_join, Tier};

/// The track id a PhantomCall client gives its screen share (and the SFU gives the
/// forwarded copy's label, so subscribers know it for one).
pub(crate) const SCREEN_TRACK_ID: &str = "screen";

/// How long a new track may stay silent before it is given up: its first packet names its
/// SSRC, and a publisher whose DTLS handshake is slow on a loaded machine still makes it.
const FIRST_PACKET_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

struct RoomState {
    participants: HashMap<ParticipantId, Arc<Participant>>,
    /// Joins under way (they count towards the cap).
    joining: usize,
    publications: Vec<(Arc<Publication>, JoinHandle<()>)>,
    /// Tracks that arrived while their publisher was still joining (webrtc-rs may announce a
    /// track as soon as the offer is applied, before the join completes).
    early_tracks: HashMap<ParticipantId, Vec<Arc<dyn TrackRemote>>>,
    speakers: SpeakerTracker,
    closed: bool,
}

pub(crate) struct Room {
    pub id: RoomId,
    pub tier: Tier,
    pub hook: Option<Arc<dyn ForwardHook>>,
    pub counters: Arc<Counters>,
    config: Arc<SfuConfig>,
    sfu: Weak<SfuInner>,
    state: Mutex<RoomState>,
    /// Which (publication, subscriber) pairs are subscribed or being subscribed.
    claimed: Mutex<HashSet<(u64, ParticipantId)>>,
    next_publication: AtomicU64,
}

impl Room {
    pub fn new(id: RoomId, tier: Tier, sfu: &Arc<SfuInner>) -> Arc<Self> {
        let room = Arc::new(Self {
            id,
            tier,
            hook: sfu.hook.clone(),
            counters: sfu.counters.clone(),
            config: sfu.config.clone(),
            sfu: Arc::downgrade(sfu),
            state: Mutex::new(RoomState {
                participants: HashMap::new(),
                joining: 0,
                publications: Vec::new(),
                early_tracks: HashMap::new(),
                speakers: SpeakerTracker::new(sfu.config.speaker),
                closed: false,
            }),
            claimed: Mutex::new(HashSet::new()),
            next_publication: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&room);
        let interval = sfu.config.reselect_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let Some(room) = weak.upgrade() else { return };
                if room.lock().closed {
                    return;
                }
                room.apply_last_n().await;
            }
        });
        room
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RoomState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn participant_count(&self) -> usize {
        self.lock().participants.len()
    }

    pub fn participant(&self, id: &ParticipantId) -> Option<Arc<Participant>> {
        self.lock().participants.get(id).cloned()
    }

    pub fn dominant_speaker(&self) -> Option<ParticipantId> {
        self.lock().speakers.dominant(Instant::now()).cloned()
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn observe_level(&self, id: &ParticipantId, level: u8, now: Instant) {
        self.lock().speakers.observe(id, level, now);
    }

    /// Whether `subscriber` should get `publisher`'s video now.
    fn wants_video(&self, subscriber: &ParticipantId, publisher: &ParticipantId) -> bool {
        self.lock()
            .speakers
            .last_n(self.config.last_n, subscriber, Instant::now())
            .contains(publisher)
    }

    /// A participant joins with its offer; returns the SFU's answer. The tracks of the
    /// publishers already in the room follow in an SFU offer.
    pub async fn join(
        self: &Arc<Self>,
        id: ParticipantId,
        offer: String,
        bind: SocketAddr,
        signals: UnboundedSender<SfuSignal>,
    ) -> Result<String, SfuError> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(SfuError::RoomEnded);
            }
            if state.participants.contains_key(&id) {
                return Err(SfuError::AlreadyJoined);
            }
            let present = (state.participants.len() + state.joining) as u32;
            check_join(self.tier, present)?;
            state.joining += 1;
        }
        let (participant, answer) = self
            .connect(id.clone(), offer, bind, signals)
            .await
            .inspect_err(|_| {
                let mut state = self.lock();
                state.joining -= 1;
                state.early_tracks.remove(&id);
            })?;
        let (publications, early) = {
            let mut state = self.lock();
            state.joining -= 1;
            let early = state.early_tracks.remove(&id).unwrap_or_default();
            if state.closed {
                (None, early)
            } else {
                state.participants.insert(id.clone(), participant.clone());
                state.speakers.add(id.clone());
                let publications = state
                    .publications
                    .iter()
                    .map(|(p, _)| p.clone())
                    .collect::<Vec<_>>();
                (Some(publications), early)
            }
        };
        let Some(publications) = publications else {
            participant.close().await;
            return Err(SfuError::RoomEnded);
        };
        for track in early {
            tokio::spawn(self.clone().on_publisher_track(id.clone(), track));
        }
        let mut added = false;
        for publication in publications {
            added |= self.subscribe(&publication, &participant).await;
        }
        if added {
            participant.renegotiate().await;
        }
        tracing::debug!(room = ?self.id, participant = ?id, "joined");
        Ok(answer)
    }

    async fn connect(
        self: &Arc<Self>,
        id: ParticipantId,
        offer: String,
        bind: SocketAddr,
        signals: UnboundedSender<SfuSignal>,
    ) -> Result<(Arc<Participant>, String), SfuError> {
        let candidate_mid = Arc::new(RwLock::new(None));
        let handler = Arc::new(Handler {
            sfu: self.sfu.clone(),
            room_id: self.id,
            room: Arc::downgrade(self),
            participant: id.clone(),
            signals: signals.clone(),
            candidate_mid: candidate_mid.clone(),
        });
        let pc = media::build_peer_connection(&self.config, bind, handler)
            .await
            .map_err(SfuError::webrtc)?;
        let participant = Arc::new(Participant::new(id, pc, signals, candidate_mid));
        match participant.answer(offer).await {
            Ok(answer) => Ok((participant, answer)),
            Err(e) => {
                participant.close().await;
                Err(e)
            }
        }
    }

    /// A participant's track arrived: forward it to everyone else.
    pub async fn on_publisher_track(
        self: Arc<Self>,
        id: ParticipantId,
        track: Arc<dyn TrackRemote>,
    ) {
        let level_id = {
            let mut state = self.lock();
            let Some(publisher) = state.participants.get(&id) else {
                // Announced before the join completed: taken up when it does.
                if !state.closed && state.joining > 0 {
                    state.early_tracks.entry(id).or_default().push(track);
                }
                return;
            };
            publisher
                .audio_level_id
                .load(std::sync::atomic::Ordering::Acquire)
        };
        let kind = match track.kind().await {
            RtpCodecKind::Audio => MediaKind::Audio,
            RtpCodecKind::Video => MediaKind::Video,
            _ => return,
        };
        // The PhantomCall client names its screen-share track `screen-<random>` (earlier
        // clients: `screen`; calling's SCREEN_TRACK_ID); any other video is a camera.
        let screen = kind == MediaKind::Video && {
            let id = track.track_id().await;
            id == SCREEN_TRACK_ID || id.starts_with("screen-")
        };
        let Some(ssrc) = first_ssrc(track.as_ref()).await else {
            tracing::debug!(room = ?self.id, publisher = ?id, "track ended before its first packet");
            return;
        };
        // The SFU registers one codec per kind, so the kind names it when webrtc-rs has not
        // attached the coding to the track (it does so only if the description it holds at
        // the first packet lists the SSRC, which a renegotiation in flight can prevent).
        let codec = match track.codec(ssrc).await {
            Some(codec) => codec,
            None => match kind {
                MediaKind::Audio => media::opus_codec(),
                MediaKind::Video => media::vp8_codec(),
            },
        };
        let mut publication = Publication::new(
            self.next_publication.fetch_add(1, Ordering::Relaxed),
            id.clone(),
            kind,
            track,
            ssrc,
            codec,
            level_id,
        );
        publication.screen = screen;
        let publication = Arc::new(publication);
        let subscribers: Vec<Arc<Participant>> = {
            let mut state = self.lock();
            if state.closed || !state.participants.contains_key(&id) {
                return;
            }
            let task = tokio::spawn(forward_track(Arc::downgrade(&self), publication.clone()));
            state.publications.push((publication.clone(), task));
            state
                .participants
                .iter()
                .filter(|(pid, _)| **pid != id)
                .map(|(_, p)| p.clone())
                .collect()
        };
        tracing::debug!(room = ?self.id, publisher = ?id, ?kind, "track published");
        for subscriber in subscribers {
            if self.subscribe(&publication, &subscriber).await {
                subscriber.renegotiate().await;
            }
        }
    }

    /// Gives `subscriber` a copy of `publication` (once). The caller renegotiates.
    async fn subscribe(
        &self,
        publication: &Arc<Publication>,
        subscriber: &Arc<Participant>,
    ) -> bool {
        let key = (publication.id, subscriber.id.clone());
        if !self
            .claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key)
        {
            return false;
        }
        let ssrc = fastrand::u32(1..);
        let (kind, label) = match publication.kind {
            MediaKind::Audio => (RtpCodecKind::Audio, "audio"),
            MediaKind::Video if publication.screen => (RtpCodecKind::Video, SCREEN_TRACK_ID),
            MediaKind::Video => (RtpCodecKind::Video, "video"),
        };
        let publisher = publication.publisher.as_str();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            // msid: the publisher's id as the stream, so the subscriber knows whose it is.
            publisher.to_owned(),
            format!("{label}-{publisher}"),
            label.to_owned(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: publication.codec.clone(),
                ..Default::default()
            }],
        )));
        let sender = subscriber.add_forwarded_track(track.clone()).await;
        let Some(sender) = sender else {
            tracing::debug!(room = ?self.id, "track not added to a subscriber");
            self.claimed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&(publication.id, subscriber.id.clone()));
            return false;
        };
        let enabled = match publication.kind {
            MediaKind::Audio => true,
            MediaKind::Video if publication.screen => true,
            MediaKind::Video => self.wants_video(&subscriber.id, &publication.publisher),
        };
        let downstream = Arc::new(Downstream::new(
            subscriber.id.clone(),
            track,
            sender,
            ssrc,
            enabled,
        ));
        downstream.set_relay(tokio::spawn(relay_keyframe_requests(
            Arc::downgrade(publication),
            downstream.clone(),
        )));
        subscriber.add_downstream(downstream.clone());
        publication.add_downstream(downstream.clone());
        // Either side may have left meanwhile: undo.
        let gone = self.participant(&subscriber.id).is_none() || publication.is_stopped();
        if gone {
            publication.remove_downstream(&subscriber.id);
            downstream.shut();
            return false;
        }
        true
    }

    /// Re-applies last-N: each subscriber gets the video of the `last_n` publishers the
    /// speaker tracker ranks first (a keyframe is requested for each newly shown one).
    pub async fn apply_last_n(&self) {
        let mut turned_on = Vec::new();
        {
            let state = self.lock();
            let now = Instant::now();
            let mut wanted: HashMap<ParticipantId, Vec<ParticipantId>> = HashMap::new();
            for (publication, _) in &state.publications {
                if publication.kind != MediaKind::Video || publication.screen {
                    continue;
                }
                for downstream in publication.downstreams().iter() {
                    let list = wanted
                        .entry(downstream.subscriber.clone())
                        .or_insert_with(|| {
                            state
                                .speakers
                                .last_n(self.config.last_n, &downstream.subscriber, now)
                        });
                    let on = list.contains(&publication.publisher);
                    if downstream.set_enabled(on) && on {
                        turned_on.push(publication.clone());
                    }
                }
            }
        }
        for publication in turned_on {
            publication.request_keyframe().await;
        }
    }

    /// `id` leaves (or is removed by the host: `removed`). Its streams stop at once: no
    /// packet of it is written after the synchronous part of this call, and it is sent
    /// nothing more. Returns whether the room is now empty (and closed).
    pub async fn leave(&self, id: &ParticipantId, removed: bool) -> Result<bool, SfuError> {
        let (participant, own, others, all, empty) = {
            let mut state = self.lock();
            let participant = state
                .participants
                .remove(id)
                .ok_or(SfuError::NoSuchParticipant)?;
            let (own, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut state.publications)
                .into_iter()
                .partition(|(p, _)| &p.publisher == id);
            state.publications = rest;
            state.speakers.remove(id);
            let others: Vec<_> = state.participants.values().cloned().collect();
            let all: Vec<_> = state.publications.iter().map(|(p, _)| p.clone()).collect();
            let empty = state.participants.is_empty() && state.joining == 0;
            if empty {
                state.closed = true;
            }
            (participant, own, others, all, empty)
        };
        // Its tracks: nothing more is forwarded from here on.
        let mut orphaned = Vec::new();
        let mut orphaned_ids = Vec::new();
        for (publication, task) in own {
            task.abort();
            orphaned_ids.push(publication.id);
            for downstream in publication.stop() {
                downstream.shut();
                orphaned.push(downstream);
            }
        }
        // Nothing more is forwarded to it.
        for publication in all {
            if let Some(downstream) = publication.remove_downstream(id) {
                downstream.shut();
            }
        }
        if removed {
            participant.signal(SfuSignal::Removed);
        }
        participant.close().await;
        let gone: HashSet<u64> = orphaned_ids.into_iter().collect();
        self.claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(publication, sub)| sub != id && !gone.contains(publication));
        // The others' connections drop the tracks they no longer get.
        for other in others {
            let mine: Vec<_> = orphaned
                .iter()
                .filter(|d| d.subscriber == other.id)
                .collect();
            if mine.is_empty() {
                continue;
            }
            for downstream in mine {
                other.unsubscribe(downstream).await;
            }
            other.renegotiate().await;
        }
        tracing::debug!(room = ?self.id, participant = ?id, removed, "left");
        Ok(empty)
    }

    /// Ends the room: every participant is told and disconnected.
    pub async fn end(&self) {
        let (participants, publications) = {
            let mut state = self.lock();
            state.closed = true;
            let participants: Vec<_> = state.participants.drain().map(|(_, p)| p).collect();
            (participants, std::mem::take(&mut state.publications))
        };
        for (publication, task) in publications {
            task.abort();
            for downstream in publication.stop() {
                downstream.shut();
            }
        }
        for participant in participants {
            participant.signal(SfuSignal::RoomEnded);
            participant.close().await;
        }
    }
}

/// The SSRC of a new remote track: from its coding when webrtc-rs attached one, otherwise from
/// the open event (or the first packet) it delivers. `None` if the track ends or stays silent.
async fn first_ssrc(track: &dyn TrackRemote) -> Option<u32> {
    if let Some(ssrc) = track.ssrcs().await.first().copied() {
        return Some(ssrc);
    }
    let first = tokio::time::timeout(FIRST_PACKET_TIMEOUT, async {
        loop {
            match track.poll().await? {
                TrackRemoteEvent::OnOpen(init) => return Some(init.ssrc),
                // A lost open event: the packet names the stream (and is not forwarded).
                TrackRemoteEvent::OnRtpPacket(packet) => return Some(packet.header.ssrc),
                TrackRemoteEvent::OnEnded => return None,
                _ => continue,
            }
        }
    });
    first.await.ok().flatten()
}
