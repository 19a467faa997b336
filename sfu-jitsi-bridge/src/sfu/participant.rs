//! One participant's server-side peer connection: the first offer/answer (the participant
//! offers), the SFU's own offers whenever the set of tracks it forwards to the participant
//! changes, trickled candidates, and the webrtc-rs callbacks.
//!
//! Negotiation is serialized per participant: at most one SFU offer is outstanding; a change
//! while one is marks the state dirty, and the next offer goes out when the answer arrives
//! (no glare: after its first offer the participant only answers).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

use super::forward::Downstream;
use super::ids::{ParticipantId, RoomId};
use super::media;
use super::room::Room;
use super::{IceCandidate, SfuError, SfuInner, SfuSignal};

#[derive(Default)]
struct Negotiation {
    /// An SFU offer awaits the participant's answer.
    offer_outstanding: bool,
    /// The forwarded tracks changed while an offer was outstanding.
    dirty: bool,
}

pub(crate) struct Participant {
    pub id: ParticipantId,
    pub pc: Arc<dyn PeerConnection>,
    signals: UnboundedSender<SfuSignal>,
    negotiation: tokio::sync::Mutex<Negotiation>,
    /// Its copies of the other publishers' tracks.
    downstreams: Mutex<Vec<Arc<Downstream>>>,
    /// The audio-level extension id its first offer gave (0: none).
    pub audio_level_id: AtomicU8,
    candidate_mid: Arc<RwLock<Option<String>>>,
    closed: AtomicBool,
}

impl Participant {
    pub fn new(
        id: ParticipantId,
        pc: Arc<dyn PeerConnection>,
        signals: UnboundedSender<SfuSignal>,
        candidate_mid: Arc<RwLock<Option<String>>>,
    ) -> Self {
        Self {
            id,
            pc,
            signals,
            negotiation: tokio::sync::Mutex::new(Negotiation::default()),
            downstreams: Mutex::new(Vec::new()),
            audio_level_id: AtomicU8::new(0),
            candidate_mid,
            closed: AtomicBool::new(false),
        }
    }

    pub fn signal(&self, signal: SfuSignal) {
        let _ = self.signals.send(signal);
    }

    /// Applies the participant's first offer and returns the SFU's answer.
    pub async fn answer(&self, offer: String) -> Result<String, SfuError> {
        let _neg = self.negotiation.lock().await;
        if let Some(id) = media::audio_level_id(&offer) {
            self.audio_level_id.store(id, Ordering::Release);
        }
        let offer = RTCSessionDescription::offer(offer).map_err(|_| SfuError::BadSdp)?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(|_| SfuError::BadSdp)?;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(SfuError::webrtc)?;
        let sdp = answer.sdp.clone();
        self.set_mid(&sdp);
        self.pc
            .set_local_description(answer)
            .await
            .map_err(SfuError::webrtc)?;
        Ok(sdp)
    }

    fn set_mid(&self, sdp: &str) {
        if let Some(mid) = media::first_mid(sdp) {
            *self
                .candidate_mid
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Some(mid);
        }
    }

    /// Sends the participant a new offer for the tracks it should receive now, or marks the
    /// state dirty when one is already outstanding.
    pub async fn renegotiate(&self) {
        let mut neg = self.negotiation.lock().await;
        if neg.offer_outstanding {
            neg.dirty = true;
            return;
        }
        self.send_offer(&mut neg).await;
    }

    async fn send_offer(&self, neg: &mut Negotiation) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let offer = match self.pc.create_offer(None).await {
            Ok(offer) => offer,
            Err(_) => {
                tracing::debug!(participant = ?self.id, "renegotiation offer not created");
                return;
            }
        };
        let sdp = offer.sdp.clone();
        if self.pc.set_local_description(offer).await.is_err() {
            tracing::debug!(participant = ?self.id, "renegotiation offer not applied");
            return;
        }
        neg.offer_outstanding = true;
        neg.dirty = false;
        self.signal(SfuSignal::Offer(sdp));
    }

    /// The participant's answer to the SFU's latest offer.
    pub async fn apply_answer(&self, answer: String) -> Result<(), SfuError> {
        let mut neg = self.negotiation.lock().await;
        if !neg.offer_outstanding {
            return Err(SfuError::NoOfferOutstanding);
        }
        let answer = RTCSessionDescription::answer(answer).map_err(|_| SfuError::BadSdp)?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(|_| SfuError::BadSdp)?;
        neg.offer_outstanding = false;
        let downstreams = self.downstreams();
        for downstream in downstreams {
            downstream.refresh_negotiated().await;
        }
        if neg.dirty {
            self.send_offer(&mut neg).await;
        }
        Ok(())
    }

    /// Adds a forwarded track on a send-only transceiver of its own (`add_track` would reuse
    /// the participant's own publishing m-line of the same kind, which it does not receive
    /// on). Serialized with negotiation, so it never lands between creating and applying an
    /// offer. The caller renegotiates.
    pub async fn add_forwarded_track(
        &self,
        track: Arc<TrackLocalStaticRTP>,
    ) -> Option<Arc<dyn RtpSender>> {
        let _neg = self.negotiation.lock().await;
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let transceiver = self
            .pc
            .add_transceiver_from_track(
                track as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: Vec::new(),
                    send_encodings: Vec::new(),
                }),
            )
            .await
            .ok()?;
        transceiver.sender().await.ok().flatten()
    }

    pub async fn add_candidate(&self, candidate: IceCandidate) -> Result<(), SfuError> {
        if candidate.candidate.is_empty() {
            return Ok(()); // end-of-candidates
        }
        let init = RTCIceCandidateInit {
            candidate: candidate.candidate,
            sdp_mid: candidate.sdp_mid,
            sdp_mline_index: candidate.sdp_mline_index,
            ..Default::default()
        };
        self.pc
            .add_ice_candidate(init)
            .await
            .map_err(|_| SfuError::BadCandidate)
    }

    pub fn downstreams(&self) -> Vec<Arc<Downstream>> {
        self.downstreams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn add_downstream(&self, downstream: Arc<Downstream>) {
        self.downstreams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(downstream);
    }

    /// Takes `downstream` off this participant's connection (after its publication has
    /// already stopped writing to it). The caller renegotiates.
    pub async fn unsubscribe(&self, downstream: &Arc<Downstream>) {
        downstream.shut();
        self.downstreams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|d| !Arc::ptr_eq(d, downstream));
        if !self.closed.load(Ordering::Acquire) {
            let _ = self.pc.remove_track(&downstream.sender).await;
        }
    }

    /// Closes the connection: nothing more is sent to or read from the participant.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for downstream in self.downstreams() {
            downstream.shut();
        }
        if self.pc.close().await.is_err() {
            tracing::debug!(participant = ?self.id, "peer connection close");
        }
    }
}

/// webrtc-rs's callbacks for one participant's connection.
pub(crate) struct Handler {
    pub sfu: Weak<SfuInner>,
    pub room_id: RoomId,
    pub room: Weak<Room>,
    pub participant: ParticipantId,
    pub signals: UnboundedSender<SfuSignal>,
    pub candidate_mid: Arc<RwLock<Option<String>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Ok(init) = event.candidate.to_json() else {
            return;
        };
        // webrtc-rs gives an empty mid; the participant looks the section up by it.
        let mid = self
            .candidate_mid
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let _ = self.signals.send(SfuSignal::Candidate(IceCandidate {
            candidate: init.candidate,
            sdp_mid: mid,
            sdp_mline_index: Some(0),
        }));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if state == RTCPeerConnectionState::Failed {
            if let Some(sfu) = self.sfu.upgrade() {
                tracing::debug!(participant = ?self.participant, "connection failed: leaving");
                let (room, id) = (self.room_id, self.participant.clone());
                tokio::spawn(async move {
                    let _ = sfu.leave(room, &id, false).await;
                });
            }
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(room) = self.room.upgrade() {
            let id = self.participant.clone();
            tokio::spawn(async move { room.on_publisher_track(id, track).await });
        }
    }
}
