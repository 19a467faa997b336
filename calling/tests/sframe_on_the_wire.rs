//! What travels inside DTLS-SRTP when SFrame is on: two real webrtc-rs connections on
//! loopback; one sends Opus frames of a tone through SFrame, the other reads the RTP
//! payloads SRTP hands it (what a TURN server or an SFU past DTLS would forward) without
//! any frame transform. Those payloads must be SFrame ciphertext, never the encoder's
//! output, and must open to exactly the encoder's frames with the sender's key alone.

mod loopback_peer;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use calling::e2ee::{SframeKey, SframeTransform};
use calling::peer::{PathState, PeerEvent, PeerSession, PeerSetup};
use calling::{FrameKind, FrameTransform, TransformError};
use media::audio::{
    AudioSource, OpusDecoder, OpusEncoder, ToneCheck, ToneSource, DEFAULT_BITRATE, FRAME_DURATION,
};
use tokio::sync::mpsc::unbounded_channel;
use webrtc::media_stream::track_remote::TrackRemoteEvent;

const KEY_ID: u64 = 7;
const SECRET: &[u8] = b"sixteen byte key";
const TONE_HZ: f32 = 1000.0;

fn setup() -> PeerSetup {
    loopback_peer::fast_audio_on_loopback()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_payloads_inside_srtp_are_sframe_ciphertext_not_the_encoders_frames() {
    let (a_tx, mut a_events) = unbounded_channel();
    let (b_tx, mut b_events) = unbounded_channel();
    let a = PeerSession::new(setup(), a_tx).await.unwrap();
    let b = PeerSession::new(setup(), b_tx).await.unwrap();
    let offer = a.create_offer(false).await.unwrap();
    let answer = b.answer(&offer).await.unwrap();
    a.apply_answer(&answer).await.unwrap();

    let sender = Arc::new(SframeTransform::new(&SframeKey::new(KEY_ID, SECRET)).unwrap());
    let track = a
        .audio
        .clone()
        .with_transform(FrameKind::Audio, sender.clone() as Arc<dyn FrameTransform>);
    let written: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let mut encoder = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
    let mut tone = ToneSource::new(TONE_HZ, 0.3);
    let mut ticker = tokio::time::interval(FRAME_DURATION);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while received.lock().unwrap().len() < 50 {
        assert!(tokio::time::Instant::now() < deadline, "no RTP arrived");
        tokio::select! {
            Some(event) = a_events.recv() => {
                if let PeerEvent::Candidate(c) = event {
                    assert!(b.add_remote_candidates(&[c]).await.is_empty());
                }
            }
            Some(event) = b_events.recv() => match event {
                PeerEvent::Candidate(c) => assert!(a.add_remote_candidates(&[c]).await.is_empty()),
                PeerEvent::State(PathState::Failed) => panic!("connection failed"),
                PeerEvent::RemoteTrack(remote, _) => {
                    let received = received.clone();
                    tokio::spawn(async move {
                        while let Some(event) = remote.poll().await {
                            if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                                received.lock().unwrap().push(packet.payload.to_vec());
                            }
                        }
                    });
                }
                _ => {}
            },
            _ = ticker.tick() => {
                let frame = tone.read_frame().unwrap();
                let packet = encoder.encode(&frame.samples).unwrap();
                if track.write(packet.clone(), Instant::now(), FRAME_DURATION).await.unwrap() {
                    written.lock().unwrap().push(packet);
                }
            }
        }
    }
    let written = written.lock().unwrap().clone();
    let received = received.lock().unwrap().clone();

    // Nothing on the wire is an encoder frame, or even contains one.
    for payload in &received {
        assert!(
            !written
                .iter()
                .any(|w| payload.windows(w.len()).any(|x| x == w.as_slice())),
            "an Opus frame travelled in clear"
        );
    }
    // The sender's key opens every payload to an encoder frame, in order, and they
    // decode to the tone.
    let opener = SframeTransform::new(&SframeKey::new(99, b"another 16 bytes")).unwrap();
    opener
        .add_member_key(&SframeKey::new(KEY_ID, SECRET))
        .unwrap();
    let mut decoder = OpusDecoder::new().unwrap();
    let mut pcm = Vec::new();
    let mut next = 0;
    for payload in &received {
        let frame = opener.incoming(FrameKind::Audio, payload.clone()).unwrap();
        let at = written[next..]
            .iter()
            .position(|w| *w == frame)
            .expect("opens to a frame the encoder made");
        next += at + 1;
        pcm.extend(decoder.decode(Some(&frame)).unwrap());
    }
    assert!(ToneCheck::detect(&pcm[pcm.len() - 24_000..], TONE_HZ).dominant);
    // Anyone without that key learns nothing: another key under the same id fails.
    let stranger = SframeTransform::new(&SframeKey::new(1, b"yet another key!")).unwrap();
    stranger
        .add_member_key(&SframeKey::new(KEY_ID, b"a wrong key 16 b"))
        .unwrap();
    assert_eq!(
        stranger.incoming(FrameKind::Audio, received[0].clone()),
        Err(TransformError::Unauthenticated)
    );
    a.close().await;
    b.close().await;
}
