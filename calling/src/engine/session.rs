//! One call's media, as a task of its own: the peer connection, the pipelines, candidate
//! batching, ICE restart and the live figures. The engine sends it commands in the order
//! the state machine emitted them, so a remote description is always applied before the
//! candidates that depend on it.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::audio::AudioError;
use media::video::ScreenTarget;
use phantomcall_schemas::{CallId, IceCandidate, PrivacyMode};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::sleep_until;

use super::ble_path::{BlePath, BleVoiceRadio};
use super::events::{CallStats, MediaEvent, MediaPart};
use super::session_keys::SessionKeys;
use super::supervisor::{Supervision, Supervisor};
use crate::devices::MediaDevices;
use crate::e2ee::CallKeyLayer;
use crate::fsm::MediaError;
use crate::peer::{
    MediaConnection, PathState, PeerError, PeerEvent, PeerSession, PeerSetup, RemoteKind,
};
use crate::pipeline::audio;
use crate::pipeline::camera::CameraStage;
use crate::pipeline::render::RenderStage;
use crate::pipeline::shared::SharedMedia;
use crate::pipeline::transform::{FrameKind, FrameTransform};
use crate::pipeline::video::ReceiveTally;
use crate::pipeline::{processing, screen, video, Controls, Counters, PipelineNote};
use crate::policy::{ModePolicy, PolicyViolation};

/// Now, on tokio's clock (virtual in the session's tests).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Candidates gathered within this window travel in one call message.
const CANDIDATE_BATCH: Duration = Duration::from_millis(40);
/// How often live figures are reported.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// How often the peer's screen share is checked for frames.
const REMOTE_SCREEN_CHECK: Duration = Duration::from_millis(250);

/// What the engine asks a call's media to do.
#[derive(Debug)]
pub(crate) enum SessionCommand {
    /// Create our offer.
    Offer,
    /// Apply the peer's offer and create our answer; `pq_share` is the offer's
    /// post-quantum share, if it carried one.
    Answer {
        sdp: String,
        pq_share: Option<Vec<u8>>,
    },
    /// Apply the peer's answer (first, or to our ICE restart), with its share if any.
    ApplyAnswer {
        sdp: String,
        pq_share: Option<Vec<u8>>,
    },
    /// Add the peer's candidates.
    Candidates(Vec<IceCandidate>),
    /// Apply the peer's new offer (ICE restart) and answer it.
    Renegotiation(String),
    /// Restart ICE now (the app saw the network change).
    RestartIce,
    /// Mute or unmute the microphone.
    Mute(bool),
    /// Send keypad tones (DTMF) in place of the microphone.
    Dtmf(String),
    /// Process the microphone (echo cancellation, noise suppression) or send it as
    /// captured.
    VoiceProcessing(bool),
    /// Turn the camera off (black frames) or on.
    CameraOff(bool),
    /// How much video to send.
    VideoQuality(super::VideoQuality),
    /// Share this screen or window (replacing any share), or stop sharing (`None`).
    ScreenShare(Option<ScreenTarget>),
    /// Both users agreed to switch the call to this mode: apply its policy, and (the
    /// caller) restart ICE so the path is gathered again under it.
    SetMode(PrivacyMode),
    /// The peer's client does not speak privacy modes: take its candidates of any type.
    PeerWithoutModes,
    /// A group member whose app has no group keys (a plain NIP-AC client): its connection
    /// runs on DTLS-SRTP alone.
    PlainGroupMember,
}

/// What a call's media tells the engine.
#[derive(Debug)]
pub(crate) enum SessionReport {
    /// Our first offer, with the post-quantum share it must carry.
    Offer {
        sdp: String,
        pq_share: Vec<u8>,
    },
    /// Our answer, with the share it must carry (none when the offer had none).
    Answer {
        sdp: String,
        pq_share: Option<Vec<u8>>,
    },
    RestartOffer(String),
    RestartAnswer(String),
    Candidates(Vec<IceCandidate>),
    Connected,
    Failed(MediaError),
    /// The peer sent a candidate or SDP the mode forbids: the call must end.
    PolicyViolation(PolicyViolation),
    Media(MediaEvent),
    Stats(Box<CallStats>),
}

/// How to set up one call's media.
pub(crate) struct SessionSetup {
    pub call_id: CallId,
    /// Who is on the other end (picks their remote views).
    pub participant: nostr_signal::PublicKey,
    /// Our own key (bound into the call's media keys).
    pub local: nostr_signal::PublicKey,
    pub peer: PeerSetup,
    /// We placed the call: we restart ICE when the path is lost (the callee waits for our
    /// offer, so both never restart at once).
    pub is_caller: bool,
    pub devices: Arc<dyn MediaDevices>,
    /// A group call's devices, opened once for all its connections; `None`: this
    /// session opens its own (a 1:1 call).
    pub shared: Option<Arc<SharedMedia>>,
    /// A group call's SFrame keys (MLS), which key this connection instead of its own
    /// agreement.
    pub group_keys: Option<Arc<crate::e2ee::GroupSframe>>,
    /// The Bluetooth radio a 1:1 call's voice may move to when there is no IP path.
    pub ble: Option<BleVoiceRadio>,
    pub runtime: tokio::runtime::Handle,
}

/// Where a session's reports go: with the call and the member they are about.
pub(crate) type Reports = UnboundedSender<(CallId, nostr_signal::PublicKey, SessionReport)>;

/// The engine's handle on a call's media task.
pub(crate) struct SessionHandle {
    pub commands: UnboundedSender<SessionCommand>,
    pub task: tokio::task::JoinHandle<()>,
}

pub(crate) fn spawn(setup: SessionSetup, reports: Reports) -> SessionHandle {
    let (commands, rx) = unbounded_channel();
    let task = tokio::spawn(run(setup, rx, reports));
    SessionHandle { commands, task }
}

struct Media {
    controls: Arc<Controls>,
    /// The call's end-to-end key layer (also inside `transform`).
    keys: Arc<CallKeyLayer>,
    /// What every encoded frame passes, both ways.
    transform: Arc<dyn FrameTransform>,
    counters: Arc<Counters>,
    /// Mixes the remote audio streams into the speaker.
    render: Option<RenderStage>,
    threads: Vec<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Our screen share, while one runs.
    screen_share: Option<ActiveShare>,
    /// Screen shares started in this call (numbers them).
    shares_started: u64,
}

/// A running screen share.
struct ActiveShare {
    /// Its number within the call.
    id: u64,
    /// What is shared, for the user.
    what: String,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

async fn run(
    setup: SessionSetup,
    mut commands: UnboundedReceiver<SessionCommand>,
    reports: Reports,
) {
    let (call_id, participant) = (setup.call_id, setup.participant);
    let report = |r: SessionReport| {
        let _ = reports.send((call_id, participant, r));
    };
    let (peer_tx, peer_events) = unbounded_channel();
    let session = match PeerSession::new(setup.peer.clone(), peer_tx).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e.log_text(), "peer connection could not be created");
            if let Some(failure) = e.setup_failure() {
                report(SessionReport::Media(MediaEvent::SetupFailed(
                    failure.clone(),
                )));
            }
            // Fail the first step the engine asks for, then wait to be dropped.
            let error = loop {
                match commands.recv().await {
                    // A note about the peer, not a step.
                    Some(SessionCommand::PeerWithoutModes | SessionCommand::PlainGroupMember) => {
                        continue
                    }
                    Some(SessionCommand::Answer { .. }) => break MediaError::CreateAnswer,
                    _ => break MediaError::CreateOffer,
                }
            };
            report(SessionReport::Failed(error));
            while commands.recv().await.is_some() {}
            return;
        }
    };
    drive(setup, &session, peer_events, commands, reports).await;
}

/// The session loop over any media connection: commands from the engine, the
/// connection's events, the pipelines' notes, and the supervisor's timers. Time is read
/// from tokio's clock, so tests run it in virtual time.
pub(crate) async fn drive(
    setup: SessionSetup,
    session: &dyn MediaConnection,
    mut peer_events: UnboundedReceiver<PeerEvent>,
    mut commands: UnboundedReceiver<SessionCommand>,
    reports: Reports,
) {
    let (call_id, participant) = (setup.call_id, setup.participant);
    let report = |r: SessionReport| {
        let _ = reports.send((call_id, participant, r));
    };
    let (notes_tx, mut notes) = unbounded_channel();
    let mut media = start_media(&setup, session, notes_tx.clone());
    let mut keys = SessionKeys::new(
        media.keys.clone(),
        call_id,
        &setup.local,
        &setup.participant,
        setup.is_caller,
    );
    keys.use_group(setup.group_keys.clone());
    // Group calls keep to IP: one Bluetooth voice call per radio.
    let mut ble = match (&setup.ble, &setup.shared) {
        (Some(radio), None) => Some(BlePath::new(radio.clone(), call_id, setup.is_caller)),
        _ => None,
    };
    let ice_failed_timeout = setup.peer.network.ice_failed_timeout;

    let mut batch: Vec<IceCandidate> = Vec::new();
    let mut batch_due: Option<Instant> = None;
    let mut supervisor = Supervisor::new(
        setup.peer.mode,
        setup.is_caller,
        setup.peer.network.media_lost_timeout,
    );
    let mut stats_due = now() + STATS_INTERVAL;
    let mut screen_check_due = now() + REMOTE_SCREEN_CHECK;
    let mut last_sample = StatsSample::default();
    let far = now() + Duration::from_secs(365 * 24 * 3600);

    loop {
        let supervision_due = supervisor.next_timeout();
        let ble_due = match &ble {
            Some(path) if supervisor.connected_at().is_none() => path.due(ice_failed_timeout),
            _ => None,
        };
        tokio::select! {
            command = commands.recv() => {
                match command {
                    None => break,
                    Some(SessionCommand::SetMode(new)) => match session.set_mode(new).await {
                        Ok(()) => supervisor.on_mode_switched(new, now()),
                        Err(e) => {
                            // Never carry on under rules the users did not agree to.
                            tracing::warn!(error = %e.log_text(), "mode switch could not be applied");
                            report(SessionReport::Failed(MediaError::Connection));
                        }
                    },
                    Some(SessionCommand::ScreenShare(target)) => {
                        let connected = supervisor.connected_at().is_some();
                        set_screen_share(&setup, session, &mut media, target, connected, &notes_tx, &report);
                    }
                    Some(SessionCommand::RestartIce) => supervisor.on_restart_requested(now()),
                    Some(command) => {
                        handle_command(command, session, &media, &mut keys, ble.as_mut(), &report).await
                    }
                }
            }
            Some(event) = peer_events.recv() => match event {
                PeerEvent::Candidate(c) => {
                    batch.push(c);
                    batch_due.get_or_insert(now() + CANDIDATE_BATCH);
                }
                PeerEvent::CandidateWithheld(v) => {
                    report(SessionReport::Media(MediaEvent::CandidateWithheld(v)));
                }
                PeerEvent::State(PathState::Connected) => {
                    supervisor.on_connected(now());
                }
                PeerEvent::State(state @ (PathState::Disconnected | PathState::Failed)) => {
                    supervisor.on_disconnected(state == PathState::Failed, now());
                }
                PeerEvent::State(_) | PeerEvent::IcePath(_) => {}
                PeerEvent::RemoteTrack(track, kind) => {
                    attach_remote_track(&setup, &mut media, track, kind, notes_tx.clone());
                }
            },
            Some(note) = notes.recv() => report(SessionReport::Media(match note {
                PipelineNote::DeviceError(e) => MediaEvent::DeviceError(e),
                PipelineNote::Filter(state, protected) => MediaEvent::Blackout { state, protected },
                PipelineNote::ScreenShareEnded(id, why) => {
                    if media.screen_share.as_ref().is_none_or(|s| s.id != id) {
                        continue; // a share the user already replaced or stopped
                    }
                    end_screen_share(&mut media);
                    MediaEvent::ScreenShareStopped { why: Some(why) }
                }
                PipelineNote::RemoteVoice(voice) => MediaEvent::RemoteVoice(voice),
                PipelineNote::VoiceProcessingFault { fault, gave_up } => {
                    MediaEvent::VoiceProcessingFault { fault, gave_up }
                }
            })),
            _ = sleep_until(screen_check_due.into()) => {
                screen_check_due = now() + REMOTE_SCREEN_CHECK;
                let frames = Counters::read(&media.counters.screen_frames_decoded);
                supervisor.on_remote_screen_frames(frames, now());
            }
            _ = sleep_until(batch_due.unwrap_or(far).into()), if batch_due.is_some() => {
                batch_due = None;
                report(SessionReport::Candidates(std::mem::take(&mut batch)));
            }
            _ = sleep_until(supervision_due.unwrap_or(far).into()), if supervision_due.is_some() => {
                supervisor.on_timeout(now());
            }
            _ = sleep_until(ble_due.unwrap_or(far).into()), if ble_due.is_some() => {
                if let Some(path) = ble.as_mut() {
                    tracing::info!("no IP path to the peer: moving the call to Bluetooth voice");
                    if let Err(error) = move_to_bluetooth(path, &setup, &media, &supervisor, &report) {
                        tracing::warn!(%error, "the call could not move to Bluetooth voice");
                    }
                }
            }
            _ = sleep_until(stats_due.into()) => {
                stats_due = now() + STATS_INTERVAL;
                if ble.as_ref().is_some_and(BlePath::running) {
                    continue; // the IP path's figures say nothing about this call now
                }
                let stats = collect_stats(session, &media, &supervisor, &mut last_sample).await;
                supervisor.on_path(stats.peer.local_candidate_type.as_deref(), now());
                report(SessionReport::Stats(Box::new(stats)));
            }
        }
        while let Some(step) = supervisor.poll() {
            match ble.as_mut() {
                // On Bluetooth the IP path is no longer the call's.
                Some(path) if path.running() => continue,
                Some(path) if path.ready() && matches!(step, Supervision::Failed(_)) => {
                    tracing::info!("the IP path failed: moving the call to Bluetooth voice");
                    if let Err(error) =
                        move_to_bluetooth(path, &setup, &media, &supervisor, &report)
                    {
                        tracing::warn!(%error, "the call could not move to Bluetooth voice");
                        supervise(step, session, &media, &report).await;
                    }
                }
                _ => supervise(step, session, &media, &report).await,
            }
        }
    }

    if let Some(path) = ble {
        path.stop().await;
    }
    stop_media(session, media).await;
}

fn start_media(
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
                Ok(t) => threads.push(t),
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
        tasks: Vec::new(),
        screen_share: None,
        shares_started: 0,
    }
}

/// Starts sharing `target` (ending any share first), or stops sharing (`None`), and says
/// what came of it.
fn set_screen_share(
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
fn end_screen_share(media: &mut Media) -> bool {
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

fn attach_remote_track(
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
fn move_to_bluetooth(
    path: &mut BlePath,
    setup: &SessionSetup,
    media: &Media,
    supervisor: &Supervisor,
    report: &impl Fn(SessionReport),
) -> Result<(), super::ble_path::BlePathError> {
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

async fn handle_command(
    command: SessionCommand,
    session: &dyn MediaConnection,
    media: &Media,
    keys: &mut SessionKeys,
    mut ble: Option<&mut BlePath>,
    report: &impl Fn(SessionReport),
) {
    match command {
        SessionCommand::Offer => match (session.create_offer(false).await, keys.offer_share()) {
            (Ok(sdp), Ok(pq_share)) => {
                let sdp = match ble {
                    Some(path) => path.add_share(sdp),
                    None => sdp,
                };
                report(SessionReport::Offer { sdp, pq_share })
            }
            (Err(e), _) => {
                tracing::warn!(error = %e.log_text(), "offer failed");
                report(SessionReport::Failed(MediaError::CreateOffer));
            }
            (_, Err(e)) => {
                tracing::warn!(error = %e, "no post-quantum key pair");
                report(SessionReport::Failed(MediaError::CreateOffer));
            }
        },
        SessionCommand::Answer { sdp, pq_share } => {
            // Keys first: no frame may leave before the layer knows what to do with it.
            let (answer_share, state) = match keys.answer(pq_share.as_deref()) {
                Ok(agreed) => agreed,
                Err(e) => {
                    // A share that does not work ends the call: never a quiet downgrade.
                    tracing::warn!(error = %e, "the offer's post-quantum share was refused");
                    report(SessionReport::Failed(MediaError::CreateAnswer));
                    return;
                }
            };
            report(SessionReport::Media(MediaEvent::MediaKeys(state)));
            if let Some(path) = ble.as_deref_mut() {
                path.on_peer_sdp(&sdp, now());
            }
            match session.answer(&sdp).await {
                Ok(sdp) => report(SessionReport::Answer {
                    sdp: match ble {
                        Some(path) => path.add_share(sdp),
                        None => sdp,
                    },
                    pq_share: answer_share,
                }),
                Err(e) => {
                    tracing::warn!(error = %e.log_text(), "answer failed");
                    report_failure(e, MediaError::CreateAnswer, report);
                }
            }
        }
        SessionCommand::ApplyAnswer {
            sdp: answer,
            pq_share,
        } => {
            match keys.finish(pq_share.as_deref()) {
                Some(Ok(state)) => report(SessionReport::Media(MediaEvent::MediaKeys(state))),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the answer's post-quantum share was refused");
                    report(SessionReport::Failed(MediaError::ApplyAnswer));
                    return;
                }
                None => {}
            }
            if let Some(path) = ble {
                path.on_peer_sdp(&answer, now());
            }
            if let Err(e) = session.apply_answer(&answer).await {
                tracing::warn!(error = %e.log_text(), "applying the answer failed");
                report_failure(e, MediaError::ApplyAnswer, report);
            }
        }
        SessionCommand::Candidates(candidates) => {
            for error in session.add_remote_candidates(&candidates).await {
                match error {
                    PeerError::Policy(v) => report(SessionReport::PolicyViolation(v)),
                    other => {
                        tracing::debug!(error = %other.log_text(), "remote candidate not added")
                    }
                }
            }
        }
        SessionCommand::Renegotiation(offer) => match session.answer(&offer).await {
            Ok(sdp) => {
                media.controls.request_keyframes();
                report(SessionReport::RestartAnswer(sdp))
            }
            Err(e) => {
                tracing::warn!(error = %e.log_text(), "renegotiation failed");
                report_failure(e, MediaError::CreateAnswer, report);
            }
        },
        SessionCommand::Mute(on) => Controls::set(&media.controls.muted, on),
        SessionCommand::Dtmf(keys) => {
            media.controls.queue_dtmf(&keys);
        }
        SessionCommand::VoiceProcessing(on) => {
            Controls::set(&media.controls.voice_processing_off, !on)
        }
        SessionCommand::CameraOff(off) => Controls::set(&media.controls.camera_off, off),
        SessionCommand::VideoQuality(q) => media.controls.set_video_quality(q),
        SessionCommand::PeerWithoutModes => session.accept_peer_without_modes(),
        SessionCommand::PlainGroupMember => {
            // Without modes too (a plain NIP-AC client), and without group keys.
            session.accept_peer_without_modes();
            keys.use_group(None);
        }
        SessionCommand::SetMode(_)
        | SessionCommand::ScreenShare(_)
        | SessionCommand::RestartIce => {
            // The session loop takes these before calling here.
            tracing::debug!("session command handled by the loop");
        }
    }
}

/// A failed step: a policy violation ends the call as such (reason `policy`), anything
/// else as a media failure.
fn report_failure(error: PeerError, step: MediaError, report: &impl Fn(SessionReport)) {
    match error {
        PeerError::Policy(v) => report(SessionReport::PolicyViolation(v)),
        _ => report(SessionReport::Failed(step)),
    }
}

/// Carries out what the supervisor decided.
async fn supervise(
    step: Supervision,
    session: &dyn MediaConnection,
    media: &Media,
    report: &impl Fn(SessionReport),
) {
    match step {
        Supervision::Connected | Supervision::Reconnected => {
            Controls::set(&media.controls.connected, true);
            media.controls.request_keyframes();
            report(if step == Supervision::Connected {
                SessionReport::Connected
            } else {
                SessionReport::Media(MediaEvent::Reconnected)
            });
        }
        Supervision::Reconnecting => {
            Controls::set(&media.controls.connected, false);
            report(SessionReport::Media(MediaEvent::Reconnecting));
        }
        Supervision::RestartIce => restart(session, report).await,
        Supervision::Failed(error) => report(SessionReport::Failed(error)),
        // Fail closed: in a relay-only mode the selected path must be a relay one.
        Supervision::PathNotRelayed(mode) => report(SessionReport::PolicyViolation(
            PolicyViolation::PathNotRelayed { mode },
        )),
        Supervision::RemoteScreenShare(active) => {
            report(SessionReport::Media(MediaEvent::RemoteScreenShare {
                active,
            }))
        }
    }
}

async fn restart(session: &dyn MediaConnection, report: &impl Fn(SessionReport)) {
    match session.create_offer(true).await {
        Ok(sdp) => {
            report(SessionReport::Media(MediaEvent::IceRestartSent));
            report(SessionReport::RestartOffer(sdp));
        }
        Err(e) => tracing::warn!(error = %e.log_text(), "ICE restart offer failed"),
    }
}

#[derive(Default)]
struct StatsSample {
    at: Option<Instant>,
    bytes_in: u64,
    bytes_out: u64,
    frames_decoded: u64,
    packets_lost: i64,
    packets_received: u64,
    /// The loss measured on what the peer sends, over enough packets.
    incoming_loss: crate::pipeline::loss::LossWindow,
}

async fn collect_stats(
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
        video_frames_decoded: frames_decoded,
        video_fps,
        bitrate_in_kbps,
        bitrate_out_kbps,
        video_quality: media.controls.video_quality(),
        camera_off: Controls::get(&media.controls.camera_off),
        video_bitrate_kbps: Counters::read(&c.video_bitrate_kbps) as u32,
        screen_share: media.screen_share.as_ref().map(|s| s.what.clone()),
        screen_frames_sent: Counters::read(&c.screen_frames_sent),
        screen_bitrate_kbps: Counters::read(&c.screen_bitrate_kbps) as u32,
        remote_screen: supervisor.remote_screen_active(),
        remote_screen_frames: Counters::read(&c.screen_frames_decoded),
    }
}

async fn stop_media(session: &dyn MediaConnection, mut media: Media) {
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
