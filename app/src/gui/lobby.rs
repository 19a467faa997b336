//! The pre-call lobby's background work: the camera through the privacy filter into a
//! preview (the filter's output, never the raw camera, wrapped as in calls by
//! [`UiDevices`]), the microphone's level, a speaker test tone and the device lists.
//!
//! Everything runs on its own threads; the UI only reads [`Lobby::status`] and the
//! preview slot. Dropping the lobby (leaving it, or a call starting) stops the threads: they
//! check a flag after every frame and end by themselves, so the UI never waits for them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use calling::MediaDevices;
use eframe::egui;
use media::audio::{AudioSource, ToneSource, FRAME_SAMPLES, SAMPLE_RATE};
use media::video::VideoSource;

use super::devices::{DeviceCatalog, FrameSlot, UiDevices};

/// Frequency of the speaker test tone, Hz.
pub const TEST_TONE_HZ: f32 = 440.0;
/// Peak amplitude of the test tone (fraction of full scale): clearly audible, not loud.
const TEST_TONE_AMPLITUDE: f32 = 0.3;

/// What the lobby's threads found, for the UI.
#[derive(Clone, Debug, Default)]
pub struct LobbyStatus {
    /// The filter's state (`FilterState`'s Display) and whether it protects.
    pub filter: Option<(String, bool)>,
    /// Why the camera does not run.
    pub camera_error: Option<String>,
    /// Microphone level, RMS as a fraction of full scale (0..=1).
    pub mic_level: f32,
    /// Why the microphone does not run.
    pub mic_error: Option<String>,
    /// The speaker test: under way, done, or why it failed.
    pub speaker: Option<String>,
    /// Capture devices, or why they could not be listed.
    pub microphones: Option<Result<Vec<String>, String>>,
    /// Playback devices, or why they could not be listed.
    pub speakers: Option<Result<Vec<String>, String>>,
    /// Cameras, or why they could not be listed.
    pub cameras: Option<Result<Vec<String>, String>>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    status: Mutex<LobbyStatus>,
    repaint: Mutex<Option<egui::Context>>,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn update(&self, f: impl FnOnce(&mut LobbyStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(ctx) = &*self.repaint.lock().unwrap_or_else(|e| e.into_inner()) {
            ctx.request_repaint();
        }
    }
}

/// The running lobby. Its threads stop when it is dropped.
pub struct Lobby {
    devices: Arc<UiDevices>,
    shared: Arc<Shared>,
}

impl Lobby {
    /// Starts the camera and the microphone meter on `devices` (those picked), and lists
    /// what `catalog` offers for the pickers.
    pub fn start(
        devices: Arc<dyn MediaDevices>,
        catalog: Arc<dyn DeviceCatalog>,
        ctx: &egui::Context,
    ) -> Lobby {
        let devices = Arc::new(UiDevices::new(devices));
        devices.preview.set_repaint(ctx);
        let shared = Arc::new(Shared::default());
        *shared.repaint.lock().unwrap_or_else(|e| e.into_inner()) = Some(ctx.clone());
        let lobby = Lobby { devices, shared };
        lobby.spawn("lobby-camera", camera_loop);
        lobby.spawn("lobby-microphone", microphone_loop);
        let shared = lobby.shared.clone();
        let listed = std::thread::Builder::new()
            .name("lobby-devices".into())
            .spawn(move || list_devices(catalog.as_ref(), &shared));
        if let Err(e) = listed {
            let e = format!("device list thread: {e}");
            lobby.shared.update(|s| {
                s.microphones = Some(Err(e.clone()));
                s.speakers = Some(Err(e.clone()));
                s.cameras = Some(Err(e));
            });
        }
        lobby
    }

    fn spawn(&self, name: &str, work: fn(Arc<UiDevices>, Arc<Shared>)) {
        let (devices, shared) = (self.devices.clone(), self.shared.clone());
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(devices, shared));
        if let Err(e) = spawned {
            self.shared
                .update(|s| s.camera_error = Some(format!("{name} thread: {e}")));
        }
    }

    /// The filtered preview.
    pub fn preview(&self) -> &FrameSlot {
        &self.devices.preview
    }

    /// What the threads found so far.
    pub fn status(&self) -> LobbyStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Plays a 1 s 440 Hz tone on the speaker (unless one is playing).
    pub fn test_speaker(&self) {
        if self.status().speaker.as_deref() == Some(PLAYING) {
            return;
        }
        self.shared.update(|s| s.speaker = Some(PLAYING.into()));
        self.spawn("lobby-speaker", play_tone);
    }

    /// Asks the threads to stop (also done on drop).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Lobby {
    fn drop(&mut self) {
        self.stop();
    }
}

const PLAYING: &str = "Playing a 440 Hz tone…";

fn camera_loop(devices: Arc<UiDevices>, shared: Arc<Shared>) {
    let mut camera = match devices.camera() {
        Ok(c) => c,
        Err(e) => {
            shared.update(|s| s.camera_error = Some(format!("camera: {e}")));
            return;
        }
    };
    // As in calls: the preview tap wraps the filter, so only its output is shown. Building
    // the blackout filter loads the model (it may take seconds): here, not on the UI thread.
    let mut filter = devices.privacy_filter();
    let mut last: Option<(String, bool)> = None;
    while !shared.stopped() {
        let frame = match camera.read_frame() {
            Ok(f) => f,
            Err(e) => {
                shared.update(|s| s.camera_error = Some(format!("camera: {e}")));
                return;
            }
        };
        if let Ok(raw) = frame.as_raw() {
            // The output goes to the preview through the tap; nothing else keeps it.
            let _ = filter.filter(raw);
        }
        let state = filter.state();
        let now = (state.to_string(), state.is_active());
        if last.as_ref() != Some(&now) {
            last = Some(now.clone());
            shared.update(|s| s.filter = Some(now));
        }
    }
}

fn microphone_loop(devices: Arc<UiDevices>, shared: Arc<Shared>) {
    let mut mic = match devices.microphone() {
        Ok(m) => m,
        Err(e) => {
            shared.update(|s| s.mic_error = Some(format!("microphone: {e}")));
            return;
        }
    };
    // The meter shows what a call would send: the microphone after its processing (noise
    // suppression, gain control; no echo to cancel here, nothing plays).
    let mut chain = devices.voice_processing().chain();
    let mut frames = 0u64;
    while !shared.stopped() {
        match mic.read_frame() {
            Ok(mut frame) => {
                if let Some(chain) = chain.as_mut() {
                    // A fault leaves the frame as captured, as in a call.
                    let _ = chain.capture(&mut frame.samples);
                }
                let level = rms(&frame.samples);
                frames += 1;
                // Five updates a second are enough for a meter.
                if frames % 10 == 1 {
                    shared.update(|s| s.mic_level = level);
                }
            }
            Err(e) => {
                shared.update(|s| s.mic_error = Some(format!("microphone: {e}")));
                return;
            }
        }
    }
}

/// RMS of `samples` as a fraction of full scale.
pub fn rms(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    ((sum / samples.len() as f64).sqrt() / 32768.0) as f32
}

fn play_tone(devices: Arc<UiDevices>, shared: Arc<Shared>) {
    let result = (|| {
        let mut speaker = devices.speaker()?;
        let mut tone = ToneSource::new(TEST_TONE_HZ, TEST_TONE_AMPLITUDE);
        for _ in 0..SAMPLE_RATE as usize / FRAME_SAMPLES {
            if shared.stopped() {
                break;
            }
            speaker.write_frame(&tone.read_frame()?.samples)?;
        }
        Ok::<_, media::audio::AudioError>(())
    })();
    shared.update(|s| {
        s.speaker = Some(match result {
            Ok(()) => "Test tone played".into(),
            Err(e) => format!("speaker: {e}"),
        })
    });
}

fn list_devices(catalog: &dyn DeviceCatalog, shared: &Shared) {
    let lists = catalog.list();
    shared.update(|s| {
        s.microphones = Some(lists.microphones);
        s.speakers = Some(lists.speakers);
        s.cameras = Some(lists.cameras);
    });
}
