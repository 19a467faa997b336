//! Playout (jitter) buffer: orders incoming 20 ms Opus packets and hands one to the
//! playout thread every 20 ms, or tells it to conceal a missing one or to wait.
//!
//! Sequence numbers are unwrapped to 64 bits, so reordering across the 65535 -> 0 wrap
//! is ordinary reordering. Each packet is assumed to hold one 20 ms frame (what
//! [`super::OpusEncoder`] produces), or one frame of the duration given to
//! [`PlayoutBuffer::with_frame_duration`] (the Bluetooth voice path's 40 ms packets);
//! timestamps are in 48 kHz units either way.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::frame::{FRAME_DURATION, SAMPLE_RATE};

/// Settings of a [`PlayoutBuffer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlayoutConfig {
    /// Audio held before playing starts (and after an underrun). Raised automatically when
    /// the measured jitter needs more, never above `max_delay`.
    pub target_delay: Duration,
    /// Most audio held; beyond it the oldest packets are dropped.
    pub max_delay: Duration,
}

impl Default for PlayoutConfig {
    fn default() -> Self {
        PlayoutConfig {
            target_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(200),
        }
    }
}

/// What the playout thread should do for the next frame (20 ms unless the buffer was made
/// with another frame duration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout {
    /// Decode and play this packet.
    Packet(Vec<u8>),
    /// A packet is missing or late: play the decoder's concealment
    /// (`OpusDecoder::decode(None)`).
    Conceal,
    /// A packet is missing but the next one is here: rebuild the missing frame from the
    /// next packet's in-band FEC (`OpusDecoder::recover`); the next packet still plays on
    /// its own turn.
    Recover(Vec<u8>),
    /// Nothing to play yet (priming, or the stream has paused): play silence, and do not
    /// run the decoder.
    Wait,
    /// The sender is in discontinuous transmission (its last packet was an Opus DTX frame,
    /// RFC 7587 section 3.4: it sends nothing while its side is silent): play the
    /// decoder's comfort noise (`OpusDecoder::decode(None)`). Not a loss.
    Comfort,
}

/// Largest Opus payload that is a DTX frame: a table-of-contents byte with no audio
/// (libopus codes one while discontinuous transmission is on and the input is silent).
pub const DTX_FRAME_MAX_BYTES: usize = 2;

/// Whether `payload` is an Opus DTX frame ([`DTX_FRAME_MAX_BYTES`] or fewer bytes).
pub fn is_dtx_frame(payload: &[u8]) -> bool {
    payload.len() <= DTX_FRAME_MAX_BYTES
}

/// Counters and state of a [`PlayoutBuffer`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlayoutStats {
    /// Every packet pushed, including duplicates and late ones.
    pub received: u64,
    /// Packets that arrived after their turn had passed (dropped).
    pub late: u64,
    /// Turns concealed because their packet was missing while later ones were there, or
    /// skipped over when the buffer resynchronised.
    pub lost: u64,
    /// Lost turns rebuilt from the next packet's in-band FEC (also counted in `lost`).
    pub recovered: u64,
    /// Packets received twice (the copy is dropped).
    pub duplicates: u64,
    /// Packets dropped to keep the buffer within `max_delay` or to bring the delay back
    /// down to the target.
    pub discarded: u64,
    /// Times the buffer ran empty while playing.
    pub underruns: u64,
    /// Times the stream was taken up afresh (after a long gap or a sequence jump).
    pub resyncs: u64,
    /// Turns played as comfort noise while the sender was in discontinuous transmission
    /// (not lost: it sent nothing).
    pub comfort: u64,
    /// Audio held now, in ms, from the next packet to play to the newest one (holes
    /// included).
    pub depth_ms: u32,
    /// The target delay in force now (configured, or raised for jitter), in ms.
    pub target_ms: u32,
    /// Interarrival jitter (RFC 3550, section 6.4.1), in ms.
    pub jitter_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Collecting packets until the target delay is reached.
    Priming,
    Playing,
    /// Ran empty while playing: concealing, without moving on, until the target delay is
    /// reached again (this is how the delay grows when the network needs it).
    Rebuffering {
        since: Instant,
    },
}

#[derive(Debug)]
struct Entry {
    payload: Vec<u8>,
    rtp_timestamp: u32,
    arrival: Instant,
}

/// The sender's discontinuous transmission, as the buffer follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dtx {
    /// The RTP timestamp of the turn being played now (the DTX frame's, advanced a frame
    /// per turn): the packet that ends the silence plays when its timestamp comes up, so
    /// the delay before and after the silence is the same.
    turn_timestamp: u32,
    /// When the buffer last got a packet: a sender silent far longer than its comfort
    /// noise updates (every 400 ms) has gone, and the buffer primes afresh.
    last_arrival: Instant,
}

/// A sender in DTX refreshes its comfort noise every 400 ms; this long without any packet
/// ends comfort noise (the stream paused or the path died).
const DTX_SILENCE_LIMIT: Duration = Duration::from_millis(1000);

/// A packet this far from the next expected one (about 60 s of audio) means the sender
/// restarted its sequence: start afresh instead of calling it late or waiting for it.
const RESTART_DISTANCE: i64 = 3000;
/// Remembered played sequence numbers, to tell a duplicate from a late packet.
const PLAYED_MEMORY: usize = 512;
/// Turns the buffer must stay above target before one packet is dropped to reduce the delay.
const SHRINK_AFTER_TURNS: u32 = 50;
/// Jitter multiple used as delay: covers most arrivals of a roughly normal jitter.
const JITTER_MULTIPLE: f64 = 4.0;

/// Jitter buffer for one incoming audio stream; see the module docs.
#[derive(Debug)]
pub struct PlayoutBuffer {
    config: PlayoutConfig,
    packets: BTreeMap<i64, Entry>,
    state: State,
    /// The next sequence number to play (unwrapped); `None` before the first packet.
    next: Option<i64>,
    /// The highest sequence number seen (unwrapped), the reference for unwrapping.
    highest: Option<i64>,
    played: VecDeque<i64>,
    /// RFC 3550 jitter, in RTP timestamp units (1/48000 s).
    jitter: f64,
    /// (arrival, rtp_timestamp) of the previous packet, for the jitter estimate.
    previous_arrival: Option<(Instant, u32)>,
    turns_above_target: u32,
    stats: PlayoutStats,
    /// Audio in one packet (one turn of [`PlayoutBuffer::pop`]).
    frame: Duration,
    /// Set while the sender is in discontinuous transmission.
    dtx: Option<Dtx>,
    /// When the newest packet arrived.
    last_arrival: Option<Instant>,
}

/// Shortest and longest frame one Opus packet can hold.
const MIN_FRAME: Duration = Duration::from_micros(2_500);
const MAX_FRAME: Duration = Duration::from_millis(120);

impl PlayoutBuffer {
    /// A buffer of 20 ms packets with `config`; a `max_delay` below `target_delay` is
    /// raised to it, and the target is at least one frame.
    pub fn new(config: PlayoutConfig) -> Self {
        Self::with_frame_duration(config, FRAME_DURATION)
    }

    /// A buffer whose packets each hold `frame` of audio (2.5..=120 ms, Opus's range;
    /// clamped), popped once per `frame`. `config` is made consistent as in
    /// [`PlayoutBuffer::new`]; jitter is still measured on 48 kHz timestamps.
    pub fn with_frame_duration(config: PlayoutConfig, frame: Duration) -> Self {
        let frame = frame.clamp(MIN_FRAME, MAX_FRAME);
        let target_delay = config.target_delay.max(frame);
        let config = PlayoutConfig {
            target_delay,
            max_delay: config.max_delay.max(target_delay),
        };
        PlayoutBuffer {
            frame,
            config,
            packets: BTreeMap::new(),
            state: State::Priming,
            next: None,
            highest: None,
            played: VecDeque::with_capacity(PLAYED_MEMORY),
            jitter: 0.0,
            previous_arrival: None,
            turns_above_target: 0,
            stats: PlayoutStats::default(),
            dtx: None,
            last_arrival: None,
        }
    }

    /// Adds a received packet. Duplicates and packets whose turn has passed are dropped
    /// and counted; beyond `max_delay` the oldest packets are dropped.
    pub fn push(&mut self, seq: u16, rtp_timestamp: u32, payload: Vec<u8>, arrival: Instant) {
        self.stats.received += 1;
        self.last_arrival = Some(arrival);
        self.update_jitter(rtp_timestamp, arrival);
        let seq = self.unwrap_seq(seq);
        if let Some(next) = self.next {
            if (seq - next).abs() > RESTART_DISTANCE {
                self.restart();
            } else if seq < next {
                if self.played.contains(&seq) {
                    self.stats.duplicates += 1;
                } else {
                    self.stats.late += 1;
                }
                return;
            }
        }
        if self.packets.contains_key(&seq) {
            self.stats.duplicates += 1;
            return;
        }
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        self.packets.insert(
            seq,
            Entry {
                payload,
                rtp_timestamp,
                arrival,
            },
        );
        self.enforce_max_delay();
    }

    /// What to play for the next frame; call once per frame from the playout thread.
    pub fn pop(&mut self, now: Instant) -> Playout {
        match self.state {
            State::Priming => {
                if !self.reached_target(now) {
                    return Playout::Wait;
                }
                let first = self.first_buffered().unwrap_or_default();
                if let Some(next) = self.next {
                    // Taken up again after a pause: the turns in between were lost.
                    self.stats.lost += (first - next).max(0) as u64;
                }
                self.next = Some(first);
                self.state = State::Playing;
                self.play(now)
            }
            State::Playing => self.play(now),
            State::Rebuffering { since } => {
                if now.saturating_duration_since(since) > self.config.max_delay {
                    // Nothing for longer than the buffer could ever hold: the sender has
                    // paused (or the path died). Stop concealing; prime afresh.
                    self.state = State::Priming;
                    self.stats.resyncs += 1;
                    return Playout::Wait;
                }
                if self.reached_target(now) {
                    self.state = State::Playing;
                    return self.play(now);
                }
                Playout::Conceal
            }
        }
    }

    /// Counters and the current depth, target and jitter.
    pub fn stats(&self) -> PlayoutStats {
        let mut stats = self.stats;
        stats.depth_ms = (self.depth_frames() as u128 * self.frame.as_micros() / 1000) as u32;
        stats.target_ms = self.target_delay().as_millis() as u32;
        stats.jitter_ms = self.jitter * 1000.0 / f64::from(SAMPLE_RATE);
        stats
    }

    /// The target delay in force: the configured one, raised to cover four times the
    /// measured jitter (rounded up to whole frames), at most `max_delay`.
    pub fn target_delay(&self) -> Duration {
        let jitter =
            Duration::from_secs_f64(JITTER_MULTIPLE * self.jitter / f64::from(SAMPLE_RATE));
        let frames = jitter.as_nanos().div_ceil(self.frame.as_nanos()) as u32;
        (self.frame * frames)
            .max(self.config.target_delay)
            .min(self.config.max_delay)
    }

    fn play(&mut self, now: Instant) -> Playout {
        let Some(next) = self.next else {
            return Playout::Wait;
        };
        if let Some(turn) = self.comfort_turn(next, now) {
            return turn;
        }
        if self.packets.is_empty() {
            self.state = State::Rebuffering { since: now };
            self.stats.underruns += 1;
            return Playout::Conceal;
        }
        self.shrink_if_long_above_target();
        let next = self.next.unwrap_or(next);
        self.next = Some(next + 1);
        match self.packets.remove(&next) {
            Some(entry) => {
                self.remember_played(next);
                self.dtx = is_dtx_frame(&entry.payload).then_some(Dtx {
                    turn_timestamp: entry.rtp_timestamp,
                    last_arrival: entry.arrival,
                });
                Playout::Packet(entry.payload)
            }
            None => {
                self.stats.lost += 1;
                match self.packets.get(&(next + 1)) {
                    Some(following) => {
                        self.stats.recovered += 1;
                        Playout::Recover(following.payload.clone())
                    }
                    None => Playout::Conceal,
                }
            }
        }
    }

    /// While the sender is in DTX: comfort noise for this turn, or `None` when the packet
    /// ending the silence is due (or a gap in the sequence says packets were lost, or the
    /// sender has been gone too long) and the ordinary turn follows.
    fn comfort_turn(&mut self, next: i64, now: Instant) -> Option<Playout> {
        let mut dtx = self.dtx?;
        dtx.last_arrival = self
            .last_arrival
            .map_or(dtx.last_arrival, |a| a.max(dtx.last_arrival));
        let step = (self.frame.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000) as u32;
        dtx.turn_timestamp = dtx.turn_timestamp.wrapping_add(step);
        let due = match self.packets.first_key_value() {
            // The silence ends with the next packet in sequence (DTX sends nothing, so
            // the sequence goes on): it plays at its timestamp's turn.
            Some((&seq, entry)) if seq == next => {
                (entry.rtp_timestamp.wrapping_sub(dtx.turn_timestamp) as i32) <= 0
            }
            // A gap: what is missing was lost, not silent.
            Some(_) => true,
            None => false,
        } || self.depth_frames() > self.frames_in(self.target_delay());
        if due {
            self.dtx = None;
            return None;
        }
        if now.saturating_duration_since(dtx.last_arrival) > DTX_SILENCE_LIMIT {
            self.dtx = None;
            self.state = State::Priming;
            self.stats.resyncs += 1;
            return Some(Playout::Wait);
        }
        self.dtx = Some(dtx);
        self.stats.comfort += 1;
        Some(Playout::Comfort)
    }

    /// Drops one packet when the delay has stayed above target for a while (after a jitter
    /// spike has passed), so latency comes back down.
    fn shrink_if_long_above_target(&mut self) {
        let target = self.frames_in(self.target_delay());
        if self.depth_frames() <= target + 1 {
            self.turns_above_target = 0;
            return;
        }
        self.turns_above_target += 1;
        if self.turns_above_target >= SHRINK_AFTER_TURNS {
            self.turns_above_target = 0;
            if let Some(next) = self.next {
                if self.packets.remove(&next).is_some() {
                    self.stats.discarded += 1;
                } else {
                    self.stats.lost += 1;
                }
                self.next = Some(next + 1);
            }
        }
    }

    fn reached_target(&self, now: Instant) -> bool {
        let Some(oldest_arrival) = self.packets.values().map(|e| e.arrival).min() else {
            return false;
        };
        let target = self.target_delay();
        now.saturating_duration_since(oldest_arrival) >= target
            || self.depth_frames() >= self.frames_in(target)
    }

    /// Frames from the next one to play (or the oldest buffered) to the newest buffered.
    fn depth_frames(&self) -> i64 {
        match (self.first_buffered(), self.packets.keys().next_back()) {
            (Some(first), Some(&last)) => {
                let from = match (self.state, self.next) {
                    (State::Priming, _) | (_, None) => first,
                    (_, Some(next)) => next.min(first),
                };
                last - from + 1
            }
            _ => 0,
        }
    }

    fn frames_in(&self, d: Duration) -> i64 {
        (d.as_nanos() / self.frame.as_nanos()) as i64
    }

    fn first_buffered(&self) -> Option<i64> {
        self.packets.keys().next().copied()
    }

    /// Keeps at most `max_delay` between the next turn and the newest packet. Missing
    /// packets at the front are skipped all at once (a long outage is not concealed turn
    /// by turn); a real packet at the front is dropped.
    fn enforce_max_delay(&mut self) {
        let max = self.frames_in(self.config.max_delay).max(1);
        while self.depth_frames() > max {
            let Some(first) = self.first_buffered() else {
                break;
            };
            match self.next {
                Some(next) if next < first => {
                    self.stats.lost += (first - next) as u64;
                    self.next = Some(first);
                }
                _ => {
                    self.packets.remove(&first);
                    self.stats.discarded += 1;
                    self.next = self.next.map(|_| first + 1);
                }
            }
        }
    }

    fn unwrap_seq(&mut self, seq: u16) -> i64 {
        match self.highest {
            // Start away from zero so that early reordering never goes negative.
            None => i64::from(seq) + (1 << 16),
            Some(h) => h + i64::from(seq.wrapping_sub(h as u16) as i16),
        }
    }

    fn remember_played(&mut self, seq: i64) {
        if self.played.len() == PLAYED_MEMORY {
            self.played.pop_front();
        }
        self.played.push_back(seq);
    }

    fn restart(&mut self) {
        self.dtx = None;
        self.packets.clear();
        self.played.clear();
        self.next = None;
        self.highest = None;
        self.state = State::Priming;
        self.stats.resyncs += 1;
    }

    fn update_jitter(&mut self, rtp_timestamp: u32, arrival: Instant) {
        if let Some((prev_arrival, prev_ts)) = self.previous_arrival {
            // D = (Rj - Ri) - (Sj - Si), both in timestamp units (RFC 3550, 6.4.1).
            let arrival_delta = if arrival >= prev_arrival {
                (arrival - prev_arrival).as_secs_f64()
            } else {
                -(prev_arrival - arrival).as_secs_f64()
            } * f64::from(SAMPLE_RATE);
            let ts_delta = f64::from(rtp_timestamp.wrapping_sub(prev_ts) as i32);
            let d = (arrival_delta - ts_delta).abs();
            // A sender restart makes one huge D; do not let it pin the target at max.
            if d < f64::from(SAMPLE_RATE) {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.previous_arrival = Some((arrival, rtp_timestamp));
    }
}

#[cfg(test)]
#[path = "playout_tests.rs"]
mod tests;
