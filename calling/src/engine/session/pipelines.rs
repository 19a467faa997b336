//! A call's media pipelines: starting them on the peer connection, screen shares, remote
//! tracks, the move to Bluetooth, and stopping them.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use media::audio::AudioError;
use media::video::ScreenTarget;
use tokio::sync::mpsc::UnboundedSender;

use crate::e2ee::CallKeyLayer;
use crate::engine::ble_path::BlePath;
use crate::engine::events::{MediaEvent, MediaPart};
use crate::engine::supervisor::Supervisor;
use crate::peer::{MediaConnection, RemoteKind};
use crate::pipeline::audio;
use crate::pipeline::camera::CameraStage;
use crate::pipeline::render::RenderStage;
use crate::pipeline::transform::{FrameKind, FrameTransform};
use crate::pipeline::video::ReceiveTally;
use crate::pipeline::{keyframes, processing, screen, video, Controls, Counters, PipelineNote};
use crate::policy::ModePolicy;

use super::{SessionReport, SessionSetup};

pub(super) struct Media {
    pub(super) controls: Arc<Controls>,
    /// The call's end-to-end key layer (also inside `transform`).
    pub(super) keys: Arc<CallKeyLayer>,
    /// What every encoded frame passes, both ways.
    pub(super) transform: Arc<dyn FrameTransform>,
    pub(super) counters: Arc<Counters>,
    /// Mixes the remote audio streams into the speaker.
    pub(super) render: Option<RenderStage>,
    pub(super) threads: Vec<std::thread::JoinHandle<()>>,
    pub(super) tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Our screen share, while one runs.
    pub(super) screen_share: Option<ActiveShare>,
    /// Screen shares started in this call (numbers them).
    pub(super) shares_started: u64,
}

/// A running screen share.
pub(super) struct ActiveShare {
    /// Its number within the call.
    pub(super) id: u64,
    /// What is shared, for the user.
    pub(super) what: String,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: std::thread::JoinHandle<()>,
}

pub(super) fn start_media(
    setup: &SessionSetup,
    session: &dyn MediaConnection,
    notes: UnboundedSender<PipelineNote>,
) -> Media {
    let controls = Arc::new(Controls::default());
    // Paranoid is audio first: the camera stays off until the user turns it on, which is
    // the explicit confirmation video needs there.
    if !ModePolicy::for_mode(setup.peer.mode).video_on_by_default {
        Controls::set(&controls.camera_off, true);
    }
    let counters = Arc::new(Counters::default());
    // The app's transform inside, the call's SFrame layer outside.
    let keys = Arc::new(CallKeyLayer::new(setup.devices.frame_transform()));
    let transform: Arc<dyn FrameTransform> = keys.clone();
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    let note = |part: MediaPart, e: &dyn std::fmt::Display| {
        let _ = notes.send(PipelineNote::device(part, e));
    };
    let Some(tracks) = session.tracks() else {
        // A connection without local media (the session's tests): supervision only.
        return Media {
            keys,
            transform,
            controls,
            counters,
            render: None,
            threads,
            tasks: Vec::new(),
            screen_share: None,
            shares_started: 0,
        };
    };
    // A 1:1 call processes its own microphone against its own speaker; a group call's
    // shared capture is processed once, before it is fanned out.
    let mut far_end_tap = match setup.shared {
        Some(_) => None,
        None => setup.devices.far_end_tap(),
    };
    let microphone = match &setup.shared {
        Some(shared) => shared.microphone().ok_or_else(|| AudioError::Device {
            kind: "microphone",
            message: "the call has no microphone".into(),
        }),
        None => setup
            .devices
            .microphone_for(setup.call_id, &setup.participant)
            .map(|mic| {
                let (mic, tap) = processing::process(
                    mic,
                    far_end_tap.take(),
                    &setup.devices.voice_processing(),
                    controls.clone(),
                    notes.clone(),
                );
                far_end_tap = tap;
                mic
            }),
    };
    match microphone {
        Ok(mic) => match audio::spawn_sender(
            mic,
            setup.devices.opus_fec(),
            tracks
                .audio
                .clone()
                .with_transform(FrameKind::Audio, transform.clone()),
            setup.runtime.clone(),
            controls.clone(),
            counters.clone(),
            notes.clone(),
        ) {
            Ok(t) => threads.push(t),
            Err(e) => note(MediaPart::AudioSender, &e),
        },
        Err(e) => note(MediaPart::Microphone, &e),
    }
    // A group call mixes every member into its one shared speaker.
    let speaker = match setup.shared {
        Some(_) => None,
        None => Some(setup.devices.speaker_for(setup.call_id, &setup.participant)),
    };
    let render = match speaker {
        None => None,
        Some(Ok(speaker)) => {
            match RenderStage::start(
                speaker,
                far_end_tap,
                controls.clone(),
                counters.clone(),
                notes.clone(),
            ) {
                Ok(r) => Some(r),
                Err(e) => {
                    note(MediaPart::AudioPlayout, &e);
                    None
                }
            }
        }
        Some(Err(e)) => {
            note(MediaPart::Speaker, &e);
            None
        }
    };
    // The screen's track outlives each share: one listener for the connection's life.
    tasks.push(keyframes::answer_requests(
        tracks.screen.clone(),
        keyframes::Encoder::Screen,
        controls.clone(),
        counters.clone(),
        &setup.runtime,
    ));
    if let Some(track) = &tracks.video {
        // The filtered camera frames this connection's encoder takes: a group call's
        // camera is filtered once for all its connections; a 1:1 call starts its own.
        let frames = match &setup.shared {
            Some(shared) => shared.camera(),
            None => CameraStage::open(setup.devices.clone(), controls.clone(), &notes).map(
                |(stage, camera_thread)| {
                    threads.push(camera_thread);
                    stage.subscribe()
                },
            ),
        };
        if let Some(frames) = frames {
            let sender = video::VideoSender {
                frames,
                track: track
                    .clone()
                    .with_transform(FrameKind::Camera, transform.clone()),
                target_bitrate: tracks.target_bitrate.clone(),
                runtime: setup.runtime.clone(),
                controls: controls.clone(),
                counters: counters.clone(),
                notes: notes.clone(),
            };
            match video::spawn_sender(sender) {
                Ok((thread, requests)) => {
                    threads.push(thread);
                    tasks.push(requests);
                }
                Err(e) => note(MediaPart::VideoSender, &e),
            }
        }
    }
    Media {
        keys,
        transform,
        controls,
        counters,
        render,
        threads,
        tasks,
        screen_share: None,
        shares_started: 0,
    }
}

/// Starts sharing `target` (ending any share first), or stops sharing (`None`), and says
/// what came of it.
pub(super) fn set_screen_share(
    setup: &SessionSetup,
    session: &dyn MediaConnection,
    media: &mut Media,
    target: Option<ScreenTarget>,
    connected: bool,
    notes: &UnboundedSender<PipelineNote>,
    report: &impl Fn(SessionReport),
) {
    let was_sharing = end_screen_share(media);
    let Some(target) = target else {
        if was_sharing {
            report(SessionReport::Media(MediaEvent::ScreenShareStopped {
                why: None,
            }));
        }
        return;
    };
    let refuse = |why: String| {
        report(SessionReport::Media(MediaEvent::ScreenShareStopped {
            why: Some(why),
        }))
    };
    let Some(tracks) = session.tracks() else {
        return refuse("this call carries no screen share".to_owned());
    };
    if connected && !session.screen_negotiated() {
        return refuse("the other side's app cannot receive a screen share".to_owned());
    }
    let source = match setup.devices.screen(&target) {
        Ok(source) => source,
        Err(e) => return refuse(e.to_string()),
    };
    let what = source.describe();
    let stop = Arc::new(AtomicBool::new(false));
    media.shares_started += 1;
    let id = media.shares_started;
    match screen::spawn_sender(screen::ScreenSender {
        source,
        track: tracks
            .screen
            .clone()
            .with_transform(FrameKind::Screen, media.transform.clone()),
        target_bitrate: tracks.target_bitrate.clone(),
        runtime: setup.runtime.clone(),
        controls: media.controls.clone(),
        stop: stop.clone(),
        share_id: id,
        counters: media.counters.clone(),
        notes: notes.clone(),
    }) {
        Ok(thread) => {
            Controls::set(&media.controls.screen_sharing, true);
            media.screen_share = Some(ActiveShare {
                id,
                what: what.clone(),
                stop,
                thread,
            });
            report(SessionReport::Media(MediaEvent::ScreenShareStarted {
                what,
            }));
        }
        Err(e) => refuse(format!("screen share thread: {e}")),
    }
}

/// Stops our screen share, if one runs (its thread ends at its next frame, a fifth of a
/// second at most). Returns whether one ran.
pub(super) fn end_screen_share(media: &mut Media) -> bool {
    Controls::set(&media.controls.screen_sharing, false);
    match media.screen_share.take() {
        Some(share) => {
            Controls::set(&share.stop, true);
            media.threads.push(share.thread);
            true
        }
        None => false,
    }
}

pub(super) fn attach_remote_track(
    setup: &SessionSetup,
    media: &mut Media,
    track: Arc<dyn webrtc::media_stream::track_remote::TrackRemote>,
    kind: RemoteKind,
    notes: UnboundedSender<PipelineNote>,
) {
    let (sink, tally) = match kind {
        RemoteKind::Audio => {
            let shared = setup.shared.as_ref().and_then(|s| s.render());
            let input = media
                .render
                .as_ref()
                .or(shared)
                .and_then(|stage| stage.add_stream(Some(notes.clone())));
            if let Some(input) = input {
                media.tasks.push(audio::read_track(
                    track,
                    input,
                    media.counters.clone(),
                    media.transform.clone(),
                ));
            }
            return;
        }
        RemoteKind::Camera => (
            setup.devices.remote_video_of(&setup.participant),
            ReceiveTally::Camera(media.counters.clone()),
        ),
        RemoteKind::Screen => (
            setup.devices.remote_screen_of(&setup.participant),
            ReceiveTally::Screen(media.counters.clone()),
        ),
    };
    let transform = media.transform.clone();
    match video::spawn_receiver(track, sink, tally, transform, notes.clone()) {
        Ok((task, thread)) => {
            media.tasks.push(task);
            media.threads.push(thread);
        }
        Err(e) => {
            let _ = notes.send(PipelineNote::device(MediaPart::VideoReceiver, e));
        }
    }
}

/// Moves the call's voice to Bluetooth and tells the engine: connected (or back) on it.
pub(super) fn move_to_bluetooth(
    path: &mut BlePath,
    setup: &SessionSetup,
    media: &Media,
    supervisor: &Supervisor,
    report: &impl Fn(SessionReport),
) -> Result<(), crate::engine::ble_path::BlePathError> {
    path.start(setup.devices.as_ref(), media.controls.clone())?;
    // The IP pipelines stay idle from now on: nothing of this call goes out over IP.
    Controls::set(&media.controls.connected, false);
    report(if supervisor.connected_at().is_none() {
        SessionReport::Connected
    } else {
        SessionReport::Media(MediaEvent::Reconnected)
    });
    report(SessionReport::Media(MediaEvent::VoiceOverBluetooth));
    Ok(())
}

pub(super) async fn stop_media(session: &dyn MediaConnection, mut media: Media) {
    Controls::set(&media.controls.stop, true);
    end_screen_share(&mut media);
    session.close().await;
    for task in media.tasks.drain(..) {
        task.abort();
        let _ = task.await;
    }
    let mut threads = std::mem::take(&mut media.threads);
    if let Some(render) = media.render.as_mut() {
        threads.extend(render.take_thread());
    }
    // Each thread ends at its next frame (at most one frame period away).
    let _ = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
    .await;
}
