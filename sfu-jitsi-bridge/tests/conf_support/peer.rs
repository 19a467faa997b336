//! A conference participant that signals over the service's WebSocket: a real webrtc-rs
//! peer connection (audio and video send-only, optionally a second "screen" video), the
//! payload scheme and receive bookkeeping of `sfu_support`, and a log of every signaling
//! message it gets.

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
use tokio::net::TcpStream;
use tokio::sync::mpsc::unbounded_channel;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCSessionDescription};

use crate::sfu_support::{
    local_track, micros_now, payload, sending_peer, ClientHandler, Flow, Kind, Received,
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>;

/// A participant over the signaling WebSocket.
pub struct Peer {
    pub marker: u8,
    pc: Arc<dyn PeerConnection>,
    audio: Arc<TrackLocalStaticRTP>,
    video: Arc<TrackLocalStaticRTP>,
    audio_ssrc: u32,
    video_ssrc: u32,
    audio_seq: AtomicU16,
    video_seq: AtomicU16,
    pub received: Arc<Mutex<Received>>,
    sink: Sink,
    /// Every message from the service, in order (offers and candidates included).
    pub events: Arc<Mutex<Vec<Value>>>,
    offer: String,
}

impl Peer {
    /// Builds the connection and its offer (`screen`: a second sending video section) and
    /// connects the WebSocket; nothing is sent yet.
    pub async fn connect(url: &str, marker: u8, screen: bool) -> Self {
        let (cand_tx, mut cand_rx) = unbounded_channel();
        let received = Arc::new(Mutex::new(Received::default()));
        let handler = Arc::new(ClientHandler {
            candidates: cand_tx,
            video_tracks: Arc::new(Mutex::new(Vec::new())),
            received: received.clone(),
            removed: Arc::new(AtomicBool::new(false)),
            keep_delays: false,
        });
        let (audio_ssrc, video_ssrc) = (fastrand::u32(1..), fastrand::u32(1..));
        let audio = local_track(RtpCodecKind::Audio, "audio", audio_ssrc);
        let video = local_track(RtpCodecKind::Video, "video", video_ssrc);
        let mut tracks = vec![audio.clone(), video.clone()];
        if screen {
            tracks.push(local_track(
                RtpCodecKind::Video,
                "screen",
                fastrand::u32(1..),
            ));
        }
        let (pc, sdp) = sending_peer(handler, &tracks).await;

        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (sink, mut stream) = ws.split();
        let sink: Sink = Arc::new(tokio::sync::Mutex::new(sink));
        let events = Arc::new(Mutex::new(Vec::new()));

        // Our candidates to the service, once joined (before, there is no one to take them).
        let (joined_tx, mut joined_rx) = tokio::sync::watch::channel(false);
        let sink2 = sink.clone();
        tokio::spawn(async move {
            if joined_rx.wait_for(|joined| *joined).await.is_err() {
                return;
            }
            while let Some(c) = cand_rx.recv().await {
                let message = json!({
                    "v": 1, "type": "candidate", "candidate": c.candidate,
                    "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_mline_index,
                });
                if send_json(&sink2, &message).await.is_err() {
                    return;
                }
            }
        });
        // The service's messages: the SFU's offers answered, candidates added, all logged.
        let (pc2, sink3, log) = (pc.clone(), sink.clone(), events.clone());
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Message::Text(text) = frame else { continue };
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                log.lock().unwrap().push(value.clone());
                match value["type"].as_str() {
                    Some("joined") => {
                        let answer = value["answer"].as_str().unwrap().to_owned();
                        let answer = RTCSessionDescription::answer(answer).unwrap();
                        pc2.set_remote_description(answer).await.unwrap();
                        let _ = joined_tx.send(true);
                    }
                    Some("offer") => {
                        let offer = value["sdp"].as_str().unwrap().to_owned();
                        let offer = RTCSessionDescription::offer(offer).unwrap();
                        if pc2.set_remote_description(offer).await.is_err() {
                            continue;
                        }
                        let Ok(answer) = pc2.create_answer(None).await else {
                            continue;
                        };
                        let sdp = answer.sdp.clone();
                        if pc2.set_local_description(answer).await.is_err() {
                            continue;
                        }
                        let message = json!({ "v": 1, "type": "answer", "sdp": sdp });
                        let _ = send_json(&sink3, &message).await;
                    }
                    Some("candidate") => {
                        let _ = pc2
                            .add_ice_candidate(RTCIceCandidateInit {
                                candidate: value["candidate"].as_str().unwrap_or("").to_owned(),
                                sdp_mid: value["sdpMid"].as_str().map(str::to_owned),
                                sdp_mline_index: value["sdpMLineIndex"].as_u64().map(|i| i as u16),
                                ..Default::default()
                            })
                            .await;
                    }
                    _ => {}
                }
            }
        });
        Self {
            marker,
            pc,
            audio,
            video,
            audio_ssrc,
            video_ssrc,
            audio_seq: AtomicU16::new(fastrand::u16(..)),
            video_seq: AtomicU16::new(fastrand::u16(..)),
            received,
            sink,
            events,
            offer: sdp,
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

    /// Sends audio and video packets every 20 ms for `span`.
    pub async fn stream(&self, span: Duration) {
        let start = Instant::now();
        let mut n = 0u32;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        while start.elapsed() < span {
            tick.tick().await;
            for (kind, track, ssrc, pt, len, seq) in [
                (
                    Kind::Audio,
                    &self.audio,
                    self.audio_ssrc,
                    OPUS_PAYLOAD_TYPE,
                    100,
                    &self.audio_seq,
                ),
                (
                    Kind::Video,
                    &self.video,
                    self.video_ssrc,
                    VP8_PAYLOAD_TYPE,
                    600,
                    &self.video_seq,
                ),
            ] {
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
                    payload: Bytes::from(payload(self.marker, kind, n, len)),
                };
                let _ = track.write_rtp(packet).await;
            }
            n += 1;
        }
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

    pub async fn close(&self) {
        let _ = self.pc.close().await;
    }
}

async fn send_json(sink: &Sink, value: &Value) -> Result<(), ()> {
    sink.lock()
        .await
        .send(Message::Text(value.to_string().into()))
        .await
        .map_err(|_| ())
}
