//! What webrtc-rs calls back into: the connection's events (gathered candidates pass the
//! mode's policy here) and the congestion controller's target, published.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, PacketReport};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceConnectionState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

use crate::policy::ModePolicy;

use super::candidates::outbound as outbound_candidate;
use super::{PeerEvent, RemoteKind, SCREEN_TRACK_ID};

/// Forwards webrtc-rs callbacks to the call's channel; gathered candidates pass the
/// mode's policy here, before anything else can see them.
pub(super) struct Handler {
    pub(super) events: UnboundedSender<PeerEvent>,
    pub(super) policy: Arc<RwLock<ModePolicy>>,
    pub(super) hide_related_address: bool,
    pub(super) candidate_mid: Arc<RwLock<Option<String>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let event = match event.candidate.to_json() {
            Ok(mut init) => {
                let policy = self
                    .policy
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                // webrtc-rs gives an empty mid; peers look the section up by it.
                init.sdp_mid = self
                    .candidate_mid
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                init.sdp_mline_index = Some(0);
                match outbound_candidate(&policy, self.hide_related_address, init) {
                    Ok(candidate) => PeerEvent::Candidate(candidate),
                    Err(violation) => PeerEvent::CandidateWithheld(violation),
                }
            }
            Err(_) => {
                tracing::debug!("gathered candidate does not serialise");
                return;
            }
        };
        let _ = self.events.send(event);
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self.events.send(PeerEvent::IcePath(state.into()));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PeerEvent::State(state.into()));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        // A peer's screen-share track id is `screen` or starts `screen-` (ours add a random
        // suffix; a conference SFU names the copies it forwards `screen-<publisher>`).
        let screen = kind == RtpCodecKind::Video && {
            let id = track.track_id().await;
            id == SCREEN_TRACK_ID || id.starts_with("screen-")
        };
        let kind = match kind {
            RtpCodecKind::Audio => RemoteKind::Audio,
            RtpCodecKind::Video if screen => RemoteKind::Screen,
            RtpCodecKind::Video => RemoteKind::Camera,
            _ => return,
        };
        let _ = self.events.send(PeerEvent::RemoteTrack(track, kind));
    }
}

/// GCC's target, published where the video pipeline reads it.
pub(super) struct ReportingEstimator<E: BandwidthEstimator> {
    inner: E,
    target: Arc<AtomicU64>,
}

impl<E: BandwidthEstimator> ReportingEstimator<E> {
    pub(super) fn new(inner: E) -> (Self, Arc<AtomicU64>) {
        let target = Arc::new(AtomicU64::new(inner.target_bitrate().to_bits()));
        (
            Self {
                inner,
                target: target.clone(),
            },
            target,
        )
    }

    fn publish(&self) {
        self.target
            .store(self.inner.target_bitrate().to_bits(), Ordering::Relaxed);
    }
}

impl<E: BandwidthEstimator> BandwidthEstimator for ReportingEstimator<E> {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        self.publish();
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}
