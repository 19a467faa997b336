//! The sans-IO halves together, without a radio: what goes in comes out, losses are
//! rebuilt, bad packets are counted, and Bluetooth's connection-event timing plays
//! without late packets at the default buffer.

use std::time::{Duration, Instant};

use media::audio::{AudioFrame, AudioSource, ToneCheck, ToneSource};

use super::*;

fn session(call_id: &str) -> (SessionKeys, SessionKeys) {
    let (a, b) = (BleVoiceKeys::generate(), BleVoiceKeys::generate());
    let (sa, sb) = (a.public_share(), b.public_share());
    (
        a.agree(&sb, call_id, Role::Caller).unwrap(),
        b.agree(&sa, call_id, Role::Callee).unwrap(),
    )
}

fn pair(config: &BleVoiceConfig) -> (BleVoiceSender, BleVoiceReceiver) {
    let (caller, callee) = session("unit");
    (
        BleVoiceSender::new(caller.send, config).unwrap(),
        BleVoiceReceiver::new(callee.recv, config).unwrap(),
    )
}

/// `count` packets of a 440 Hz tone, captured from `t0` on.
fn tone_packets(sender: &mut BleVoiceSender, t0: Instant, count: usize) -> Vec<Outgoing> {
    let mut tone = ToneSource::new(440.0, 0.5).paced(false);
    let mut packets = Vec::new();
    let mut k = 0u32;
    while packets.len() < count {
        let frame = AudioFrame {
            samples: tone.read_frame().unwrap().samples,
            captured_at: t0 + Duration::from_millis(20) * k,
        };
        k += 1;
        if let Some(packet) = sender.push_frame(&frame).unwrap() {
            packets.push(packet);
        }
    }
    packets
}

/// Plays `packets` (each delivered at its own arrival time, `None` = lost) with one pull
/// every 40 ms from `start`; returns the pulls.
fn play(
    receiver: &mut BleVoiceReceiver,
    packets: &[(Outgoing, Option<Instant>)],
    start: Instant,
    turns: u32,
) -> Vec<Pulled> {
    let mut pending: Vec<&(Outgoing, Option<Instant>)> =
        packets.iter().filter(|(_, at)| at.is_some()).collect();
    pending.sort_by_key(|(_, at)| *at);
    let mut next = 0;
    (0..turns)
        .map(|turn| {
            let now = start + FRAME * turn;
            while next < pending.len() && pending[next].1.unwrap() <= now {
                let (packet, at) = pending[next];
                receiver.push(&packet.bytes, at.unwrap()).unwrap();
                next += 1;
            }
            receiver.pull(now)
        })
        .collect()
}

#[test]
fn a_tone_goes_through_with_its_timestamps_and_sizes() {
    let config = BleVoiceConfig::default();
    let (mut sender, mut receiver) = pair(&config);
    let t0 = Instant::now();
    let packets = tone_packets(&mut sender, t0, 50);
    assert_eq!(packets[0].timestamp, 0);
    assert_eq!(packets[1].timestamp, 1920);
    assert_eq!(packets[1].captured_at, t0 + FRAME);
    assert_eq!(
        packets[0].bytes.len(),
        7 + 1 + 60 + 16,
        "the first has nothing to repeat"
    );
    assert_eq!(packets[1].bytes.len(), 7 + 1 + 120 + 16);
    assert_eq!(
        config.air_bytes_per_packet(),
        14 + packets[1].bytes.len(),
        "what the bench assumes is what is sent"
    );
    let arrivals: Vec<_> = packets
        .iter()
        .map(|p| (p.clone(), Some(p.captured_at + Duration::from_millis(60))))
        .collect();
    let pulls = play(&mut receiver, &arrivals, t0, 53);
    let played: Vec<_> = pulls
        .iter()
        .filter(|p| p.source == Source::Packet)
        .collect();
    assert_eq!(played.len(), 50, "every packet played");
    assert_eq!(played[0].timestamp, Some(0));
    assert_eq!(played[49].timestamp, Some(49 * 1920));
    assert!(ToneCheck::detect(&played[40].samples, 440.0).dominant);
    let stats = receiver.stats();
    assert_eq!((stats.accepted, stats.dropped.total()), (50, 0));
    assert_eq!(stats.playout.lost, 0);
    assert_eq!(sender.stats().packets, 50);
    assert_eq!(sender.stats().with_redundancy, 49);
}

#[test]
fn single_losses_are_rebuilt_from_the_repeat_and_without_it_from_fec() {
    for redundancy in [true, false] {
        let config = BleVoiceConfig {
            redundancy,
            ..BleVoiceConfig::default()
        };
        let (mut sender, mut receiver) = pair(&config);
        let t0 = Instant::now();
        let packets = tone_packets(&mut sender, t0, 100);
        // Every tenth packet lost, and 50 and 51 (nothing to rebuild 50 from).
        let arrivals: Vec<_> = packets
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let lost = i % 10 == 5 || i == 50 || i == 51;
                let at = p.captured_at + Duration::from_millis(60);
                (p.clone(), (!lost).then_some(at))
            })
            .collect();
        // Packet 0 plays at turn 3 (two held). With 50 and 51 missing the buffer runs dry
        // on 50's turn (concealed, one turn of delay added), then 50 is concealed and 51
        // rebuilt; 99 plays at turn 103.
        play(&mut receiver, &arrivals, t0, 104);
        let s = receiver.stats();
        assert_eq!(s.playout.lost, 12, "redundancy {redundancy}: {s:?}");
        assert_eq!((s.concealed, s.playout.underruns), (2, 1), "{s:?}");
        let rebuilt = if redundancy {
            s.from_redundancy
        } else {
            s.from_fec
        };
        assert_eq!(rebuilt, 11, "redundancy {redundancy}: {s:?}");
        assert_eq!(s.played, 88);
    }
}

#[test]
fn forged_replayed_truncated_and_foreign_packets_are_dropped_and_counted() {
    let config = BleVoiceConfig::default();
    let (mut sender, mut receiver) = pair(&config);
    let now = Instant::now();
    let packets = tone_packets(&mut sender, now, 3);
    assert_eq!(receiver.push(&packets[0].bytes, now), Ok(()));
    assert_eq!(
        receiver.push(&packets[0].bytes, now),
        Err(Dropped::Replayed)
    );
    let truncated = &packets[1].bytes[..20];
    assert_eq!(receiver.push(truncated, now), Err(Dropped::TooShort));
    let cut_tag = &packets[1].bytes[..packets[1].bytes.len() - 3];
    assert_eq!(receiver.push(cut_tag, now), Err(Dropped::Forged));
    // Sealed by someone with other keys (another call): forged.
    let (stranger, _) = session("unit");
    let mut stranger = BleVoiceSender::new(stranger.send, &config).unwrap();
    let foreign = tone_packets(&mut stranger, now, 2);
    assert_eq!(receiver.push(&foreign[1].bytes, now), Err(Dropped::Forged));
    assert_eq!(receiver.push(&[0u8; 300], now), Err(Dropped::TooLong));
    let mut other_version = packets[2].bytes.clone();
    other_version[0] = 9;
    assert_eq!(
        receiver.push(&other_version, now),
        Err(Dropped::UnknownVersion)
    );
    // The genuine packets still go in afterwards.
    assert_eq!(receiver.push(&packets[1].bytes, now), Ok(()));
    assert_eq!(receiver.push(&packets[2].bytes, now), Ok(()));
    let s = receiver.stats();
    let d = s.dropped;
    assert_eq!(
        (
            d.replayed,
            d.too_short,
            d.forged,
            d.too_long,
            d.unknown_version
        ),
        (1, 1, 2, 1, 1)
    );
    assert_eq!((s.accepted, d.total()), (3, 6));
}

#[test]
fn a_wrong_frame_length_is_an_error_not_a_panic() {
    let (mut sender, _) = pair(&BleVoiceConfig::default());
    let frame = AudioFrame {
        samples: vec![0; 100],
        captured_at: Instant::now(),
    };
    assert!(sender.push_frame(&frame).is_err());
    assert!(sender.push_pcm(&[0; 960], Instant::now()).is_err());
    let bad = BleVoiceConfig {
        bitrate: 24_000,
        ..BleVoiceConfig::default()
    };
    let (keys, _) = session("x");
    assert!(BleVoiceSender::new(keys.send, &bad).is_err());
}

/// Bluetooth timing: packets leave every 40 ms but are delivered only at connection
/// events (`interval` apart); a missed event (interference) holds them to the next.
fn connection_event_arrivals(
    packets: &[Outgoing],
    interval: Duration,
    missed_every: usize,
) -> Vec<(Outgoing, Option<Instant>)> {
    let t0 = packets[0].captured_at;
    packets
        .iter()
        .map(|p| {
            let ready = p.captured_at + FRAME + Duration::from_millis(5);
            let since = (ready - t0).as_nanos();
            let mut event = since.div_ceil(interval.as_nanos()) as u32;
            // Every `missed_every`-th event is missed (twice in a row now and then).
            while (event as usize).is_multiple_of(missed_every) {
                event += 1;
            }
            (p.clone(), Some(t0 + interval * event))
        })
        .collect()
}

#[test]
fn connection_event_timing_plays_on_time_and_slow_intervals_raise_the_target() {
    for interval_ms in [7.5f64, 30.0, 50.0] {
        let interval = Duration::from_secs_f64(interval_ms / 1000.0);
        let config = BleVoiceConfig::default();
        let (mut sender, mut receiver) = pair(&config);
        let t0 = Instant::now();
        let packets = tone_packets(&mut sender, t0, 500);
        let arrivals = connection_event_arrivals(&packets, interval, 7);
        let pulls = play(&mut receiver, &arrivals, t0 + Duration::from_millis(3), 520);
        let s = receiver.stats();
        assert_eq!(
            (s.playout.late, s.playout.lost),
            (0, 0),
            "{interval_ms} ms: {s:?}"
        );
        // From the first packet played to the last, every turn played its own packet;
        // at 50 ms with missed events once concealed while the target rises to 120 ms.
        let first = pulls
            .iter()
            .position(|p| p.source == Source::Packet)
            .unwrap();
        let last = pulls
            .iter()
            .rposition(|p| p.source == Source::Packet)
            .unwrap();
        let gaps = pulls[first..=last]
            .iter()
            .filter(|p| p.source != Source::Packet)
            .count();
        let (most_gaps, target) = if interval_ms < 50.0 {
            (0, 80)
        } else {
            (1, 120)
        };
        assert!(gaps <= most_gaps, "{interval_ms} ms: {gaps} gaps, {s:?}");
        assert_eq!(s.playout.target_ms, target, "{interval_ms} ms: {s:?}");
    }
}
