//! A conference participant's media: one peer connection to the SFU, our audio and camera
//! sent as SFrame ciphertext under the room's MLS epoch key ([`GroupSframe`]), and every
//! other participant's forwarded tracks opened under theirs, played (one mixed speaker) and
//! metered per sender.
//!
//! The SFU names each forwarded track's stream after its publisher's participant id
//! (`a=msid`), which is how a track is tied to a sender here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use std::sync::atomic::AtomicBool;

use ::media::video::{DecodedFrame, HeightCappedScreen, ScreenSource};
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::meter::SenderMeter;
use crate::devices::{MediaDevices, RemoteVideoSink};
use crate::e2ee::GroupSframe;
use crate::peer::{PeerEvent, PeerSession, PeerSetup, RemoteKind};
use crate::pipeline::screen::{self, ScreenSender};
use crate::pipeline::shared::SharedMedia;
use crate::pipeline::transform::{FrameKind, FrameTransform};
use crate::pipeline::video::ReceiveTally;
use crate::pipeline::{audio, keyframes, video, Controls, Counters, PipelineNote};

/// What we know of one sender's media.
#[derive(Default)]
pub(crate) struct SenderState {
    pub audio_packets: u64,
    pub audio_opened: u64,
    pub audio_refused: u64,
    pub last_audio: Option<Instant>,
    pub meter: Option<SenderMeter>,
    pub video: Option<Arc<Counters>>,
    pub last_frame: Option<Arc<DecodedFrame>>,
    /// Their screen share's decoder counters, while they share.
    pub screen: Option<Arc<Counters>>,
    /// When their screen share's last frame was decoded.
    pub last_screen_at: Option<Instant>,
    pub last_screen_frame: Option<Arc<DecodedFrame>>,
}

pub(crate) type Senders = Arc<Mutex<HashMap<String, SenderState>>>;

/// The media of one conference participant.
pub(crate) struct ConferenceMedia {
    pub session: Arc<PeerSession>,
    shared: Arc<SharedMedia>,
    pub sframe: Arc<GroupSframe>,
    pub counters: Arc<Counters>,
    pub senders: Senders,
    notes: UnboundedSender<PipelineNote>,
    /// Keep each sender's latest decoded frame (for a participant grid).
    keep_frames: bool,
    threads: Vec<JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Our screen share's stop flag, while we share.
    screen_stop: Option<Arc<AtomicBool>>,
    screen_shares: u64,
}

impl ConferenceMedia {
    /// Builds the connection (with a screen-share section only when `screen`) and starts
    /// the encoders; they send once the path is up and the first epoch's key is there.
    pub async fn start(
        setup: PeerSetup,
        screen: bool,
        keep_frames: bool,
        devices: &Arc<dyn MediaDevices>,
        events: UnboundedSender<PeerEvent>,
    ) -> Result<Self, crate::peer::PeerError> {
        let video = setup.send_video;
        let session = Arc::new(PeerSession::new(setup, events).await?);
        if !screen {
            session.withdraw_screen().await?;
        }
        let (notes, mut note_rx) = tokio::sync::mpsc::unbounded_channel();
        // Device trouble is logged; the conference goes on without the device.
        tokio::spawn(async move {
            while let Some(note) = note_rx.recv().await {
                if let PipelineNote::DeviceError(failure) = note {
                    tracing::warn!(%failure, "conference media");
                }
            }
        });
        let shared = Arc::new(SharedMedia::start(devices, video, false, notes.clone()));
        let sframe = Arc::new(GroupSframe::new());
        let transform: Arc<dyn FrameTransform> = sframe.clone();
        let counters = Arc::new(Counters::default());
        let controls = shared.controls.clone();
        let runtime = Handle::current();
        let mut threads = Vec::new();
        let mut tasks = Vec::new();
        if let Some(mic) = shared.microphone() {
            match audio::spawn_sender(
                mic,
                devices.opus_fec(),
                session
                    .audio
                    .clone()
                    .with_transform(FrameKind::Audio, transform.clone()),
                runtime.clone(),
                controls.clone(),
                counters.clone(),
                notes.clone(),
            ) {
                Ok(t) => threads.push(t),
                Err(e) => tracing::warn!(error = %e, "no audio sender"),
            }
        }
        // The screen's track outlives each share: one listener for the connection's life.
        tasks.push(keyframes::answer_requests(
            session.screen.clone(),
            keyframes::Encoder::Screen,
            controls.clone(),
            counters.clone(),
            &runtime,
        ));
        if let (Some(track), Some(frames)) = (&session.video, shared.camera()) {
            let sender = video::VideoSender {
                frames,
                track: track
                    .clone()
                    .with_transform(FrameKind::Camera, transform.clone()),
                target_bitrate: session.target_bitrate.clone(),
                runtime,
                controls,
                counters: counters.clone(),
                notes: notes.clone(),
            };
            match video::spawn_sender(sender) {
                Ok((thread, requests)) => {
                    threads.push(thread);
                    tasks.push(requests);
                }
                Err(e) => tracing::warn!(error = %e, "no video sender"),
            }
        }
        Ok(Self {
            session,
            shared,
            sframe,
            counters,
            senders: Arc::default(),
            notes,
            keep_frames,
            threads,
            tasks,
            screen_stop: None,
            screen_shares: 0,
        })
    }

    /// The path is up (or down): encoders send only while it is.
    pub fn set_connected(&self, connected: bool) {
        Controls::set(&self.shared.controls.connected, connected);
        if connected {
            self.shared.controls.request_keyframes();
        }
    }

    /// Someone new subscribes (the SFU renegotiates): a keyframe lets them decode at once.
    pub fn request_keyframe(&self) {
        self.shared.controls.request_keyframes();
    }

    /// Our microphone muted (silence sent) or not.
    pub fn set_muted(&self, muted: bool) {
        Controls::set(&self.shared.controls.muted, muted);
    }

    /// Whether our microphone is muted.
    pub fn muted(&self) -> bool {
        Controls::get(&self.shared.controls.muted)
    }

    /// A forwarded track arrived: open it under the sender's key, play and meter it.
    pub async fn attach(&mut self, track: Arc<dyn TrackRemote>, kind: RemoteKind) {
        let sender = track.stream_id().await.to_string();
        if sender.len() != 32 || !sender.bytes().all(|b| b.is_ascii_hexdigit()) {
            tracing::debug!("forwarded track without a participant id; ignored");
            return;
        }
        match kind {
            RemoteKind::Audio => {
                let input = self
                    .shared
                    .render()
                    .and_then(|stage| stage.add_stream(None));
                self.senders
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(sender.clone())
                    .or_default()
                    .meter = Some(SenderMeter::new());
                let senders = self.senders.clone();
                let transform = self.sframe.clone();
                self.tasks.push(tokio::spawn(async move {
                    read_audio(track, sender, senders, transform, input).await
                }));
            }
            RemoteKind::Camera | RemoteKind::Screen => {
                let screen = kind == RemoteKind::Screen;
                let counters = Arc::new(Counters::default());
                {
                    let mut all = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
                    let state = all.entry(sender.clone()).or_default();
                    if screen {
                        state.screen = Some(counters.clone());
                    } else {
                        state.video = Some(counters.clone());
                    }
                }
                let sink = Box::new(LatestFrame {
                    keep: self.keep_frames,
                    screen,
                    sender,
                    senders: self.senders.clone(),
                });
                let tally = if screen {
                    ReceiveTally::Screen(counters)
                } else {
                    ReceiveTally::Camera(counters)
                };
                match video::spawn_receiver(
                    track,
                    sink,
                    tally,
                    self.sframe.clone(),
                    self.notes.clone(),
                ) {
                    Ok((task, thread)) => {
                        self.tasks.push(task);
                        self.threads.push(thread);
                    }
                    Err(e) => tracing::warn!(error = %e, "no video decoder"),
                }
            }
        }
    }

    /// Starts sending `source` as our screen share, SFrame-encrypted like the camera and
    /// held to `max_height` rows (the host's plan); a share already running is replaced.
    pub fn start_screen(&mut self, source: Box<dyn ScreenSource>, max_height: u32) {
        self.stop_screen();
        let stop = Arc::new(AtomicBool::new(false));
        self.screen_shares += 1;
        let transform: Arc<dyn FrameTransform> = self.sframe.clone();
        let sender = ScreenSender {
            source: Box::new(HeightCappedScreen::new(source, max_height)),
            track: self
                .session
                .screen
                .clone()
                .with_transform(FrameKind::Screen, transform),
            target_bitrate: self.session.target_bitrate.clone(),
            runtime: Handle::current(),
            controls: self.shared.controls.clone(),
            stop: stop.clone(),
            share_id: self.screen_shares,
            counters: self.counters.clone(),
            notes: self.notes.clone(),
        };
        match screen::spawn_sender(sender) {
            Ok(thread) => {
                self.threads.push(thread);
                self.screen_stop = Some(stop);
            }
            Err(e) => tracing::warn!(error = %e, "no screen sender"),
        }
    }

    /// Stops our screen share, if any.
    pub fn stop_screen(&mut self) {
        if let Some(stop) = self.screen_stop.take() {
            Controls::set(&stop, true);
        }
    }

    /// Screen frames we sent.
    pub fn screen_sent(&self) -> u64 {
        Counters::read(&self.counters.screen_frames_sent)
    }

    /// Frames we sent: (audio, video).
    pub fn sent(&self) -> (u64, u64) {
        (
            Counters::read(&self.counters.audio_frames_sent),
            Counters::read(&self.counters.video_frames_sent),
        )
    }

    /// Stops everything; threads are joined off the runtime.
    pub async fn stop(mut self) {
        self.session.close().await;
        for task in self.tasks.drain(..) {
            task.abort();
        }
        let mut threads = self.shared.stop();
        threads.append(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// Reads one sender's audio: opened under its key, into the mix and its meter. A frame that
/// does not open (no key: removed, or not yet keyed) is counted and dropped.
async fn read_audio(
    track: Arc<dyn TrackRemote>,
    sender: String,
    senders: Senders,
    transform: Arc<GroupSframe>,
    input: Option<crate::pipeline::render::StreamInput>,
) {
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let opened = transform.incoming(FrameKind::Audio, packet.payload.to_vec());
        let mut all = senders.lock().unwrap_or_else(PoisonError::into_inner);
        let state = all.entry(sender.clone()).or_default();
        state.audio_packets += 1;
        match opened {
            Ok(frame) => {
                state.audio_opened += 1;
                state.last_audio = Some(Instant::now());
                if let Some(meter) = state.meter.as_mut() {
                    meter.push(&frame);
                }
                drop(all);
                if let Some(input) = &input {
                    input.push(
                        packet.header.sequence_number,
                        packet.header.timestamp,
                        frame,
                        Instant::now(),
                    );
                }
            }
            Err(_) => state.audio_refused += 1,
        }
    }
    if let Some(input) = input {
        input.close();
    }
}

/// Keeps each sender's latest decoded frame for the participant grid.
struct LatestFrame {
    keep: bool,
    /// Frames of their screen share, not their camera.
    screen: bool,
    sender: String,
    senders: Senders,
}

impl RemoteVideoSink for LatestFrame {
    fn on_frame(&mut self, frame: &DecodedFrame) {
        // A camera frame nobody keeps needs nothing here (no lock per frame).
        if !self.keep && !self.screen {
            return;
        }
        let mut all = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        let state = all.entry(self.sender.clone()).or_default();
        if self.screen {
            state.last_screen_at = Some(Instant::now());
        }
        if !self.keep {
            return;
        }
        let slot = if self.screen {
            &mut state.last_screen_frame
        } else {
            &mut state.last_frame
        };
        *slot = Some(Arc::new(frame.clone()));
    }
}
