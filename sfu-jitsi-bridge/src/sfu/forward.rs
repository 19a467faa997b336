//! Forwarding: one task per published track reads its RTP packets and writes each, payload
//! untouched, to one local track per subscriber. Only the header is read (and rewritten
//! where the subscriber's leg needs it: SSRC, payload type, sequence number, extension ids).

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::rtp_transceiver::RtpSender;

use super::ids::{ParticipantId, RoomId};
use super::media::AUDIO_LEVEL_URI;
use super::room::Room;

/// Fewest milliseconds between two keyframe requests relayed to one publisher: each
/// keyframe costs several times a normal frame, and every subscriber that joins or
/// recovers asks at once.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);

/// What a published track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Voice: forwarded to every subscriber.
    Audio,
    /// Camera or screen: forwarded under last-N.
    Video,
}

/// The RTP header fields the SFU reads: all it knows about a packet besides its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeaderView {
    /// The publisher's SSRC.
    pub ssrc: u32,
    /// Payload type on the publisher's leg.
    pub payload_type: u8,
    /// Sequence number on the publisher's leg.
    pub sequence_number: u16,
    /// RTP timestamp (forwarded unchanged).
    pub timestamp: u32,
    /// Marker bit (last packet of a video frame).
    pub marker: bool,
    /// RFC 6464 audio level, -dBov (0 loudest, 127 silence), on audio packets that carry it.
    pub audio_level: Option<u8>,
}

/// One packet as the SFU forwarded it, shown to a [`ForwardHook`].
pub struct ForwardedPacket<'a> {
    /// The room.
    pub room: &'a RoomId,
    /// Whose packet it is.
    pub publisher: &'a ParticipantId,
    /// Audio or video.
    pub kind: MediaKind,
    /// The header fields the SFU read.
    pub header: RtpHeaderView,
    /// The payload as received and as forwarded: SFrame ciphertext, opaque to the SFU.
    pub payload: &'a [u8],
    /// How many subscribers it was written to (last-N may leave some out).
    pub subscribers: usize,
    /// From reading the packet to having written it to the last subscriber's track.
    pub delay: Duration,
}

/// Sees every forwarded packet, for tests and metrics. Called on the forwarding task: keep
/// it short. An implementation must not log the payload, nor the ids in full (their `Debug`
/// is already short).
pub trait ForwardHook: Send + Sync + 'static {
    /// One packet, after it was written to every subscriber.
    fn on_forward(&self, packet: &ForwardedPacket<'_>);
}

/// Forwarding counters of the whole SFU.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub packets_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub bytes_out: AtomicU64,
}

const NO_PAYLOAD_TYPE: u16 = u16::MAX;

/// One subscriber's copy of one published track.
pub(crate) struct Downstream {
    pub subscriber: ParticipantId,
    pub track: Arc<TrackLocalStaticRTP>,
    pub sender: Arc<dyn RtpSender>,
    rewriter: HeaderRewriter,
    /// Last-N: whether this subscriber currently gets this track.
    enabled: AtomicBool,
    /// The task relaying this subscriber's keyframe requests (aborted before the track is
    /// removed: it holds the track's event receiver).
    relay: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Downstream {
    pub fn new(
        subscriber: ParticipantId,
        track: Arc<TrackLocalStaticRTP>,
        sender: Arc<dyn RtpSender>,
        ssrc: u32,
        enabled: bool,
    ) -> Self {
        Self {
            subscriber,
            track,
            sender,
            rewriter: HeaderRewriter::new(ssrc),
            enabled: AtomicBool::new(enabled),
            relay: Mutex::new(None),
        }
    }

    pub fn set_relay(&self, task: tokio::task::JoinHandle<()>) {
        *self.relay.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    }

    /// Stops the keyframe relay and this copy's forwarding.
    pub fn shut(&self) {
        self.enabled.store(false, Ordering::Release);
        if let Some(task) = self
            .relay
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Turns the track on or off for this subscriber; true if that changed anything.
    pub fn set_enabled(&self, on: bool) -> bool {
        let was = self.enabled.swap(on, Ordering::AcqRel);
        if on && !was {
            self.rewriter.resume();
        }
        was != on
    }

    /// Reads what the subscriber's leg negotiated (after its answer is applied).
    pub async fn refresh_negotiated(&self) {
        let Ok(params) = self.sender.get_parameters().await else {
            return;
        };
        let pt = params.rtp_parameters.codecs.first().map(|c| c.payload_type);
        let id = params
            .rtp_parameters
            .header_extensions
            .iter()
            .find(|ext| ext.uri == AUDIO_LEVEL_URI)
            .map_or(0, |ext| ext.id as u8);
        self.rewriter.negotiated(pt, id);
    }
}

/// The header one subscriber's copy of a track needs (pure: unit-tested below).
struct HeaderRewriter {
    ssrc: u32,
    /// Negotiated on the subscriber's leg; `NO_PAYLOAD_TYPE` until its answer is applied.
    payload_type: AtomicU16,
    /// The audio-level extension id on the subscriber's leg, 0 if not negotiated.
    audio_level_id: AtomicU8,
    /// Sequence numbers rewritten so that the subscriber sees no gap when last-N pauses and
    /// resumes the track: (last sequence number out, offset to add).
    seq: Mutex<Option<(u16, u16)>>,
    /// A pause since the last packet: the next one continues the sequence.
    resumed: AtomicBool,
}

impl HeaderRewriter {
    fn new(ssrc: u32) -> Self {
        Self {
            ssrc,
            payload_type: AtomicU16::new(NO_PAYLOAD_TYPE),
            audio_level_id: AtomicU8::new(0),
            seq: Mutex::new(None),
            resumed: AtomicBool::new(false),
        }
    }

    fn negotiated(&self, payload_type: Option<u8>, audio_level_id: u8) {
        if let Some(pt) = payload_type {
            self.payload_type.store(u16::from(pt), Ordering::Release);
        }
        self.audio_level_id.store(audio_level_id, Ordering::Release);
    }

    fn resume(&self) {
        self.resumed.store(true, Ordering::Release);
    }

    /// The header this subscriber's leg needs; `None` before negotiation settled it.
    fn rewrite(&self, header: &rtp::Header, audio_level: Option<u8>) -> Option<rtp::Header> {
        let pt = self.payload_type.load(Ordering::Acquire);
        if pt == NO_PAYLOAD_TYPE {
            return None;
        }
        // A fresh header rather than a clone: the publisher's extensions (transport-wide
        // sequence numbers, its ids) mean nothing on this leg, and only the audio level goes
        // on, under this leg's id. Padding is not payload: webrtc-rs strips it on reading.
        let mut out = rtp::Header {
            version: 2,
            marker: header.marker,
            payload_type: pt as u8,
            sequence_number: header.sequence_number,
            timestamp: header.timestamp,
            ssrc: self.ssrc,
            csrc: header.csrc.clone(),
            ..Default::default()
        };
        let level_id = self.audio_level_id.load(Ordering::Acquire);
        if let (Some(level), true) = (audio_level, level_id != 0) {
            let _ = out.set_extension(level_id, Bytes::copy_from_slice(&[level]));
        }
        let mut seq = self.seq.lock().unwrap_or_else(PoisonError::into_inner);
        // After a pause the next packet continues from the last one sent.
        let offset = match (*seq, self.resumed.swap(false, Ordering::AcqRel)) {
            (Some((last, _)), true) => last.wrapping_add(1).wrapping_sub(header.sequence_number),
            (Some((_, offset)), false) => offset,
            (None, _) => 0,
        };
        out.sequence_number = header.sequence_number.wrapping_add(offset);
        *seq = Some((out.sequence_number, offset));
        Some(out)
    }
}

/// One published track and its subscribers.
pub(crate) struct Publication {
    /// Unique within the room.
    pub id: u64,
    pub publisher: ParticipantId,
    pub kind: MediaKind,
    /// A screen share (the publisher's video track named `screen`), not a camera: always
    /// forwarded (last-N ranks cameras), and named so subscribers can show it apart.
    pub screen: bool,
    pub track: Arc<dyn TrackRemote>,
    pub ssrc: u32,
    pub codec: rtc::rtp_transceiver::rtp_sender::RTCRtpCodec,
    /// The audio-level extension id on the publisher's leg (0: none).
    pub audio_level_id: u8,
    /// Copy-on-write: the forwarding task takes a snapshot per packet without locking
    /// against subscription changes for longer than an `Arc` clone.
    downstreams: RwLock<Arc<Vec<Arc<Downstream>>>>,
    last_keyframe_request: Mutex<Option<Instant>>,
    stopped: AtomicBool,
}

impl Publication {
    pub fn new(
        id: u64,
        publisher: ParticipantId,
        kind: MediaKind,
        track: Arc<dyn TrackRemote>,
        ssrc: u32,
        codec: rtc::rtp_transceiver::rtp_sender::RTCRtpCodec,
        audio_level_id: u8,
    ) -> Self {
        Self {
            id,
            publisher,
            kind,
            screen: false,
            track,
            ssrc,
            codec,
            audio_level_id,
            downstreams: RwLock::new(Arc::new(Vec::new())),
            last_keyframe_request: Mutex::new(None),
            stopped: AtomicBool::new(false),
        }
    }

    pub fn downstreams(&self) -> Arc<Vec<Arc<Downstream>>> {
        self.downstreams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn add_downstream(&self, downstream: Arc<Downstream>) {
        let mut guard = self
            .downstreams
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut list = Vec::clone(&guard);
        list.push(downstream);
        *guard = Arc::new(list);
    }

    /// Drops `subscriber`'s copy; returns it.
    pub fn remove_downstream(&self, subscriber: &ParticipantId) -> Option<Arc<Downstream>> {
        let mut guard = self
            .downstreams
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut list = Vec::clone(&guard);
        let at = list.iter().position(|d| &d.subscriber == subscriber)?;
        let removed = list.remove(at);
        *guard = Arc::new(list);
        Some(removed)
    }

    /// Stops forwarding at once: no packet is written after this returns (the task checks
    /// before each write), and every subscriber's copy is dropped.
    pub fn stop(&self) -> Vec<Arc<Downstream>> {
        self.stopped.store(true, Ordering::Release);
        let mut guard = self
            .downstreams
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut *guard, Arc::new(Vec::new()));
        Vec::clone(&old)
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Asks the publisher for a keyframe (PLI), at most once per
    /// [`KEYFRAME_REQUEST_INTERVAL`].
    pub async fn request_keyframe(&self) {
        if self.kind != MediaKind::Video || self.is_stopped() {
            return;
        }
        {
            let mut last = self
                .last_keyframe_request
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if last.is_some_and(|at| now.duration_since(at) < KEYFRAME_REQUEST_INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        let pli = keyframe_requests::picture_loss(self.ssrc);
        if self.track.write_rtcp(vec![pli]).await.is_err() {
            tracing::debug!(publisher = ?self.publisher, "keyframe request not sent");
        }
    }
}

/// The audio level of a packet, from the publisher's negotiated extension id.
fn audio_level(header: &rtp::Header, id: u8) -> Option<u8> {
    if id == 0 {
        return None;
    }
    let ext = header.get_extension(id)?;
    ext.first().map(|b| b & 0x7f)
}

/// Reads `publication`'s packets until its track ends or it is stopped, and forwards them.
pub(crate) async fn forward_track(room: Weak<Room>, publication: Arc<Publication>) {
    let (room_id, hook, counters) = match room.upgrade() {
        Some(room) => (room.id, room.hook.clone(), room.counters.clone()),
        None => return,
    };
    while let Some(event) = publication.track.poll().await {
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(packet) => packet,
            TrackRemoteEvent::OnEnded => break,
            _ => continue,
        };
        if publication.is_stopped() {
            break;
        }
        let read_at = Instant::now();
        let size = packet.payload.len() as u64;
        counters.packets_in.fetch_add(1, Ordering::Relaxed);
        counters.bytes_in.fetch_add(size, Ordering::Relaxed);
        let level = match publication.kind {
            MediaKind::Audio => audio_level(&packet.header, publication.audio_level_id),
            MediaKind::Video => None,
        };
        if let (Some(level), Some(room)) = (level, room.upgrade()) {
            room.observe_level(&publication.publisher, level, read_at);
        }
        let mut written = 0;
        for downstream in publication.downstreams().iter() {
            if !downstream.enabled() || publication.is_stopped() {
                continue;
            }
            let Some(header) = downstream.rewriter.rewrite(&packet.header, level) else {
                continue;
            };
            let out = rtp::Packet {
                header,
                // The same bytes, not a copy: the payload is never looked into.
                payload: packet.payload.clone(),
            };
            if downstream.track.write_rtp(out).await.is_ok() {
                written += 1;
            }
        }
        counters
            .packets_out
            .fetch_add(written as u64, Ordering::Relaxed);
        counters
            .bytes_out
            .fetch_add(written as u64 * size, Ordering::Relaxed);
        if let Some(hook) = &hook {
            let h = &packet.header;
            hook.on_forward(&ForwardedPacket {
                room: &room_id,
                publisher: &publication.publisher,
                kind: publication.kind,
                header: RtpHeaderView {
                    ssrc: h.ssrc,
                    payload_type: h.payload_type,
                    sequence_number: h.sequence_number,
                    timestamp: h.timestamp,
                    marker: h.marker,
                    audio_level: level,
                },
                payload: &packet.payload,
                subscribers: written,
                delay: read_at.elapsed(),
            });
        }
    }
}

/// Relays the keyframe requests a subscriber sends about its copy of `publication`.
pub(crate) async fn relay_keyframe_requests(
    publication: Weak<Publication>,
    downstream: Arc<Downstream>,
) {
    while let Some(event) = downstream.track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        let asks = packets
            .iter()
            .any(|p| keyframe_requests::is_keyframe_request(p.as_ref()));
        let Some(publication) = publication.upgrade() else {
            return;
        };
        if asks && downstream.enabled() {
            publication.request_keyframe().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u16, with_extensions: bool) -> rtp::Header {
        let mut h = rtp::Header {
            version: 2,
            payload_type: 111,
            sequence_number: seq,
            timestamp: 4242,
            ssrc: 7,
            marker: true,
            ..Default::default()
        };
        if with_extensions {
            // The publisher's own ids: transport-wide sequence number (3), audio level (5).
            h.set_extension(3, Bytes::from_static(&[0, 9])).unwrap();
            h.set_extension(5, Bytes::from_static(&[0x94])).unwrap();
        }
        h
    }

    #[test]
    fn nothing_goes_out_before_the_subscribers_leg_is_negotiated() {
        let r = HeaderRewriter::new(99);
        assert!(r.rewrite(&header(1, false), None).is_none());
        r.negotiated(Some(96), 0);
        assert!(r.rewrite(&header(1, false), None).is_some());
    }

    #[test]
    fn the_copy_gets_its_own_ssrc_and_payload_type_and_only_the_audio_level_under_its_id() {
        let r = HeaderRewriter::new(99);
        r.negotiated(Some(109), 1);
        let out = r.rewrite(&header(10, true), Some(20)).unwrap();
        assert_eq!((out.ssrc, out.payload_type), (99, 109));
        assert_eq!(
            (out.timestamp, out.marker, out.sequence_number),
            (4242, true, 10)
        );
        assert_eq!(out.get_extension_ids(), vec![1]);
        assert_eq!(out.get_extension(1).unwrap().as_ref(), &[20]);
        // A leg without the extension gets none.
        let bare = HeaderRewriter::new(98);
        bare.negotiated(Some(109), 0);
        let out = bare.rewrite(&header(10, true), Some(20)).unwrap();
        assert!(out.get_extension_ids().is_empty());
    }

    #[test]
    fn a_pause_leaves_no_gap_in_the_sequence_numbers() {
        let r = HeaderRewriter::new(99);
        r.negotiated(Some(96), 0);
        let seqs: Vec<u16> = [65_534u16, 65_535, 0]
            .iter()
            .map(|s| r.rewrite(&header(*s, false), None).unwrap().sequence_number)
            .collect();
        assert_eq!(seqs, vec![65_534, 65_535, 0]);
        // Paused for 500 packets, then resumed: the subscriber sees 1, 2, ...
        r.resume();
        let next: Vec<u16> = [500u16, 501]
            .iter()
            .map(|s| r.rewrite(&header(*s, false), None).unwrap().sequence_number)
            .collect();
        assert_eq!(next, vec![1, 2]);
    }
}
