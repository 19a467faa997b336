//! One of our outgoing tracks: what a pipeline writes encoded frames (and audio with its
//! RTP clock) to.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rtc::media::Sample;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::rtp_transceiver::RtpSender;

use crate::pipeline::transform::{FrameKind, FrameTransform};

use super::{audio_rtp, PeerError};

/// One of our outgoing tracks, with what a pipeline needs to write encoded frames to it.
#[derive(Clone)]
pub struct LocalTrack {
    pub(super) track: Arc<TrackLocalStaticSample>,
    /// What each frame passes before it is packetized (none: sent as encoded).
    pub(super) transform: Option<(FrameKind, Arc<dyn FrameTransform>)>,
    pub(super) sender: Arc<dyn RtpSender>,
    pub(super) ssrc: u32,
    /// Negotiated payload type; `NO_PAYLOAD_TYPE` until negotiation settles it.
    pub(super) payload_type: Arc<AtomicU16>,
    /// The peer's description asks for Opus in-band FEC (audio only; false until it is
    /// applied).
    pub(super) peer_wants_fec: Arc<AtomicBool>,
    /// The peer's description accepts Opus DTX (`usedtx=1`; audio only).
    pub(super) peer_wants_dtx: Arc<AtomicBool>,
    /// Numbering of audio packets written with [`LocalTrack::write_audio`].
    pub(super) audio_clock: Arc<Mutex<audio_rtp::AudioRtpClock>>,
}

pub(super) const NO_PAYLOAD_TYPE: u16 = u16::MAX;

/// How often [`LocalTrack::keyframe_requested`] looks again at a track not bound yet.
const UNBOUND_RETRY: Duration = Duration::from_millis(100);

/// What each of our tracks carries, as the start of its id (the SDP's `a=msid`): the camera
/// and the screen share are both VP8 video, and m-lines may pair up in any order. The id is
/// the name, a dash and a random suffix (`screen-4f2a09c1`): webrtc-rs routes the peer's
/// feedback about our tracks (a keyframe request) by track id, and a peer's track of the same
/// id would take it.
pub const AUDIO_TRACK_ID: &str = "audio";
/// See [`AUDIO_TRACK_ID`].
pub const CAMERA_TRACK_ID: &str = "video";
/// See [`AUDIO_TRACK_ID`].
pub const SCREEN_TRACK_ID: &str = "screen";

impl LocalTrack {
    /// This track with every frame passing `transform` as a `kind` frame before it is
    /// packetized.
    pub fn with_transform(mut self, kind: FrameKind, transform: Arc<dyn FrameTransform>) -> Self {
        self.transform = Some((kind, transform));
        self
    }

    /// Waits for the peer's next request for a keyframe on this track (RTCP PLI or FIR).
    /// Never ends by itself: while the track is not bound to a connection it looks again
    /// every [`UNBOUND_RETRY`]; the caller drops it with the call.
    pub async fn keyframe_requested(&self) {
        loop {
            match self.track.poll().await {
                Some(TrackLocalEvent::OnRtcpPacket(packets))
                    if packets
                        .iter()
                        .any(|p| keyframe_requests::is_keyframe_request(p.as_ref())) =>
                {
                    return
                }
                Some(_) => {}
                None => tokio::time::sleep(UNBOUND_RETRY).await,
            }
        }
    }

    /// The negotiated payload type and the frame as it goes out (through the frame
    /// transform), or `None` when it cannot go: no payload type yet, or refused.
    fn ready_to_send(&self, data: Vec<u8>) -> Option<(u8, Vec<u8>)> {
        let pt = self.payload_type.load(Ordering::Acquire);
        if pt == NO_PAYLOAD_TYPE {
            return None;
        }
        let data = match &self.transform {
            Some((kind, transform)) => match transform.outgoing(*kind, data) {
                Ok(data) => data,
                Err(e) => {
                    tracing::debug!(error = %e, "frame not sent");
                    return None;
                }
            },
            None => data,
        };
        Some((pt as u8, data))
    }

    /// Writes one encoded frame (Opus packet or VP8 frame). Before negotiation settles
    /// the payload type, or when the frame transform refuses it, the frame is dropped
    /// (returns false).
    pub async fn write(
        &self,
        data: Vec<u8>,
        captured_at: Instant,
        duration: Duration,
    ) -> Result<bool, PeerError> {
        let Some((pt, data)) = self.ready_to_send(data) else {
            return Ok(false);
        };
        let sample = Sample {
            data: data.into(),
            duration,
            ..Sample::new(captured_at)
        };
        self.track
            .sample_writer(self.ssrc, pt)
            .write_sample(&sample)
            .await?;
        Ok(true)
    }

    /// Whether the peer's description asks for Opus in-band FEC (`useinbandfec=1`): the
    /// audio sender adds it only then.
    pub fn peer_wants_fec(&self) -> bool {
        self.peer_wants_fec.load(Ordering::Acquire)
    }

    /// Whether the peer's description accepts Opus DTX (`usedtx=1`): the audio sender then
    /// sends nothing during silence.
    pub fn peer_wants_dtx(&self) -> bool {
        self.peer_wants_dtx.load(Ordering::Acquire)
    }

    /// Writes one Opus packet of `samples_per_frame` (48 kHz units) as one RTP packet,
    /// after `unsent` frames that were not sent (DTX): their time passes in the
    /// timestamp, not in the sequence. Dropped (false) before negotiation or when the
    /// frame transform refuses it, as [`LocalTrack::write`]. An audio track is written
    /// only through this method.
    pub async fn write_audio(
        &self,
        data: Vec<u8>,
        unsent: u32,
        samples_per_frame: u32,
    ) -> Result<bool, PeerError> {
        let Some((pt, data)) = self.ready_to_send(data) else {
            return Ok(false);
        };
        let packet = self
            .audio_clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .packet(data, unsent, samples_per_frame, pt, self.ssrc);
        self.track.write_rtp(packet).await?;
        Ok(true)
    }

    /// Whether negotiation gave this track a payload type (a peer whose app does not know
    /// the screen-share track leaves it unnegotiated).
    pub fn is_negotiated(&self) -> bool {
        self.payload_type.load(Ordering::Acquire) != NO_PAYLOAD_TYPE
    }

    pub(super) async fn refresh_payload_type(&self) {
        if let Ok(params) = self.sender.get_parameters().await {
            if let Some(codec) = params.rtp_parameters.codecs.first() {
                self.payload_type
                    .store(u16::from(codec.payload_type), Ordering::Release);
            }
        }
    }
}
