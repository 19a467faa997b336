//! Two RTP media sessions wired to each other on loopback: a tone and keys each way, and
//! silence when nothing is sent. Checks the send side (encoding, pacing by the caller,
//! RFC 4733 events) that the sipp tests cannot observe.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use pstn_gateway::g711::G711;
use pstn_gateway::rtp::session::{self, MediaChannels, MediaStats};
use pstn_gateway::sdp::{Codec, MediaDirection, Negotiated};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

struct End {
    from: mpsc::Receiver<Vec<i16>>,
    to: mpsc::Sender<Vec<i16>>,
    keys_from: mpsc::Receiver<char>,
    keys_to: mpsc::Sender<char>,
}

async fn pair(codec: Codec) -> (End, End, CancellationToken) {
    pair_with(codec, Duration::from_secs(60), None).await
}

/// [`pair`] whose first session reports silence past `timeout` on `lost`.
async fn pair_with(
    codec: Codec,
    timeout: Duration,
    mut lost: Option<oneshot::Sender<()>>,
) -> (End, End, CancellationToken) {
    let (a, a_addr) = session::bind("127.0.0.1".parse().unwrap()).await.unwrap();
    let (b, b_addr) = session::bind("127.0.0.1".parse().unwrap()).await.unwrap();
    let stop = CancellationToken::new();
    let mut ends = Vec::new();
    for (socket, remote) in [(a, b_addr), (b, a_addr)] {
        let (from_tx, from) = mpsc::channel(100);
        let (to, to_rx) = mpsc::channel(100);
        let (kf_tx, keys_from) = mpsc::channel(10);
        let (keys_to, kt_rx) = mpsc::channel(10);
        let negotiated = Negotiated {
            codec,
            codec_pt: codec.offer_payload_type(),
            dtmf_pt: Some(101),
            dtmf_clock: codec.clock_rate(),
            remote,
            direction: MediaDirection::SendRecv,
        };
        let (_keep, target) = watch::channel(negotiated);
        std::mem::forget(_keep);
        let channels = MediaChannels {
            from_phone: from_tx,
            to_phone: to_rx,
            keys_from_phone: kf_tx,
            keys_to_phone: kt_rx,
        };
        tokio::spawn(session::run(
            socket,
            target,
            channels,
            Arc::new(MediaStats::default()),
            stop.clone(),
            session::Silence {
                timeout,
                lost: lost.take(),
            },
        ));
        ends.push(End {
            from,
            to,
            keys_from,
            keys_to,
        });
    }
    let b = ends.pop().unwrap();
    let a = ends.pop().unwrap();
    (a, b, stop)
}

/// Runs the RTP session on `socket` as `negotiated` says, with `channels` and a 60 s
/// silence timeout; it stops with the token. Keep the sender: dropping it ends the session.
fn run_session(
    socket: tokio::net::UdpSocket,
    negotiated: Negotiated,
    channels: MediaChannels,
) -> (watch::Sender<Negotiated>, CancellationToken) {
    let (keep, target) = watch::channel(negotiated);
    let stop = CancellationToken::new();
    tokio::spawn(session::run(
        socket,
        target,
        channels,
        Arc::new(MediaStats::default()),
        stop.clone(),
        session::Silence {
            timeout: Duration::from_secs(60),
            lost: None,
        },
    ));
    (keep, stop)
}

async fn play(to: mpsc::Sender<Vec<i16>>, pcm: Vec<i16>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for frame in pcm.chunks(160) {
        tick.tick().await;
        if to.send(frame.to_vec()).await.is_err() {
            return;
        }
    }
}

async fn hear(from: &mut mpsc::Receiver<Vec<i16>>, frames: usize) -> Vec<i16> {
    let mut pcm = Vec::new();
    for _ in 0..frames {
        if let Ok(Some(f)) = tokio::time::timeout(Duration::from_secs(1), from.recv()).await {
            assert_eq!(f.len(), 160, "every frame is 20 ms");
            pcm.extend(f);
        }
    }
    pcm
}

#[tokio::test]
async fn tones_and_keys_cross_both_ways() {
    #[allow(unused_mut)]
    let mut codecs = vec![Codec::G711(G711::Pcmu), Codec::G711(G711::Pcma)];
    // Opus on the SIP leg needs libopus, which the `bridge` feature brings.
    #[cfg(feature = "bridge")]
    codecs.push(Codec::Opus);
    for codec in codecs {
        let (mut a, mut b, stop) = pair(codec).await;
        let quiet = hear(&mut a.from, 5).await;
        assert!(
            quiet.iter().all(|&s| s == 0),
            "silence before anything is sent"
        );
        tokio::spawn(play(a.to.clone(), tone(700.0, 0.6, 8000.0)));
        tokio::spawn(play(b.to.clone(), tone(1200.0, 0.6, 8000.0)));
        let at_b = hear(&mut b.from, 40).await;
        let at_a = hear(&mut a.from, 40).await;
        let loud = |pcm: &[i16]| -> Vec<i16> {
            pcm.chunks(160)
                .filter(|f| f.iter().any(|s| s.abs() > 2000))
                .flatten()
                .copied()
                .collect()
        };
        assert!(tone_share(&loud(&at_b), 700.0) > 0.9, "{codec:?} a->b");
        assert!(tone_share(&loud(&at_a), 1200.0) > 0.9, "{codec:?} b->a");
        a.keys_to.send('9').await.unwrap();
        b.keys_to.send('#').await.unwrap();
        let key_b = tokio::time::timeout(Duration::from_secs(2), b.keys_from.recv())
            .await
            .unwrap();
        let key_a = tokio::time::timeout(Duration::from_secs(2), a.keys_from.recv())
            .await
            .unwrap();
        assert_eq!((key_b, key_a), (Some('9'), Some('#')));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            b.keys_from.try_recv().is_err(),
            "one key per press despite 3 end packets"
        );
        stop.cancel();
    }
}

#[tokio::test]
async fn a_far_end_that_falls_silent_is_reported_and_one_that_talks_is_not() {
    let (lost_tx, mut lost) = oneshot::channel();
    let (a, b, stop) = pair_with(
        Codec::G711(G711::Pcmu),
        Duration::from_millis(400),
        Some(lost_tx),
    )
    .await;
    // B talks for a second: A hears packets, no report (B, told nobody, never stops).
    let talking = tokio::spawn(play(b.to.clone(), tone(440.0, 1.0, 8000.0)));
    let early = tokio::time::timeout(Duration::from_millis(900), &mut lost).await;
    assert!(early.is_err(), "reported while the far end talked");
    talking.await.unwrap();
    // Then nothing at all: reported within the timeout and a tick or two.
    let reported = tokio::time::timeout(Duration::from_millis(1_500), &mut lost).await;
    assert!(matches!(reported, Ok(Ok(()))), "silence reported");
    stop.cancel();
    drop((a, b));
}

/// A key sent beside Opus, as a carrier sees it on the wire: the event's timestamp
/// continues the audio's 48 kHz timeline and its durations count that clock (960 per
/// 20 ms, 100 ms = 4800), under telephone-event/8000 as baresip offers it.
#[cfg(feature = "bridge")]
#[tokio::test]
async fn a_key_beside_opus_is_timed_in_the_48_khz_clock() {
    use pstn_gateway::rtp::dtmf::EventPayload;
    use pstn_gateway::rtp::packet::RtpPacket;

    let (socket, _) = session::bind("127.0.0.1".parse().unwrap()).await.unwrap();
    let local = socket.local_addr().unwrap();
    let carrier = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (from_phone, _from) = mpsc::channel(100);
    let (to, to_phone) = mpsc::channel(100);
    let (keys_from_phone, _keys_from) = mpsc::channel(10);
    let (keys_to, keys_to_phone) = mpsc::channel(10);
    let (_keep, stop) = run_session(
        socket,
        Negotiated {
            codec: Codec::Opus,
            codec_pt: 96,
            dtmf_pt: Some(101),
            dtmf_clock: 8000,
            remote: carrier.local_addr().unwrap(),
            direction: MediaDirection::SendRecv,
        },
        MediaChannels {
            from_phone,
            to_phone,
            keys_from_phone,
            keys_to_phone,
        },
    );
    tokio::spawn(play(to.clone(), tone(500.0, 1.2, 8000.0)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    keys_to.send('5').await.unwrap();
    let mut packets = Vec::new();
    let mut buf = [0u8; 1500];
    while let Ok(Ok((len, from))) =
        tokio::time::timeout(Duration::from_millis(400), carrier.recv_from(&mut buf)).await
    {
        assert_eq!(from, local);
        let p = RtpPacket::parse(&buf[..len]).unwrap();
        packets.push((p.payload_type, p.timestamp, p.payload.to_vec()));
    }
    stop.cancel();
    let first = packets
        .iter()
        .position(|p| p.0 == 101)
        .expect("the key was sent");
    let events: Vec<_> = packets[first..].iter().take_while(|p| p.0 == 101).collect();
    let start = events[0].1;
    assert_eq!(
        start,
        packets[first - 1].1.wrapping_add(960),
        "after the audio before it"
    );
    let durations: Vec<u16> = events
        .iter()
        .map(|p| {
            assert_eq!(p.1, start, "one event, one timestamp");
            EventPayload::parse(&p.2).unwrap().duration
        })
        .collect();
    assert_eq!(
        durations,
        [960, 1920, 2880, 3840, 4800, 4800, 4800, 4800],
        "100 ms in the 48 kHz clock, the end sent three times"
    );
    let after = packets[first + events.len()..]
        .first()
        .expect("audio again after the key");
    assert_eq!((after.0, after.1), (96, start.wrapping_add(4_800)));
}

/// A carrier sending G.711 every 20 ms, starting `offset` after the session, with packet
/// `late` held back by `by`: for each packet with an impulse (every 5th), how long after
/// it was sent its frame came out of the session, in ms.
async fn frame_delays(offset: Duration, late: u16, by: Duration, packets: u16) -> Vec<f64> {
    use pstn_gateway::rtp::packet::RtpPacket;

    let (socket, gateway) = session::bind("127.0.0.1".parse().unwrap()).await.unwrap();
    let carrier = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let (from_phone, mut from) = mpsc::channel(100);
    let (_to, to_phone) = mpsc::channel(100);
    let (keys_from_phone, _keys_from) = mpsc::channel(10);
    let (_keys_to, keys_to_phone) = mpsc::channel(10);
    let (_keep, stop) = run_session(
        socket,
        Negotiated {
            codec: Codec::G711(G711::Pcmu),
            codec_pt: 0,
            dtmf_pt: None,
            dtmf_clock: 8000,
            remote: carrier.local_addr().unwrap(),
            direction: MediaDirection::SendRecv,
        },
        MediaChannels {
            from_phone,
            to_phone,
            keys_from_phone,
            keys_to_phone,
        },
    );
    let heard = tokio::spawn(async move {
        let mut at = Vec::new();
        while let Some(frame) = from.recv().await {
            if frame.iter().any(|s| s.abs() > 8_000) {
                at.push(tokio::time::Instant::now());
            }
        }
        at
    });
    tokio::time::sleep(offset).await;
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for seq in 0..packets {
        tick.tick().await;
        let mut pcm = vec![0i16; 160];
        if seq % 5 == 4 {
            pcm[159] = 24_000;
            sent.push(tokio::time::Instant::now());
        }
        let bytes = RtpPacket {
            marker: seq == 0,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 9,
            payload: &G711::Pcmu.encode(&pcm),
        }
        .to_bytes();
        if seq == late {
            // Delivered late, without holding up the packets after it.
            let carrier = carrier.clone();
            tokio::spawn(async move {
                tokio::time::sleep(by).await;
                let _ = carrier.send_to(&bytes, gateway).await;
            });
            continue;
        }
        carrier.send_to(&bytes, gateway).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    let heard = heard.await.unwrap();
    sent.iter()
        .zip(&heard)
        .map(|(s, h)| (h.duration_since(*s)).as_secs_f64() * 1e3)
        .collect()
}

/// The shortest of `v`: a loaded machine only ever adds delay, so the least is what the
/// playout clock chose.
fn least(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

#[tokio::test]
async fn a_phones_packets_wait_a_few_ms_for_playout_whatever_their_phase() {
    // Before, the playout tick kept the phase the call started with: a packet waited 0 to
    // 20 ms, a different figure per call (16 ms at the 3 ms phase here). Now about
    // `playout::MARGIN` (5 ms) in each.
    for offset in [3, 9, 15] {
        let delays =
            frame_delays(Duration::from_millis(offset), u16::MAX, Duration::ZERO, 60).await;
        assert!(delays.len() >= 10, "{delays:?}");
        let wait = least(&delays);
        assert!(
            (1.0..11.0).contains(&wait),
            "phase {offset} ms: {wait:.1} ms at least ({delays:?})"
        );
    }
}

#[tokio::test]
async fn after_a_late_packet_the_wait_comes_back_down() {
    // Packet 20 comes 12 ms late, before the next one: its tick found nothing (one frame
    // concealed) and playout restarts after it, every later packet waiting 12 ms longer.
    // The old buffer played it in the next packet's slot and stayed a frame (20 ms)
    // behind for the rest of the call; now calm windows (2 s each) bring the wait back.
    let delays = frame_delays(Duration::from_millis(9), 20, Duration::from_millis(12), 300).await;
    assert!(delays.len() >= 50, "{delays:?}");
    assert!(
        least(&delays[4..10]) > 14.0,
        "the late packet raised the wait: {delays:?}"
    );
    let end = least(&delays[delays.len() - 20..]);
    assert!(
        end < 16.0,
        "the last 2 s wait {end:.1} ms at least ({delays:?})"
    );
}
