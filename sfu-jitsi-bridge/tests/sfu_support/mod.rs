//! A small conference participant for the SFU's tests and bench, written on the `webrtc`
//! crate directly (not the `calling` engine): one peer connection that offers an audio and
//! a video track (send-only), answers the SFU's renegotiation offers, and records every
//! packet it receives.
//!
//! Payloads stand in for SFrame ciphertext: a 12-byte tag (magic, sender marker, kind,
//! sequence number) then pseudo-random bytes derived from the tag, so a receiver can
//! regenerate what was sent and compare every packet byte for byte. They are not valid Opus
//! or VP8. The RTP timestamp carries the send time (microseconds since a shared origin),
//! which the SFU forwards unchanged, for end-to-end delay.

#![allow(dead_code)] // each test binary uses part of it

pub mod sframe;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use sfu_jitsi_bridge::backend::{EmbeddedBackend, Leg, MediaBackend, Placement};
use sfu_jitsi_bridge::sfu::media::{self, OPUS_PAYLOAD_TYPE, VP8_PAYLOAD_TYPE};
use sfu_jitsi_bridge::sfu::{IceCandidate, ParticipantId, RoomId, Sfu, SfuError, SfuSignal};
use sfu_jitsi_bridge::tiers::Tier;
use tokio::sync::mpsc::unbounded_channel;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCSessionDescription, SettingEngineBuilder,
};

/// First byte of every synthetic payload.
pub const MAGIC: u8 = 0xC5;
/// The tag at the start of a payload.
pub const TAG_LEN: usize = 12;

/// Audio or video, as tagged in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Audio = 1,
    Video = 2,
}

/// Shared time origin for the RTP-timestamp clock.
pub fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Microseconds since [`origin`] (the RTP timestamp the tests send).
pub fn micros_now() -> u32 {
    origin().elapsed().as_micros() as u32
}

/// Send times by (sender, kind, seq), kept only once [`record_send_times`] is called: for
/// media servers that rewrite RTP timestamps (Janus does, for its subscribers), where the
/// timestamp cannot carry the send time.
static SENT: OnceLock<Mutex<SendTimes>> = OnceLock::new();

/// Microseconds since [`origin`] by (sender, kind, seq).
type SendTimes = HashMap<(u8, u8, u32), u32>;

/// Keeps every packet's send time from now on (the delay no longer relies on RTP timestamps).
pub fn record_send_times() {
    let _ = SENT.set(Mutex::new(HashMap::new()));
}

/// Notes that `sender` sent packet `seq` of `kind` now (when send times are kept).
pub fn mark_sent(sender: u8, kind: Kind, seq: u32) {
    if let Some(sent) = SENT.get() {
        sent.lock()
            .unwrap()
            .insert((sender, kind as u8, seq), micros_now());
    }
}

/// Send-to-receive delay of packet `seq` of `kind` from `sender`, received now, with the
/// RTP timestamp `rtp_ts` as the send time unless send times are kept.
fn delay_of(sender: u8, kind: Kind, seq: u32, rtp_ts: u32) -> u32 {
    let sent = SENT
        .get()
        .and_then(|s| s.lock().unwrap().get(&(sender, kind as u8, seq)).copied());
    micros_now().wrapping_sub(sent.unwrap_or(rtp_ts))
}

/// The payload `sender` sends as packet `seq` of `kind`, `len` bytes long (at least the tag).
pub fn payload(sender: u8, kind: Kind, seq: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.max(TAG_LEN));
    out.push(MAGIC);
    out.push(sender);
    out.push(kind as u8);
    out.push(0);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(len as u32).to_be_bytes());
    let seed = (u64::from(sender) << 40) ^ ((kind as u64) << 32) ^ u64::from(seq);
    let mut rng = fastrand::Rng::with_seed(seed);
    while out.len() < len {
        out.push(rng.u8(..));
    }
    out
}

/// Parses a received payload's tag: (sender, kind, seq).
pub fn parse_tag(data: &[u8]) -> Option<(u8, Kind, u32)> {
    if data.len() < TAG_LEN || data[0] != MAGIC {
        return None;
    }
    let kind = match data[2] {
        1 => Kind::Audio,
        2 => Kind::Video,
        _ => return None,
    };
    let seq = u32::from_be_bytes(data[4..8].try_into().ok()?);
    Some((data[1], kind, seq))
}

/// What one participant received from one sender on one kind.
#[derive(Debug, Default, Clone)]
pub struct Flow {
    pub packets: u64,
    pub bytes: u64,
    /// Packets whose bytes differ from what the sender sent.
    pub corrupted: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
    /// End-to-end delays (send to receive), microseconds.
    pub delays_us: Vec<u32>,
}

/// Everything one participant received, by (sender marker, kind).
#[derive(Debug, Default)]
pub struct Received {
    pub flows: HashMap<(u8, Kind), Flow>,
    /// Packets that were not one of the synthetic payloads at all.
    pub foreign: u64,
    /// Stream ids (`msid`) of the tracks that arrived: the publishers' participant ids.
    pub streams: Vec<String>,
    /// Packets received after `mark_removed` was set.
    pub after_removal: u64,
    /// With SFrame on: packets that arrived as SFrame ciphertext and decrypted.
    pub sframe_decrypted: u64,
    /// With SFrame on: packets whose plaintext was readable on the wire (must stay 0), or
    /// that did not decrypt.
    pub plaintext_on_wire: u64,
    pub undecryptable: u64,
}

/// A test participant.
pub struct Client {
    pub id: ParticipantId,
    pub marker: u8,
    pub room: RoomId,
    pc: Arc<dyn PeerConnection>,
    audio: Arc<TrackLocalStaticRTP>,
    video: Arc<TrackLocalStaticRTP>,
    audio_ssrc: u32,
    video_ssrc: u32,
    audio_seq: AtomicU16,
    video_seq: AtomicU16,
    pub received: Arc<Mutex<Received>>,
    video_tracks: Arc<Mutex<Vec<Arc<dyn TrackRemote>>>>,
    pub signals: Arc<Mutex<Vec<String>>>,
    pub removed: Arc<AtomicBool>,
    /// Keyframe requests that reached this participant's video sender.
    pub keyframe_requests: Arc<std::sync::atomic::AtomicU64>,
    /// Keep a copy of every received payload's length only (not bytes) to save memory.
    keep_delays: bool,
}

/// Records what arrives (also the conference service tests' participant, `conf_support`).
pub struct ClientHandler {
    pub candidates: tokio::sync::mpsc::UnboundedSender<IceCandidate>,
    pub video_tracks: Arc<Mutex<Vec<Arc<dyn TrackRemote>>>>,
    pub received: Arc<Mutex<Received>>,
    pub removed: Arc<AtomicBool>,
    pub keep_delays: bool,
    /// Payloads are SFrame ciphertext ([`sframe::open`] them first).
    pub sframe: bool,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ClientHandler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(IceCandidate {
                candidate: init.candidate,
                sdp_mid: Some("0".to_owned()),
                sdp_mline_index: Some(0),
            });
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let stream = track.stream_id().await.to_string();
        self.received.lock().unwrap().streams.push(stream);
        if track.kind().await == RtpCodecKind::Video {
            self.video_tracks.lock().unwrap().push(track.clone());
        }
        let received = self.received.clone();
        let removed = self.removed.clone();
        let keep_delays = self.keep_delays;
        let with_sframe = self.sframe;
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(packet) = event else {
                    continue;
                };
                let now = Instant::now();
                let rtp_ts = packet.header.timestamp;
                let mut r = received.lock().unwrap();
                if removed.load(Ordering::Acquire) {
                    r.after_removal += 1;
                }
                let mut packet = packet;
                if with_sframe {
                    if parse_tag(&packet.payload).is_some() {
                        r.plaintext_on_wire += 1;
                    }
                    match sframe::open(&packet.payload) {
                        Some(plain) => {
                            r.sframe_decrypted += 1;
                            packet.payload = Bytes::from(plain);
                        }
                        None => {
                            r.undecryptable += 1;
                            continue;
                        }
                    }
                }
                let Some((sender, kind, seq)) = parse_tag(&packet.payload) else {
                    r.foreign += 1;
                    continue;
                };
                let expected = payload(sender, kind, seq, packet.payload.len());
                let flow = r.flows.entry((sender, kind)).or_default();
                flow.packets += 1;
                flow.bytes += packet.payload.len() as u64;
                if expected[..] != packet.payload[..] {
                    flow.corrupted += 1;
                }
                flow.first.get_or_insert(now);
                flow.last = Some(now);
                if keep_delays {
                    flow.delays_us.push(delay_of(sender, kind, seq, rtp_ts));
                }
            }
        });
    }
}

/// A send-only local track with a fixed SSRC.
pub fn local_track(kind: RtpCodecKind, name: &str, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    let codec = match kind {
        RtpCodecKind::Audio => media::opus_codec(),
        _ => media::vp8_codec(),
    };
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "self".to_owned(),
        name.to_owned(),
        name.to_owned(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )))
}

/// A loopback peer connection with `handler`, sending `tracks` each on a send-only
/// transceiver of its own, and its offer (already applied locally).
pub async fn sending_peer(
    handler: Arc<ClientHandler>,
    tracks: &[Arc<TrackLocalStaticRTP>],
) -> (Arc<dyn PeerConnection>, String) {
    let pc = loopback_peer(handler).await;
    for track in tracks {
        pc.add_transceiver_from_track(
            track.clone() as Arc<dyn TrackLocal>,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                streams: Vec::new(),
                send_encodings: Vec::new(),
            }),
        )
        .await
        .unwrap();
    }
    let offer = pc.create_offer(None).await.unwrap();
    let sdp = offer.sdp.clone();
    pc.set_local_description(offer).await.unwrap();
    (pc, sdp)
}

static CLIENT_IP: OnceLock<std::net::IpAddr> = OnceLock::new();

/// The address test participants bind: 127.0.0.1 unless [`use_client_ip`] said otherwise.
pub fn client_ip() -> std::net::IpAddr {
    *CLIENT_IP.get_or_init(|| std::net::IpAddr::from([127, 0, 0, 1]))
}

/// Makes test participants bind `ip` (before the first one is built). Janus never gathers
/// loopback candidates, so its tests put the participants on the machine's own address.
pub fn use_client_ip(ip: std::net::IpAddr) {
    let _ = CLIENT_IP.set(ip);
}

/// A peer connection on [`client_ip`] with `handler` and no tracks (it answers offers).
pub async fn loopback_peer(handler: Arc<ClientHandler>) -> Arc<dyn PeerConnection> {
    let (media_engine, registry) = media::media_engine_and_registry().unwrap();
    let setting_engine = SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(28))
        .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(setting_engine)
        .with_runtime(Arc::new(webrtc::runtime::TokioRuntime))
        .with_handler(handler)
        .with_udp_addrs(vec![std::net::SocketAddr::new(client_ip(), 0)])
        .build()
        .await
        .unwrap();
    Arc::new(pc)
}

impl Client {
    /// Builds the connection, offers, joins `room` through `sfu` and starts answering its
    /// offers. `marker` tags this participant's payloads.
    pub async fn join(
        sfu: &Sfu,
        room: RoomId,
        tier: Tier,
        marker: u8,
        keep_delays: bool,
    ) -> Result<Self, SfuError> {
        let backend = Arc::new(EmbeddedBackend { sfu: sfu.clone() });
        Self::join_on(backend, room, tier, marker, keep_delays).await
    }

    /// [`Client::join`] through any media backend; on Janus, the subscriber leg's offers
    /// are answered on a second, receive-only connection.
    pub async fn join_on(
        sfu: Arc<dyn MediaBackend>,
        room: RoomId,
        tier: Tier,
        marker: u8,
        keep_delays: bool,
    ) -> Result<Self, SfuError> {
        let (cand_tx, mut cand_rx) = unbounded_channel();
        let received = Arc::new(Mutex::new(Received::default()));
        let removed = Arc::new(AtomicBool::new(false));
        let video_tracks = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(ClientHandler {
            candidates: cand_tx,
            video_tracks: video_tracks.clone(),
            received: received.clone(),
            removed: removed.clone(),
            keep_delays,
            sframe: false,
        });
        let (audio_ssrc, video_ssrc) = (fastrand::u32(1..), fastrand::u32(1..));
        let audio = local_track(RtpCodecKind::Audio, "audio", audio_ssrc);
        let video = local_track(RtpCodecKind::Video, "video", video_ssrc);
        let (pc, sdp) = sending_peer(handler, &[audio.clone(), video.clone()]).await;

        let id = ParticipantId::random();
        let joined = sfu
            .join(room, tier, id.clone(), sdp, Placement::default())
            .await?;
        pc.set_remote_description(RTCSessionDescription::answer(joined.answer).unwrap())
            .await
            .unwrap();

        // Our candidates to the SFU.
        let (sfu2, id2) = (sfu.clone(), id.clone());
        tokio::spawn(async move {
            while let Some(c) = cand_rx.recv().await {
                if sfu2
                    .add_ice_candidate(room, &id2, Leg::Main, c)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        // The SFU's offers and candidates to us.
        let signals = Arc::new(Mutex::new(Vec::new()));
        let (sfu3, id3, pc3, log, removed3) = (
            sfu.clone(),
            id.clone(),
            pc.clone(),
            signals.clone(),
            removed.clone(),
        );
        let mut rx = joined.signals;
        let received3 = received.clone();
        tokio::spawn(async move {
            let mut sub_pc: Option<Arc<dyn PeerConnection>> = None;
            while let Some(signal) = rx.recv().await {
                log.lock().unwrap().push(format!("{signal:?}"));
                match signal {
                    SfuSignal::Offer(sdp) => {
                        let offer = RTCSessionDescription::offer(sdp).unwrap();
                        if pc3.set_remote_description(offer).await.is_err() {
                            eprintln!("participant {marker}: the SFU's offer was refused");
                            continue;
                        }
                        let Ok(answer) = pc3.create_answer(None).await else {
                            continue;
                        };
                        let sdp = answer.sdp.clone();
                        if pc3.set_local_description(answer).await.is_err() {
                            continue;
                        }
                        let _ = sfu3.apply_answer(room, &id3, Leg::Main, sdp).await;
                    }
                    SfuSignal::Candidate(c) => {
                        let _ = pc3
                            .add_ice_candidate(RTCIceCandidateInit {
                                candidate: c.candidate,
                                sdp_mid: c.sdp_mid,
                                sdp_mline_index: c.sdp_mline_index,
                                ..Default::default()
                            })
                            .await;
                    }
                    SfuSignal::Removed | SfuSignal::RoomEnded => {
                        removed3.store(true, Ordering::Release);
                    }
                    SfuSignal::SubscriberOffer(sdp) => {
                        let sub = match &sub_pc {
                            Some(pc) => pc.clone(),
                            None => {
                                let (tx, mut rx) = unbounded_channel();
                                let handler = Arc::new(ClientHandler {
                                    candidates: tx,
                                    video_tracks: Arc::new(Mutex::new(Vec::new())),
                                    received: received3.clone(),
                                    removed: removed3.clone(),
                                    keep_delays,
                                    sframe: false,
                                });
                                let pc = loopback_peer(handler).await;
                                sub_pc = Some(pc.clone());
                                let (b, id) = (sfu3.clone(), id3.clone());
                                tokio::spawn(async move {
                                    while let Some(c) = rx.recv().await {
                                        let _ = b
                                            .add_ice_candidate(room, &id, Leg::Subscriber, c)
                                            .await;
                                    }
                                });
                                pc
                            }
                        };
                        let offer = RTCSessionDescription::offer(sdp).unwrap();
                        if sub.set_remote_description(offer).await.is_err() {
                            continue;
                        }
                        let Ok(answer) = sub.create_answer(None).await else {
                            continue;
                        };
                        let sdp = answer.sdp.clone();
                        if sub.set_local_description(answer).await.is_err() {
                            continue;
                        }
                        let _ = sfu3.apply_answer(room, &id3, Leg::Subscriber, sdp).await;
                    }
                    // The bench and SFU tests never lose a media server.
                    SfuSignal::Reconnect => {}
                }
            }
        });
        let keyframe_requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (video2, kf) = (video.clone(), keyframe_requests.clone());
        tokio::spawn(async move {
            while let Some(event) = video2.poll().await {
                if let TrackLocalEvent::OnRtcpPacket(_) = event {
                    kf.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Self {
            id,
            marker,
            room,
            pc,
            audio,
            video,
            audio_ssrc,
            video_ssrc,
            audio_seq: AtomicU16::new(fastrand::u16(..)),
            video_seq: AtomicU16::new(fastrand::u16(..)),
            received,
            video_tracks,
            signals,
            removed,
            keyframe_requests,
            keep_delays,
        })
    }

    /// Sends one audio packet of `len` bytes, number `seq`, with audio `level` (-dBov).
    pub async fn send_audio(&self, seq: u32, len: usize, level: u8) -> bool {
        mark_sent(self.marker, Kind::Audio, seq);
        let header = rtp::Header {
            version: 2,
            payload_type: OPUS_PAYLOAD_TYPE,
            sequence_number: self.audio_seq.fetch_add(1, Ordering::Relaxed),
            timestamp: micros_now(),
            ssrc: self.audio_ssrc,
            marker: false,
            ..Default::default()
        };
        let packet = rtp::Packet {
            header,
            payload: Bytes::from(payload(self.marker, Kind::Audio, seq, len)),
        };
        let level = AudioLevelExtension {
            level,
            voice: level < 127,
        };
        self.audio
            .write_rtp_with_extensions(
                packet,
                &[rtp::extension::HeaderExtension::AudioLevel(level)],
            )
            .await
            .is_ok()
    }

    /// Sends one video packet (`marker`: last of a frame).
    pub async fn send_video(&self, seq: u32, len: usize, marker: bool) -> bool {
        mark_sent(self.marker, Kind::Video, seq);
        let header = rtp::Header {
            version: 2,
            payload_type: VP8_PAYLOAD_TYPE,
            sequence_number: self.video_seq.fetch_add(1, Ordering::Relaxed),
            timestamp: micros_now(),
            ssrc: self.video_ssrc,
            marker,
            ..Default::default()
        };
        let packet = rtp::Packet {
            header,
            payload: Bytes::from(payload(self.marker, Kind::Video, seq, len)),
        };
        self.video.write_rtp(packet).await.is_ok()
    }

    /// Sends audio (20 ms packets of `audio_len`) and video (`video_packets_per_s` of
    /// `video_len`) for `span`, at `level`.
    pub async fn stream(
        &self,
        span: Duration,
        level: u8,
        audio_len: usize,
        video_len: usize,
        video_packets_per_s: u32,
    ) {
        let start = Instant::now();
        let mut audio_seq = 0u32;
        let mut video_seq = 0u32;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Video packets owed, in fractions: rates that are not a multiple of 50/s.
        let mut credit = 0.0f64;
        while start.elapsed() < span {
            tick.tick().await;
            self.send_audio(audio_seq, audio_len, level).await;
            audio_seq += 1;
            credit += f64::from(video_packets_per_s) / 50.0;
            while credit >= 1.0 {
                credit -= 1.0;
                self.send_video(video_seq, video_len, credit < 1.0).await;
                video_seq += 1;
            }
        }
    }

    /// Forgets the delays recorded so far (the start of a measurement window).
    pub fn clear_delays(&self) {
        for flow in self.received.lock().unwrap().flows.values_mut() {
            flow.delays_us.clear();
        }
    }

    /// Every delay recorded (microseconds) and the packets received, over all flows.
    pub fn delays_and_packets(&self) -> (Vec<u32>, u64) {
        let r = self.received.lock().unwrap();
        let mut delays = Vec::new();
        let mut packets = 0;
        for flow in r.flows.values() {
            delays.extend_from_slice(&flow.delays_us);
            packets += flow.packets;
        }
        (delays, packets)
    }

    /// Asks, on every received video track, for a keyframe.
    pub async fn request_keyframes(&self) -> usize {
        let mut asked = 0;
        let tracks = self.video_tracks.lock().unwrap().clone();
        for track in tracks {
            let Some(ssrc) = track.ssrcs().await.first().copied() else {
                continue;
            };
            let pli =
                rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: ssrc,
                };
            if track.write_rtcp(vec![Box::new(pli)]).await.is_ok() {
                asked += 1;
            }
        }
        asked
    }

    /// A snapshot of one flow.
    pub fn flow(&self, sender: u8, kind: Kind) -> Flow {
        self.received
            .lock()
            .unwrap()
            .flows
            .get(&(sender, kind))
            .cloned()
            .unwrap_or_default()
    }

    pub async fn close(&self) {
        let _ = self.pc.close().await;
    }
}
