//! The synthetic audio path end to end, without devices: tone source -> Opus -> playout
//! buffer -> Opus -> sink, checking the frequency heard and the mouth-to-ear latency, and
//! the real-time pacing of synthetic sources.

use std::time::{Duration, Instant};

use media::audio::{
    AudioSink, AudioSource, BurstDetector, OpusDecoder, OpusEncoder, Playout, PlayoutBuffer,
    PlayoutConfig, RecordingSink, SilenceSource, ToneCheck, ToneSource, DEFAULT_BITRATE,
    FRAME_DURATION, FRAME_SAMPLES,
};

#[test]
fn paced_tone_source_never_returns_a_frame_early() {
    let mut tone = ToneSource::new(440.0, 0.5);
    let start = Instant::now();
    let mut previous: Option<Instant> = None;
    for _ in 0..6 {
        let frame = tone.read_frame().unwrap();
        let returned = Instant::now();
        // A frame is complete only once its last sample has been "captured".
        assert!(
            returned >= frame.captured_at + FRAME_DURATION,
            "frame returned {:?} before it was complete",
            frame.captured_at + FRAME_DURATION - returned
        );
        if let Some(p) = previous {
            assert_eq!(frame.captured_at - p, FRAME_DURATION, "timeline not exact");
        }
        previous = Some(frame.captured_at);
    }
    // Six frames are 120 ms of audio: not delivered faster than real time.
    assert!(start.elapsed() >= Duration::from_millis(120));
}

#[test]
fn paced_silence_keeps_real_time_too() {
    let mut silence = SilenceSource::new();
    let first = silence.read_frame().unwrap();
    let second = silence.read_frame().unwrap();
    assert_eq!(second.captured_at - first.captured_at, FRAME_DURATION);
    assert!(Instant::now() >= second.captured_at + FRAME_DURATION);
}

#[test]
fn unpaced_source_returns_frames_at_once() {
    let mut tone = ToneSource::new(440.0, 0.5).paced(false);
    let start = Instant::now();
    for _ in 0..100 {
        tone.read_frame().unwrap();
    }
    // 2 s of audio; generating it takes milliseconds even on a loaded machine.
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// One call leg on a virtual clock: each 20 ms turn, the source's frame is encoded and
/// "sent" with `network_delay(turn)`, and the playout thread pops, decodes and plays.
fn run_leg(
    source: &mut ToneSource,
    turns: u32,
    network_delay: impl Fn(u32) -> Option<Duration>,
    sink: &mut RecordingSink,
    detector: &mut BurstDetector,
) -> (Vec<Instant>, PlayoutBuffer, u64) {
    let mut enc = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut buffer = PlayoutBuffer::new(PlayoutConfig::default());
    let mut in_flight: Vec<(Instant, u16, u32, Vec<u8>)> = Vec::new();
    let mut played_onsets = Vec::new();
    let mut delivered = 0;
    for turn in 0..turns {
        let frame = source.read_frame().unwrap();
        // The frame is complete (sendable) 20 ms after its first sample.
        let now = frame.captured_at + FRAME_DURATION;
        let packet = enc.encode(&frame.samples).unwrap();
        if let Some(delay) = network_delay(turn) {
            in_flight.push((
                now + delay,
                turn as u16,
                turn * FRAME_SAMPLES as u32,
                packet,
            ));
        }
        // Deliver everything that has arrived by now, in arrival order.
        in_flight.sort_by_key(|p| p.0);
        let arrived = in_flight.iter().take_while(|p| p.0 <= now).count();
        for (at, seq, ts, payload) in in_flight.drain(..arrived) {
            buffer.push(seq, ts, payload, at);
            delivered += 1;
        }
        let samples = match buffer.pop(now) {
            Playout::Packet(p) => dec.decode(Some(&p)).unwrap(),
            Playout::Conceal | Playout::Comfort => dec.decode(None).unwrap(),
            Playout::Recover(next) => dec.recover(&next).unwrap(),
            Playout::Wait => vec![0; FRAME_SAMPLES],
        };
        sink.write_frame(&samples).unwrap();
        // Played out starting now (the speaker's own buffering is not modelled).
        played_onsets.extend(detector.feed(&samples, now));
    }
    (played_onsets, buffer, delivered)
}

#[test]
fn a_440_hz_tone_survives_opus_and_the_playout_buffer() {
    let mut tone = ToneSource::new(440.0, 0.5).paced(false);
    let (mut sink, recording) = RecordingSink::new();
    let mut detector = BurstDetector::new(440.0);
    // 30 ms of network delay with +-15 ms of jitter and reordering, one packet in 25 lost.
    let delay = |turn: u32| {
        (turn % 25 != 7).then(|| {
            Duration::from_millis(30 + u64::from(turn * 7 % 31)) - Duration::from_millis(15)
        })
    };
    let (_, buffer, delivered) = run_leg(&mut tone, 100, delay, &mut sink, &mut detector);
    let heard = recording.last(FRAME_SAMPLES * 10);
    for frame in heard.chunks(FRAME_SAMPLES) {
        let report = ToneCheck::detect(frame, 440.0);
        assert!(report.dominant, "440 Hz not heard: {report:?}");
        assert!(!ToneCheck::detect(frame, 660.0).dominant);
    }
    let stats = buffer.stats();
    assert_eq!(stats.received, delivered);
    assert!(delivered >= 90, "the last packets may still be in flight");
    assert!(
        stats.lost >= 3,
        "3 of the 4 dropped packets are due by the end: {stats:?}"
    );
}

#[test]
fn mouth_to_ear_latency_is_measured_from_burst_onsets() {
    let (tone, log) = ToneSource::bursts(
        1000.0,
        Duration::from_millis(200),
        Duration::from_millis(40),
    );
    let mut tone = tone.paced(false);
    let (mut sink, _recording) = RecordingSink::new();
    let mut detector = BurstDetector::new(1000.0);
    let network = Duration::from_millis(30);
    let (played, _, _) = run_leg(&mut tone, 100, |_| Some(network), &mut sink, &mut detector);
    let captured = log.onsets();
    assert_eq!(captured.len(), 10, "2 s of 200 ms periods");
    assert!(played.len() >= 9, "{} bursts heard", played.len());
    // Expected: 20 ms framing + 30 ms network + 30 ms until the second packet is in and
    // the buffer holds its 40 ms target (it then plays on the 20 ms grid), plus Opus's
    // 6.5 ms algorithmic delay: 86.5 ms for every burst. The measurement must be within
    // 3 ms of that.
    let latencies: Vec<Duration> = played
        .iter()
        .zip(&captured[captured.len() - played.len()..])
        .map(|(p, c)| *p - *c)
        .collect();
    let min = *latencies.iter().min().unwrap();
    let max = *latencies.iter().max().unwrap();
    let expected = Duration::from_micros(86_500);
    let tolerance = Duration::from_millis(3);
    assert!(
        min > expected - tolerance && max < expected + tolerance,
        "latencies {latencies:?}"
    );
}
