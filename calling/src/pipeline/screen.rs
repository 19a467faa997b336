//! Screen share out: screen -> VP8 in screen-content mode -> RTP, on a thread of its own
//! that starts and stops with the share (the call goes on either way).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use media::video::{EncoderConfig, ScreenSource, VideoEncoder};
use tokio::runtime::Handle;

use super::video::{bitrate_kbps_for, Share};
use super::{Controls, Counters, Notes, PipelineNote};
use crate::engine::VideoQuality;
use crate::peer::LocalTrack;

/// What the screen sender thread owns.
pub(crate) struct ScreenSender {
    pub source: Box<dyn ScreenSource>,
    pub track: LocalTrack,
    /// The congestion controller's target, bits/s (f64 bits).
    pub target_bitrate: Arc<AtomicU64>,
    pub runtime: Handle,
    pub controls: Arc<Controls>,
    /// This share ends at its next frame (the user stopped it, or the call ended).
    pub stop: Arc<AtomicBool>,
    /// This share's number within the call, so that a note from a share already replaced
    /// cannot end its successor.
    pub share_id: u64,
    pub counters: Arc<Counters>,
    pub notes: Notes,
}

/// Starts the thread that captures, encodes and sends the screen.
pub(crate) fn spawn_sender(parts: ScreenSender) -> std::io::Result<JoinHandle<()>> {
    let ScreenSender {
        mut source,
        track,
        target_bitrate,
        runtime,
        controls,
        stop,
        share_id,
        counters,
        notes,
    } = parts;
    std::thread::Builder::new()
        .name("screen-send".into())
        .spawn(move || {
            let fps = source.fps().max(1);
            let frame_duration = Duration::from_secs(1) / fps;
            let mut encoder: Option<VideoEncoder> = None;
            let mut bitrate_kbps = 0u32;
            // Every share starts with a keyframe: the peer's decoder has nothing before it.
            let mut keyframe = true;
            let ended = |why: String| {
                let _ = notes.send(PipelineNote::ScreenShareEnded(share_id, why));
            };
            while !Controls::get(&stop) && !Controls::get(&controls.stop) {
                let frame = match source.read_frame() {
                    Ok(frame) => frame,
                    Err(e) => return ended(e.to_string()),
                };
                let quality = controls.video_quality();
                // Audio only means no video of any kind; the share resumes when video does.
                if quality == VideoQuality::Off || !Controls::get(&controls.connected) {
                    keyframe = true;
                    continue;
                }
                let (w, h) = (frame.width(), frame.height());
                if !matches!(&encoder, Some(e) if (e.config().width, e.config().height) == (w, h)) {
                    // A resized window: a new encoder, whose first frame is a keyframe.
                    match VideoEncoder::new(EncoderConfig::screen(w, h, fps)) {
                        Ok(e) => encoder = Some(e),
                        Err(e) => return ended(format!("VP8 encoder: {e}")),
                    }
                    bitrate_kbps = 0;
                    keyframe = true;
                }
                let Some(enc) = encoder.as_mut() else {
                    continue;
                };
                let kbps = bitrate_kbps_for(&target_bitrate, Share::Screen, quality);
                if kbps.abs_diff(bitrate_kbps) * 10 > bitrate_kbps {
                    match enc.set_bitrate_kbps(kbps) {
                        Ok(applied) => {
                            bitrate_kbps = applied;
                            counters
                                .screen_bitrate_kbps
                                .store(u64::from(applied), Ordering::Relaxed);
                        }
                        Err(e) => tracing::debug!(error = %e, "screen bitrate change refused"),
                    }
                }
                // A keyframe asked for: by the peer (after loss), or the call (connected,
                // renegotiated).
                let asked = controls.force_screen_keyframe.swap(false, Ordering::AcqRel);
                let packets = match enc.encode_screen(&frame, keyframe || asked) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "screen encode failed; frame skipped");
                        continue;
                    }
                };
                keyframe = false;
                if packets.iter().any(|p| p.keyframe) {
                    Counters::bump(&counters.screen_keyframes_sent);
                }
                for packet in packets {
                    match runtime.block_on(track.write(
                        packet.data,
                        frame.captured_at(),
                        frame_duration,
                    )) {
                        Ok(true) => Counters::bump(&counters.screen_frames_sent),
                        Ok(false) => {}
                        Err(e) => tracing::debug!(error = %e, "screen frame not sent"),
                    }
                }
            }
        })
}
