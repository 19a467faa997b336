//! Video out (the camera stage's filtered frames -> VP8 -> RTP, one encoder per peer
//! connection) and video in (RTP -> VP8 -> remote view).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::video::{
    EncoderConfig, VideoDecoder, VideoEncoder, KEYFRAME_INTERVAL, MAX_BITRATE_KBPS,
    MIN_BITRATE_KBPS,
};
use rtc::media::io::sample_builder::SampleBuilder;
use rtc::rtp::codec::vp8::Vp8Packet;
use tokio::runtime::Handle;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::camera::CameraFrame;
use super::keyframes::{self, PictureRepair};
use super::transform::{FrameKind, FrameTransform};
use super::{Controls, Counters, Notes, PipelineNote};
use crate::devices::RemoteVideoSink;
use crate::engine::{MediaPart, VideoQuality, LOW_VIDEO_KBPS};
use crate::peer::LocalTrack;

/// What audio takes out of the congestion controller's target before video gets the rest:
/// the most the voice uses, even under loss, so video is scaled down before audio suffers.
const AUDIO_SHARE_BPS: u64 = super::audio::MAX_LOSSY_BITRATE as u64;
/// Encoded frames waiting for the decoder; beyond it frames are dropped, not queued.
const DECODE_QUEUE: usize = 4;
/// RTP packets the sample builder waits for a late packet of a frame (VP8 at 640x480 is
/// a handful of packets per frame).
const MAX_LATE_PACKETS: u16 = 64;

/// What one encoder thread owns: the frames of the call's camera stage, and the track of
/// one peer connection.
pub(crate) struct VideoSender {
    pub frames: Receiver<Arc<CameraFrame>>,
    pub track: LocalTrack,
    /// The congestion controller's target, bits/s (f64 bits).
    pub target_bitrate: Arc<AtomicU64>,
    pub runtime: Handle,
    pub controls: Arc<Controls>,
    pub counters: Arc<Counters>,
    pub notes: Notes,
}

/// Which part of the video bitrate an encoder gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Share {
    /// The camera alone.
    All,
    /// The camera while a screen is shared: a quarter (a face needs far less than text).
    CameraBesideScreen,
    /// The screen share: the other three quarters.
    Screen,
}

/// The encoder bitrate for `share` of the congestion controller's target, after audio's
/// part, within the encoder's bounds and the user's quality cap.
pub(crate) fn bitrate_kbps_for(
    target_bitrate: &AtomicU64,
    share: Share,
    quality: VideoQuality,
) -> u32 {
    let target = f64::from_bits(target_bitrate.load(Ordering::Relaxed)) as u64;
    let video = target.saturating_sub(AUDIO_SHARE_BPS) / 1000;
    let part = match share {
        Share::All => video,
        Share::CameraBesideScreen => video / 4,
        Share::Screen => video - video / 4,
    };
    let cap = match quality {
        VideoQuality::Low => LOW_VIDEO_KBPS,
        _ => MAX_BITRATE_KBPS,
    };
    part.clamp(u64::from(MIN_BITRATE_KBPS), u64::from(cap)) as u32
}

/// How far the encoder's output may run above its target before frames are skipped: VP8's
/// own rate control overshoots by up to 15 %, which is not worth a stutter.
const DROPPER_TOLERANCE: f64 = 1.2;
/// Unspent budget kept for a later frame, seconds of the target: a quiet scene's small
/// frames do not buy a burst later.
const DROPPER_CREDIT: f64 = 0.25;

/// Skips camera frames while the encoder has put out more than its target allows (with
/// [`DROPPER_TOLERANCE`]). VP8 at its quantizer limit cannot go below a picture's floor: a
/// busy 640x480 scene at the 50 kbit/s the congestion controller leaves on a thin link
/// still comes out at about 200 kbit/s, which would take the link from the voice. Fewer
/// frames a second is then the only way down (libwebrtc's frame dropper does the same).
#[derive(Debug, Default)]
pub(crate) struct FrameDropper {
    /// Bits sent beyond the budget so far (negative: unspent budget).
    debt_bits: f64,
    last: Option<Instant>,
}

impl FrameDropper {
    /// Whether a frame may be encoded `now` at a target of `target_kbps`.
    pub(crate) fn admit(&mut self, now: Instant, target_kbps: u32) -> bool {
        let rate = f64::from(target_kbps) * 1000.0 * DROPPER_TOLERANCE;
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.debt_bits = (self.debt_bits - rate * elapsed).max(-rate * DROPPER_CREDIT);
        }
        self.last = Some(now);
        self.debt_bits <= 0.0
    }

    /// Counts an encoded frame of `bytes`.
    pub(crate) fn spent(&mut self, bytes: usize) {
        self.debt_bits += (bytes * 8) as f64;
    }
}

/// How long an encoder waits for a camera frame before it looks at `stop` again.
const FRAME_WAIT: Duration = Duration::from_millis(100);

/// Starts the thread that encodes the camera stage's frames for one peer connection and
/// sends them.
///
/// The encoder takes `&FilteredFrame` only, and the camera stage hands out nothing else: a
/// frame reaches it through the privacy filter or as an all-black frame, never raw
/// (`blackout` makes `FilteredFrame` impossible to build otherwise).
///
/// Returns the encoder thread and the task that answers the peer's keyframe requests
/// ([`keyframes::answer_requests`]).
pub(crate) fn spawn_sender(
    parts: VideoSender,
) -> std::io::Result<(JoinHandle<()>, tokio::task::JoinHandle<()>)> {
    let VideoSender {
        frames,
        track,
        target_bitrate,
        runtime,
        controls,
        counters,
        notes,
    } = parts;
    let requests = keyframes::answer_requests(
        track.clone(),
        keyframes::Encoder::Camera,
        controls.clone(),
        counters.clone(),
        &runtime,
    );
    let thread = std::thread::Builder::new()
        .name("video-send".into())
        .spawn(move || {
            let mut encoder: Option<(u32, u32, VideoEncoder)> = None;
            let mut bitrate_kbps = 0u32;
            let mut dropper = FrameDropper::default();
            // The encoder counts its keyframe interval in frames; with frames skipped that
            // could stretch to half a minute without a picture a receiver can start from.
            let mut last_keyframe = Instant::now();
            while !Controls::get(&controls.stop) {
                let shared = match frames.recv_timeout(FRAME_WAIT) {
                    Ok(frame) => frame,
                    Err(RecvTimeoutError::Timeout) => continue,
                    // The camera stage ended (stopped, or the camera failed: reported there).
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                if !Controls::get(&controls.connected) {
                    continue;
                }
                let filtered = &shared.frame;
                let (w, h) = (filtered.width(), filtered.height());
                if !matches!(&encoder, Some((ew, eh, _)) if (*ew, *eh) == (w, h)) {
                    match VideoEncoder::new(EncoderConfig::new(w, h, shared.fps)) {
                        Ok(e) => encoder = Some((w, h, e)),
                        Err(e) => {
                            let _ = notes.send(PipelineNote::device(MediaPart::Vp8Encoder, e));
                            return;
                        }
                    }
                    bitrate_kbps = 0;
                    Controls::set(&controls.force_keyframe, true);
                }
                let Some((_, _, enc)) = encoder.as_mut() else {
                    continue;
                };
                let share = if Controls::get(&controls.screen_sharing) {
                    Share::CameraBesideScreen
                } else {
                    Share::All
                };
                let kbps = bitrate_kbps_for(&target_bitrate, share, controls.video_quality());
                // Follow the congestion controller, ignoring changes under 10 %.
                if kbps.abs_diff(bitrate_kbps) * 10 > bitrate_kbps {
                    match enc.set_bitrate_kbps(kbps) {
                        Ok(applied) => {
                            bitrate_kbps = applied;
                            counters
                                .video_bitrate_kbps
                                .store(u64::from(applied), Ordering::Relaxed);
                        }
                        Err(e) => tracing::debug!(error = %e, "bitrate change refused"),
                    }
                }
                if last_keyframe.elapsed() >= KEYFRAME_INTERVAL {
                    Controls::set(&controls.force_keyframe, true);
                }
                // A keyframe someone asked for is never skipped: the picture depends on it.
                if !Controls::get(&controls.force_keyframe)
                    && !dropper.admit(Instant::now(), bitrate_kbps.max(MIN_BITRATE_KBPS))
                {
                    continue;
                }
                let keyframe = controls
                    .force_keyframe
                    .swap(false, std::sync::atomic::Ordering::AcqRel);
                let packets = match enc.encode(filtered, keyframe) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "VP8 encode failed; frame skipped");
                        continue;
                    }
                };
                dropper.spent(packets.iter().map(|p| p.data.len()).sum());
                if packets.iter().any(|p| p.keyframe) {
                    last_keyframe = Instant::now();
                    Counters::bump(&counters.video_keyframes_sent);
                }
                for packet in packets {
                    match runtime.block_on(track.write(
                        packet.data,
                        shared.captured_at,
                        shared.duration(),
                    )) {
                        Ok(true) => Counters::bump(&counters.video_frames_sent),
                        Ok(false) => {}
                        Err(e) => tracing::debug!(error = %e, "video frame not sent"),
                    }
                }
            }
        });
    match thread {
        Ok(thread) => Ok((thread, requests)),
        Err(e) => {
            requests.abort();
            Err(e)
        }
    }
}

/// Where a received video track's frames are counted: the camera's counters or the
/// screen share's.
#[derive(Clone)]
pub(crate) enum ReceiveTally {
    Camera(Arc<Counters>),
    Screen(Arc<Counters>),
}

impl ReceiveTally {
    fn decoded(&self) -> &AtomicU64 {
        match self {
            ReceiveTally::Camera(c) => &c.video_frames_decoded,
            ReceiveTally::Screen(c) => &c.screen_frames_decoded,
        }
    }

    /// Where keyframes are counted (the camera's only).
    fn keyframes(&self) -> Option<&AtomicU64> {
        match self {
            ReceiveTally::Camera(c) => Some(&c.video_keyframes_received),
            ReceiveTally::Screen(_) => None,
        }
    }

    fn requests_sent(&self) -> &AtomicU64 {
        match self {
            ReceiveTally::Camera(c) | ReceiveTally::Screen(c) => &c.keyframe_requests_sent,
        }
    }

    fn dropped(&self) -> &AtomicU64 {
        match self {
            ReceiveTally::Camera(c) => &c.video_frames_dropped,
            ReceiveTally::Screen(c) => &c.screen_frames_dropped,
        }
    }

    fn thread_name(&self) -> &'static str {
        match self {
            ReceiveTally::Camera(_) => "video-decode",
            ReceiveTally::Screen(_) => "screen-decode",
        }
    }
}

/// Reads the peer's video track, reassembles VP8 frames and decodes them on a thread of
/// their own into `sink`. Returns the reader task and the decoder thread.
pub(crate) fn spawn_receiver(
    track: Arc<dyn TrackRemote>,
    mut sink: Box<dyn RemoteVideoSink>,
    tally: ReceiveTally,
    transform: Arc<dyn FrameTransform>,
    notes: Notes,
) -> std::io::Result<(tokio::task::JoinHandle<()>, JoinHandle<()>)> {
    let kind = match tally {
        ReceiveTally::Camera(_) => FrameKind::Camera,
        ReceiveTally::Screen(_) => FrameKind::Screen,
    };
    let (frames_tx, frames_rx) = sync_channel::<Vec<u8>>(DECODE_QUEUE);
    let decode_tally = tally.clone();
    let mut repair = PictureRepair::default();
    let decode_failed: Arc<AtomicBool> = repair.decode_failed.clone();
    let decoder = std::thread::Builder::new()
        .name(tally.thread_name().into())
        .spawn(move || {
            let mut decoder = match VideoDecoder::new() {
                Ok(d) => d,
                Err(e) => {
                    let _ = notes.send(PipelineNote::device(MediaPart::Vp8Decoder, e));
                    return;
                }
            };
            // Ends when the reader task drops its sender.
            for frame in frames_rx {
                match decoder.decode(&frame) {
                    Ok(pictures) => {
                        for picture in pictures {
                            Counters::bump(decode_tally.decoded());
                            sink.on_frame(&picture);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "undecodable video frame dropped");
                        decode_failed.store(true, Ordering::Release);
                    }
                }
            }
        })?;
    let reader = tokio::spawn(async move {
        let mut builder = SampleBuilder::new(MAX_LATE_PACKETS, Vp8Packet::default(), 90_000);
        while let Some(event) = track.poll().await {
            let TrackRemoteEvent::OnRtpPacket(packet) = event else {
                continue;
            };
            let media_ssrc = packet.header.ssrc;
            let arrived = Instant::now();
            repair.on_packet(packet.header.sequence_number, arrived);
            builder.push(arrived, packet);
            while let Some(sample) = builder.pop(Instant::now()) {
                // Padding packets are dropped too, and harmlessly.
                let dropped = sample
                    .prev_dropped_packets
                    .saturating_sub(sample.prev_padding_packets)
                    > 0;
                let opened = transform.incoming(kind, sample.data.to_vec());
                let keyframe = opened.as_deref().ok().map(keyframes::is_vp8_keyframe);
                if let (Some(true), Some(counter)) = (keyframe, tally.keyframes()) {
                    Counters::bump(counter);
                }
                if repair.on_frame(dropped, keyframe, Instant::now()) {
                    let request = vec![keyframe_requests::picture_loss(media_ssrc)];
                    match track.write_rtcp(request).await {
                        Ok(()) => Counters::bump(tally.requests_sent()),
                        Err(e) => tracing::debug!(error = %e, "keyframe request not sent"),
                    }
                }
                let frame = match opened {
                    Ok(frame) => frame,
                    Err(e) => {
                        tracing::debug!(error = %e, "video frame dropped");
                        continue;
                    }
                };
                match frames_tx.try_send(frame) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        // The decoder will miss a frame the next ones build on.
                        Counters::bump(tally.dropped());
                        repair.decode_failed.store(true, Ordering::Release);
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
        }
    });
    Ok((reader, decoder))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(bps: u64) -> AtomicU64 {
        AtomicU64::new((bps as f64).to_bits())
    }

    #[test]
    fn a_shrinking_link_takes_video_down_to_its_floor_before_the_voice_loses_a_bit() {
        // The voice's most, under heavy loss, is what audio keeps whatever the target.
        let voice = super::super::audio::bitrate_for_loss(40) as u64;
        assert_eq!(voice, AUDIO_SHARE_BPS);
        let mut previous = u32::MAX;
        for kbps in [2_000u64, 1_000, 500, 300, 200, 150, 100, 64] {
            let video = bitrate_kbps_for(&target(kbps * 1000), Share::All, VideoQuality::Normal);
            assert!(video <= previous, "video follows the target down");
            previous = video;
            // Video never eats into the voice's part, down to the encoder's floor.
            let room = (kbps * 1000).saturating_sub(voice) / 1000;
            assert_eq!(
                u64::from(video),
                room.clamp(u64::from(MIN_BITRATE_KBPS), u64::from(MAX_BITRATE_KBPS))
            );
        }
        assert_eq!(
            previous, MIN_BITRATE_KBPS,
            "on a link thinner than the voice, video idles"
        );
    }

    #[test]
    fn frames_are_skipped_only_while_the_encoder_runs_over_its_target() {
        let start = Instant::now();
        let frame = Duration::from_secs(1) / 24;
        let run = |dropper: &mut FrameDropper, bytes: usize, kbps: u32, from: u32| {
            let mut sent = 0;
            for i in from..from + 24 * 5 {
                if dropper.admit(start + frame * i, kbps) {
                    dropper.spent(bytes);
                    sent += 1;
                }
            }
            sent
        };
        let mut dropper = FrameDropper::default();
        // On target (800 kbit/s in 24 frames of 4 kB a second): every frame goes.
        assert_eq!(run(&mut dropper, 4_166, 800, 0), 120);
        // Four times over a 50 kbit/s target (200 kbit/s in frames of 1 kB): about one in
        // three and a third goes, so the output stays near 60 kbit/s (the tolerance).
        let sent = run(&mut dropper, 1_041, 50, 120);
        let kbps = (sent * 1_041 * 8) as f64 / 5.0 / 1000.0;
        assert!(
            (50.0..=70.0).contains(&kbps),
            "{sent} frames: {kbps:.0} kbit/s"
        );
    }

    #[test]
    fn a_shared_screen_takes_three_quarters_and_low_quality_caps_both() {
        let t = target(1_064_000);
        let camera = bitrate_kbps_for(&t, Share::CameraBesideScreen, VideoQuality::Normal);
        let screen = bitrate_kbps_for(&t, Share::Screen, VideoQuality::Normal);
        assert_eq!((camera, screen), (250, 750));
        for share in [Share::All, Share::CameraBesideScreen, Share::Screen] {
            assert!(bitrate_kbps_for(&t, share, VideoQuality::Low) <= LOW_VIDEO_KBPS);
        }
    }
}
