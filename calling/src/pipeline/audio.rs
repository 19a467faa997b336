//! Audio out (microphone -> Opus -> RTP) and the reading half of audio in (RTP -> the
//! stream's playout buffer in the render stage, [`super::render`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::audio::{
    is_dtx_frame, AudioSource, OpusEncoder, PlayoutConfig, DEFAULT_BITRATE, FRAME_SAMPLES,
};
use tokio::runtime::Handle;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::render::StreamInput;
use super::transform::{FrameKind, FrameTransform};
use super::{Controls, Counters, Notes, PipelineNote};
use crate::engine::MediaPart;
use crate::peer::LocalTrack;

/// On loopback and good networks 20 ms is enough; the buffer raises it from measured
/// jitter (up to its maximum) when the network needs more.
pub(crate) const PLAYOUT: PlayoutConfig = PlayoutConfig {
    target_delay: Duration::from_millis(20),
    max_delay: Duration::from_millis(200),
};

/// Most bits per second the voice gets when the peer reports loss.
pub(crate) const MAX_LOSSY_BITRATE: i32 = 64_000;
/// Extra voice bits per percent of expected loss.
const BITS_PER_LOSS_PERCENT: i32 = 2_000;

/// The voice's bitrate when the encoder prepares for `expected_loss_pct` percent loss.
/// A frame lost under FEC is played from the next packet's copy, which SILK codes from
/// the same bit budget: the copy's quality follows the bitrate (at 10 % loss PESQ-WB 2.7
/// at 40 kbit/s, 3.4 at 64 kbit/s, see `docs/decisions.md`), so the bitrate grows with the
/// loss (2 kbit/s per percent) up to [`MAX_LOSSY_BITRATE`]; voice is a few percent of a
/// video call's bits, and video gets what the voice leaves.
pub(crate) fn bitrate_for_loss(expected_loss_pct: i32) -> i32 {
    (DEFAULT_BITRATE + BITS_PER_LOSS_PERCENT * expected_loss_pct.max(0)).min(MAX_LOSSY_BITRATE)
}

/// Starts the thread that reads the microphone, encodes and sends.
/// In-band FEC goes out when `allow_fec` and the peer's description asks for it; DTX
/// (nothing sent during silence but the first DTX frame and the encoder's comfort noise
/// updates every 400 ms) when the peer's description accepts it (`usedtx=1`).
pub(crate) fn spawn_sender(
    mut source: Box<dyn AudioSource>,
    allow_fec: bool,
    track: LocalTrack,
    runtime: Handle,
    controls: Arc<Controls>,
    counters: Arc<Counters>,
    notes: Notes,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("audio-send".into())
        .spawn(move || {
            let mut encoder = match OpusEncoder::new(DEFAULT_BITRATE) {
                Ok(e) => e,
                Err(e) => {
                    let _ = notes.send(PipelineNote::device(MediaPart::OpusEncoder, e));
                    return;
                }
            };
            counters
                .audio_bitrate_kbps
                .store(encoder.bitrate() as u64 / 1000, Ordering::Relaxed);
            let silence = vec![0i16; FRAME_SAMPLES];
            // What the encoder was last set to: the peer's wishes are read before each frame
            // (applied by the time the first one goes out, changed by a renegotiation).
            let mut fec_on: Option<bool> = None;
            let mut expected_loss: Option<u8> = None;
            let mut dtx_on: Option<bool> = None;
            // DTX frames left unsent since the last packet, and whether that packet was a
            // DTX frame (the first of a silence goes out: it tells the peer's playout to
            // play comfort noise rather than conceal a loss).
            let mut unsent: u32 = 0;
            let mut last_sent_dtx = false;
            while !Controls::get(&controls.stop) {
                let frame = match source.read_frame() {
                    Ok(frame) => frame,
                    Err(e) => {
                        let _ = notes.send(PipelineNote::device(MediaPart::Microphone, e));
                        return;
                    }
                };
                if !Controls::get(&controls.connected) {
                    continue; // nothing to send to yet; the microphone keeps its pace
                }
                let mut keypad = [0i16; FRAME_SAMPLES];
                let samples = if controls.take_dtmf(&mut keypad) {
                    &keypad[..]
                } else if Controls::get(&controls.muted) {
                    &silence
                } else {
                    &frame.samples
                };
                let want_fec = allow_fec && track.peer_wants_fec();
                if fec_on != Some(want_fec) {
                    match encoder.set_inband_fec(want_fec) {
                        Ok(()) => fec_on = Some(want_fec),
                        Err(e) => tracing::warn!(error = %e, "Opus FEC setting refused"),
                    }
                }
                let want_dtx = track.peer_wants_dtx();
                if dtx_on != Some(want_dtx) {
                    match encoder.set_dtx(want_dtx) {
                        Ok(()) => dtx_on = Some(want_dtx),
                        Err(e) => tracing::warn!(error = %e, "Opus DTX setting refused"),
                    }
                }
                let loss = controls.expected_loss_pct();
                if loss.is_some() && loss != expected_loss {
                    let percent = loss.map_or(0, i32::from);
                    let set = encoder
                        .set_expected_loss(percent)
                        .and_then(|()| encoder.set_bitrate(bitrate_for_loss(percent)));
                    match set {
                        Ok(()) => {
                            expected_loss = loss;
                            counters
                                .audio_bitrate_kbps
                                .store(encoder.bitrate() as u64 / 1000, Ordering::Relaxed);
                        }
                        Err(e) => tracing::warn!(error = %e, "Opus loss settings refused"),
                    }
                }
                let packet = match encoder.encode(samples) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "Opus encode failed; frame skipped");
                        continue;
                    }
                };
                let dtx_frame = dtx_on == Some(true) && is_dtx_frame(&packet);
                if dtx_frame && last_sent_dtx {
                    unsent += 1;
                    Counters::bump(&counters.audio_frames_unsent_dtx);
                    continue;
                }
                let written =
                    runtime.block_on(track.write_audio(packet, unsent, FRAME_SAMPLES as u32));
                unsent = 0;
                match written {
                    Ok(true) => {
                        last_sent_dtx = dtx_frame;
                        Counters::bump(&counters.audio_frames_sent);
                        if fec_on == Some(true) {
                            Counters::bump(&counters.audio_frames_sent_with_fec);
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::debug!(error = %e, "audio frame not sent"),
                }
            }
        })
}

/// Reads the peer's audio track into its stream of the render stage until the track ends,
/// then takes the stream out of the mix.
pub(crate) fn read_track(
    track: Arc<dyn TrackRemote>,
    input: StreamInput,
    counters: Arc<Counters>,
    transform: Arc<dyn FrameTransform>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = track.poll().await {
            if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                Counters::bump(&counters.audio_packets_received);
                // One Opus packet is one frame: it passes the transform whole.
                let frame = match transform.incoming(FrameKind::Audio, packet.payload.to_vec()) {
                    Ok(frame) => frame,
                    Err(e) => {
                        tracing::debug!(error = %e, "audio frame dropped");
                        continue;
                    }
                };
                input.push(
                    packet.header.sequence_number,
                    packet.header.timestamp,
                    frame,
                    Instant::now(),
                );
            }
        }
        input.close();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_voice_gets_more_bits_with_loss_up_to_what_video_leaves_it() {
        assert_eq!(bitrate_for_loss(0), DEFAULT_BITRATE);
        assert!(bitrate_for_loss(15) > bitrate_for_loss(1));
        assert_eq!(
            bitrate_for_loss(i32::from(super::super::MAX_EXPECTED_LOSS)),
            MAX_LOSSY_BITRATE
        );
        assert_eq!(bitrate_for_loss(-5), DEFAULT_BITRATE, "nonsense is no loss");
        // 10 % reported loss is sized as 15 %: the voice needs about 60 kbit/s there for
        // its FEC copies to keep PESQ-WB at 3 (quality bench).
        assert!(bitrate_for_loss(15) >= 60_000, "{}", bitrate_for_loss(15));
    }
}
