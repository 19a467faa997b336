//! A call's live figures, sampled once a second.

use std::time::Instant;

use crate::engine::events::CallStats;
use crate::engine::supervisor::Supervisor;
use crate::peer::MediaConnection;
use crate::pipeline::{Controls, Counters};

use super::now;
use super::pipelines::Media;

#[derive(Default)]
pub(super) struct StatsSample {
    at: Option<Instant>,
    bytes_in: u64,
    bytes_out: u64,
    frames_decoded: u64,
    packets_lost: i64,
    packets_received: u64,
    /// The loss measured on what the peer sends, over enough packets.
    incoming_loss: crate::pipeline::loss::LossWindow,
}

pub(super) async fn collect_stats(
    session: &dyn MediaConnection,
    media: &Media,
    supervisor: &Supervisor,
    last: &mut StatsSample,
) -> CallStats {
    let mode = supervisor.mode();
    let connected_at = supervisor.connected_at();
    let media_up = supervisor.path_up();
    let peer = session.stats().await;
    // The loss our audio meets on the way to the peer: its receiver reports, or, when
    // higher, the loss we measure on what it sends us. webrtc-rs 0.21 reads reports only
    // from receiver reports, not from the blocks in a sender report, which is how a peer
    // that also sends reports: without this the encoder saw no loss (quality bench:
    // 34 kbit/s at 10 % loss). Paths are mostly as lossy both ways; where they are not,
    // the cost is FEC bits, not quality.
    // Smoothed over the last seconds, weighted by packets: a silent peer (DTX) sends too
    // few a second for a per-second figure to mean anything (crate::pipeline::loss).
    let lost = (peer.packets_lost - last.packets_lost).max(0) as u64;
    let received = peer.packets_received.saturating_sub(last.packets_received);
    let incoming = last.incoming_loss.add(lost, received);
    let loss = match (peer.audio_loss_reported, incoming) {
        (Some(reported), Some(incoming)) => Some(reported.max(incoming)),
        (reported, incoming) => reported.or(incoming),
    };
    media.controls.note_peer_audio_loss(loss);
    let c = &media.counters;
    let now = now();
    let frames_decoded = Counters::read(&c.video_frames_decoded);
    let (bitrate_in_kbps, bitrate_out_kbps, video_fps) = match last.at {
        Some(at) => {
            let secs = now.duration_since(at).as_secs_f64().max(1e-3);
            (
                peer.bytes_received.saturating_sub(last.bytes_in) as f64 * 8.0 / 1000.0 / secs,
                peer.bytes_sent.saturating_sub(last.bytes_out) as f64 * 8.0 / 1000.0 / secs,
                frames_decoded.saturating_sub(last.frames_decoded) as f64 / secs,
            )
        }
        None => (0.0, 0.0, 0.0),
    };
    *last = StatsSample {
        at: Some(now),
        bytes_in: peer.bytes_received,
        bytes_out: peer.bytes_sent,
        frames_decoded,
        packets_lost: peer.packets_lost,
        packets_received: peer.packets_received,
        incoming_loss: std::mem::take(&mut last.incoming_loss),
    };
    CallStats {
        mode: Some(mode),
        connected_for: connected_at.map(|t| now.duration_since(t)),
        media_up: connected_at.is_some() && media_up,
        relayed: peer.local_candidate_type.as_deref() == Some("relay"),
        media_keys: media.keys.keys(),
        peer,
        audio_frames_sent: Counters::read(&c.audio_frames_sent),
        audio_packets_received: Counters::read(&c.audio_packets_received),
        audio_frames_played: Counters::read(&c.audio_frames_played),
        audio_frames_concealed: Counters::read(&c.audio_frames_concealed),
        audio_frames_recovered: Counters::read(&c.audio_frames_recovered),
        audio_frames_sent_with_fec: Counters::read(&c.audio_frames_sent_with_fec),
        audio_bitrate_kbps: Counters::read(&c.audio_bitrate_kbps) as u32,
        audio_frames_unsent_dtx: Counters::read(&c.audio_frames_unsent_dtx),
        audio_frames_comfort: Counters::read(&c.audio_frames_comfort),
        first_audio_at: *c.first_audio_at.lock().expect("lock"),
        video_frames_sent: Counters::read(&c.video_frames_sent),
        video_keyframes_sent: Counters::read(&c.video_keyframes_sent),
        video_frames_decoded: frames_decoded,
        video_keyframes_received: Counters::read(&c.video_keyframes_received),
        keyframe_requests_sent: Counters::read(&c.keyframe_requests_sent),
        keyframe_requests_received: Counters::read(&c.keyframe_requests_received),
        screen_keyframe_requests_received: Counters::read(&c.screen_keyframe_requests_received),
        video_fps,
        bitrate_in_kbps,
        bitrate_out_kbps,
        video_quality: media.controls.video_quality(),
        camera_off: Controls::get(&media.controls.camera_off),
        video_bitrate_kbps: Counters::read(&c.video_bitrate_kbps) as u32,
        screen_share: media.screen_share.as_ref().map(|s| s.what.clone()),
        screen_frames_sent: Counters::read(&c.screen_frames_sent),
        screen_keyframes_sent: Counters::read(&c.screen_keyframes_sent),
        screen_bitrate_kbps: Counters::read(&c.screen_bitrate_kbps) as u32,
        remote_screen: supervisor.remote_screen_active(),
        remote_screen_frames: Counters::read(&c.screen_frames_decoded),
    }
}
