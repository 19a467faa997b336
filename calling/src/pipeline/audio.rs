//! Audio out (microphone -> Opus -> RTP) and audio in (RTP -> playout buffer -> Opus ->
//! speaker).

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::audio::{
    AudioSink, AudioSource, OpusDecoder, OpusEncoder, Playout, PlayoutBuffer, PlayoutConfig,
    DEFAULT_BITRATE, FRAME_DURATION, FRAME_SAMPLES,
};
use tokio::runtime::Handle;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::transform::{FrameKind, FrameTransform};
use super::{Controls, Counters, Notes, PipelineNote};
use crate::peer::LocalTrack;

/// On loopback and good networks 20 ms is enough; the buffer raises it from measured
/// jitter (up to its maximum) when the network needs more.
pub(crate) const PLAYOUT: PlayoutConfig = PlayoutConfig {
    target_delay: Duration::from_millis(20),
    max_delay: Duration::from_millis(200),
};

/// Starts the thread that reads the microphone, encodes and sends.
pub(crate) fn spawn_sender(
    mut source: Box<dyn AudioSource>,
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
                    let _ = notes.send(PipelineNote::DeviceError(format!("Opus encoder: {e}")));
                    return;
                }
            };
            let silence = vec![0i16; FRAME_SAMPLES];
            while !Controls::get(&controls.stop) {
                let frame = match source.read_frame() {
                    Ok(frame) => frame,
                    Err(e) => {
                        let _ = notes.send(PipelineNote::DeviceError(format!("microphone: {e}")));
                        return;
                    }
                };
                if !Controls::get(&controls.connected) {
                    continue; // nothing to send to yet; the microphone keeps its pace
                }
                let samples = if Controls::get(&controls.muted) {
                    &silence
                } else {
                    &frame.samples
                };
                let packet = match encoder.encode(samples) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "Opus encode failed; frame skipped");
                        continue;
                    }
                };
                match runtime.block_on(track.write(packet, frame.captured_at, FRAME_DURATION)) {
                    Ok(true) => Counters::bump(&counters.audio_frames_sent),
                    Ok(false) => {}
                    Err(e) => tracing::debug!(error = %e, "audio frame not sent"),
                }
            }
        })
}

/// The receiving half: the playout buffer shared by the RTP reader and the playout
/// thread.
pub(crate) struct AudioReceiver {
    buffer: Arc<Mutex<PlayoutBuffer>>,
    playout: Option<JoinHandle<()>>,
}

impl AudioReceiver {
    /// Starts the playout thread: every 20 ms one frame to the speaker (decoded, concealed
    /// or silence).
    pub fn start(
        mut sink: Box<dyn AudioSink>,
        controls: Arc<Controls>,
        counters: Arc<Counters>,
        notes: Notes,
    ) -> std::io::Result<Self> {
        let buffer = Arc::new(Mutex::new(PlayoutBuffer::new(PLAYOUT)));
        let shared = buffer.clone();
        let playout = std::thread::Builder::new()
            .name("audio-playout".into())
            .spawn(move || {
                let mut decoder = match OpusDecoder::new() {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = notes.send(PipelineNote::DeviceError(format!("Opus decoder: {e}")));
                        return;
                    }
                };
                let silence = vec![0i16; FRAME_SAMPLES];
                let start = Instant::now();
                let mut tick: u32 = 0;
                while !Controls::get(&controls.stop) {
                    tick += 1;
                    // Absolute deadlines: sleep overshoot does not accumulate.
                    let due = start + FRAME_DURATION * tick;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let next = shared.lock().expect("playout lock").pop(Instant::now());
                    let decoded = match next {
                        Playout::Packet(packet) => match decoder.decode(Some(&packet)) {
                            Ok(samples) => {
                                let mut first = counters.first_audio_at.lock().expect("lock");
                                first.get_or_insert_with(Instant::now);
                                Counters::bump(&counters.audio_frames_played);
                                samples
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "undecodable audio packet concealed");
                                Counters::bump(&counters.audio_frames_concealed);
                                decoder.decode(None).unwrap_or_else(|_| silence.clone())
                            }
                        },
                        Playout::Conceal => {
                            Counters::bump(&counters.audio_frames_concealed);
                            decoder.decode(None).unwrap_or_else(|_| silence.clone())
                        }
                        Playout::Wait => silence.clone(),
                    };
                    if let Err(e) = sink.write_frame(&decoded) {
                        let _ = notes.send(PipelineNote::DeviceError(format!("speaker: {e}")));
                        return;
                    }
                }
            })?;
        Ok(Self {
            buffer,
            playout: Some(playout),
        })
    }

    /// Reads the peer's audio track into the playout buffer until the track ends.
    pub fn read_track(
        &self,
        track: Arc<dyn TrackRemote>,
        counters: Arc<Counters>,
        transform: Arc<dyn FrameTransform>,
    ) -> tokio::task::JoinHandle<()> {
        let buffer = self.buffer.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    Counters::bump(&counters.audio_packets_received);
                    // One Opus packet is one frame: it passes the transform whole.
                    let frame = match transform.incoming(FrameKind::Audio, packet.payload.to_vec())
                    {
                        Ok(frame) => frame,
                        Err(e) => {
                            tracing::debug!(error = %e, "audio frame dropped");
                            continue;
                        }
                    };
                    buffer.lock().expect("playout lock").push(
                        packet.header.sequence_number,
                        packet.header.timestamp,
                        frame,
                        Instant::now(),
                    );
                }
            }
        })
    }

    /// The playout thread, to join once `stop` is set.
    pub fn take_thread(&mut self) -> Option<JoinHandle<()>> {
        self.playout.take()
    }
}
