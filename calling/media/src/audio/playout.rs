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
    arrival: Instant,
}

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
        }
    }

    /// Adds a received packet. Duplicates and packets whose turn has passed are dropped
    /// and counted; beyond `max_delay` the oldest packets are dropped.
    pub fn push(&mut self, seq: u16, rtp_timestamp: u32, payload: Vec<u8>, arrival: Instant) {
        self.stats.received += 1;
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
        self.packets.insert(seq, Entry { payload, arrival });
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
mod tests {
    use super::*;

    const TS_STEP: u32 = 960;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn payload(seq: u16) -> Vec<u8> {
        seq.to_be_bytes().to_vec()
    }

    /// A buffer fed on a steady clock: packet `i` (sequence `base + i`) arrives at
    /// `t0 + 20 ms * i`, unless the test pushes it by hand.
    struct Harness {
        buf: PlayoutBuffer,
        t0: Instant,
        base: u16,
    }

    impl Harness {
        fn new(base: u16) -> Self {
            Harness {
                buf: PlayoutBuffer::new(PlayoutConfig::default()),
                t0: Instant::now(),
                base,
            }
        }
        fn at(&self, turn_ms: u64) -> Instant {
            self.t0 + ms(turn_ms)
        }
        fn push(&mut self, i: u16, arrival_ms: u64) {
            let seq = self.base.wrapping_add(i);
            let ts = u32::from(i) * TS_STEP;
            let at = self.at(arrival_ms);
            self.buf.push(seq, ts, payload(seq), at);
        }
        fn pop(&mut self, at_ms: u64) -> Playout {
            let at = self.at(at_ms);
            self.buf.pop(at)
        }
    }

    impl Harness {
        /// Pops `n` turns 20 ms apart from `from_ms`: the sequence numbers played.
        fn play_order(&mut self, from_ms: u64, n: u64) -> Vec<Option<u16>> {
            (0..n)
                .map(|k| seq_of(&self.pop(from_ms + 20 * k)))
                .collect()
        }

        /// Packets 0 and 1 arrive on time and are played at 40 and 60 ms.
        fn play_first_two(&mut self) {
            self.push(0, 0);
            self.push(1, 20);
            let (a, b) = (self.base, self.base.wrapping_add(1));
            assert_eq!(self.play_order(40, 2), vec![Some(a), Some(b)]);
        }
    }

    fn seq_of(p: &Playout) -> Option<u16> {
        match p {
            Playout::Packet(v) => Some(u16::from_be_bytes([v[0], v[1]])),
            _ => None,
        }
    }

    #[test]
    fn primes_to_the_target_delay_then_plays_in_order() {
        let mut h = Harness::new(100);
        assert_eq!(h.pop(0), Playout::Wait, "empty buffer waits");
        h.push(0, 0);
        assert_eq!(h.pop(0), Playout::Wait);
        assert_eq!(h.pop(20), Playout::Wait, "20 ms held, target 40 ms");
        h.push(1, 20);
        h.push(2, 40);
        let p = h.pop(40);
        assert_eq!(seq_of(&p), Some(100), "plays once 40 ms are held");
        h.push(3, 60);
        assert_eq!(seq_of(&h.pop(60)), Some(101));
        assert_eq!(seq_of(&h.pop(80)), Some(102));
        let s = h.buf.stats();
        assert_eq!((s.received, s.lost, s.late, s.duplicates), (4, 0, 0, 0));
        assert_eq!(s.depth_ms, 20);
        assert_eq!(s.target_ms, 40);
    }

    #[test]
    fn reordered_packets_are_played_in_sequence() {
        let mut h = Harness::new(0);
        for (i, at) in [(0, 0), (2, 5), (1, 10), (4, 30), (3, 35)] {
            h.push(i, at);
        }
        let want: Vec<_> = (0..5).map(Some).collect();
        assert_eq!(h.play_order(40, 5), want);
        assert_eq!(h.buf.stats().lost, 0);
    }

    #[test]
    fn duplicates_are_dropped_and_counted() {
        let mut h = Harness::new(0);
        h.push(0, 0);
        h.push(1, 1);
        h.push(1, 2); // duplicate while buffered
        assert_eq!(seq_of(&h.pop(40)), Some(0));
        h.push(0, 41); // duplicate of one already played
        assert_eq!(seq_of(&h.pop(60)), Some(1));
        let s = h.buf.stats();
        assert_eq!((s.duplicates, s.late, s.received), (2, 0, 4));
    }

    #[test]
    fn a_missing_packet_is_rebuilt_from_the_next_ones_fec_and_a_late_one_dropped() {
        let mut h = Harness::new(0);
        for i in [0u16, 1, 3, 4] {
            h.push(i, 20 * u64::from(i));
        }
        assert_eq!(h.play_order(60, 2), vec![Some(0), Some(1)]);
        // 2 is missing while 3 is there: 3's FEC rebuilds it, and 3 still plays next.
        match h.pop(100) {
            Playout::Recover(next) => assert_eq!(seq_of(&Playout::Packet(next)), Some(3)),
            other => panic!("{other:?}"),
        }
        h.push(2, 105); // arrives after its turn
        assert_eq!(h.play_order(120, 2), vec![Some(3), Some(4)]);
        let s = h.buf.stats();
        assert_eq!((s.lost, s.recovered, s.late, s.duplicates), (1, 1, 1, 0));
    }

    #[test]
    fn a_missing_packet_without_the_next_one_is_concealed() {
        let mut h = Harness::new(0);
        for i in [0u16, 1, 4] {
            h.push(i, 20 * u64::from(i));
        }
        assert_eq!(h.play_order(60, 2), vec![Some(0), Some(1)]);
        assert_eq!(h.pop(100), Playout::Conceal, "2 lost, 3 not there either");
        assert_eq!(h.buf.stats().recovered, 0);
    }

    #[test]
    fn sequence_wrap_around_is_ordinary_order() {
        let mut h = Harness::new(65_533);
        // 65533, 65534, 65535, 0, 1, 2 with 0 and 65535 swapped in arrival.
        for (i, at) in [(0, 0), (1, 1), (3, 2), (2, 3), (4, 4), (5, 5)] {
            h.push(i, at);
        }
        let want: Vec<_> = [65_533u16, 65_534, 65_535, 0, 1, 2].map(Some).to_vec();
        assert_eq!(h.play_order(40, 6), want);
        let s = h.buf.stats();
        assert_eq!((s.lost, s.late), (0, 0));
    }

    #[test]
    fn underrun_conceals_then_rebuffers_and_a_long_gap_waits() {
        let mut h = Harness::new(0);
        h.play_first_two();
        // Nothing more: conceal (the decoder bridges a short gap)...
        assert_eq!(h.pop(80), Playout::Conceal);
        assert_eq!(h.buf.stats().underruns, 1);
        // ...and packet 2 arriving late but within the gap is still played, once the
        // target delay is buffered again.
        h.push(2, 90);
        assert_eq!(h.pop(100), Playout::Conceal, "rebuffering to the target");
        h.push(3, 110);
        assert_eq!(seq_of(&h.pop(130)), Some(2));
        assert_eq!(seq_of(&h.pop(150)), Some(3));
        assert_eq!(h.buf.stats().lost, 0, "nothing was lost, only delayed");
        // A gap longer than max_delay: stop concealing, wait.
        let mut out = Vec::new();
        for k in 0..15 {
            out.push(h.pop(170 + 20 * k));
        }
        assert_eq!(out[0], Playout::Conceal);
        assert_eq!(*out.last().unwrap(), Playout::Wait);
        assert_eq!(h.buf.stats().resyncs, 1);
        // The sender comes back after a pause, a few packets further on: primed again.
        h.push(20, 500);
        assert_eq!(h.pop(500), Playout::Wait);
        assert_eq!(seq_of(&h.pop(540)), Some(20));
        assert_eq!(h.buf.stats().lost, 16, "4..=19 never arrived");
    }

    #[test]
    fn overflow_drops_the_oldest() {
        let mut h = Harness::new(0);
        // 15 packets at once (300 ms > max 200 ms): only the newest 10 are kept.
        for i in 0..15 {
            h.push(i, 0);
        }
        let s = h.buf.stats();
        assert_eq!(s.discarded, 5);
        assert_eq!(s.depth_ms, 200);
        assert_eq!(seq_of(&h.pop(0)), Some(5), "depth already past target");
    }

    #[test]
    fn a_sequence_jump_far_ahead_skips_instead_of_concealing_for_long() {
        let mut h = Harness::new(0);
        h.play_first_two();
        // 10 s of packets lost in an outage: play on from the first one after it, rather
        // than concealing 2..500 (or any part of it) first.
        h.push(500, 70);
        h.push(501, 75);
        assert_eq!(seq_of(&h.pop(80)), Some(500));
        assert_eq!(seq_of(&h.pop(100)), Some(501));
        assert_eq!(h.buf.stats().lost, 498);
    }

    #[test]
    fn a_sender_restart_is_taken_up_afresh() {
        let mut h = Harness::new(40_000);
        h.play_first_two();
        // New sequence 10_000 away: not "late", a restart.
        let t = h.at(70);
        h.buf.push(30_000, 0, payload(30_000), t);
        assert_eq!(h.buf.stats().resyncs, 1);
        assert_eq!(h.buf.stats().late, 0);
        assert_eq!(h.pop(80), Playout::Wait, "priming the new stream");
        assert_eq!(seq_of(&h.pop(110)), Some(30_000));
    }

    #[test]
    fn jitter_is_measured_and_raises_the_target() {
        let mut h = Harness::new(0);
        // Steady arrivals: no jitter, the configured target.
        for i in 0..50u16 {
            h.push(i, 20 * u64::from(i));
        }
        let s = h.buf.stats();
        assert!(s.jitter_ms < 0.01, "jitter {}", s.jitter_ms);
        assert_eq!(s.target_ms, 40);
        // Alternate 0 and +25 ms delays: |D| = 25 ms on every packet, J -> 25 ms (from
        // below), so the target becomes 4 x 25 = 100 ms.
        let mut h = Harness::new(0);
        for i in 0..200u16 {
            h.push(i, 20 * u64::from(i) + if i % 2 == 1 { 25 } else { 0 });
        }
        let s = h.buf.stats();
        assert!((s.jitter_ms - 25.0).abs() < 0.5, "jitter {}", s.jitter_ms);
        assert_eq!(s.target_ms, 100);
        // Larger jitter is capped at max_delay.
        let mut h = Harness::new(0);
        for i in 0..200u16 {
            h.push(i, 20 * u64::from(i) + if i % 2 == 1 { 90 } else { 0 });
        }
        assert_eq!(h.buf.stats().target_ms, 200);
    }

    #[test]
    fn delay_comes_back_down_after_a_spike() {
        let mut h = Harness::new(0);
        // A burst of 8 packets (160 ms) after a stall, then steady arrivals.
        for i in 0..8u16 {
            h.push(i, 0);
        }
        for i in 8..308u16 {
            let t = 20 * u64::from(i - 8);
            h.pop(t);
            h.push(i, t);
        }
        let s = h.buf.stats();
        // 160 ms held at first; the target is 40 ms, one packet is dropped per second
        // above target + 20 ms, so after 6 s it is back to 60 ms.
        assert_eq!(s.discarded, 5, "{s:?}");
        assert_eq!(s.depth_ms, 60, "{s:?}");
        assert_eq!(s.lost, 0);
    }

    #[test]
    fn config_is_made_consistent() {
        let buf = PlayoutBuffer::new(PlayoutConfig {
            target_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        });
        assert_eq!(buf.target_delay(), FRAME_DURATION);
        assert_eq!(PlayoutConfig::default().target_delay, ms(40));
        assert_eq!(PlayoutConfig::default().max_delay, ms(200));
    }

    #[test]
    fn longer_frames_count_in_their_own_duration() {
        // 40 ms packets (timestamps 1920 apart): the target, depth and jitter are in
        // 40 ms turns, and steady 40 ms arrivals measure no jitter.
        let config = PlayoutConfig {
            target_delay: ms(80),
            max_delay: ms(320),
        };
        let mut buf = PlayoutBuffer::with_frame_duration(config, ms(40));
        let t0 = Instant::now();
        let push = |buf: &mut PlayoutBuffer, i: u16, at: u64| {
            buf.push(i, u32::from(i) * 1920, payload(i), t0 + ms(at));
        };
        push(&mut buf, 0, 0);
        assert_eq!(
            buf.pop(t0 + ms(40)),
            Playout::Wait,
            "40 ms held, target 80 ms"
        );
        push(&mut buf, 1, 40);
        assert_eq!(seq_of(&buf.pop(t0 + ms(80))), Some(0));
        for i in 2..60u16 {
            push(&mut buf, i, 40 * u64::from(i));
            assert!(matches!(
                buf.pop(t0 + ms(40 * u64::from(i))),
                Playout::Packet(_)
            ));
        }
        let s = buf.stats();
        assert!(s.jitter_ms < 0.01, "jitter {}", s.jitter_ms);
        assert_eq!((s.target_ms, s.depth_ms, s.lost), (80, 40, 0), "{s:?}");
        // Overflow keeps at most 320 ms: 8 packets of 40 ms.
        for i in 60..80u16 {
            push(&mut buf, i, 2400);
        }
        assert_eq!(buf.stats().depth_ms, 320);
        // Out-of-range frame durations are clamped to what Opus can carry.
        let tiny = PlayoutBuffer::with_frame_duration(PlayoutConfig::default(), ms(0));
        assert_eq!(tiny.target_delay(), ms(40));
        let huge = PlayoutBuffer::with_frame_duration(PlayoutConfig::default(), ms(500));
        assert_eq!(huge.target_delay(), ms(120), "at least one 120 ms frame");
    }
}
