//! One call's media, as a task of its own: the peer connection, the pipelines, candidate
//! batching, ICE restart and the live figures. The engine sends it commands in the order
//! the state machine emitted them, so a remote description is always applied before the
//! candidates that depend on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use media::video::ScreenTarget;
use phantomcall_schemas::{CallId, IceCandidate, PrivacyMode};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::sleep_until;

use super::ble_path::{BlePath, BleVoiceRadio};
use super::events::{CallStats, MediaEvent};
use super::session_keys::SessionKeys;
use super::supervisor::{Supervision, Supervisor};
use crate::devices::MediaDevices;
use crate::fsm::MediaError;
use crate::peer::{MediaConnection, PathState, PeerError, PeerEvent, PeerSession, PeerSetup};
use crate::pipeline::shared::SharedMedia;
use crate::pipeline::{Controls, Counters, PipelineNote};
use crate::policy::PolicyViolation;

mod pipelines;
mod stats;

use pipelines::{
    attach_remote_track, end_screen_share, move_to_bluetooth, set_screen_share, start_media,
    stop_media, Media,
};
use stats::{collect_stats, StatsSample};

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
