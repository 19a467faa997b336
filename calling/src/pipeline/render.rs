//! The audio render stage: every remote audio stream of a call (one in a 1:1 call, one per
//! member in a mesh) has its own playout buffer and decoder; one render thread takes one
//! 20 ms frame from each every tick, mixes them, hands the mix to the far-end tap (the echo
//! canceller's reference) and plays it.
//!
//! Mixing here, rather than one speaker per stream, is what lets an echo canceller see
//! everything the speaker plays, and keeps one output device open however many people
//! talk.

use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use media::audio::{AudioSink, OpusDecoder, Playout, PlayoutBuffer, FRAME_DURATION, FRAME_SAMPLES};

use super::audio::PLAYOUT;
use super::voice::{Tick, VoiceMeter};
use super::{Controls, Counters, Notes, PipelineNote};
use crate::engine::MediaPart;

/// Gets every frame the speaker plays, as played (after mixing): the far-end reference an
/// echo canceller subtracts from the microphone. Called on the render thread every 20 ms;
/// must not block.
pub trait FarEndTap: Send + 'static {
    /// One played frame (48 kHz mono, 20 ms).
    fn far_end(&mut self, played: &[i16]);
}

/// Adds `frame` into `mix`, sample by sample, saturating at the i16 range (two loud
/// talkers clip rather than wrap around into noise).
pub(crate) fn mix_into(mix: &mut [i16], frame: &[i16]) {
    for (m, s) in mix.iter_mut().zip(frame) {
        *m = m.saturating_add(*s);
    }
}

/// One remote stream's playout buffer: the RTP reader pushes into it, the render thread
/// pops from it.
pub(crate) struct StreamInput {
    buffer: Arc<Mutex<PlayoutBuffer>>,
    streams: Weak<Mutex<Vec<Stream>>>,
}

impl StreamInput {
    /// Queues one received audio frame (already through the frame transform).
    pub fn push(&self, seq: u16, rtp_timestamp: u32, frame: Vec<u8>, arrival: Instant) {
        self.buffer
            .lock()
            .expect("playout lock")
            .push(seq, rtp_timestamp, frame, arrival);
    }

    /// Stops mixing this stream (its track ended, its member left).
    pub fn close(self) {
        if let Some(streams) = self.streams.upgrade() {
            streams
                .lock()
                .expect("render streams lock")
                .retain(|s| !Arc::ptr_eq(&s.buffer, &self.buffer));
        }
    }
}

struct Stream {
    buffer: Arc<Mutex<PlayoutBuffer>>,
    decoder: OpusDecoder,
    voice: VoiceMeter,
    /// Where this stream's voice activity goes (its connection's notes).
    voice_notes: Option<Notes>,
}

impl Stream {
    /// This tick's frame of the stream (decoded, concealed, or `None` while it waits);
    /// tells its connection when the peer starts or stops speaking, mutes or unmutes.
    fn next_frame(&mut self, counters: &Counters) -> Option<Vec<i16>> {
        let (frame, decoded) = self.decode_next(counters);
        let tick = match (&frame, decoded) {
            (Some(samples), true) => Tick::Decoded(samples),
            _ => Tick::Missing,
        };
        if let (Some(change), Some(notes)) = (self.voice.observe(tick), &self.voice_notes) {
            let _ = notes.send(PipelineNote::RemoteVoice(change));
        }
        frame
    }

    /// The next frame, and whether it was decoded from a packet that arrived.
    fn decode_next(&mut self, counters: &Counters) -> (Option<Vec<i16>>, bool) {
        let next = self
            .buffer
            .lock()
            .expect("playout lock")
            .pop(Instant::now());
        match next {
            Playout::Packet(packet) => match self.decoder.decode(Some(&packet)) {
                Ok(samples) => {
                    let mut first = counters.first_audio_at.lock().expect("lock");
                    first.get_or_insert_with(Instant::now);
                    Counters::bump(&counters.audio_frames_played);
                    (Some(samples), true)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "undecodable audio packet concealed");
                    Counters::bump(&counters.audio_frames_concealed);
                    (self.decoder.decode(None).ok(), false)
                }
            },
            Playout::Conceal => {
                Counters::bump(&counters.audio_frames_concealed);
                (self.decoder.decode(None).ok(), false)
            }
            Playout::Recover(next) => {
                Counters::bump(&counters.audio_frames_recovered);
                (self.decoder.recover(&next).ok(), false)
            }
            // The sender's silence (DTX): the decoder's comfort noise is what it meant to
            // send, so the voice meter reads it like a decoded frame (a muted sender's
            // comfort noise is digital silence).
            Playout::Comfort => {
                Counters::bump(&counters.audio_frames_comfort);
                (self.decoder.decode(None).ok(), true)
            }
            Playout::Wait => (None, false),
        }
    }
}

/// The render thread and the streams it mixes.
pub(crate) struct RenderStage {
    streams: Arc<Mutex<Vec<Stream>>>,
    thread: Option<JoinHandle<()>>,
    notes: Notes,
}

impl RenderStage {
    /// Starts the render thread: every 20 ms one mixed frame (silence while no stream has
    /// anything) to `sink`, and to `far_end` when given.
    pub fn start(
        mut sink: Box<dyn AudioSink>,
        mut far_end: Option<Box<dyn FarEndTap>>,
        controls: Arc<Controls>,
        counters: Arc<Counters>,
        notes: Notes,
    ) -> std::io::Result<Self> {
        let streams: Arc<Mutex<Vec<Stream>>> = Arc::default();
        let shared = streams.clone();
        let thread_notes = notes.clone();
        let thread = std::thread::Builder::new()
            .name("audio-render".into())
            .spawn(move || {
                let start = Instant::now();
                let mut tick: u32 = 0;
                let mut mix = vec![0i16; FRAME_SAMPLES];
                while !Controls::get(&controls.stop) {
                    tick += 1;
                    // Absolute deadlines: sleep overshoot does not accumulate.
                    let due = start + FRAME_DURATION * tick;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    mix.fill(0);
                    for stream in shared.lock().expect("render streams lock").iter_mut() {
                        if let Some(frame) = stream.next_frame(&counters) {
                            mix_into(&mut mix, &frame);
                        }
                    }
                    if let Some(tap) = far_end.as_mut() {
                        tap.far_end(&mix);
                    }
                    if let Err(e) = sink.write_frame(&mix) {
                        let _ = thread_notes.send(PipelineNote::device(MediaPart::Speaker, e));
                        return;
                    }
                }
            })?;
        Ok(Self {
            streams,
            thread: Some(thread),
            notes,
        })
    }

    /// A new remote stream mixed from the next tick on, whose voice activity goes to
    /// `voice_notes`; `None` (reported) when its decoder cannot be made, and the other
    /// streams play on.
    pub fn add_stream(&self, voice_notes: Option<Notes>) -> Option<StreamInput> {
        let decoder = match OpusDecoder::new() {
            Ok(d) => d,
            Err(e) => {
                let _ = self
                    .notes
                    .send(PipelineNote::device(MediaPart::OpusDecoder, e));
                return None;
            }
        };
        let buffer = Arc::new(Mutex::new(PlayoutBuffer::new(PLAYOUT)));
        self.streams
            .lock()
            .expect("render streams lock")
            .push(Stream {
                buffer: buffer.clone(),
                decoder,
                voice: VoiceMeter::default(),
                voice_notes,
            });
        Some(StreamInput {
            buffer,
            streams: Arc::downgrade(&self.streams),
        })
    }

    /// How many streams are mixed now.
    #[cfg(test)]
    pub fn stream_count(&self) -> usize {
        self.streams.lock().expect("render streams lock").len()
    }

    /// The render thread, to join once `stop` is set.
    pub fn take_thread(&mut self) -> Option<JoinHandle<()>> {
        self.thread.take()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use media::audio::{
        goertzel_power, AudioError, AudioSource, OpusEncoder, ToneSource, DEFAULT_BITRATE,
    };

    use super::*;

    #[test]
    fn mixing_adds_and_clips_instead_of_wrapping() {
        let mut mix = vec![1000, i16::MAX - 10, i16::MIN + 10];
        mix_into(&mut mix, &[-250, 100, -100]);
        assert_eq!(mix, [750, i16::MAX, i16::MIN]);
    }

    /// Records what the speaker played.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<i16>>>);

    impl AudioSink for Recorder {
        fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError> {
            self.0.lock().unwrap().extend_from_slice(samples);
            Ok(())
        }
        fn describe(&self) -> String {
            "recorder".into()
        }
    }

    impl FarEndTap for Recorder {
        fn far_end(&mut self, played: &[i16]) {
            self.0.lock().unwrap().extend_from_slice(played);
        }
    }

    /// Opus packets of `hz` for `frames` frames.
    fn tone_packets(hz: f32, frames: usize) -> Vec<Vec<u8>> {
        let mut tone = ToneSource::new(hz, 0.3).paced(false);
        let mut encoder = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
        (0..frames)
            .map(|_| encoder.encode(&tone.read_frame().unwrap().samples).unwrap())
            .collect()
    }

    #[test]
    fn two_remote_streams_are_mixed_into_one_speaker_and_the_far_end_tap_gets_what_played() {
        let speaker = Recorder::default();
        let tap = Recorder::default();
        let controls = Arc::new(Controls::default());
        let counters = Arc::new(Counters::default());
        let (notes, _notes_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut stage = RenderStage::start(
            Box::new(speaker.clone()),
            Some(Box::new(tap.clone())),
            controls.clone(),
            counters.clone(),
            notes,
        )
        .unwrap();
        let (low, high) = (
            stage.add_stream(None).unwrap(),
            stage.add_stream(None).unwrap(),
        );
        assert_eq!(stage.stream_count(), 2);
        // Fifty frames of each tone, pushed at their real pace.
        let (a, b) = (tone_packets(440.0, 50), tone_packets(1320.0, 50));
        for (i, (pa, pb)) in a.into_iter().zip(b).enumerate() {
            let ts = (i as u32) * FRAME_SAMPLES as u32;
            low.push(i as u16, ts, pa, Instant::now());
            high.push(i as u16, ts, pb, Instant::now());
            std::thread::sleep(FRAME_DURATION);
        }
        std::thread::sleep(Duration::from_millis(100));
        Controls::set(&controls.stop, true);
        stage.take_thread().unwrap().join().unwrap();

        let played = speaker.0.lock().unwrap().clone();
        let heard = |hz| goertzel_power(&played, hz, 48_000);
        assert!(
            heard(440.0) > 100.0 * heard(880.0),
            "the first stream is heard"
        );
        assert!(
            heard(1320.0) > 100.0 * heard(880.0),
            "the second stream is heard"
        );
        assert!(
            Counters::read(&counters.audio_frames_played) >= 80,
            "frames of both streams were decoded"
        );
        assert_eq!(
            *tap.0.lock().unwrap(),
            played,
            "the far-end reference is exactly what the speaker played"
        );
    }

    #[test]
    fn a_closed_stream_is_no_longer_mixed() {
        let (notes, _rx) = tokio::sync::mpsc::unbounded_channel();
        let controls = Arc::new(Controls::default());
        let mut stage = RenderStage::start(
            Box::new(Recorder::default()),
            None,
            controls.clone(),
            Arc::default(),
            notes,
        )
        .unwrap();
        let first = stage.add_stream(None).unwrap();
        let _second = stage.add_stream(None).unwrap();
        first.close();
        assert_eq!(stage.stream_count(), 1);
        Controls::set(&controls.stop, true);
        stage.take_thread().unwrap().join().unwrap();
    }
}
