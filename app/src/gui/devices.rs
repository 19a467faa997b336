//! The app's view into a call's media: the engine's devices wrapped so that the peer's
//! video and the local preview reach the UI.
//!
//! The local preview is tapped at the privacy filter's *output* ([`PreviewTap`]), so the
//! user sees exactly what is sent, never the raw camera (DESIGN.md section 5, invariant 1).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use blackout::{FilterState, FilteredFrame, PrivacyFilter, RawFrame};
use calling::{MediaDevices, RemoteVideoSink};
use eframe::egui;
use media::audio::{AudioError, AudioSink, AudioSource};
use media::video::{DecodedFrame, VideoError, VideoSource};

use super::picture::Picture;

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
    inner: Arc<dyn MediaDevices>,
    /// The peer's video.
    pub remote: FrameSlot,
    /// What our camera sends (after the privacy filter).
    pub preview: FrameSlot,
}

impl UiDevices {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn MediaDevices>) -> UiDevices {
        UiDevices {
            inner,
            remote: FrameSlot::default(),
            preview: FrameSlot::default(),
        }
    }
}

impl MediaDevices for UiDevices {
    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        self.inner.microphone()
    }

    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        self.inner.speaker()
    }

    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        self.inner.camera()
    }

    fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
        self.preview.clear();
        Box::new(PreviewTap {
            inner: self.inner.privacy_filter(),
            slot: self.preview.clone(),
        })
    }

    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        self.remote.clear();
        // The inner sink still gets every frame (tests and the demo probe it).
        Box::new(RemoteTap {
            inner: self.inner.remote_video(),
            slot: self.remote.clone(),
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
}

impl RemoteVideoSink for RemoteTap {
    fn on_frame(&mut self, frame: &DecodedFrame) {
        self.inner.on_frame(frame);
        self.slot.count();
        if let Some(picture) = Picture::from_decoded(frame) {
            self.slot.put(picture);
        }
    }
}
