//! The devices of a group call, opened once and shared by its peer connections: one
//! microphone capture fanned out to each connection's Opus encoder, one render stage that
//! mixes every member's stream into the speaker, one camera stage (filtered once) fanned
//! out to each connection's VP8 encoder.
//!
//! A 1:1 call opens its devices in its session; a group call opens them here, so a fifth
//! member costs an encoder and a decoder, not another microphone or another speaker.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use media::audio::{AudioError, AudioFrame, AudioSource};

use super::camera::{CameraFrame, CameraStage};
use super::processing;
use super::render::RenderStage;
use super::{Controls, Counters, Notes, PipelineNote};
use crate::devices::MediaDevices;
use crate::engine::MediaPart;

/// Frames queued for one connection's encoder before the capture drops them for it (a
/// stalled encoder must not hold up the others): 200 ms.
const ENCODER_QUEUE: usize = 10;

/// How long a connection's encoder waits for the shared capture before it reports the
/// microphone stalled (the capture's own device timeout comes first).
const MICROPHONE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

type AudioSubscribers = Arc<Mutex<Vec<SyncSender<AudioFrame>>>>;

/// A group call's shared devices.
pub(crate) struct SharedMedia {
    /// Mute, camera off and stop for the shared devices (each connection has its own
    /// controls for its encoders).
    pub controls: Arc<Controls>,
    microphone: Option<AudioSubscribers>,
    render: Option<RenderStage>,
    camera: Option<CameraStage>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl SharedMedia {
    /// Opens the microphone, the speaker and (for `video`) the camera. A device that
    /// cannot be opened is noted and the call goes on without it.
    pub fn start(devices: &Arc<dyn MediaDevices>, video: bool, muted: bool, notes: Notes) -> Self {
        let controls = Arc::new(Controls::default());
        Controls::set(&controls.muted, muted);
        let counters = Arc::new(Counters::default());
        let mut threads = Vec::new();
        let note = |part: MediaPart, e: &dyn std::fmt::Display| {
            let _ = notes.send(PipelineNote::device(part, e));
        };
        let mut far_end_tap = devices.far_end_tap();
        let microphone = match devices.microphone() {
            Ok(mic) => {
                // Processed once, before it is fanned out to every connection.
                let (mic, tap) = processing::process(
                    mic,
                    far_end_tap.take(),
                    &devices.voice_processing(),
                    controls.clone(),
                    notes.clone(),
                );
                far_end_tap = tap;
                match spawn_capture(mic, controls.clone(), notes.clone()) {
                    Ok((subscribers, thread)) => {
                        threads.push(thread);
                        Some(subscribers)
                    }
                    Err(e) => {
                        note(MediaPart::AudioSender, &e);
                        None
                    }
                }
            }
            Err(e) => {
                note(MediaPart::Microphone, &e);
                None
            }
        };
        let render = match devices.speaker() {
            Ok(speaker) => match RenderStage::start(
                speaker,
                far_end_tap,
                controls.clone(),
                counters,
                notes.clone(),
            ) {
                Ok(mut stage) => {
                    threads.extend(stage.take_thread());
                    Some(stage)
                }
                Err(e) => {
                    note(MediaPart::AudioPlayout, &e);
                    None
                }
            },
            Err(e) => {
                note(MediaPart::Speaker, &e);
                None
            }
        };
        let camera = video
            .then(|| CameraStage::open(devices.clone(), controls.clone(), &notes))
            .flatten()
            .map(|(stage, thread)| {
                threads.push(thread);
                stage
            });
        Self {
            controls,
            microphone,
            render,
            camera,
            threads: Mutex::new(threads),
        }
    }

    /// The microphone's frames from now on, for one more connection's encoder; `None`
    /// when the call has no microphone.
    pub fn microphone(&self) -> Option<Box<dyn AudioSource>> {
        let subscribers = self.microphone.as_ref()?;
        let mut subscribers = subscribers.lock().expect("microphone subscribers");
        // A connection set up as the call ends gets nothing to wait on (`stop` is set
        // before the list is cleared, under this lock).
        if Controls::get(&self.controls.stop) {
            return None;
        }
        let (tx, rx) = sync_channel(ENCODER_QUEUE);
        subscribers.push(tx);
        Some(Box::new(FannedOutMicrophone { frames: rx }))
    }

    /// The stage that mixes every member's audio into the speaker.
    pub fn render(&self) -> Option<&RenderStage> {
        self.render.as_ref()
    }

    /// The filtered camera frames from now on, for one more connection's encoder.
    pub fn camera(&self) -> Option<Receiver<Arc<CameraFrame>>> {
        self.camera.as_ref().map(CameraStage::subscribe)
    }

    /// Stops the shared devices; their threads end at their next frame. Returns them to
    /// join off the async runtime.
    pub fn stop(&self) -> Vec<JoinHandle<()>> {
        // The connections' encoders see the microphone end rather than wait on it.
        if let Some(subscribers) = &self.microphone {
            let mut subscribers = subscribers.lock().expect("microphone subscribers");
            Controls::set(&self.controls.stop, true);
            subscribers.clear();
        }
        Controls::set(&self.controls.stop, true);
        std::mem::take(&mut *self.threads.lock().expect("shared media threads"))
    }
}

/// Reads the microphone and hands every frame to each subscribed encoder that has room.
fn spawn_capture(
    mut mic: Box<dyn AudioSource>,
    controls: Arc<Controls>,
    notes: Notes,
) -> std::io::Result<(AudioSubscribers, JoinHandle<()>)> {
    let subscribers: AudioSubscribers = Arc::default();
    let fan_out = subscribers.clone();
    let thread = std::thread::Builder::new()
        .name("mic-capture".into())
        .spawn(move || {
            while !Controls::get(&controls.stop) {
                let frame = match mic.read_frame() {
                    Ok(frame) => frame,
                    Err(e) => {
                        let _ = notes.send(PipelineNote::device(MediaPart::Microphone, e));
                        return;
                    }
                };
                fan_out
                    .lock()
                    .expect("microphone subscribers")
                    .retain(|tx| match tx.try_send(frame.clone()) {
                        Ok(()) | Err(TrySendError::Full(_)) => true,
                        Err(TrySendError::Disconnected(_)) => false,
                    });
            }
        })?;
    Ok((subscribers, thread))
}

/// One connection's view of the shared microphone.
struct FannedOutMicrophone {
    frames: Receiver<AudioFrame>,
}

impl AudioSource for FannedOutMicrophone {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        self.frames
            .recv_timeout(MICROPHONE_WAIT)
            .map_err(|e| match e {
                RecvTimeoutError::Timeout => AudioError::Timeout {
                    kind: "microphone",
                    waited: MICROPHONE_WAIT,
                },
                RecvTimeoutError::Disconnected => AudioError::Device {
                    kind: "microphone",
                    message: "the call's microphone stopped".into(),
                },
            })
    }

    fn describe(&self) -> String {
        "the group call's microphone".into()
    }
}

#[cfg(test)]
mod tests {
    use media::audio::{ToneCheck, FRAME_SAMPLES};

    use super::*;
    use crate::devices::SyntheticDevices;

    #[test]
    fn every_connection_gets_every_microphone_frame() {
        let devices: Arc<dyn MediaDevices> = Arc::new(SyntheticDevices::new(660.0));
        let (notes, _) = tokio::sync::mpsc::unbounded_channel();
        let shared = SharedMedia::start(&devices, false, false, notes);
        let mut a = shared.microphone().expect("microphone");
        let mut b = shared.microphone().expect("microphone");
        for _ in 0..5 {
            let (fa, fb) = (a.read_frame().unwrap(), b.read_frame().unwrap());
            assert_eq!(fa.captured_at, fb.captured_at, "the same capture");
            assert_eq!(fa.samples.len(), FRAME_SAMPLES);
            assert!(ToneCheck::detect(&fa.samples, 660.0).dominant);
        }
        assert!(shared.render().is_some(), "one speaker for the call");
        assert!(shared.camera().is_none(), "an audio call opens no camera");
        for thread in shared.stop() {
            thread.join().unwrap();
        }
        // Once the capture ends, a connection's encoder is told (no silent hang).
        while a.read_frame().is_ok() {}
        assert!(matches!(a.read_frame(), Err(AudioError::Device { .. })));
    }

    #[test]
    fn a_connection_set_up_after_the_call_ended_gets_no_microphone() {
        let devices: Arc<dyn MediaDevices> = Arc::new(SyntheticDevices::new(440.0));
        let (notes, _) = tokio::sync::mpsc::unbounded_channel();
        let shared = SharedMedia::start(&devices, false, false, notes);
        for thread in shared.stop() {
            thread.join().unwrap();
        }
        assert!(shared.microphone().is_none(), "nothing to wait on forever");
    }

    #[test]
    fn a_stalled_connection_does_not_hold_up_the_others() {
        let devices: Arc<dyn MediaDevices> = Arc::new(SyntheticDevices::new(440.0));
        let (notes, _) = tokio::sync::mpsc::unbounded_channel();
        let shared = SharedMedia::start(&devices, false, false, notes);
        let _stalled = shared.microphone().expect("microphone");
        let mut live = shared.microphone().expect("microphone");
        // Far more frames than the stalled queue holds.
        for _ in 0..(ENCODER_QUEUE * 3) {
            live.read_frame().unwrap();
        }
        for thread in shared.stop() {
            thread.join().unwrap();
        }
    }
}
