//! Tests of the playout buffer (`playout.rs`).

use super::*;

const TS_STEP: u32 = 960;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An ordinary packet's payload: its sequence number, and a third byte so that it is not
/// taken for a DTX frame.
fn payload(seq: u16) -> Vec<u8> {
    let [hi, lo] = seq.to_be_bytes();
    vec![hi, lo, 0xA5]
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

/// Pushes packet `i` with RTP timestamp `ts_turn` frames from the start.
fn push_at(h: &mut Harness, i: u16, ts_turn: u32, payload: Vec<u8>, arrival_ms: u64) {
    let at = h.at(arrival_ms);
    h.buf
        .push(h.base.wrapping_add(i), ts_turn * TS_STEP, payload, at);
}

#[test]
fn a_dtx_silence_is_comfort_noise_not_loss_and_speech_after_it_keeps_its_delay() {
    let mut h = Harness::new(0);
    h.play_first_two();
    // Packet 2 is a DTX frame (one byte): the sender then sends nothing for 10 frames.
    push_at(&mut h, 2, 2, vec![0x08], 40);
    assert_eq!(h.pop(80), Playout::Packet(vec![0x08]));
    // Turns 100..=260 ms are frames 3..=11 of the sender's clock: nothing was sent.
    let silent: Vec<Playout> = (0..9).map(|k| h.pop(100 + 20 * k)).collect();
    assert!(silent.iter().all(|p| *p == Playout::Comfort), "{silent:?}");
    // Speech comes back with the next sequence number and frame 13's timestamp, 50 ms
    // before that frame's turn (300 ms): it waits for it, so the delay stays what it was.
    push_at(&mut h, 3, 13, payload(3), 250);
    assert_eq!(h.pop(280), Playout::Comfort, "frame 12: not its turn yet");
    assert_eq!(seq_of(&h.pop(300)), Some(3));
    let s = h.buf.stats();
    assert_eq!((s.lost, s.underruns, s.resyncs), (0, 0, 0), "{s:?}");
    assert_eq!(s.comfort, 10);
}

#[test]
fn a_gap_in_the_sequence_during_dtx_is_loss() {
    let mut h = Harness::new(0);
    h.play_first_two();
    push_at(&mut h, 2, 2, vec![0x08], 40);
    assert_eq!(h.pop(80), Playout::Packet(vec![0x08]));
    assert_eq!(h.pop(100), Playout::Comfort);
    // 3 never comes, 4 does: 3 was lost (a talkspurt's first packet), rebuilt from 4.
    push_at(&mut h, 4, 8, payload(4), 105);
    assert!(matches!(h.pop(120), Playout::Recover(_)));
    assert_eq!(seq_of(&h.pop(140)), Some(4));
    assert_eq!(h.buf.stats().lost, 1);
}

#[test]
fn a_sender_gone_silent_for_long_is_primed_afresh() {
    let mut h = Harness::new(0);
    h.play_first_two();
    push_at(&mut h, 2, 2, vec![0x08], 40);
    assert_eq!(h.pop(80), Playout::Packet(vec![0x08]));
    // Comfort noise updates come every 400 ms; nothing for over a second is a pause.
    let turns: Vec<Playout> = (0..60).map(|k| h.pop(100 + 20 * k)).collect();
    assert_eq!(turns[0], Playout::Comfort);
    assert_eq!(*turns.last().unwrap(), Playout::Wait);
    assert_eq!(h.buf.stats().resyncs, 1);
}

#[test]
fn without_a_dtx_frame_an_empty_buffer_is_an_underrun() {
    // The same silence after an ordinary packet: concealed and counted, as before.
    let mut h = Harness::new(0);
    h.play_first_two();
    assert_eq!(h.pop(80), Playout::Conceal);
    assert_eq!(h.buf.stats().underruns, 1);
    assert_eq!(h.buf.stats().comfort, 0);
    assert!(is_dtx_frame(&[0x08]) && is_dtx_frame(&[0x08, 0x00]));
    assert!(!is_dtx_frame(&[0x08, 0x01, 0x02]));
}
