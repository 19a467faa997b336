//! A conference participant that signals over the service's WebSocket: a real webrtc-rs
//! peer connection (audio and video send-only, optionally a second "screen" video), the
//! payload scheme and receive bookkeeping of `sfu_support`, and a log of every signaling
//! message it gets.
//!
//! On backends with a separate receiving connection (Janus), it answers the service's
//! `offer`s of the `subscriber` leg on a second, receive-only connection; on `reconnect`
//! it replaces both connections and sends `rejoin` with a new offer. With
//! [`PeerOptions::sframe`] its payloads are real SFrame ciphertext.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt as _, StreamExt as _};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::{json, Value};
use sfu_jitsi_bridge::sfu::media::{OPUS_PAYLOAD_TYPE, VP8_PAYLOAD_TYPE};
use sfu_jitsi_bridge::sfu::IceCandidate;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCSessionDescription};

use crate::sfu_support::{
    local_track, loopback_peer, mark_sent, micros_now, payload, sending_peer, sframe,
    ClientHandler, Flow, Kind, Received,
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>;

/// How a participant behaves beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    /// A second sending video section (a screen share).
    pub screen: bool,
    /// Payloads are SFrame ciphertext (sealed on send, opened on receipt).
    pub sframe: bool,
    /// The region sent with `join`.
    pub region: Option<String>,
    /// Keep every received packet's delay (benches).
    pub keep_delays: bool,
}

/// The connections of one generation (a `reconnect` makes a new one).
struct Media {
    pc: Arc<dyn PeerConnection>,
    sub: Option<Arc<dyn PeerConnection>>,
    audio: Arc<TrackLocalStaticRTP>,
    video: Arc<TrackLocalStaticRTP>,
    /// Set once the service took the main leg's offer: candidates may go then.
    ready: watch::Sender<bool>,
}

/// What the signaling task shares with the participant.
struct Shared {
    marker: u8,
    options: PeerOptions,
    audio_ssrc: u32,
    video_ssrc: u32,
    screen_ssrc: u32,
    received: Arc<Mutex<Received>>,
    sink: Sink,
    /// `None` only while the participant is built.
    media: tokio::sync::Mutex<Option<Media>>,
    /// When each `rejoined` arrived.
    rejoined_at: Mutex<Vec<Instant>>,
}

/// A participant over the signaling WebSocket.
pub struct Peer {
    pub marker: u8,
    shared: Arc<Shared>,
    audio_seq: AtomicU16,
    video_seq: AtomicU16,
    pub received: Arc<Mutex<Received>>,
    sink: Sink,
    /// Every message from the service, in order (offers and candidates included).
    pub events: Arc<Mutex<Vec<Value>>>,
    offer: String,
}

impl Shared {
    fn handler(&self) -> (Arc<ClientHandler>, UnboundedReceiver<IceCandidate>) {
        let (cand_tx, cand_rx) = unbounded_channel();
        let handler = Arc::new(ClientHandler {
            candidates: cand_tx,
            video_tracks: Arc::new(Mutex::new(Vec::new())),
            received: self.received.clone(),
            removed: Arc::new(AtomicBool::new(false)),
            keep_delays: self.options.keep_delays,
            sframe: self.options.sframe,
        });
        (handler, cand_rx)
    }

    /// A new sending connection, its offer, and a `ready` flag gating its candidates.
    async fn sending(self: &Arc<Self>) -> (Media, String) {
        let (handler, cand_rx) = self.handler();
        let audio = local_track(RtpCodecKind::Audio, "audio", self.audio_ssrc);
        let video = local_track(RtpCodecKind::Video, "video", self.video_ssrc);
        let mut tracks = vec![audio.clone(), video.clone()];
        if self.options.screen {
            tracks.push(local_track(RtpCodecKind::Video, "screen", self.screen_ssrc));
        }
        let (pc, sdp) = sending_peer(handler, &tracks).await;
        let (ready, ready_rx) = watch::channel(false);
        tokio::spawn(forward_candidates(
            self.sink.clone(),
            cand_rx,
            Some(ready_rx),
            "main",
        ));
        let media = Media {
            pc,
            sub: None,
            audio,
            video,
            ready,
        };
        (media, sdp)
    }

    /// Handles one message from the service.
    async fn on_message(self: &Arc<Self>, value: &Value) {
        match value["type"].as_str() {
            Some("joined") | Some("rejoined") => {
                let answer = value["answer"].as_str().unwrap().to_owned();
                let answer = RTCSessionDescription::answer(answer).unwrap();
                let guard = self.media.lock().await;
                let Some(media) = guard.as_ref() else { return };
                media.pc.set_remote_description(answer).await.unwrap();
                let _ = media.ready.send(true);
                if value["type"] == "rejoined" {
                    self.rejoined_at.lock().unwrap().push(Instant::now());
                }
            }
            Some("offer") => {
                let sdp = value["sdp"].as_str().unwrap().to_owned();
                let subscriber = value["leg"] == "subscriber";
                let pc = {
                    let mut guard = self.media.lock().await;
                    let Some(media) = guard.as_mut() else { return };
                    if !subscriber {
                        media.pc.clone()
                    } else if let Some(sub) = &media.sub {
                        sub.clone()
                    } else {
                        let (handler, cand_rx) = self.handler();
                        let sub = loopback_peer(handler).await;
                        media.sub = Some(sub.clone());
                        tokio::spawn(forward_candidates(
                            self.sink.clone(),
                            cand_rx,
                            None,
                            "subscriber",
                        ));
                        sub
                    }
                };
                let offer = RTCSessionDescription::offer(sdp).unwrap();
                if pc.set_remote_description(offer).await.is_err() {
                    return;
                }
                let Ok(answer) = pc.create_answer(None).await else {
                    return;
                };
                let sdp = answer.sdp.clone();
                if pc.set_local_description(answer).await.is_err() {
                    return;
                }
                let mut message = json!({ "v": 1, "type": "answer", "sdp": sdp });
                if subscriber {
                    message["leg"] = json!("subscriber");
                }
                let _ = send_json(&self.sink, &message).await;
            }
            Some("candidate") => {
                let Some(pc) = self.media.lock().await.as_ref().map(|m| m.pc.clone()) else {
                    return;
                };
                let _ = pc
                    .add_ice_candidate(RTCIceCandidateInit {
                        candidate: value["candidate"].as_str().unwrap_or("").to_owned(),
                        sdp_mid: value["sdpMid"].as_str().map(str::to_owned),
                        sdp_mline_index: value["sdpMLineIndex"].as_u64().map(|i| i as u16),
                        ..Default::default()
                    })
                    .await;
            }
            Some("reconnect") => {
                let (media, offer) = self.sending().await;
                let old = self.media.lock().await.replace(media);
                if let Some(old) = old {
                    let _ = old.pc.close().await;
                    if let Some(sub) = old.sub {
                        let _ = sub.close().await;
                    }
                }
                let message = json!({ "v": 1, "type": "rejoin", "offer": offer });
                let _ = send_json(&self.sink, &message).await;
            }
            _ => {}
        }
    }
}

/// Sends a connection's candidates on `leg`, once `ready` (if given) is set.
async fn forward_candidates(
    sink: Sink,
    mut candidates: UnboundedReceiver<IceCandidate>,
    ready: Option<watch::Receiver<bool>>,
    leg: &'static str,
) {
    if let Some(mut ready) = ready {
        if ready.wait_for(|r| *r).await.is_err() {
            return;
        }
    }
    while let Some(c) = candidates.recv().await {
        let mut message = json!({
            "v": 1, "type": "candidate", "candidate": c.candidate,
            "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_mline_index,
        });
        if leg == "subscriber" {
            message["leg"] = json!("subscriber");
        }
        if send_json(&sink, &message).await.is_err() {
            return;
        }
    }
}

impl Peer {
    /// Builds the connection and its offer (`screen`: a second sending video section) and
    /// connects the WebSocket; nothing is sent yet.
    pub async fn connect(url: &str, marker: u8, screen: bool) -> Self {
        Self::connect_with(
            url,
            marker,
            PeerOptions {
                screen,
                ..PeerOptions::default()
            },
        )
        .await
    }

    /// [`Peer::connect`] with options.
    pub async fn connect_with(url: &str, marker: u8, options: PeerOptions) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (sink, mut stream) = ws.split();
        let sink: Sink = Arc::new(tokio::sync::Mutex::new(sink));
        let received = Arc::new(Mutex::new(Received::default()));
        let shared = Arc::new(Shared {
            marker,
            options,
            audio_ssrc: fastrand::u32(1..),
            video_ssrc: fastrand::u32(1..),
            screen_ssrc: fastrand::u32(1..),
            received: received.clone(),
            sink: sink.clone(),
            media: tokio::sync::Mutex::new(None),
            rejoined_at: Mutex::new(Vec::new()),
        });
        let (media, offer) = shared.sending().await;
        *shared.media.lock().await = Some(media);

        let events = Arc::new(Mutex::new(Vec::new()));
        let (log, shared2) = (events.clone(), shared.clone());
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Message::Text(text) = frame else { continue };
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                log.lock().unwrap().push(value.clone());
                shared2.on_message(&value).await;
            }
        });
        Self {
            marker,
            shared,
            audio_seq: AtomicU16::new(fastrand::u16(..)),
            video_seq: AtomicU16::new(fastrand::u16(..)),
            received,
            sink,
            events,
            offer,
        }
    }

    /// Sends `join` (with `token`, or anonymously) and waits for `joined` or an error.
    pub async fn join(&self, room: &str, token: Option<&str>) -> Value {
        let mut message = json!({
            "v": 1, "type": "join", "room": room,
            "display_name": format!("  participant {}  ", self.marker), "offer": self.offer,
        });
        if let Some(t) = token {
            message["token"] = json!(t);
        }
        if let Some(region) = &self.shared.options.region {
            message["region"] = json!(region);
        }
        self.send(&message).await;
        self.wait_for(|v| v["type"] == "joined" || v["type"] == "error")
            .await
    }

    /// Sends a message.
    pub async fn send(&self, message: &Value) {
        send_json(&self.sink, message).await.unwrap();
    }

    /// Waits (10 s at most) for a message matching `pred` and returns it.
    pub async fn wait_for(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(v) = self.events.lock().unwrap().iter().find(|v| pred(v)) {
                return v.clone();
            }
            assert!(
                Instant::now() < deadline,
                "participant {}: no such message; got {:?}",
                self.marker,
                self.types()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether a message received so far matches `pred`.
    pub fn events_match(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.events.lock().unwrap().iter().any(pred)
    }

    /// Forgets the messages received so far.
    pub fn clear_events(&self) {
        self.events.lock().unwrap().clear();
    }

    /// The types of the messages received so far.
    pub fn types(&self) -> Vec<String> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .map(|v| v["type"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    /// When each `rejoined` arrived.
    pub fn rejoined_at(&self) -> Vec<Instant> {
        self.shared.rejoined_at.lock().unwrap().clone()
    }

    /// Sends audio and video packets every 20 ms for `span`.
    pub async fn stream(&self, span: Duration) {
        let start = Instant::now();
        let mut n = 0u32;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let sframe = self.shared.options.sframe;
        while start.elapsed() < span {
            tick.tick().await;
            let Some((audio, video)) = self
                .shared
                .media
                .lock()
                .await
                .as_ref()
                .map(|m| (m.audio.clone(), m.video.clone()))
            else {
                return;
            };
            for (kind, track, ssrc, pt, len, seq) in [
                (
                    Kind::Audio,
                    &audio,
                    self.shared.audio_ssrc,
                    OPUS_PAYLOAD_TYPE,
                    100,
                    &self.audio_seq,
                ),
                (
                    Kind::Video,
                    &video,
                    self.shared.video_ssrc,
                    VP8_PAYLOAD_TYPE,
                    600,
                    &self.video_seq,
                ),
            ] {
                mark_sent(self.marker, kind, n);
                let plain = payload(self.marker, kind, n, len);
                let data = if sframe {
                    // A distinct frame counter per kind and packet, as a sender's would be.
                    let ctr = (u64::from(kind as u8) << 32) | u64::from(n);
                    sframe::seal(self.marker, ctr, &plain)
                } else {
                    plain
                };
                let packet = rtp::Packet {
                    header: rtp::Header {
                        version: 2,
                        payload_type: pt,
                        sequence_number: seq.fetch_add(1, Ordering::Relaxed),
                        timestamp: micros_now(),
                        ssrc,
                        marker: kind == Kind::Video,
                        ..Default::default()
                    },
                    payload: Bytes::from(data),
                };
                let _ = track.write_rtp(packet).await;
            }
            n += 1;
        }
    }

    /// Every delay recorded (microseconds) and the packets and payload bytes received.
    pub fn totals(&self) -> (Vec<u32>, u64, u64) {
        let r = self.received.lock().unwrap();
        let mut delays = Vec::new();
        let (mut packets, mut bytes) = (0, 0);
        for flow in r.flows.values() {
            delays.extend_from_slice(&flow.delays_us);
            packets += flow.packets;
            bytes += flow.bytes;
        }
        (delays, packets, bytes)
    }

    /// What arrived from `sender` of `kind`.
    pub fn flow(&self, sender: u8, kind: Kind) -> Flow {
        self.received
            .lock()
            .unwrap()
            .flows
            .get(&(sender, kind))
            .cloned()
            .unwrap_or_default()
    }

    /// Closes the WebSocket without a `leave`: to the service, a lost connection.
    pub async fn drop_connection(&self) {
        let _ = self.sink.lock().await.close().await;
        self.close().await;
    }

    pub async fn close(&self) {
        let guard = self.shared.media.lock().await;
        if let Some(media) = guard.as_ref() {
            let _ = media.pc.close().await;
            if let Some(sub) = &media.sub {
                let _ = sub.close().await;
            }
        }
    }
}

async fn send_json(sink: &Sink, value: &Value) -> Result<(), ()> {
    sink.lock()
        .await
        .send(Message::Text(value.to_string().into()))
        .await
        .map_err(|_| ())
}

/// Streams from every peer for `span`, each on its own task (abort them to stop early).
pub fn stream_all(peers: &[Arc<Peer>], span: Duration) -> Vec<tokio::task::JoinHandle<()>> {
    peers
        .iter()
        .map(|p| {
            let p = p.clone();
            tokio::spawn(async move { p.stream(span).await })
        })
        .collect()
}
