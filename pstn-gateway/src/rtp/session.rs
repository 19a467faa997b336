//! The media task of one call: a UDP socket carrying G.711 or Opus RTP both ways.
//!
//! - Receive: packets from the negotiated remote IP only (anything else is counted and
//!   dropped: an open RTP port is otherwise an injection point), audio into the jitter
//!   buffer, telephone-events to the key channel at once (no jitter delay for keys).
//! - Every 20 ms: one decoded frame (silence when nothing is due) to `audio_from_phone`;
//!   the tick follows the packets' phase ([`super::playout`]), so a packet waits about
//!   the same few ms for it in every call.
//! - Send: each frame from `audio_to_phone` is encoded and sent as it comes (the bridge
//!   paces them at 20 ms); a key press replaces audio for its 100 ms and its end packets.
//! - With SRTP ([`run_secure`]) every packet is protected before it is sent, and a
//!   received one that fails its authentication tag or the replay check is dropped like
//!   any other stray datagram: never played as audio, never taken as plain RTP.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::codec::LegCodec;
use super::dtmf::{self, DtmfReceiver, EventPayload};
use super::jitter::{JitterBuffer, Slot, PREFILL};
use super::packet::RtpPacket;
use super::playout::PlayoutClock;
use super::srtp::SrtpSession;
use crate::sdp::{MediaDirection, Negotiated};

/// One 20 ms frame: 160 samples of 16-bit PCM at 8 kHz.
pub type PhoneFrame = Vec<i16>;
/// Samples per frame.
pub const FRAME_SAMPLES: usize = 160;
/// Frame duration.
pub const FRAME_TIME: Duration = Duration::from_millis(20);

/// Counters of one media session.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// RTP packets received and used.
    pub received: AtomicU64,
    /// Datagrams dropped: wrong source, not RTP, unknown payload type.
    pub dropped: AtomicU64,
    /// RTP packets sent (audio and events).
    pub sent: AtomicU64,
}

/// The call-side ends of a media session's channels.
pub struct MediaChannels {
    /// Decoded frames toward the bridge.
    pub from_phone: mpsc::Sender<PhoneFrame>,
    /// Frames from the bridge to send.
    pub to_phone: mpsc::Receiver<PhoneFrame>,
    /// Keys received.
    pub keys_from_phone: mpsc::Sender<char>,
    /// Keys to send.
    pub keys_to_phone: mpsc::Receiver<char>,
}

/// Where and how to send, changeable by a re-INVITE.
pub type MediaTarget = watch::Receiver<Negotiated>;

struct Sender {
    ssrc: u32,
    seq: u16,
    /// Timestamp of the next audio frame.
    ts: u32,
    /// Packets of the key press being sent, one per tick, and its start timestamp.
    event: VecDeque<(bool, EventPayload)>,
    event_ts: u32,
    queued_keys: VecDeque<u8>,
}

impl Sender {
    fn packet(&mut self, marker: bool, pt: u8, ts: u32, payload: &[u8]) -> Vec<u8> {
        let bytes = RtpPacket {
            marker,
            payload_type: pt,
            sequence: self.seq,
            timestamp: ts,
            ssrc: self.ssrc,
            payload,
        }
        .to_bytes();
        self.seq = self.seq.wrapping_add(1);
        bytes
    }
}

/// How long the phone side may stay silent (no RTP at all) while the call is in
/// send-receive, and whom to tell when it has: the driver ends the call.
pub struct Silence {
    /// The longest gap between received packets.
    pub timeout: Duration,
    /// Told once, then the media task ends; `None`: never.
    pub lost: Option<oneshot::Sender<()>>,
}

/// Runs a call's media until `stop` is cancelled, the call's channels close, or the phone
/// side goes silent past `silence.timeout`.
pub async fn run(
    socket: UdpSocket,
    target: MediaTarget,
    channels: MediaChannels,
    stats: Arc<MediaStats>,
    stop: CancellationToken,
    silence: Silence,
) {
    run_secure(socket, target, channels, stats, stop, silence, None).await;
}

/// Protects a packet for sending when the call uses SRTP.
fn seal(srtp: &mut Option<SrtpSession>, bytes: Vec<u8>) -> Option<Vec<u8>> {
    match srtp {
        Some(session) => session.protect(&bytes),
        None => Some(bytes),
    }
}

/// [`run`] with SRTP when `srtp` is given.
pub async fn run_secure(
    socket: UdpSocket,
    mut target: MediaTarget,
    mut channels: MediaChannels,
    stats: Arc<MediaStats>,
    stop: CancellationToken,
    mut silence: Silence,
    mut srtp: Option<SrtpSession>,
) {
    let mut rx = Inbound {
        jitter: JitterBuffer::default(),
        keys: DtmfReceiver::default(),
        audio_ssrc: None,
        playout: PlayoutClock::default(),
        last_heard: Instant::now(),
        next_tick: tokio::time::Instant::now(),
    };
    let mut tx = Sender {
        ssrc: rand::random(),
        seq: rand::random(),
        ts: rand::random(),
        event: VecDeque::new(),
        event_ts: 0,
        queued_keys: VecDeque::new(),
    };
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(FRAME_TIME);
    // Ticks missed while the task could not run (a loaded machine) are caught up at
    // once: the phone kept sending in real time, and a delayed clock would keep every
    // stall as added delay for the rest of the call.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut first_audio = true;
    let mut codec_in_use = target.borrow().codec;
    let mut codec = LegCodec::new(codec_in_use);
    loop {
        let media = *target.borrow_and_update();
        if media.codec != codec_in_use {
            codec_in_use = media.codec;
            codec = LegCodec::new(codec_in_use);
        }
        let ticks = LegCodec::frame_ticks(media.codec);
        let may_send = matches!(
            media.direction,
            MediaDirection::SendRecv | MediaDirection::SendOnly
        );
        tokio::select! {
            _ = stop.cancelled() => break,
            changed = target.changed() => {
                if changed.is_err() {
                    break;
                }
                // Hold and resume restart the count.
                rx.last_heard = Instant::now();
            }
            received = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { continue };
                let keys_out = &channels.keys_from_phone;
                if let Some(at) = rx.take(&buf[..len], from, &media, &mut srtp, &stats, keys_out) {
                    tick.reset_at(at);
                }
            }
            due = tick.tick() => {
                rx.next_tick = due + FRAME_TIME;
                // Datagrams that came while this task could not run (a loaded machine)
                // are taken before the frame due now is looked for: a stall of ours is
                // not a late packet. Bounded, so a flood cannot hold the tick.
                let was_playing = rx.jitter.is_playing();
                let mut moved = None;
                for _ in 0..DRAIN_AT_TICK {
                    let Ok((len, from)) = socket.try_recv_from(&mut buf) else { break };
                    let keys_out = &channels.keys_from_phone;
                    if let Some(at) = rx.take(&buf[..len], from, &media, &mut srtp, &stats, keys_out) {
                        moved = Some(at);
                    }
                }
                if let Some(at) = moved {
                    tick.reset_at(at);
                }
                // A packet just taken restarted playout: it plays at its own tick, a
                // margin from now; this one conceals, as it would have.
                let restarted = !was_playing && moved.is_some();
                if media.direction == MediaDirection::SendRecv
                    && rx.last_heard.elapsed() > silence.timeout
                {
                    if let Some(lost) = silence.lost.take() {
                        let _ = lost.send(());
                        break;
                    }
                }
                let slot = if restarted { Slot::Missing } else { rx.jitter.pop() };
                let frame = match slot {
                    Slot::Frame(bytes) => codec.decode(Some(&bytes)),
                    Slot::Missing => codec.decode(None),
                };
                // A full channel means the bridge is behind: dropping keeps latency bounded.
                if channels.from_phone.try_send(frame).is_err() && channels.from_phone.is_closed() {
                    break;
                }
                if may_send {
                    send_event_step(&socket, &mut tx, &media, &stats, &mut srtp, ticks).await;
                }
            }
            frame = channels.to_phone.recv() => {
                let Some(frame) = frame else { break };
                if !may_send || !tx.event.is_empty() {
                    // During a key press the event stands in for audio; time still moves.
                    tx.ts = tx.ts.wrapping_add(ticks);
                    continue;
                }
                let payload = codec.encode(&frame);
                if payload.is_empty() {
                    // No encoder (see `LegCodec::Unsupported`): nothing rather than garbage.
                    tx.ts = tx.ts.wrapping_add(ticks);
                    continue;
                }
                let bytes = tx.packet(first_audio, media.codec_pt, tx.ts, &payload);
                first_audio = false;
                tx.ts = tx.ts.wrapping_add(ticks);
                let Some(bytes) = seal(&mut srtp, bytes) else { continue };
                if socket.send_to(&bytes, media.remote).await.is_ok() {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            key = channels.keys_to_phone.recv() => {
                let Some(key) = key else { break };
                if let (Some(event), Some(_)) = (dtmf::event_of(key), media.dtmf_pt) {
                    tx.queued_keys.push_back(event);
                }
            }
        }
    }
}

/// Most datagrams taken at a tick before its frame is looked for.
const DRAIN_AT_TICK: usize = 16;

/// The receive side of a media session: what arrived, waiting for the playout tick.
struct Inbound {
    jitter: JitterBuffer<Vec<u8>>,
    keys: DtmfReceiver,
    /// The audio stream's SSRC: a new one (a restarted stream) resets the jitter buffer,
    /// and telephone-events from another SSRC leave the audio's sequence alone.
    audio_ssrc: Option<u32>,
    playout: PlayoutClock,
    /// Packets, not sound: carriers send RTP (comfort noise included) all through a call
    /// that is not on hold, so a long gap means the far end is gone.
    last_heard: Instant,
    /// When the next playout tick is due.
    next_tick: tokio::time::Instant,
}

impl Inbound {
    /// Takes one datagram from `from`: audio into the jitter buffer, a key to
    /// `keys_out`, anything else counted as dropped. Returns where the playout tick must
    /// move, if it must.
    fn take(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        media: &Negotiated,
        srtp: &mut Option<SrtpSession>,
        stats: &MediaStats,
        keys_out: &mpsc::Sender<char>,
    ) -> Option<tokio::time::Instant> {
        let dropped = || {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            None
        };
        if from.ip() != media.remote.ip() {
            return dropped();
        }
        let opened;
        let data = match srtp.as_mut() {
            Some(session) => match session.unprotect(datagram) {
                Some(plain) => {
                    opened = plain;
                    &opened[..]
                }
                None => return dropped(),
            },
            None => datagram,
        };
        let Ok(packet) = RtpPacket::parse(data) else {
            return dropped();
        };
        let mut moved = None;
        if packet.payload_type == media.codec_pt {
            if self.audio_ssrc != Some(packet.ssrc) {
                self.audio_ssrc = Some(packet.ssrc);
                self.jitter = JitterBuffer::default();
            }
            self.jitter.push(packet.sequence, packet.payload.to_vec());
            let now = tokio::time::Instant::now();
            if !self.jitter.is_playing() {
                if self.jitter.len() == PREFILL {
                    // This packet starts playout: its tick a margin from now.
                    self.next_tick = self.playout.start(now);
                    moved = Some(self.next_tick);
                }
            } else {
                let ahead = u32::try_from(self.jitter.len().saturating_sub(1)).unwrap_or(0);
                let plays_at = self.next_tick + FRAME_TIME * ahead;
                if let Some(at) = self.playout.arrived(now, plays_at, self.next_tick) {
                    self.next_tick = at.max(now);
                    moved = Some(at);
                }
            }
        } else if Some(packet.payload_type) == media.dtmf_pt {
            if self.audio_ssrc == Some(packet.ssrc) {
                // Keeps the sequence numbers contiguous: the slot plays as silence.
                self.jitter.push(packet.sequence, Vec::new());
            }
            if let Some(key) = self.keys.receive(packet.timestamp, packet.payload) {
                let _ = keys_out.try_send(key);
            }
        } else {
            return dropped();
        }
        stats.received.fetch_add(1, Ordering::Relaxed);
        self.last_heard = Instant::now();
        moved
    }
}

/// Sends the next packet of the key press in progress, starting the next queued one.
async fn send_event_step(
    socket: &UdpSocket,
    tx: &mut Sender,
    media: &Negotiated,
    stats: &MediaStats,
    srtp: &mut Option<SrtpSession>,
    ticks: u32,
) {
    let Some(pt) = media.dtmf_pt else { return };
    if tx.event.is_empty() {
        let Some(event) = tx.queued_keys.pop_front() else {
            return;
        };
        // Durations in the audio's clock, like the timestamps: baresip does the same beside
        // Opus even under telephone-event/8000, and a receiver reading them as 8 kHz
        // plays the key longer, never too short for a detector (docs/decisions.md).
        tx.event = dtmf::key_press(event, u16::try_from(ticks).unwrap_or(u16::MAX)).into();
        tx.event_ts = tx.ts;
    }
    if let Some((marker, payload)) = tx.event.pop_front() {
        let bytes = tx.packet(marker, pt, tx.event_ts, &payload.to_bytes());
        let sealed = seal(srtp, bytes);
        if let Some(bytes) = sealed {
            if socket.send_to(&bytes, media.remote).await.is_ok() {
                stats.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        if tx.event.is_empty() {
            // The next audio frame starts after the event's duration.
            tx.ts = tx.event_ts.wrapping_add(u32::from(payload.duration));
        }
    }
}

/// Binds an RTP socket on `ip`, any free port.
pub async fn bind(ip: std::net::IpAddr) -> std::io::Result<(UdpSocket, SocketAddr)> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let local = socket.local_addr()?;
    Ok((socket, local))
}
