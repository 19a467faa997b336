//! One camera through one privacy filter, fanned out to every encoder of the call (one per
//! peer connection: one in a 1:1 call, one per member in a mesh).
//!
//! The filter runs once per captured frame whatever the number of encoders, and what the
//! stage hands out is a [`FilteredFrame`]: an encoder fed from here cannot get a raw
//! frame. A slow encoder loses frames (its queue holds two); it never holds up the camera
//! or the other encoders.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use blackout::{FilteredFrame, PrivacyFilter};
use media::video::VideoSource;

use super::{Controls, Notes, PipelineNote};
use crate::engine::{MediaPart, VideoQuality};

/// Frames queued for one encoder before the newest are dropped for it.
const ENCODER_QUEUE: usize = 2;

/// One filtered camera frame, shared by every encoder.
pub(crate) struct CameraFrame {
    /// What the privacy filter made of the capture (or black, camera off).
    pub frame: FilteredFrame,
    /// When the camera captured it.
    pub captured_at: Instant,
    /// The camera's frame rate (frames per second, at least 1).
    pub fps: u32,
}

impl CameraFrame {
    /// How long one frame lasts at the camera's rate.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(1) / self.fps
    }
}

type Subscribers = Arc<Mutex<Vec<SyncSender<Arc<CameraFrame>>>>>;

/// Opens the camera and its filter, on the camera thread.
type Opener = Box<
    dyn FnOnce() -> Result<(Box<dyn VideoSource>, Box<dyn PrivacyFilter>), PipelineNote> + Send,
>;

/// The camera thread and the encoders it feeds.
pub(crate) struct CameraStage {
    subscribers: Subscribers,
}

impl CameraStage {
    /// Starts the stage on the devices' camera behind their privacy filter. Both open on
    /// the camera thread (building the filter loads the blackout model), so the call's
    /// offer or answer does not wait for them; encoders get frames once they are open. A
    /// camera that cannot open is noted and its encoders' queues end (the call goes on
    /// without video); `None` when the thread cannot start.
    pub fn open(
        devices: Arc<dyn crate::devices::MediaDevices>,
        controls: Arc<Controls>,
        notes: &Notes,
    ) -> Option<(Self, JoinHandle<()>)> {
        let opener: Opener = Box::new(move || {
            let camera = devices
                .camera()
                .map_err(|e| PipelineNote::device(MediaPart::Camera, e))?;
            Ok((camera, devices.privacy_filter()))
        });
        match Self::spawn(opener, controls, notes.clone()) {
            Ok(started) => Some(started),
            Err(e) => {
                let _ = notes.send(PipelineNote::device(MediaPart::VideoSender, e));
                None
            }
        }
    }

    /// Starts the thread that reads `source`, filters every frame with `filter` (black
    /// while the camera is off) and hands it to the subscribed encoders.
    #[cfg(test)]
    pub fn start(
        source: Box<dyn VideoSource>,
        filter: Box<dyn PrivacyFilter>,
        controls: Arc<Controls>,
        notes: Notes,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        Self::spawn(Box::new(move || Ok((source, filter))), controls, notes)
    }

    fn spawn(
        opener: Opener,
        controls: Arc<Controls>,
        notes: Notes,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let subscribers: Subscribers = Arc::default();
        let fan_out = subscribers.clone();
        let thread = std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || {
                let (mut source, mut filter) = match opener() {
                    Ok(opened) => opened,
                    Err(note) => {
                        let _ = notes.send(note);
                        return;
                    }
                };
                let fps = source.fps().max(1);
                let mut last_filter_state: Option<(
                    std::mem::Discriminant<blackout::FilterState>,
                    bool,
                )> = None;
                while !Controls::get(&controls.stop) {
                    let captured = match source.read_frame() {
                        Ok(frame) => frame,
                        Err(e) => {
                            let _ = notes.send(PipelineNote::device(MediaPart::Camera, e));
                            return;
                        }
                    };
                    if controls.video_quality() == VideoQuality::Off {
                        // Audio only: the camera keeps pacing this loop, nothing is
                        // filtered, encoded or sent.
                        continue;
                    }
                    let (w, h) = (captured.width, captured.height);
                    // The filter runs even before the call connects, so the local preview
                    // and its state are ready when media starts.
                    let frame = if Controls::get(&controls.camera_off) {
                        FilteredFrame::black(w, h, captured.format)
                    } else {
                        match captured.as_raw() {
                            Ok(raw) => filter.filter(raw),
                            Err(e) => {
                                tracing::warn!(error = %e, "camera frame refused; black sent");
                                FilteredFrame::black(w, h, captured.format)
                            }
                        }
                    };
                    // Reported when it turns (starting / active / unavailable), not for
                    // every frame whose reason differs, so a struggling filter does not
                    // flood the UI.
                    let state = filter.state();
                    let key = (std::mem::discriminant(&state), state.is_active());
                    if last_filter_state != Some(key) {
                        let _ =
                            notes.send(PipelineNote::Filter(state.to_string(), state.is_active()));
                        last_filter_state = Some(key);
                    }
                    let shared = Arc::new(CameraFrame {
                        frame,
                        captured_at: captured.captured_at,
                        fps,
                    });
                    hand_out(&fan_out, shared);
                }
            })?;
        Ok((Self { subscribers }, thread))
    }

    /// A queue of the filtered frames from now on, for one more encoder. It ends when the
    /// camera does.
    pub fn subscribe(&self) -> Receiver<Arc<CameraFrame>> {
        let (tx, rx) = sync_channel(ENCODER_QUEUE);
        self.subscribers
            .lock()
            .expect("camera subscribers lock")
            .push(tx);
        rx
    }
}

/// Gives `frame` to every encoder that has room; forgets encoders that are gone.
fn hand_out(subscribers: &Subscribers, frame: Arc<CameraFrame>) {
    subscribers
        .lock()
        .expect("camera subscribers lock")
        .retain(|tx| match tx.try_send(frame.clone()) {
            Ok(()) | Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Disconnected(_)) => false,
        });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use blackout::{FilterState, RawFrame};
    use media::video::TestPatternSource;

    use super::*;

    /// Counts the frames it is asked to filter; paints them black.
    struct CountingFilter(Arc<AtomicUsize>);

    impl PrivacyFilter for CountingFilter {
        fn filter(&mut self, raw: RawFrame<'_>) -> FilteredFrame {
            self.0.fetch_add(1, Ordering::Relaxed);
            FilteredFrame::black(raw.width(), raw.height(), raw.format())
        }
        fn state(&self) -> FilterState {
            FilterState::Active
        }
    }

    #[test]
    fn one_camera_through_one_filter_feeds_every_encoder() {
        let filtered = Arc::new(AtomicUsize::new(0));
        let controls = Arc::new(Controls::default());
        let (notes, _notes_rx) = tokio::sync::mpsc::unbounded_channel();
        let (stage, thread) = CameraStage::start(
            Box::new(TestPatternSource::new(160, 120, 50)),
            Box::new(CountingFilter(filtered.clone())),
            controls.clone(),
            notes,
        )
        .unwrap();
        let encoders: Vec<_> = (0..3).map(|_| stage.subscribe()).collect();
        let mut received = [0usize; 3];
        let deadline = Instant::now() + Duration::from_secs(5);
        while received.iter().any(|n| *n < 10) && Instant::now() < deadline {
            for (queue, n) in encoders.iter().zip(received.iter_mut()) {
                while let Ok(frame) = queue.try_recv() {
                    assert_eq!((frame.frame.width(), frame.frame.height()), (160, 120));
                    *n += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Controls::set(&controls.stop, true);
        thread.join().unwrap();
        assert!(received.iter().all(|n| *n >= 10), "{received:?}");
        let filter_runs = filtered.load(Ordering::Relaxed);
        let most = *received.iter().max().unwrap();
        assert!(
            filter_runs <= most + ENCODER_QUEUE + 1,
            "the filter ran once per frame, not once per encoder: {filter_runs} runs for {most} frames"
        );
    }

    /// Synthetic devices whose camera cannot open.
    struct NoCamera(crate::devices::SyntheticDevices);

    impl crate::devices::MediaDevices for NoCamera {
        fn microphone(
            &self,
        ) -> Result<Box<dyn media::audio::AudioSource>, media::audio::AudioError> {
            self.0.microphone()
        }
        fn speaker(&self) -> Result<Box<dyn media::audio::AudioSink>, media::audio::AudioError> {
            self.0.speaker()
        }
        fn camera(&self) -> Result<Box<dyn VideoSource>, media::video::VideoError> {
            Err(media::video::VideoError::Camera("unplugged".into()))
        }
        fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
            self.0.privacy_filter()
        }
        fn remote_video(&self) -> Box<dyn crate::devices::RemoteVideoSink> {
            self.0.remote_video()
        }
        fn screen_targets(&self) -> media::video::ScreenTargets {
            self.0.screen_targets()
        }
        fn screen(
            &self,
            target: &media::video::ScreenTarget,
        ) -> Result<Box<dyn media::video::ScreenSource>, media::video::VideoError> {
            self.0.screen(target)
        }
        fn remote_screen(&self) -> Box<dyn crate::devices::RemoteVideoSink> {
            self.0.remote_screen()
        }
    }

    #[test]
    fn a_camera_that_cannot_open_is_noted_and_its_encoders_queues_end() {
        let (notes, mut notes_rx) = tokio::sync::mpsc::unbounded_channel();
        let devices = Arc::new(NoCamera(crate::devices::SyntheticDevices::new(440.0)));
        // Opening returns at once: the camera opens on the stage's own thread.
        let (stage, thread) = CameraStage::open(devices, Arc::default(), &notes).unwrap();
        let encoder = stage.subscribe();
        drop(stage); // as a session does once its encoder has subscribed
        thread.join().unwrap();
        assert_eq!(
            encoder.recv_timeout(Duration::from_secs(1)).err(),
            Some(std::sync::mpsc::RecvTimeoutError::Disconnected),
            "no frame, and the queue ends"
        );
        match notes_rx.try_recv() {
            Ok(PipelineNote::DeviceError(failure)) => {
                assert_eq!(failure.part, MediaPart::Camera, "{failure:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stalled_encoder_neither_stops_the_camera_nor_the_others() {
        let controls = Arc::new(Controls::default());
        let (notes, _notes_rx) = tokio::sync::mpsc::unbounded_channel();
        let (stage, thread) = CameraStage::start(
            Box::new(TestPatternSource::new(160, 120, 50)),
            Box::new(CountingFilter(Arc::default())),
            controls.clone(),
            notes,
        )
        .unwrap();
        let _stalled = stage.subscribe();
        let live = stage.subscribe();
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while got < 20 && Instant::now() < deadline {
            if live.recv_timeout(Duration::from_millis(200)).is_ok() {
                got += 1;
            }
        }
        Controls::set(&controls.stop, true);
        thread.join().unwrap();
        assert_eq!(got, 20, "the live encoder kept getting frames");
    }
}
