//! Applies the screens' [`Action`]s to the state, and starts what they need in the
//! background. The identity and connection lifecycle is in [`super::session`], the
//! handling of background reports in [`super::reports`].

use std::sync::Arc;

use calling::peer::ModeUnavailable;
use calling::{CallEngine, VideoQuality};
use nostr_signal::{KeyFile, PublicKey};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};

use super::action::Action;
use super::backend::{Backend, ContactRequest, IdentityJob};
use super::calls::CallView;
use super::console::DeskLink;
use super::contacts::ContactStore;
use super::lobby::Lobby;
use super::logstore::LogWriter;
use super::nip05::{parse_contact_address, ContactAddress, Nip05Resolver};
use super::options::{AppOptions, AutoCall};
use super::settings::Settings;
use super::state::{AppState, ScreenPicker, Stage, Tab};

/// The state and what changes it: options, the backend, the stores and the lobby.
pub struct Controller {
    /// How the app was started.
    pub options: AppOptions,
    /// The background runtime.
    pub backend: Backend,
    /// What the screens show.
    pub state: AppState,
    pub(super) contact_store: Option<ContactStore>,
    pub(super) log_writer: Option<LogWriter>,
    pub(super) message_writer: Option<LogWriter>,
    /// The lobby's threads, while the lobby is open and no call is on.
    pub lobby: Option<Lobby>,
    /// How many times the lobby's threads started (each start has a new preview slot).
    pub lobby_starts: u64,
    pub(super) last_retention: u64,
    /// Dispatcher mode: where the console's snapshots come from and its actions go.
    pub(super) desk_link: Option<Box<dyn DeskLink>>,
    /// The conference room we are in, if any.
    pub conference: super::conference::ConferenceState,
    /// The wallet and the conference room we host.
    pub hosting: super::hosting::Hosting,
    /// Invite links `phantomcall open` hands to this window (none in the demo).
    links: Option<super::instance::LinkListener>,
}

impl Controller {
    /// A controller; it reads the settings and looks for the key; nothing slow happens.
    pub fn new(options: AppOptions, backend: Backend) -> Controller {
        let mut error = None;
        let settings = Settings::load(&options.config_dir).unwrap_or_else(|e| {
            error = Some(format!("{e:#}; using defaults"));
            Settings::default()
        });
        let stage = if options.demo {
            Stage::Ready
        } else if KeyFile::new(&options.key_file).exists() {
            Stage::Unlock
        } else {
            Stage::Onboarding
        };
        let mut state = AppState::new(settings, stage);
        state.error = error;
        let mut ctl = Controller {
            options,
            backend,
            state,
            contact_store: None,
            log_writer: None,
            message_writer: None,
            lobby: None,
            lobby_starts: 0,
            last_retention: 0,
            desk_link: None,
            conference: Default::default(),
            hosting: Default::default(),
            links: None,
        };
        if !ctl.options.demo {
            ctl.links = super::instance::LinkListener::start(&ctl.options.config_dir);
        }
        if let Some(text) = ctl.options.open_link.clone() {
            match calling::conference::ConferenceLink::parse(&text) {
                Ok(link) => ctl.lobby_before_joining(link, None),
                Err(e) => ctl.state.error = Some(format!("Cannot open the link: {e}")),
            }
        }
        if ctl.options.demo {
            ctl.state.busy =
                Some("Starting the demo contact (embedded relay, synthetic camera)…".into());
            ctl.backend.start_demo(calling::FilterChoice::Blackout(
                blackout::FilterConfig::default(),
            ));
        }
        ctl
    }

    /// Applies one action.
    pub fn apply(&mut self, action: Action) {
        let s = &mut self.state;
        match action {
            Action::SelectTab(tab) => {
                s.tab = tab;
                if tab == Tab::Messages {
                    s.messages.seen();
                }
            }
            Action::OpenConversation(members) => self.open_conversation(members),
            Action::SendMessage { members, text } => self.send_message(members, &text),
            Action::RetryMessage(local_id) => self.retry_message(local_id),
            Action::JoinConference(link) => {
                match calling::conference::ConferenceLink::parse(&link) {
                    Ok(link) => self.lobby_before_joining(link, None),
                    Err(e) => self.state.error = Some(e.to_string()),
                }
            }
            Action::Conference(command) => self.conference.command(command),
            Action::CloseConference => self.conference.close(),
            Action::ImportWallet(secret) => {
                if let Some(identity) = self.state.identity.clone() {
                    let file = self.wallet_file();
                    self.hosting
                        .import(self.backend.handle(), file, identity, secret);
                }
            }
            Action::CreateRoom(service) => {
                if let Some(identity) = self.state.identity.clone() {
                    let file = self.wallet_file();
                    self.hosting
                        .create_room(self.backend.handle(), file, identity, &service);
                }
            }
            Action::JoinHostedRoom => self.join_hosted_room(),
            Action::ConfirmConferenceJoin => {
                if let Some(pending) = self.conference.pending.take() {
                    let devices = self.media_devices();
                    self.conference.join(
                        self.backend.handle(),
                        pending.link,
                        devices,
                        pending.token,
                    );
                    // Leaving the lobby releases its camera before the room opens its own.
                    self.state.tab = Tab::Conferences;
                }
            }
            Action::CancelConferenceJoin => {
                self.conference.pending = None;
                self.state.tab = Tab::Conferences;
            }
            Action::DismissError => s.error = None,
            Action::ShowError(e) => s.error = Some(e),
            Action::Identity { job, what } => self.start_identity_job(job, what),
            Action::Continue => s.stage = Stage::Ready,
            Action::AddContact {
                name,
                address,
                mode,
            } => {
                self.add_contact(&name, &address, mode);
            }
            Action::EditContact {
                index,
                mode,
                auto_delete,
            } => {
                if let Some(c) = s.contacts.contacts.get_mut(index) {
                    c.mode = mode;
                    c.auto_delete = auto_delete;
                    self.save_contacts();
                }
            }
            Action::Dial { peer, call_type } => self.dial(peer, call_type),
            Action::DialPhone { number } => self.dial_phone(&number),
            Action::DialGroup { peers, call_type } => self.dial_group(peers, call_type),
            Action::InviteToGroup(call, peer) => self.engine_do(|e| e.invite(call, peer)),
            Action::DemoRingMe => self.demo_call(AutoCall::Incoming),
            Action::Accept { call, video } => {
                self.engine_do(|e| e.accept(call, video));
                if let Some(c) = self.state.calls.calls.get_mut(&call) {
                    c.sending_video = video && c.call_type == CallType::Video;
                }
            }
            Action::Decline(call) => self.engine_do(|e| e.decline(call)),
            Action::Hangup(call) => self.engine_do(|e| e.hangup(call)),
            Action::SetMuted(call, muted) => {
                self.engine_do(|e| e.set_muted(call, muted));
                self.call_mut(call, |c| c.muted = muted);
                self.state.groups.set_muted(call, muted);
            }
            Action::Keypad(call, key) => {
                self.engine_do(|e| e.send_dtmf(call, &key.to_string()));
                self.call_mut(call, |c| c.keys_pressed.push(key));
            }
            Action::SetVoiceProcessing(call, on) => {
                self.engine_do(|e| e.set_voice_processing(call, on));
                self.call_mut(call, |c| c.voice_processing = on);
            }
            Action::SetCameraOff(call, off) => self.set_camera_off(call, off),
            Action::AudioOnly(call, on) => {
                // The camera off and no video frames sent at all.
                self.set_camera_off(call, on);
                let quality = if on {
                    VideoQuality::Off
                } else {
                    VideoQuality::Normal
                };
                self.set_video_quality(call, quality);
            }
            Action::SetVideoQuality(call, q) => self.set_video_quality(call, q),
            Action::CloseEnded => {
                s.calls.ended = None;
                s.groups.ended = None;
            }
            Action::OpenScreenPicker(call) => self.open_screen_picker(call),
            Action::CloseScreenPicker => s.screen_picker = None,
            Action::ShareScreen(call, target) => {
                s.screen_picker = None;
                self.engine_do(|e| e.start_screen_share(call, target));
            }
            Action::StopScreenShare(call) => self.engine_do(|e| e.stop_screen_share(call)),
            Action::TestSpeaker => {
                if let Some(lobby) = &self.lobby {
                    lobby.test_speaker();
                }
            }
            Action::SetLobbyMode(mode) => s.lobby_mode = mode,
            Action::SetNextCallMode(mode) => s.next_call_mode = mode,
            Action::ChooseDevices(choice) => self.choose_devices(choice),
            Action::SaveSettings(settings) => self.save_settings_and_reconnect(settings),
            Action::ClearLog => self.clear_log(),
            Action::Console(action) => self.console(action),
        }
    }

    fn engine_do(&self, f: impl FnOnce(&CallEngine)) {
        if let Some(engine) = self.state.engine() {
            f(engine);
        }
    }

    fn call_mut(&mut self, call: CallId, f: impl FnOnce(&mut CallView)) {
        if let Some(c) = self.state.calls.calls.get_mut(&call) {
            f(c);
        }
    }

    fn set_camera_off(&mut self, call: CallId, off: bool) {
        self.engine_do(|e| e.set_camera_off(call, off));
        self.call_mut(call, |c| c.camera_off = off);
    }

    fn set_video_quality(&mut self, call: CallId, quality: VideoQuality) {
        self.engine_do(|e| e.set_video_quality(call, quality));
        self.call_mut(call, |c| c.video_quality = quality);
    }

    fn start_identity_job(&mut self, job: IdentityJob, what: &str) {
        self.state.busy = Some(what.to_owned());
        self.state.error = None;
        self.backend.identity_job(
            KeyFile::new(&self.options.key_file),
            job,
            self.options.key_strength,
        );
    }

    /// Adds a contact (npub, nprofile or hex) and lets it ring; `true` once added. A NIP-05
    /// name starts a lookup off the UI thread (a spinner shows; the contact is added, or a
    /// clear error shown, when it answers) and gives `false`, as an error does (in the
    /// banner).
    pub fn add_contact(&mut self, name: &str, key: &str, mode: PrivacyMode) -> bool {
        let s = &mut self.state;
        match parse_contact_address(key) {
            Ok(ContactAddress::Key(key, relays)) => {
                self.add_resolved(name, key, &relays, None, mode)
            }
            Ok(ContactAddress::Nip05(address)) => {
                if s.nip05_lookup.is_some() {
                    s.error = Some("another name is being looked up: wait for it".into());
                    return false;
                }
                let proxy = match s.settings.proxy_addr() {
                    Ok(proxy) => proxy,
                    Err(e) => {
                        s.error = Some(format!("{e:#}"));
                        return false;
                    }
                };
                let resolver = Nip05Resolver {
                    proxy,
                    base_override: self.options.nip05_base.clone(),
                };
                s.error = None;
                s.busy = Some(format!("Looking up {address}…"));
                s.nip05_lookup = Some(address.to_string());
                let request = ContactRequest {
                    name: name.to_owned(),
                    mode,
                };
                self.backend.resolve_nip05(resolver, address, request);
                false
            }
            Err(e) => {
                s.error = Some(e.to_string());
                false
            }
        }
    }

    /// Adds a contact whose key is known; `true` once added.
    pub(super) fn add_resolved(
        &mut self,
        name: &str,
        key: PublicKey,
        relays: &[nostr_signal::RelayUrl],
        nip05: Option<String>,
        mode: PrivacyMode,
    ) -> bool {
        match self.state.contacts.add_key(name, key, relays, nip05, mode) {
            Ok(key) => {
                self.engine_do(|e| e.add_contact_with_mode(key, mode));
                self.save_contacts();
                self.state.contacts_added += 1;
                self.state.error = None;
                true
            }
            Err(e) => {
                self.state.error = Some(e.to_string());
                false
            }
        }
    }

    fn save_contacts(&mut self) {
        if let Some(store) = &self.contact_store {
            if let Err(e) = store.save(&self.state.contacts) {
                self.state.error = Some(format!("contacts not saved: {e:#}"));
            }
        }
    }

    /// Calls `peer` in its contact's mode. Refused with a clear message when offline, in a
    /// call, or when the mode needs a TURN server or proxy that is not configured.
    fn dial(&mut self, peer: PublicKey, call_type: CallType) {
        let s = &self.state;
        let mode = s.next_call_mode.unwrap_or_else(|| {
            s.contacts
                .find(&peer)
                .map_or(PrivacyMode::Private, |c| c.mode)
        });
        let Some(engine) = self.engine_for_call(mode) else {
            return;
        };
        let call_id = engine.dial(peer, call_type, mode);
        // The override is for one call; the next one goes back to the contact's mode.
        self.state.next_call_mode = None;
        self.state
            .calls
            .dialed(CallView::dialed(call_id, peer, call_type, mode));
    }

    /// Calls a telephone number through the settings' phone gateway, in the gateway
    /// contact's mode (Private when it is not a contact).
    fn dial_phone(&mut self, number: &str) {
        let Some(gateway) = self.state.settings.phone_gateway_key() else {
            self.state.error =
                Some("set a phone gateway (its npub) in Settings to call phone numbers".into());
            return;
        };
        let s = &self.state;
        let mode = s.next_call_mode.unwrap_or_else(|| {
            s.contacts
                .find(&gateway)
                .map_or(PrivacyMode::Private, |c| c.mode)
        });
        let Some(engine) = self.engine_for_call(mode) else {
            return;
        };
        let Some(call_id) = engine.dial_phone(gateway, number, mode) else {
            self.state.error = Some(format!(
                "{number:?} is not a phone number in E.164 form (+ country code, digits only)"
            ));
            return;
        };
        self.state.next_call_mode = None;
        let mut view = CallView::dialed(call_id, gateway, CallType::Voice, mode);
        view.phone = phantomcall_schemas::PhoneLeg::dial(number);
        self.state.calls.dialed(view);
    }

    /// The engine, when a call in `mode` may be placed now; otherwise the banner says why.
    fn engine_for_call(&mut self, mode: PrivacyMode) -> Option<calling::CallEngine> {
        let Some(engine) = self.state.engine().cloned() else {
            self.state.error = Some("not connected to a relay yet".into());
            return None;
        };
        if let Err(e) = dial_check(&self.state, mode, &self.network()) {
            self.state.error = Some(e);
            return None;
        }
        Some(engine)
    }

    /// Calls `peers` together. The group's mode is the strictest any of them requires
    /// (or the lobby's choice for the next call, when stricter).
    fn dial_group(&mut self, peers: Vec<PublicKey>, call_type: CallType) {
        let s = &self.state;
        let strictest = peers
            .iter()
            .filter_map(|p| s.contacts.find(p).map(|c| c.mode))
            .max()
            .unwrap_or(PrivacyMode::Private);
        let mode = s.next_call_mode.map_or(strictest, |m| m.max(strictest));
        let Some(engine) = self.engine_for_call(mode) else {
            return;
        };
        match engine.dial_group(peers, call_type, mode) {
            Ok(_) => self.state.next_call_mode = None,
            Err(e) => {
                self.state.error = Some(format!(
                    "{e}: for more people, host a conference (Conferences)"
                ))
            }
        }
    }

    /// The wallet file beside the identity's key file.
    fn wallet_file(&self) -> crate::wallet::WalletFile {
        crate::wallet::WalletFile::beside(&self.options.key_file)
    }

    /// Joins the room we created, as its host (the creation's session token).
    fn join_hosted_room(&mut self) {
        let super::hosting::HostingPhase::Created(links) = &self.hosting.phase else {
            return;
        };
        let link = match calling::conference::ConferenceLink::parse(&links.app_url) {
            Ok(link) => link,
            Err(e) => {
                self.state.error = Some(e.to_string());
                return;
            }
        };
        let token = self.hosting.take_host_token();
        self.lobby_before_joining(link, token);
    }

    /// The pre-call lobby (camera preview through the filter, microphone, speaker) before
    /// a room is joined, as before a call.
    pub(super) fn lobby_before_joining(
        &mut self,
        link: calling::conference::ConferenceLink,
        token: Option<zeroize::Zeroizing<String>>,
    ) {
        self.conference.pending = Some(super::conference::PendingJoin { link, token });
        self.state.tab = Tab::Lobby;
    }

    /// Conferences, every frame: results of background work, the wallet's address once the
    /// identity is unlocked.
    pub(super) fn conference_tick(&mut self) {
        if let Some(text) = self.links.as_ref().and_then(|l| l.try_recv()) {
            if let Ok(link) = calling::conference::ConferenceLink::parse(&text) {
                self.lobby_before_joining(link, None);
            }
        }
        self.conference.poll();
        self.hosting.poll(&mut self.state.error);
        if let Some(identity) = self.state.identity.clone() {
            let file = self.wallet_file();
            self.hosting
                .look_for_wallet(self.backend.handle(), file, identity);
        }
    }

    /// Demo: call the demo contact, have it call us, or open the lobby.
    pub(super) fn demo_call(&mut self, call: AutoCall) {
        if call == AutoCall::Lobby {
            self.state.tab = Tab::Lobby;
            return;
        }
        if call == AutoCall::Conference {
            self.apply(Action::ConfirmConferenceJoin);
            return;
        }
        if matches!(call, AutoCall::Dispatcher | AutoCall::HotlineStats) {
            self.start_demo_hotline();
            self.state.tab = if call == AutoCall::Dispatcher {
                Tab::Dispatcher
            } else {
                Tab::HotlineStats
            };
            return;
        }
        let Some(peer) = self.state.demo_peer else {
            return;
        };
        match call {
            AutoCall::Lobby
            | AutoCall::Dispatcher
            | AutoCall::HotlineStats
            | AutoCall::Conference => {}
            AutoCall::Messages => {
                let members = vec![peer.to_hex()];
                self.open_conversation(members.clone());
                self.send_message(members, "Hi! Can we talk at six?");
                if let Some(me) = &self.state.identity {
                    self.backend.demo_write(me.public_key());
                }
            }
            AutoCall::Outgoing(call_type) => self.dial(peer, call_type),
            AutoCall::Presentation => {
                self.state.demo_presents = true;
                self.dial(peer, CallType::Video);
            }
            AutoCall::Incoming => {
                if let Some(me) = &self.state.identity {
                    self.backend.demo_ring(me.public_key());
                }
            }
        }
    }

    /// Opens the screen-share picker of a call and lists what can be shared, off the UI
    /// thread (the picker shows a spinner until the list comes).
    fn open_screen_picker(&mut self, call_id: CallId) {
        let Some(devices) = self.state.devices.clone() else {
            return;
        };
        self.state.screen_picker = Some(ScreenPicker {
            call_id,
            targets: None,
        });
        self.backend
            .list_screen_targets(devices as Arc<dyn calling::MediaDevices>);
    }
}

/// Why a call in `mode` cannot be placed now, in words for the banner (pure).
pub fn dial_check(
    state: &AppState,
    mode: PrivacyMode,
    network: &calling::peer::NetworkConfig,
) -> Result<(), String> {
    if state.calls.live().is_some() || state.groups.live().is_some() {
        return Err("you are already in a call".into());
    }
    // The window's relay connections and its media share the one proxy of the settings.
    match network.check_mode(mode, network.socks5_proxy.is_some()) {
        Ok(()) => Ok(()),
        Err(ModeUnavailable::NoTurnServer(mode)) => Err(format!(
            "{mode:?} mode relays media through your own TURN server: add one in Settings, \
             or switch this contact to Fast (the peer may then see your IP)"
        )),
        Err(ModeUnavailable::NoMediaProxy | ModeUnavailable::SignalingNotProxied) => Err(
            "Paranoid mode goes through a SOCKS5 proxy (Tor, 127.0.0.1:9050): set it in \
             Settings, or switch this contact to Private"
                .into(),
        ),
    }
}
