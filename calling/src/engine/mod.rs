//! The call engine the app drives: the state machine ([`crate::fsm`]) wired to the
//! signaling transport and to one media task per call, on the tokio runtime. Commands
//! never block (they queue); every state change comes back as an [`EngineEvent`] on a
//! broadcast channel, so a UI thread can poll without waiting.

mod ble_path;
mod events;
mod group;
mod group_events;
mod group_keys;
mod group_signal;
mod key_shares;
mod session;
mod session_keys;
#[cfg(test)]
mod session_sim;
mod supervisor;

mod outbox;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use media::video::ScreenTarget;
use nostr_signal::{PublicKey, SignalTransport};
use phantomcall_schemas::{CallBody, CallId, CallMessage, CallType, PrivacyMode};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use webrtc::peer_connection::RTCSessionDescription;

pub use events::{
    CallStats, DeviceFailure, EngineEvent, MediaEvent, MediaPart, VideoQuality, LOW_VIDEO_KBPS,
};
pub use group_events::{GroupChange, GroupEnd, GroupEvent, LeaveReason, MemberState};
use session::{SessionCommand, SessionHandle, SessionReport, SessionSetup};

use crate::devices::MediaDevices;
use crate::fsm::{CallEngineCore, CallInfo, EngineConfig, Incoming, Input, Output};
use crate::peer::{NetworkConfig, PeerSetup};

/// Events buffered for a slow subscriber before it starts missing some.
const EVENT_BUFFER: usize = 1024;

/// Everything an engine needs.
pub struct EngineSetup {
    /// Who we are (group calls' MLS credentials are bound to this key).
    pub identity: nostr_signal::Identity,
    /// Signaling (relays, later BLE).
    pub transport: Arc<dyn SignalTransport>,
    /// The state machine's settings (our key, device id, timeouts, contacts).
    pub config: EngineConfig,
    /// Sockets, STUN/TURN.
    pub network: NetworkConfig,
    /// Microphone, speaker, camera, privacy filter, remote view.
    pub devices: Arc<dyn MediaDevices>,
    /// The Bluetooth LE mesh, when there is one: a 1:1 call with a peer in range moves
    /// its voice there when it finds no IP path.
    pub ble_voice: Option<Arc<nostr_signal::ble_fallback::MeshNode>>,
}

enum Command {
    Input(Input),
    /// Inputs handled back to back, before anything else the engine hears.
    Inputs(Vec<Input>),
    Session(CallId, SessionCommand),
    AddContact(PublicKey, Option<PrivacyMode>),
    DialGroup {
        call_id: CallId,
        members: Vec<PublicKey>,
        call_type: CallType,
        mode: PrivacyMode,
    },
    Invite(CallId, PublicKey),
    Calls(oneshot::Sender<Vec<CallInfo>>),
    Shutdown(oneshot::Sender<()>),
}

/// Handle on a running engine. Cheap to clone; every method returns at once.
#[derive(Clone)]
pub struct CallEngine {
    commands: UnboundedSender<Command>,
    events: broadcast::Sender<EngineEvent>,
}

impl CallEngine {
    /// Starts the engine on the current tokio runtime.
    pub fn start(setup: EngineSetup) -> CallEngine {
        let (commands, rx) = unbounded_channel();
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let engine = CallEngine {
            commands,
            events: events.clone(),
        };
        tokio::spawn(run(setup, rx, events));
        engine
    }

    /// A new subscription to the engine's events, from now on.
    pub fn events(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    fn send(&self, command: Command) {
        // A closed engine ignores commands; its subscribers saw it end.
        let _ = self.commands.send(command);
    }

    /// Calls `peer`. Returns the new call's id; progress comes as events.
    pub fn dial(&self, peer: PublicKey, call_type: CallType, mode: PrivacyMode) -> CallId {
        let call_id = CallId::new_random();
        self.send(Command::Input(Input::Dial {
            call_id,
            peer,
            call_type,
            mode,
        }));
        call_id
    }

    /// Calls the telephone `number` (E.164) through the phone `gateway` (an npub that runs
    /// PhantomCall's phone gateway): the offer carries a `dial` tag. The call is not
    /// end-to-end encrypted past the gateway, which its events say
    /// ([`CallEvent::phone`](crate::CallEvent)). `None` if `number` is not E.164.
    pub fn dial_phone(
        &self,
        gateway: PublicKey,
        number: &str,
        mode: PrivacyMode,
    ) -> Option<CallId> {
        let leg = phantomcall_schemas::PhoneLeg::dial(number)?;
        let call_id = CallId::new_random();
        self.send(Command::Inputs(vec![
            Input::Dial {
                call_id,
                peer: gateway,
                call_type: CallType::Voice,
                mode,
            },
            Input::PhoneLeg { call_id, leg },
        ]));
        Some(call_id)
    }

    /// For a phone gateway: calls `peer` on behalf of the telephone `shown` (the offer
    /// carries a `phone` tag, so the app says who is on the phone and that the call is
    /// not end-to-end encrypted past the gateway), with the telephone's opaque
    /// `reference` for `peer` when the gateway has the number. `None` if `shown` cannot be
    /// a tag.
    pub fn dial_for_phone(
        &self,
        peer: PublicKey,
        shown: &str,
        reference: Option<phantomcall_schemas::PhoneRef>,
        mode: PrivacyMode,
    ) -> Option<CallId> {
        let leg = match reference {
            Some(r) => phantomcall_schemas::PhoneLeg::phone_with_reference(shown, r)?,
            None => phantomcall_schemas::PhoneLeg::phone(shown)?,
        };
        let call_id = CallId::new_random();
        self.send(Command::Inputs(vec![
            Input::Dial {
                call_id,
                peer,
                call_type: CallType::Voice,
                mode,
            },
            Input::PhoneLeg { call_id, leg },
        ]));
        Some(call_id)
    }

    /// For a phone gateway: answers the ringing call `call_id` (whose offer asked to dial
    /// a number) on behalf of the telephone `shown`; the answer carries a `phone` tag.
    /// `false` if `shown` cannot be a tag (nothing is sent).
    pub fn accept_for_phone(&self, call_id: CallId, shown: &str) -> bool {
        let Some(leg) = phantomcall_schemas::PhoneLeg::phone(shown) else {
            return false;
        };
        self.send(Command::Inputs(vec![
            Input::PhoneLeg { call_id, leg },
            Input::Accept {
                call_id,
                with_video: false,
            },
        ]));
        true
    }

    /// Calls `members` together: a NIP-AC group call, one connection to each (a mesh).
    /// Refused at once with fewer than two others (call them with [`CallEngine::dial`]) or
    /// past [`crate::group::member_cap`]; progress
    /// comes as [`EngineEvent::Group`] events. Accept, decline, hang up, mute and camera
    /// work on a group call's id as on a 1:1 call's.
    pub fn dial_group(
        &self,
        members: Vec<PublicKey>,
        call_type: CallType,
        mode: PrivacyMode,
    ) -> Result<CallId, crate::group::MeshError> {
        let mut distinct = members.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() < 2 {
            return Err(crate::group::MeshError::TooFew);
        }
        let cap = crate::group::member_cap(call_type);
        if distinct.len() + 1 > cap {
            return Err(crate::group::MeshError::TooLarge { call_type, cap });
        }
        let call_id = CallId::new_random();
        self.send(Command::DialGroup {
            call_id,
            members: distinct,
            call_type,
            mode,
        });
        Ok(call_id)
    }

    /// Invites `newcomer` into a group call we take part in: every member connects to it
    /// once it accepts.
    pub fn invite(&self, call_id: CallId, newcomer: PublicKey) {
        self.send(Command::Invite(call_id, newcomer));
    }

    /// Accepts an incoming call that rings (`with_video`: send our camera too).
    pub fn accept(&self, call_id: CallId, with_video: bool) {
        self.send(Command::Input(Input::Accept {
            call_id,
            with_video,
        }));
    }

    /// Declines an incoming call that rings.
    pub fn decline(&self, call_id: CallId) {
        self.send(Command::Input(Input::Decline { call_id }));
    }

    /// For a phone gateway: refuses a ringing call that asked it to dial a number, telling
    /// the caller why ([`PhoneRefusal`](crate::PhoneRefusal)).
    pub fn refuse_phone(&self, call_id: CallId, refusal: crate::PhoneRefusal) {
        self.send(Command::Input(Input::RefusePhone { call_id, refusal }));
    }

    /// Hangs up (or cancels, or declines) a call.
    pub fn hangup(&self, call_id: CallId) {
        self.send(Command::Input(Input::Hangup { call_id }));
    }

    /// Mutes or unmutes our microphone in a call (silence is sent while muted).
    pub fn set_muted(&self, call_id: CallId, muted: bool) {
        self.send(Command::Session(call_id, SessionCommand::Mute(muted)));
    }

    /// Sends keypad tones (DTMF, `0-9 * # A-D`; other characters are skipped) in the
    /// call's audio, in place of the microphone for 160 ms a key: what a phone gateway
    /// turns into keypad presses for the telephone (menus, PINs). At most about 20 keys
    /// wait at a time.
    pub fn send_dtmf(&self, call_id: CallId, keys: &str) {
        self.send(Command::Session(
            call_id,
            SessionCommand::Dtmf(keys.to_owned()),
        ));
    }

    /// Turns the microphone's processing (echo cancellation, noise suppression, gain
    /// control) on or off for a call whose devices process it
    /// ([`crate::MediaDevices::voice_processing`]).
    pub fn set_voice_processing(&self, call_id: CallId, on: bool) {
        self.send(Command::Session(
            call_id,
            SessionCommand::VoiceProcessing(on),
        ));
    }

    /// Turns our camera off (black frames are sent) or back on, in a call.
    pub fn set_camera_off(&self, call_id: CallId, off: bool) {
        self.send(Command::Session(call_id, SessionCommand::CameraOff(off)));
    }

    /// Sets how much video we send in a call: [`VideoQuality::Low`] caps the bitrate,
    /// [`VideoQuality::Off`] stops video frames altogether (audio only). Applies from the
    /// next camera frame; the stats report it (`CallStats::video_quality`).
    pub fn set_video_quality(&self, call_id: CallId, quality: VideoQuality) {
        self.send(Command::Session(
            call_id,
            SessionCommand::VideoQuality(quality),
        ));
    }

    /// Shares a screen or window in a call (from [`crate::MediaDevices::screen_targets`]),
    /// replacing any share running. It is sent as a second video track beside the camera,
    /// without the blackout filter: the user chose what to show. The outcome comes as
    /// [`MediaEvent::ScreenShareStarted`] or [`MediaEvent::ScreenShareStopped`].
    pub fn start_screen_share(&self, call_id: CallId, target: ScreenTarget) {
        self.send(Command::Session(
            call_id,
            SessionCommand::ScreenShare(Some(target)),
        ));
    }

    /// Stops our screen share in a call ([`MediaEvent::ScreenShareStopped`] follows).
    pub fn stop_screen_share(&self, call_id: CallId) {
        self.send(Command::Session(call_id, SessionCommand::ScreenShare(None)));
    }

    /// Restarts ICE now (for example after the app saw the network change).
    pub fn restart_ice(&self, call_id: CallId) {
        self.send(Command::Session(call_id, SessionCommand::RestartIce));
    }

    /// Asks the peer to switch the connected call to `mode`. The mode changes only when
    /// the peer's user accepts ([`crate::Reason::ModeSwitched`]).
    pub fn request_mode_switch(&self, call_id: CallId, mode: PrivacyMode) {
        self.send(Command::Input(Input::RequestModeSwitch { call_id, mode }));
    }

    /// Accepts the peer's pending mode switch request
    /// ([`crate::Reason::ModeSwitchRequested`]).
    pub fn accept_mode_switch(&self, call_id: CallId) {
        self.send(Command::Input(Input::AcceptModeSwitch { call_id }));
    }

    /// Declines the peer's pending mode switch request: the call keeps its mode.
    pub fn decline_mode_switch(&self, call_id: CallId) {
        self.send(Command::Input(Input::DeclineModeSwitch { call_id }));
    }

    /// Lets calls from `contact` ring.
    pub fn add_contact(&self, contact: PublicKey) {
        self.send(Command::AddContact(contact, None));
    }

    /// Lets calls from `contact` ring, and never in less than `mode` (an offer asking for
    /// less is refused with the mode we require).
    pub fn add_contact_with_mode(&self, contact: PublicKey, mode: PrivacyMode) {
        self.send(Command::AddContact(contact, Some(mode)));
    }

    /// Every call the engine remembers (live and recently ended).
    pub async fn calls(&self) -> Vec<CallInfo> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Calls(tx));
        rx.await.unwrap_or_default()
    }

    /// Hangs up every live call, waits for their media to stop, and ends the engine.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Shutdown(tx));
        let _ = rx.await;
    }
}

struct Driver {
    core: CallEngineCore,
    /// See [`EngineConfig::handled_by_app`].
    handled_by_app: Option<fn(&CallMessage) -> bool>,
    network: NetworkConfig,
    /// Whether the signaling keeps our address from the relays (Paranoid needs it).
    signaling_hides_address: bool,
    devices: Arc<dyn MediaDevices>,
    /// Where 1:1 calls' voice may go when there is no IP path.
    ble_voice: Option<ble_path::BleVoiceRadio>,
    sessions: HashMap<CallId, SessionHandle>,
    /// Group calls (NIP-AC mesh), apart from the state machine's 1:1 calls.
    groups: HashMap<CallId, group::GroupCall>,
    /// Group messages that came before their call's invitation, by call, with when the
    /// first came.
    early_group: HashMap<CallId, (Instant, Vec<Incoming>)>,
    /// Group calls that are over for us, with when, newest last.
    ended_groups: std::collections::VecDeque<(CallId, Instant)>,
    /// Calls with a peer that does not speak privacy modes, noted before their session
    /// exists.
    without_modes: HashSet<CallId>,
    stopping: Vec<JoinHandle<()>>,
    reports: session::Reports,
    outbox: outbox::Outbox,
    events: broadcast::Sender<EngineEvent>,
    /// Our key (bound into each call's media keys).
    local_key: PublicKey,
    /// Our identity, for group calls' MLS credentials.
    identity: nostr_signal::Identity,
    /// Post-quantum shares between the sessions and the offers and answers.
    key_shares: key_shares::KeyShares,
}

async fn run(
    setup: EngineSetup,
    mut commands: UnboundedReceiver<Command>,
    events: broadcast::Sender<EngineEvent>,
) {
    let mut incoming = setup.transport.incoming();
    let (reports, mut session_reports) = unbounded_channel();
    let outbox = outbox::Outbox::new(setup.transport.clone(), events.clone());
    let mut config = setup.config;
    config.unavailable_modes = setup
        .network
        .unavailable_modes(setup.transport.hides_network_address());
    let mut driver = Driver {
        local_key: config.local_key,
        identity: setup.identity,
        key_shares: key_shares::KeyShares::default(),
        handled_by_app: config.handled_by_app,
        core: CallEngineCore::new(config),
        signaling_hides_address: setup.transport.hides_network_address(),
        network: setup.network,
        devices: setup.devices,
        ble_voice: setup.ble_voice.map(ble_path::BleVoiceRadio::new),
        sessions: HashMap::new(),
        groups: HashMap::new(),
        early_group: HashMap::new(),
        ended_groups: std::collections::VecDeque::new(),
        without_modes: HashSet::new(),
        stopping: Vec::new(),
        reports,
        outbox,
        events,
    };
    let far = Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600);
    let shutdown_reply = loop {
        let timeout = [driver.core.next_timeout(), driver.group_next_timeout()]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            command = commands.recv() => match command {
                None => break None,
                Some(Command::Shutdown(reply)) => break Some(reply),
                Some(command) => driver.command(command),
            },
            message = incoming.recv() => match message {
                Some(message) => driver.signal(Incoming::from(message)),
                None => break None,
            },
            Some((call_id, member, report)) = session_reports.recv() => {
                if driver.groups.contains_key(&call_id) {
                    driver.group_report(call_id, member, report);
                } else {
                    driver.report(call_id, report);
                }
            }
            _ = tokio::time::sleep_until(timeout.unwrap_or(far).into()), if timeout.is_some() => {
                driver.core.handle(Input::Tick, Instant::now());
                driver.group_tick(Instant::now());
            }
        }
        driver.drive();
    };
    // Hang up what is live so the peers stop at once, not at their timeouts.
    let live: Vec<CallId> = driver
        .core
        .calls()
        .filter(|c| c.state != crate::fsm::CallState::Ended)
        .map(|c| c.call_id)
        .collect();
    for call_id in live {
        driver
            .core
            .handle(Input::Hangup { call_id }, Instant::now());
    }
    let groups: Vec<CallId> = driver.groups.keys().copied().collect();
    for call_id in groups {
        driver.group_leave(call_id);
    }
    driver.drive();
    let Driver {
        sessions,
        stopping,
        outbox,
        ..
    } = driver;
    // Messages already queued (the hangups) still go out.
    outbox.close().await;
    for (_, handle) in sessions {
        drop(handle.commands);
        let _ = handle.task.await;
    }
    for task in stopping {
        let _ = task.await;
    }
    if let Some(reply) = shutdown_reply {
        let _ = reply.send(());
    }
}

impl Driver {
    fn command(&mut self, command: Command) {
        match command {
            Command::Input(Input::Accept { call_id, .. }) if self.groups.contains_key(&call_id) => {
                self.group_accept(call_id)
            }
            Command::Input(Input::Decline { call_id } | Input::Hangup { call_id })
                if self.groups.contains_key(&call_id) =>
            {
                self.group_leave(call_id)
            }
            Command::Input(input) => self.core.handle(input, Instant::now()),
            Command::Inputs(inputs) => {
                for input in inputs {
                    self.core.handle(input, Instant::now());
                }
            }
            Command::DialGroup {
                call_id,
                members,
                call_type,
                mode,
            } => {
                if let Err(e) = self.group_dial(call_id, members, call_type, mode) {
                    let change = GroupChange::Ended {
                        reason: GroupEnd::Refused(e.to_string()),
                    };
                    let _ = self
                        .events
                        .send(EngineEvent::Group(GroupEvent { call_id, change }));
                }
            }
            Command::Invite(call_id, newcomer) => self.group_invite(call_id, newcomer),
            Command::Session(call_id, command) if self.groups.contains_key(&call_id) => {
                self.group_session_command(call_id, command)
            }
            Command::Session(call_id, command) => {
                if let Some(session) = self.sessions.get(&call_id) {
                    let _ = session.commands.send(command);
                }
            }
            Command::AddContact(key, mode) => {
                self.core.add_contact(key, mode);
            }
            Command::Calls(reply) => {
                let _ = reply.send(self.core.calls().collect());
            }
            // The loop takes Shutdown before it gets here; dropping the reply would only
            // wake the caller early.
            Command::Shutdown(_) => {}
        }
    }

    /// A verified message: an SDP that webrtc-rs cannot parse is dropped here with its
    /// reason, so a bad offer never rings and a bad answer never reaches the connection.
    fn signal(&mut self, incoming: Incoming) {
        if self
            .handled_by_app
            .is_some_and(|handled| handled(&incoming.message))
        {
            return;
        }
        let parses = match &incoming.message.body {
            CallBody::Offer { sdp, .. } | CallBody::Renegotiate { sdp } => {
                RTCSessionDescription::offer(sdp.clone()).is_ok()
            }
            CallBody::Answer { sdp } => RTCSessionDescription::answer(sdp.clone()).is_ok(),
            _ => true,
        };
        let call_id = incoming.message.call_id;
        let late = self
            .ended_groups
            .iter()
            .any(|(id, at)| *id == call_id && at.elapsed() < group::LATE_AFTER_END);
        if late {
            tracing::debug!("late message of a group call that is over dropped");
            return;
        }
        if self.groups.contains_key(&call_id) || group::is_group_offer(&incoming.message) {
            if parses {
                self.group_signal(incoming);
            } else {
                tracing::info!("group call message with an unparsable SDP dropped");
            }
            return;
        }
        if group::is_group_message(&incoming.message) {
            // A group call's message before its invitation reached us (another callee's
            // "I joined"): kept until the invitation comes, briefly.
            if parses {
                self.hold_early_group_message(incoming);
            }
            return;
        }
        let input = if parses {
            self.key_shares.remember(&incoming.message);
            Input::Signal(incoming)
        } else {
            Input::UnparsableSdp(incoming)
        };
        self.core.handle(input, Instant::now());
        if self.core.call(&call_id).is_none() {
            // The machine did not take the call: nothing of it is kept.
            self.key_shares.forget(call_id);
        }
    }

    fn report(&mut self, call_id: CallId, report: SessionReport) {
        let input = match report {
            SessionReport::Offer { sdp, pq_share } => {
                self.key_shares.ours(call_id, pq_share);
                Input::LocalOffer { call_id, sdp }
            }
            SessionReport::Answer { sdp, pq_share } => {
                if let Some(share) = pq_share {
                    self.key_shares.ours(call_id, share);
                }
                Input::LocalAnswer { call_id, sdp }
            }
            SessionReport::RestartOffer(sdp) => Input::LocalRenegotiation { call_id, sdp },
            SessionReport::RestartAnswer(sdp) => Input::LocalRenegotiationAnswer { call_id, sdp },
            SessionReport::Candidates(candidates) => Input::LocalCandidates {
                call_id,
                candidates,
            },
            SessionReport::Connected => Input::MediaConnected { call_id },
            SessionReport::Failed(error) => Input::MediaFailed { call_id, error },
            SessionReport::PolicyViolation(detail) => {
                let event = MediaEvent::PolicyViolation(detail);
                let _ = self.events.send(EngineEvent::Media { call_id, event });
                Input::PolicyViolation { call_id }
            }
            SessionReport::Media(event) => {
                let _ = self.events.send(EngineEvent::Media { call_id, event });
                return;
            }
            SessionReport::Stats(stats) => {
                let _ = self.events.send(EngineEvent::Stats {
                    call_id,
                    stats: *stats,
                });
                return;
            }
        };
        self.core.handle(input, Instant::now());
    }

    /// Carries out what the state machine queued, in order.
    fn drive(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Send {
                    to,
                    mut message,
                    route,
                } => {
                    self.key_shares.attach(&mut message);
                    self.outbox.send(to, message, route)
                }
                Output::PeerWithoutModes { call_id } => match self.sessions.get(&call_id) {
                    Some(session) => {
                        let _ = session.commands.send(SessionCommand::PeerWithoutModes);
                    }
                    None => {
                        self.without_modes.insert(call_id);
                    }
                },
                Output::CreateOffer {
                    call_id,
                    peer,
                    call_type,
                    mode,
                } => {
                    // A video call carries our camera track from the start; where the
                    // mode starts audio only (Paranoid) the session keeps the camera off
                    // until the user turns it on.
                    let video = call_type == CallType::Video;
                    self.start_session(call_id, peer, mode, (video, video), true);
                    self.command_session(call_id, SessionCommand::Offer);
                }
                Output::CreateAnswer {
                    call_id,
                    peer,
                    remote_sdp,
                    call_type,
                    with_video,
                    mode,
                } => {
                    let video = call_type == CallType::Video;
                    self.start_session(call_id, peer, mode, (video && with_video, video), false);
                    let pq_share = self.key_shares.take(call_id, &remote_sdp);
                    let command = SessionCommand::Answer {
                        sdp: remote_sdp,
                        pq_share,
                    };
                    self.command_session(call_id, command);
                }
                Output::ApplyAnswer { call_id, sdp } => {
                    let pq_share = self.key_shares.take(call_id, &sdp);
                    self.command_session(call_id, SessionCommand::ApplyAnswer { sdp, pq_share })
                }
                Output::ApplyMode { call_id, mode } => {
                    self.command_session(call_id, SessionCommand::SetMode(mode))
                }
                Output::ApplyRenegotiation { call_id, sdp } => {
                    self.command_session(call_id, SessionCommand::Renegotiation(sdp))
                }
                Output::AddRemoteCandidates {
                    call_id,
                    candidates,
                } => self.command_session(call_id, SessionCommand::Candidates(candidates)),
                Output::StopMedia { call_id } => {
                    self.without_modes.remove(&call_id);
                    self.key_shares.forget(call_id);
                    if let Some(session) = self.sessions.remove(&call_id) {
                        // Dropping the command channel ends the task, which stops its media.
                        drop(session.commands);
                        self.stopping.push(session.task);
                    }
                    self.stopping.retain(|t| !t.is_finished());
                }
                Output::Event(event) => {
                    let _ = self.events.send(EngineEvent::Call(event));
                }
                Output::Dropped(dropped) => {
                    let _ = self.events.send(EngineEvent::Dropped(dropped));
                }
            }
        }
    }

    /// Starts `call_id`'s media with `participant`; `video` is (send, receive).
    fn start_session(
        &mut self,
        call_id: CallId,
        participant: PublicKey,
        mode: PrivacyMode,
        (send_video, receive_video): (bool, bool),
        is_caller: bool,
    ) {
        let setup = SessionSetup {
            call_id,
            participant,
            local: self.local_key,
            peer: PeerSetup {
                mode,
                send_video,
                receive_video,
                network: self
                    .network
                    .with_fresh_turn_credentials(std::time::SystemTime::now()),
                signaling_hides_address: self.signaling_hides_address,
            },
            is_caller,
            devices: self.devices.clone(),
            shared: None,
            group_keys: None,
            ble: self.ble_voice.clone(),
            runtime: tokio::runtime::Handle::current(),
        };
        let handle = session::spawn(setup, self.reports.clone());
        if self.without_modes.remove(&call_id) {
            let _ = handle.commands.send(SessionCommand::PeerWithoutModes);
        }
        self.sessions.insert(call_id, handle);
    }

    fn command_session(&mut self, call_id: CallId, command: SessionCommand) {
        match self.sessions.get(&call_id) {
            Some(session) => {
                let _ = session.commands.send(command);
            }
            None => tracing::debug!("media command for a call without media"),
        }
    }
}
