//! The pacer between the encoders and the wire: webrtc-rs's leaky bucket, with the voice
//! let past the queue and headroom over the congestion controller's target.
//!
//! webrtc-rs 0.21 paces every RTP packet through one first-in, first-out queue at exactly
//! the congestion controller's target. On a link that shrinks under a video call, the
//! video the encoder made before the target fell (a second of it at the old rate) then
//! drains at the new, lower rate, and every voice packet waits behind it: the test of a
//! 300 kbit/s bottleneck (`tests/video_yields_to_voice.rs`) saw the target fall and the
//! video encoder go to its floor within two seconds, yet the far end got three voice
//! packets a second out of fifty, and still did 20 s after the cap was lifted, because the
//! queue never drained: it paced at the rate the encoders produced, and the far end's
//! retransmission requests for the packets stuck in it filled it to its 4096-packet limit.
//! libwebrtc's pacer sends audio ahead of video, paces at 2.5 times the target, speeds up
//! so that nothing waits in it for more than a bounded time and limits retransmissions;
//! this does the same (and `peer/mod.rs` limits how often the far end asks again).

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use rtc::interceptor::{
    Attribute, Interceptor, PacerBuilder, PacerInterceptor, Packet, StreamInfo, TaggedPacket,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::marshal::MarshalSize;

/// The pacing rate as a multiple of the congestion controller's target (libwebrtc's
/// pacing factor): room to drain what the encoder overshot, while a keyframe's burst is
/// still spread over a few tens of milliseconds rather than sent at once.
pub(crate) const PACING_FACTOR: f64 = 2.5;

/// The most of the target that retransmissions may take (libwebrtc limits them to the
/// target): beyond it a retransmission the peer asked for is not sent. Without a limit, on
/// a link that drops what overflows, every lost retransmission is asked for again and the
/// sender ends up sending ten times the link's rate in retransmissions.
pub(crate) const RETRANSMISSION_SHARE: f64 = 0.5;

/// The longest the queue may hold packets: past it the pacer speeds up to send it within
/// this time. Short enough that a retransmission the peer asks for arrives before it asks
/// again; long enough to spread a keyframe at a low target over a few frame intervals.
pub(crate) const MAX_QUEUE_TIME: Duration = Duration::from_millis(500);

/// webrtc-rs's pacer with four changes: the voice's packets skip its queue (they are still
/// charged to its budget, so the video behind them waits instead), it paces at
/// [`PACING_FACTOR`] times the target, or faster when that would keep a packet in its queue
/// longer than [`MAX_QUEUE_TIME`], and retransmissions get at most
/// [`RETRANSMISSION_SHARE`] of the target.
pub(crate) struct VoiceFirstPacer {
    inner: PacerInterceptor,
    /// The congestion controller's target, bits/s.
    target: f64,
    /// What the inner pacer holds, bits.
    queued_bits: f64,
    /// The rate that sends the queue within [`MAX_QUEUE_TIME`], kept until it is empty
    /// (lowered as the queue shrinks, the last packet would wait ever longer).
    drain: f64,
    /// What retransmissions may still send, bits (a bucket filled at their share of the
    /// target, holding at most a second of it).
    retransmission_budget: f64,
    /// When the budget was last filled.
    retransmission_refill: Option<Instant>,
    /// Retransmissions not sent for want of budget.
    retransmissions_refused: u64,
    /// The SSRCs of our audio streams.
    voice: HashSet<u32>,
    /// Voice packets ready to go, ahead of anything the pacer holds.
    ready: VecDeque<TaggedPacket>,
}

impl VoiceFirstPacer {
    /// A pacer starting at `PACING_FACTOR` times `initial_target` (bits/s).
    pub(crate) fn new(initial_target: f64) -> Self {
        Self {
            inner: PacerBuilder::new()
                .with_target_bitrate(initial_target * PACING_FACTOR)
                .build(),
            target: initial_target,
            queued_bits: 0.0,
            drain: 0.0,
            retransmission_budget: initial_target * RETRANSMISSION_SHARE,
            retransmission_refill: None,
            retransmissions_refused: 0,
            voice: HashSet::new(),
            ready: VecDeque::new(),
        }
    }

    /// Sets the inner pacer's rate from the target and the queue.
    fn pace(&mut self) {
        if self.queued_bits <= 0.0 {
            self.drain = 0.0;
        }
        self.drain = self
            .drain
            .max(self.queued_bits / MAX_QUEUE_TIME.as_secs_f64());
        let rate = (self.target * PACING_FACTOR).max(self.drain);
        if rate != self.inner.pacer().target_bitrate() {
            self.inner.pacer_mut().set_target_bitrate(rate);
        }
    }

    /// Whether a retransmission of `bits` fits its budget now (and takes it if so).
    fn retransmission_fits(&mut self, now: Instant, bits: f64) -> bool {
        let share = self.target * RETRANSMISSION_SHARE;
        if let Some(last) = self.retransmission_refill {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.retransmission_budget = (self.retransmission_budget + elapsed * share).min(share);
        }
        self.retransmission_refill = Some(now);
        if self.retransmission_budget < bits {
            self.retransmissions_refused += 1;
            return false;
        }
        self.retransmission_budget -= bits;
        true
    }

    fn is_voice(&self, msg: &TaggedPacket) -> bool {
        matches!(&msg.message.packet, Packet::Rtp(rtp) if self.voice.contains(&rtp.header.ssrc))
    }

    /// The rate the pacer runs at now, bits/s.
    #[cfg(test)]
    fn pacing_rate(&self) -> f64 {
        self.inner.pacer().target_bitrate()
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for VoiceFirstPacer {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        let target = match msg.message.get(&Attribute::TargetBitrateChanged {
            bits_per_second: 0.0,
        }) {
            Some(Attribute::TargetBitrateChanged { bits_per_second }) => Some(*bits_per_second),
            _ => None,
        };
        // The inner pacer takes the target as its rate; the headroom is put on after.
        self.inner.handle_read(msg)?;
        if let Some(target) = target {
            self.target = target;
            self.pace();
        }
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inner.poll_read()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        let bits = bits_of(&msg);
        if self.is_voice(&msg) {
            let pacer = self.inner.pacer_mut();
            pacer.refill(msg.now);
            pacer.consume(bits);
            self.ready.push_back(msg);
            return Ok(());
        }
        if msg.message.has(&Attribute::Retransmission) && !self.retransmission_fits(msg.now, bits) {
            return Ok(());
        }
        let refused = self.inner.dropped();
        self.inner.handle_write(msg)?;
        if self.inner.dropped() == refused {
            self.queued_bits += bits;
            self.pace();
        }
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        if let Some(voice) = self.ready.pop_front() {
            return Some(voice);
        }
        let packet = self.inner.poll_write()?;
        self.queued_bits = (self.queued_bits - bits_of(&packet)).max(0.0);
        Some(packet)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.pace();
        self.inner.handle_timeout(now)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}

/// An RTP packet's size as the pacer counts it, bits (RTCP is not paced: 0).
fn bits_of(msg: &TaggedPacket) -> f64 {
    match &msg.message.packet {
        Packet::Rtp(rtp) => (rtp.marshal_size() * 8) as f64,
        _ => 0.0,
    }
}

impl Interceptor for VoiceFirstPacer {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            self.voice.insert(info.ssrc);
        }
        self.inner.bind_local_stream(info);
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.voice.remove(&info.ssrc);
        self.inner.unbind_local_stream(info);
    }

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        self.inner.bind_remote_stream(info);
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.inner.unbind_remote_stream(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::shared::TransportContext;

    const VOICE: u32 = 1;
    const VIDEO: u32 = 2;

    fn rtp(ssrc: u32, sequence_number: u16, len: usize, now: Instant) -> TaggedPacket {
        let mut packet = rtc::rtp::Packet::default();
        packet.header.ssrc = ssrc;
        packet.header.sequence_number = sequence_number;
        packet.payload = vec![0u8; len].into();
        TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtp(packet)),
        }
    }

    fn stream(ssrc: u32, mime_type: &str) -> StreamInfo {
        StreamInfo {
            ssrc,
            mime_type: mime_type.into(),
            ..StreamInfo::default()
        }
    }

    fn ssrc(packet: &TaggedPacket) -> u32 {
        match &packet.message.packet {
            Packet::Rtp(rtp) => rtp.header.ssrc,
            _ => 0,
        }
    }

    fn feedback(target: f64, now: Instant) -> TaggedPacket {
        let mut packet = TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(Vec::new())),
        };
        packet.message.add(Attribute::TargetBitrateChanged {
            bits_per_second: target,
        });
        packet
    }

    fn pacer() -> VoiceFirstPacer {
        let mut pacer = VoiceFirstPacer::new(100_000.0);
        pacer.bind_local_stream(&stream(VOICE, "audio/opus"));
        pacer.bind_local_stream(&stream(VIDEO, "video/VP8"));
        pacer
    }

    #[test]
    fn voice_goes_out_ahead_of_a_video_backlog() {
        let start = Instant::now();
        let mut pacer = pacer();
        for i in 0..100 {
            pacer.handle_write(rtp(VIDEO, i, 1238, start)).unwrap();
        }
        pacer.handle_timeout(start).unwrap();
        pacer.handle_write(rtp(VOICE, 0, 88, start)).unwrap();
        let first = pacer.poll_write().expect("something to send");
        assert_eq!(
            ssrc(&first),
            VOICE,
            "the voice does not wait behind the video"
        );
    }

    #[test]
    fn the_pacer_runs_at_headroom_over_the_target_and_no_backlog_waits_past_the_bound() {
        let start = Instant::now();
        let mut pacer = pacer();
        pacer.handle_read(feedback(100_000.0, start)).unwrap();
        assert_eq!(pacer.pacing_rate(), 100_000.0 * PACING_FACTOR);
        // A second of video at 1 Mbit/s arrives at once: at 250 kbit/s it would wait 4 s
        // (and the peer would ask for it again meanwhile); it leaves within the bound.
        for i in 0..100 {
            pacer.handle_write(rtp(VIDEO, i, 1238, start)).unwrap();
        }
        let mut last = None;
        for ms in (0..=2000).step_by(5) {
            let now = start + Duration::from_millis(ms);
            pacer.handle_timeout(now).unwrap();
            while let Some(packet) = pacer.poll_write() {
                assert_eq!(ssrc(&packet), VIDEO);
                last = Some(ms);
            }
        }
        let last = last.expect("the video left");
        assert!(
            (350..=MAX_QUEUE_TIME.as_millis() as u64 + 60).contains(&last),
            "paced out over the bound, not at once nor later: the last after {last} ms"
        );
        assert_eq!(pacer.queued_bits, 0.0);
        // Retransmissions get half the target: about 50 kbit in a second, not the 1 Mbit
        // asked for.
        let mut resent = 0;
        for ms in (3000..4000).step_by(10) {
            let now = start + Duration::from_millis(ms);
            let mut packet = rtp(VIDEO, ms as u16, 1238, now);
            packet.message.add(Attribute::Retransmission);
            pacer.handle_write(packet).unwrap();
            pacer.handle_timeout(now).unwrap();
            while pacer.poll_write().is_some() {
                resent += 1;
            }
        }
        assert!((4..=11).contains(&resent), "{resent} retransmissions sent");
        assert_eq!(pacer.retransmissions_refused, 100 - resent);
        // Empty again: back to the headroom rate.
        pacer
            .handle_timeout(start + Duration::from_secs(5))
            .unwrap();
        assert_eq!(pacer.pacing_rate(), 100_000.0 * PACING_FACTOR);
    }
}
