//! The app's view into a call's media: the engine's devices wrapped so that the peer's
//! video and the local preview reach the UI, and the catalog of devices the user picks
//! from ([`DeviceCatalog`]: the machine's, or synthetic ones for tests and the demo).
//!
//! The devices behind [`UiDevices`] can be swapped while the engine runs
//! ([`UiDevices::set_inner`]): the engine asks for fresh device instances when each call's
//! media starts, so a device picked in the lobby applies to the next call placed or answered
//! without restarting the engine.
//!
//! The local preview is tapped at the privacy filter's *output* ([`PreviewTap`]), so the
//! user sees exactly what is sent, never the raw camera (DESIGN.md section 5, invariant 1).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use blackout::{FilterState, FilteredFrame, PrivacyFilter, RawFrame};
use calling::{
    FilterChoice, MediaDevices, Probes, RemoteVideoSink, SyntheticDevices, SystemDevices,
    VoiceProcessing,
};
use eframe::egui;
use media::audio::{AudioError, AudioSink, AudioSource};
use media::video::{
    DecodedFrame, NokhwaCamera, ScreenSource, ScreenTarget, ScreenTargets, VideoError, VideoSource,
    DEFAULT_FPS,
};

use super::picture::Picture;
use super::settings::DeviceChoice;

/// Every how many frames the preview is refreshed: converting each 24 fps frame to RGBA
/// would spend CPU the blackout filter needs, and 8 fps is plenty for a thumbnail.
const PREVIEW_EVERY: u64 = 3;

/// The latest picture of one stream, shared between a media thread and the UI.
#[derive(Clone, Default)]
pub struct FrameSlot {
    inner: Arc<Mutex<SlotState>>,
    frames: Arc<AtomicU64>,
    repaint: Arc<Mutex<Option<egui::Context>>>,
}

#[derive(Default)]
struct SlotState {
    picture: Option<Picture>,
    generation: u64,
}

impl FrameSlot {
    /// Frames that passed through so far (converted or not).
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Repaints `ctx` whenever a new picture arrives.
    pub fn set_repaint(&self, ctx: &egui::Context) {
        *self.repaint.lock().unwrap_or_else(|e| e.into_inner()) = Some(ctx.clone());
    }

    /// The picture if it is newer than `seen` (a generation number), and its generation.
    pub fn newer_than(&self, seen: u64) -> Option<(u64, Picture)> {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match &state.picture {
            Some(p) if state.generation > seen => Some((state.generation, p.clone())),
            _ => None,
        }
    }

    /// Forgets the picture (a new call starts blank).
    pub fn clear(&self) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.picture = None;
        state.generation += 1;
    }

    fn count(&self) -> u64 {
        self.frames.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn put(&self, picture: Picture) {
        {
            let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            state.picture = Some(picture);
            state.generation += 1;
        }
        if let Some(ctx) = &*self.repaint.lock().unwrap_or_else(|e| e.into_inner()) {
            ctx.request_repaint();
        }
    }
}

/// The engine's devices, with the peer's video and the filtered preview sent to the UI.
pub struct UiDevices {
    inner: RwLock<Arc<dyn MediaDevices>>,
    /// The peer's video.
    pub remote: FrameSlot,
    /// The peer's screen share.
    pub remote_screen: FrameSlot,
    /// What our camera sends (after the privacy filter).
    pub preview: FrameSlot,
    /// Each group call member's video, by key.
    members: Mutex<std::collections::HashMap<nostr_signal::PublicKey, FrameSlot>>,
}

impl UiDevices {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn MediaDevices>) -> UiDevices {
        UiDevices {
            inner: RwLock::new(inner),
            remote: FrameSlot::default(),
            remote_screen: FrameSlot::default(),
            preview: FrameSlot::default(),
            members: Mutex::default(),
        }
    }

    /// The video slot of one group call member (made on first use).
    pub fn member_video(&self, member: &nostr_signal::PublicKey) -> FrameSlot {
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(*member)
            .or_default()
            .clone()
    }

    /// Uses `inner` from now on: calls (and lobbies) that open their devices after this get
    /// the new ones; a call already running keeps what it opened.
    pub fn set_inner(&self, inner: Arc<dyn MediaDevices>) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = inner;
    }

    fn inner(&self) -> Arc<dyn MediaDevices> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl MediaDevices for UiDevices {
    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        self.inner().microphone()
    }

    fn voice_processing(&self) -> VoiceProcessing {
        self.inner().voice_processing()
    }

    fn opus_fec(&self) -> bool {
        self.inner().opus_fec()
    }

    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        self.inner().speaker()
    }

    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        self.inner().camera()
    }

    fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
        self.preview.clear();
        Box::new(PreviewTap {
            inner: self.inner().privacy_filter(),
            slot: self.preview.clone(),
        })
    }

    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        self.remote.clear();
        // The inner sink still gets every frame (tests and the demo probe it).
        Box::new(RemoteTap {
            inner: self.inner().remote_video(),
            slot: self.remote.clone(),
            also: None,
        })
    }

    fn remote_video_of(&self, participant: &nostr_signal::PublicKey) -> Box<dyn RemoteVideoSink> {
        // The call's one remote slot (the 1:1 screen) and the member's own (the group
        // grid), from one conversion per frame.
        self.remote.clear();
        let member = self.member_video(participant);
        member.clear();
        Box::new(RemoteTap {
            inner: self.inner().remote_video_of(participant),
            slot: self.remote.clone(),
            also: Some(member),
        })
    }

    fn screen_targets(&self) -> ScreenTargets {
        self.inner().screen_targets()
    }

    fn frame_transform(&self) -> Arc<dyn calling::FrameTransform> {
        self.inner().frame_transform()
    }

    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError> {
        self.inner().screen(target)
    }

    fn remote_screen(&self) -> Box<dyn RemoteVideoSink> {
        self.remote_screen.clear();
        Box::new(RemoteTap {
            inner: self.inner().remote_screen(),
            slot: self.remote_screen.clone(),
            also: None,
        })
    }
}

/// A privacy filter that also hands its output to the preview.
struct PreviewTap {
    inner: Box<dyn PrivacyFilter>,
    slot: FrameSlot,
}

impl PrivacyFilter for PreviewTap {
    fn filter(&mut self, frame: RawFrame<'_>) -> FilteredFrame {
        let filtered = self.inner.filter(frame);
        if self.slot.count() % PREVIEW_EVERY == 1 {
            if let Some(picture) = Picture::from_filtered(&filtered) {
                self.slot.put(picture);
            }
        }
        filtered
    }

    fn state(&self) -> FilterState {
        self.inner.state()
    }
}

/// The peer's video, to the UI and to the wrapped sink.
struct RemoteTap {
    inner: Box<dyn RemoteVideoSink>,
    slot: FrameSlot,
    /// A second slot for the same picture (a group member's tile).
    also: Option<FrameSlot>,
}

impl RemoteVideoSink for RemoteTap {
    fn on_frame(&mut self, frame: &DecodedFrame) {
        self.inner.on_frame(frame);
        self.slot.count();
        if let Some(also) = &self.also {
            also.count();
        }
        if let Some(picture) = Picture::from_decoded(frame) {
            if let Some(also) = &self.also {
                also.put(picture.clone());
            }
            self.slot.put(picture);
        }
    }
}

/// The devices a user can pick from, by name.
#[derive(Clone, Debug)]
pub struct DeviceLists {
    /// Capture devices, or why they could not be listed.
    pub microphones: Result<Vec<String>, String>,
    /// Playback devices, or why they could not be listed.
    pub speakers: Result<Vec<String>, String>,
    /// Cameras, or why they could not be listed.
    pub cameras: Result<Vec<String>, String>,
}

/// Where the app's devices come from: it lists them for the pickers and builds the
/// [`MediaDevices`] for a choice.
pub trait DeviceCatalog: Send + Sync + 'static {
    /// The devices present now. May take a while (drivers are asked): call it off the UI
    /// thread.
    fn list(&self) -> DeviceLists;
    /// The devices of `choice`. Cheap and opens nothing (devices open when a call or the
    /// lobby starts); a name that is not present fails then, with the driver's error.
    fn devices(&self, choice: &DeviceChoice) -> Arc<dyn MediaDevices>;
}

/// The machine's devices (cpal, nokhwa) through `filter`.
pub struct SystemCatalog {
    /// The camera's privacy filter.
    pub filter: FilterChoice,
    /// The microphone's processing (echo cancellation, noise suppression).
    pub voice_processing: VoiceProcessing,
}

impl DeviceCatalog for SystemCatalog {
    fn list(&self) -> DeviceLists {
        DeviceLists {
            microphones: media::audio::list_input_devices().map_err(|e| e.to_string()),
            speakers: media::audio::list_output_devices().map_err(|e| e.to_string()),
            cameras: media::video::list_cameras()
                .map(|c| c.into_iter().map(|c| c.name).collect())
                .map_err(|e| e.to_string()),
        }
    }

    fn devices(&self, choice: &DeviceChoice) -> Arc<dyn MediaDevices> {
        Arc::new(ChosenSystemDevices {
            system: SystemDevices {
                microphone: choice.microphone.clone(),
                speaker: choice.speaker.clone(),
                camera: 0,
                filter: self.filter.clone(),
                voice_processing: self.voice_processing.clone(),
            },
            camera: choice.camera.clone(),
        })
    }
}

/// [`SystemDevices`] with the camera chosen by name: the name is looked up when the camera
/// opens (on the media thread), because V4L2 indices move when devices come and go.
struct ChosenSystemDevices {
    system: SystemDevices,
    camera: Option<String>,
}

impl MediaDevices for ChosenSystemDevices {
    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        self.system.microphone()
    }

    fn voice_processing(&self) -> VoiceProcessing {
        self.system.voice_processing()
    }

    fn opus_fec(&self) -> bool {
        self.system.opus_fec()
    }

    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        self.system.speaker()
    }

    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        let Some(name) = &self.camera else {
            return self.system.camera();
        };
        let cameras = media::video::list_cameras()?;
        match cameras.iter().find(|c| &c.name == name) {
            Some(c) => Ok(Box::new(NokhwaCamera::open(
                c.index,
                media::video::DEFAULT_WIDTH,
                media::video::DEFAULT_HEIGHT,
                media::video::DEFAULT_FPS,
            )?)),
            // Never another camera in its place: the user chose which room is filmed.
            None => Err(VideoError::Camera(format!(
                "the chosen camera {name:?} is not connected; pick another in the Lobby"
            ))),
        }
    }

    fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
        self.system.privacy_filter()
    }

    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        self.system.remote_video()
    }

    fn screen_targets(&self) -> ScreenTargets {
        self.system.screen_targets()
    }

    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError> {
        self.system.screen(target)
    }

    fn remote_screen(&self) -> Box<dyn RemoteVideoSink> {
        self.system.remote_screen()
    }
}

/// How far the second synthetic microphone's tone is from the first, Hz: far enough that
/// a tone detector tells them apart, and not a harmonic.
pub const SECOND_TONE_STEP_HZ: f32 = 310.0;

/// Synthetic devices with two of each kind, so that the pickers can be tested without
/// hardware: microphones are tones (the base's and one [`SECOND_TONE_STEP_HZ`] higher),
/// speakers are two recorders with their own probes, cameras are the base's (the people
/// clip when it has one, else the test pattern) and the test pattern at half its size.
pub struct SyntheticCatalog {
    base: SyntheticDevices,
    second_speaker: SyntheticDevices,
}

impl SyntheticCatalog {
    /// The catalog around `base` (its probes record the first speaker and every video).
    pub fn new(base: SyntheticDevices) -> SyntheticCatalog {
        let mut second_speaker = base.clone();
        second_speaker.probes = Probes::default();
        SyntheticCatalog {
            base,
            second_speaker,
        }
    }

    /// What the second speaker played (one probe per call or tone).
    pub fn second_speaker_probes(&self) -> &Probes {
        &self.second_speaker.probes
    }

    fn microphones(&self) -> [(String, f32); 2] {
        let hz = self.base.tone_hz;
        let second = hz + SECOND_TONE_STEP_HZ;
        [
            (format!("Synthetic tone {hz:.0} Hz"), hz),
            (format!("Synthetic tone {second:.0} Hz"), second),
        ]
    }

    /// Each camera's name, size and rate, and the file or clip it plays.
    fn cameras(&self) -> [SyntheticCamera; 2] {
        let (w, h, fps) = self.base.video;
        let (hw, hh) = ((w / 2).max(2) & !1, (h / 2).max(2) & !1);
        let first = match &self.base.video_file {
            Some(file) if file.is_dir() => "Synthetic camera: people walking".to_string(),
            Some(_) => "Synthetic camera: picture".to_string(),
            None => format!("Synthetic camera {w}x{h}"),
        };
        [
            (first, (w, h, fps), self.base.video_file.clone()),
            (
                format!("Synthetic camera {hw}x{hh}"),
                (hw, hh, DEFAULT_FPS),
                None,
            ),
        ]
    }
}

/// A synthetic camera of the catalog: its name, size and rate, and the file or clip it
/// plays (`None`: the test pattern).
type SyntheticCamera = (String, (u32, u32, u32), Option<PathBuf>);

/// Names of the two synthetic speakers.
pub const SYNTHETIC_SPEAKERS: [&str; 2] = ["Synthetic speaker 1", "Synthetic speaker 2"];

impl DeviceCatalog for SyntheticCatalog {
    fn list(&self) -> DeviceLists {
        DeviceLists {
            microphones: Ok(self.microphones().into_iter().map(|(n, _)| n).collect()),
            speakers: Ok(SYNTHETIC_SPEAKERS.iter().map(|s| s.to_string()).collect()),
            cameras: Ok(self.cameras().into_iter().map(|(n, ..)| n).collect()),
        }
    }

    fn devices(&self, choice: &DeviceChoice) -> Arc<dyn MediaDevices> {
        let mut devices = self.base.clone();
        // An unknown name (a device of another machine) means the first, as "default" does.
        if let Some((_, hz)) = self
            .microphones()
            .into_iter()
            .find(|(n, _)| Some(n) == choice.microphone.as_ref())
        {
            devices.tone_hz = hz;
        }
        if let Some((_, video, file)) = self
            .cameras()
            .into_iter()
            .find(|(n, ..)| Some(n) == choice.camera.as_ref())
        {
            devices.video = video;
            devices.video_file = file;
        }
        let speaker = if choice.speaker.as_deref() == Some(SYNTHETIC_SPEAKERS[1]) {
            self.second_speaker.clone()
        } else {
            self.base.clone()
        };
        Arc::new(ChosenSynthetic { devices, speaker })
    }
}

/// Synthetic devices with the speaker taken from another set (its own probes).
struct ChosenSynthetic {
    devices: SyntheticDevices,
    speaker: SyntheticDevices,
}

impl MediaDevices for ChosenSynthetic {
    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        self.devices.microphone()
    }

    fn voice_processing(&self) -> VoiceProcessing {
        self.devices.voice_processing()
    }

    fn opus_fec(&self) -> bool {
        self.devices.opus_fec()
    }

    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        self.speaker.speaker()
    }

    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        self.devices.camera()
    }

    fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
        self.devices.privacy_filter()
    }

    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        self.devices.remote_video()
    }

    fn screen_targets(&self) -> ScreenTargets {
        self.devices.screen_targets()
    }

    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError> {
        self.devices.screen(target)
    }

    fn remote_screen(&self) -> Box<dyn RemoteVideoSink> {
        self.devices.remote_screen()
    }
}
