//! The app's state and its one entry point per frame ([`PhantomApp::show`]). Reports from
//! the background ([`super::backend`]) are drained at the start of every frame without
//! waiting; screens read the state and change it through the methods here.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use calling::peer::NetworkConfig;
use calling::{
    CallEngine, CallState, Direction, EngineEvent, FilterChoice, MediaDevices, MediaEvent,
    SyntheticDevices, VideoQuality,
};
use eframe::egui;
use nostr_signal::{Identity, KeyFile, KeyStrength, PublicKey};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};

use super::backend::{Backend, IdentityJob, Online, Report};
use super::calllog::{unix_now, CallLog};
use super::calls::CallView;
use super::contacts::{ContactBook, ContactStore};
use super::devices::{DeviceCatalog, SyntheticCatalog, SystemCatalog, UiDevices};
use super::lobby::Lobby;
use super::nip05::{parse_contact_address, ContactAddress, Nip05Resolver};
use super::perf::{FrameLog, PerfMode, PerfProbe};
use super::ring::{notification_text, Notifier, Ringer};
use super::screens;
use super::settings::{DeviceChoice, Settings};

/// Tone of the user's synthetic microphone.
const OWN_TONE_HZ: f32 = 440.0;
/// How often auto-delete runs while the app is open, seconds.
const RETENTION_EVERY_SECS: u64 = 60;

/// How the app is started.
pub struct AppOptions {
    /// Where settings, contacts and the call log live.
    pub config_dir: PathBuf,
    /// The encrypted identity (NIP-49), shared with the command line.
    pub key_file: PathBuf,
    /// Network settings of calls before the user's TURN servers are added.
    pub network: NetworkConfig,
    /// Where devices come from instead of the settings' choice between the machine's and
    /// synthetic ones (tests, the demo). The devices picked in the lobby apply either way.
    pub devices: Option<Arc<dyn DeviceCatalog>>,
    /// Start the demo contact and a throw-away identity.
    pub demo: bool,
    /// scrypt cost of saved keys (tests use the weak one).
    pub key_strength: KeyStrength,
    /// Demo only: start a call by itself once online (the screenshot script uses it).
    pub auto_call: Option<AutoCall>,
    /// What `scripts/perf.sh` measures (`PHANTOMCALL_PERF`), if anything.
    pub perf: Option<PerfMode>,
    /// Tests only: NIP-05 lookups go to this `http://127.0.0.1:PORT` instead of
    /// `https://DOMAIN` (see [`super::nip05::Nip05Resolver::base_override`]).
    pub nip05_base: Option<String>,
}

/// A call the demo starts by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCall {
    /// Call the demo contact.
    Outgoing(CallType),
    /// Have the demo contact call us.
    Incoming,
    /// Open the pre-call lobby (camera preview through the filter, meters).
    Lobby,
    /// Video-call the demo contact, who shares its screen (a slide deck) once connected.
    Presentation,
}

impl AutoCall {
    /// From `PHANTOMCALL_DEMO_AUTOCALL`: `audio`, `video`, `incoming`, `lobby` or `share`.
    pub fn from_env() -> Option<AutoCall> {
        match std::env::var("PHANTOMCALL_DEMO_AUTOCALL").ok()?.as_str() {
            "audio" => Some(AutoCall::Outgoing(CallType::Voice)),
            "video" => Some(AutoCall::Outgoing(CallType::Video)),
            "incoming" => Some(AutoCall::Incoming),
            "lobby" => Some(AutoCall::Lobby),
            "share" => Some(AutoCall::Presentation),
            _ => None,
        }
    }
}

impl AppOptions {
    /// The platform config directory (`PHANTOMCALL_CONFIG_DIR` overrides it) and the
    /// command line's key file.
    pub fn standard(key_file: Option<PathBuf>) -> AppOptions {
        let config_dir = std::env::var_os("PHANTOMCALL_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                directories::ProjectDirs::from("org", "PhantomCall", "phantomcall")
                    .map(|d| d.config_dir().to_owned())
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let key_file = key_file.unwrap_or_else(|| config_dir.join("identity.ncryptsec"));
        AppOptions {
            config_dir,
            key_file,
            network: NetworkConfig::default(),
            devices: None,
            demo: false,
            key_strength: KeyStrength::Standard,
            auto_call: None,
            perf: PerfMode::from_env(),
            nip05_base: None,
        }
    }

    /// The demo: a fresh temporary directory, loopback network, synthetic devices with
    /// human blackout, and the demo contact.
    pub fn demo() -> AppOptions {
        let dir = std::env::temp_dir().join(format!("phantomcall-demo-{}", std::process::id()));
        let mut devices = SyntheticDevices::new(OWN_TONE_HZ);
        devices.filter = FilterChoice::Blackout(blackout::FilterConfig::default());
        AppOptions {
            key_file: dir.join("identity.ncryptsec"),
            config_dir: dir,
            network: NetworkConfig::loopback(),
            devices: Some(Arc::new(SyntheticCatalog::new(devices))),
            demo: true,
            key_strength: KeyStrength::Standard,
            auto_call: AutoCall::from_env(),
            perf: PerfMode::from_env(),
            nip05_base: None,
        }
    }
}

/// Where the user is in the app.
pub enum Stage {
    /// No key yet: create or import one.
    Onboarding(screens::onboarding::Form),
    /// A key exists: its password opens it.
    Unlock(screens::onboarding::UnlockForm),
    /// The key was just created: show the npub before going on.
    Welcome,
    /// The main window.
    Ready,
}

/// The main window's sections.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tab {
    /// Contacts and call buttons.
    Contacts,
    /// The call log.
    Recent,
    /// Settings.
    Settings,
    /// Your npub and QR code.
    Identity,
    /// The pre-call lobby: camera preview (filtered), microphone, speaker, mode.
    Lobby,
}

/// The screen-share picker of a call.
pub struct ScreenPicker {
    /// The call to share into.
    pub call_id: CallId,
    /// What can be shared; `None` while it is being listed.
    pub targets: Option<calling::ScreenTargets>,
}

/// Connection to the relays.
pub enum Net {
    /// Not started (no identity or no relay yet).
    Offline,
    /// Connecting.
    Connecting,
    /// Connected; the engine runs.
    Online(Online),
    /// Failed, with the reason.
    Failed(String),
}

/// The whole app.
pub struct PhantomApp {
    pub(crate) options: AppOptions,
    pub(crate) backend: Backend,
    pub(crate) settings: Settings,
    pub(crate) stage: Stage,
    pub(crate) tab: Tab,
    /// Something slow is running: what to say next to the spinner.
    pub(crate) busy: Option<String>,
    /// The last error, shown until dismissed.
    pub(crate) error: Option<String>,
    pub(crate) identity: Option<Identity>,
    pub(crate) contacts: ContactBook,
    contact_store: Option<ContactStore>,
    pub(crate) log: Option<CallLog>,
    pub(crate) net: Net,
    pub(crate) devices: Option<Arc<UiDevices>>,
    pub(crate) calls: HashMap<CallId, CallView>,
    /// The call whose end is shown until the user closes it.
    pub(crate) ended: Option<CallView>,
    pub(crate) forms: screens::Forms,
    pub(crate) video: screens::call::VideoTextures,
    /// The demo contact, in the demo.
    pub(crate) demo_peer: Option<PublicKey>,
    /// The lobby's threads, while the lobby is open and no call is on.
    pub(crate) lobby: Option<Lobby>,
    pub(crate) lobby_texture: Option<(u64, egui::TextureHandle)>,
    /// The mode whose impact the lobby shows.
    pub(crate) lobby_mode: PrivacyMode,
    /// A mode chosen in the lobby for the next call only, over the contact's default.
    pub(crate) next_call_mode: Option<PrivacyMode>,
    /// The NIP-05 name being looked up.
    nip05_lookup: Option<String>,
    /// The screen-share picker, while open.
    pub(crate) screen_picker: Option<ScreenPicker>,
    /// Demo: the demo contact shares its screen when the next call connects.
    demo_presents: bool,
    /// The ring tone of the incoming call that rings now.
    ringer: Option<(CallId, Ringer)>,
    notifier: Notifier,
    frame_log: FrameLog,
    perf: Option<PerfProbe>,
    last_frame_in_call: bool,
    last_retention: u64,
    repaint_set: bool,
}

impl PhantomApp {
    /// A new app. It reads the settings and looks for the key; nothing slow happens here.
    pub fn new(options: AppOptions, backend: Backend) -> PhantomApp {
        let mut error = None;
        let settings = Settings::load(&options.config_dir).unwrap_or_else(|e| {
            error = Some(format!("{e:#}; using defaults"));
            Settings::default()
        });
        let key_file = KeyFile::new(&options.key_file);
        let stage = if options.demo {
            Stage::Ready
        } else if key_file.exists() {
            Stage::Unlock(Default::default())
        } else {
            Stage::Onboarding(Default::default())
        };
        let mut app = PhantomApp {
            forms: screens::Forms::new(&settings),
            options,
            backend,
            settings,
            stage,
            tab: Tab::Contacts,
            busy: None,
            error,
            identity: None,
            contacts: ContactBook::default(),
            contact_store: None,
            log: None,
            net: Net::Offline,
            devices: None,
            calls: HashMap::new(),
            ended: None,
            video: Default::default(),
            demo_peer: None,
            lobby: None,
            lobby_texture: None,
            lobby_mode: PrivacyMode::Private,
            next_call_mode: None,
            nip05_lookup: None,
            screen_picker: None,
            demo_presents: false,
            ringer: None,
            notifier: Notifier::default(),
            frame_log: FrameLog::default(),
            perf: None,
            last_frame_in_call: false,
            last_retention: 0,
            repaint_set: false,
        };
        app.perf = app.options.perf.map(PerfProbe::new);
        if app.options.demo {
            app.busy = Some("Starting the demo contact (embedded relay, synthetic camera)…".into());
            app.backend
                .start_demo(FilterChoice::Blackout(blackout::FilterConfig::default()));
        }
        app
    }

    /// Draws one frame (the eframe `App::ui` and the UI tests both call this).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let started = std::time::Instant::now();
        self.frame(ui);
        // Ringing counts as in a call: the window must react at once then too.
        let in_call = !self.calls.is_empty();
        self.frame_log.record(started.elapsed(), in_call);
        self.last_frame_in_call = in_call;
    }

    /// How long frames took on the UI thread so far.
    pub fn frame_log(&self) -> &FrameLog {
        &self.frame_log
    }

    fn frame(&mut self, ui: &mut egui::Ui) {
        if !self.repaint_set {
            self.backend.set_repaint(ui.ctx());
            self.repaint_set = true;
        }
        while let Some(report) = self.backend.try_recv() {
            self.handle(report, ui.ctx());
        }
        self.retention_tick();
        self.sync_lobby(ui.ctx());
        screens::show(self, ui);
    }

    /// Runs the lobby's threads exactly while the lobby is shown: leaving it, or any call
    /// (ringing included) stops them, since the call opens the devices itself.
    fn sync_lobby(&mut self, ctx: &egui::Context) {
        let open = matches!(self.stage, Stage::Ready)
            && self.tab == Tab::Lobby
            && self.calls.is_empty()
            && self.ended.is_none();
        if open && self.lobby.is_none() {
            self.lobby = Some(Lobby::start(self.media_devices(), self.catalog(), ctx));
        } else if !open && self.lobby.is_some() {
            self.lobby = None;
            self.lobby_texture = None;
        }
    }

    /// Whether the ring tone plays (an incoming call rings).
    pub fn ringing(&self) -> bool {
        self.ringer.is_some()
    }

    /// The desktop notifier (tests read whether it tried).
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Whether the lobby's threads run.
    pub fn lobby_running(&self) -> bool {
        self.lobby.is_some()
    }

    /// What the lobby's threads found, while it is open.
    pub fn lobby_status(&self) -> Option<super::lobby::LobbyStatus> {
        self.lobby.as_ref().map(Lobby::status)
    }

    // ---- what tests and screens read ----

    /// The running engine, once online.
    pub fn engine(&self) -> Option<&CallEngine> {
        match &self.net {
            Net::Online(o) => Some(&o.engine),
            _ => None,
        }
    }

    /// The identity, once unlocked.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The mode chosen in the lobby for the next call only, if any.
    pub fn next_call_mode(&self) -> Option<PrivacyMode> {
        self.next_call_mode
    }

    /// The live call (at most one: the engine refuses a second).
    pub fn live_call(&self) -> Option<&CallView> {
        self.calls.values().find(|c| c.is_live())
    }

    /// The devices of the calls, once online (preview and remote video slots).
    pub fn devices(&self) -> Option<&Arc<UiDevices>> {
        self.devices.as_ref()
    }

    /// The contacts.
    pub fn contacts(&self) -> &ContactBook {
        &self.contacts
    }

    /// The contacts, to change (call [`PhantomApp::apply_retention_at`] or a save after).
    pub fn contacts_mut(&mut self) -> &mut ContactBook {
        &mut self.contacts
    }

    /// The call log, once unlocked.
    pub fn call_log(&self) -> Option<&CallLog> {
        self.log.as_ref()
    }

    /// Runs auto-delete as if it were `now` (Unix seconds).
    pub fn apply_retention_at(&mut self, now: u64) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.apply_retention(&self.contacts, now) {
                self.error = Some(format!("call log: {e:#}"));
            }
        }
    }

    /// Stops calls, the engine and the demo peer (at exit).
    pub fn shutdown(&mut self) {
        let online = match std::mem::replace(&mut self.net, Net::Offline) {
            Net::Online(o) => Some(o),
            _ => None,
        };
        self.backend.shutdown(online.as_ref());
    }

    // ---- actions ----

    pub(crate) fn start_identity_job(&mut self, job: IdentityJob, what: &str) {
        self.busy = Some(what.to_owned());
        self.error = None;
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
        match parse_contact_address(key) {
            Ok(ContactAddress::Key(key, relays)) => {
                self.add_resolved(name, key, &relays, None, mode)
            }
            Ok(ContactAddress::Nip05(address)) => {
                if self.nip05_lookup.is_some() {
                    self.error = Some("another name is being looked up: wait for it".into());
                    return false;
                }
                let resolver = match self.settings.proxy_addr() {
                    Ok(proxy) => Nip05Resolver {
                        proxy,
                        base_override: self.options.nip05_base.clone(),
                    },
                    Err(e) => {
                        self.error = Some(format!("{e:#}"));
                        return false;
                    }
                };
                self.error = None;
                self.busy = Some(format!("Looking up {address}…"));
                self.nip05_lookup = Some(address.to_string());
                self.backend.resolve_nip05(
                    resolver,
                    address,
                    super::backend::ContactRequest {
                        name: name.to_owned(),
                        mode,
                    },
                );
                false
            }
            Err(e) => {
                self.error = Some(e.to_string());
                false
            }
        }
    }

    /// Whether a NIP-05 lookup is under way (its name).
    pub fn nip05_lookup(&self) -> Option<&str> {
        self.nip05_lookup.as_deref()
    }

    fn add_resolved(
        &mut self,
        name: &str,
        key: PublicKey,
        relays: &[nostr_signal::RelayUrl],
        nip05: Option<String>,
        mode: PrivacyMode,
    ) -> bool {
        match self.contacts.add_key(name, key, relays, nip05, mode) {
            Ok(key) => {
                if let Some(engine) = self.engine() {
                    engine.add_contact_with_mode(key, mode);
                }
                self.save_contacts();
                self.error = None;
                true
            }
            Err(e) => {
                self.error = Some(e.to_string());
                false
            }
        }
    }

    pub(crate) fn save_contacts(&mut self) {
        if let Some(store) = &self.contact_store {
            if let Err(e) = store.save(&self.contacts) {
                self.error = Some(format!("contacts not saved: {e:#}"));
            }
        }
    }

    /// Calls `peer` in its contact's mode. Refused with a clear message when offline, in a
    /// call, or when the mode needs a TURN server that is not configured.
    pub(crate) fn dial(&mut self, peer: PublicKey, call_type: CallType) {
        let mode = self.next_call_mode.unwrap_or_else(|| {
            self.contacts
                .find(&peer)
                .map_or(PrivacyMode::Private, |c| c.mode)
        });
        let Some(engine) = self.engine().cloned() else {
            self.error = Some("not connected to a relay yet".into());
            return;
        };
        if self.live_call().is_some() {
            self.error = Some("you are already in a call".into());
            return;
        }
        let has_turn = !self.network().turn_servers.is_empty();
        if mode != PrivacyMode::Fast && !has_turn {
            self.error = Some(format!(
                "{mode:?} mode relays media through your own TURN server: add one in Settings, \
                 or switch this contact to Fast (the peer may then see your IP)"
            ));
            return;
        }
        if mode == PrivacyMode::Paranoid && self.network().socks5_proxy.is_none() {
            self.error = Some(
                "Paranoid mode goes through a SOCKS5 proxy (Tor, 127.0.0.1:9050): set it in \
                 Settings, or switch this contact to Private"
                    .into(),
            );
            return;
        }
        let call_id = engine.dial(peer, call_type, mode);
        // The override is for one call; the next one goes back to the contact's mode.
        self.next_call_mode = None;
        self.ended = None;
        self.calls
            .insert(call_id, CallView::dialed(call_id, peer, call_type, mode));
    }

    /// Demo: call the demo contact, have it call us, or open the lobby.
    pub(crate) fn demo_call(&mut self, call: AutoCall) {
        if call == AutoCall::Lobby {
            self.tab = Tab::Lobby;
            return;
        }
        let Some(peer) = self.demo_peer else {
            return;
        };
        match call {
            AutoCall::Lobby => {}
            AutoCall::Outgoing(call_type) => self.dial(peer, call_type),
            AutoCall::Presentation => {
                self.demo_presents = true;
                self.dial(peer, CallType::Video);
            }
            AutoCall::Incoming => {
                if let Some(me) = &self.identity {
                    self.backend.demo_ring(me.public_key());
                }
            }
        }
    }

    pub(crate) fn accept(&mut self, call_id: CallId, with_video: bool) {
        if let Some(engine) = self.engine() {
            engine.accept(call_id, with_video);
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.sending_video = with_video && call.call_type == CallType::Video;
        }
    }

    pub(crate) fn decline(&mut self, call_id: CallId) {
        if let Some(engine) = self.engine() {
            engine.decline(call_id);
        }
    }

    pub(crate) fn hangup(&mut self, call_id: CallId) {
        if let Some(engine) = self.engine() {
            engine.hangup(call_id);
        }
    }

    pub(crate) fn set_muted(&mut self, call_id: CallId, muted: bool) {
        if let Some(engine) = self.engine() {
            engine.set_muted(call_id, muted);
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.muted = muted;
        }
    }

    pub(crate) fn set_camera_off(&mut self, call_id: CallId, off: bool) {
        if let Some(engine) = self.engine() {
            engine.set_camera_off(call_id, off);
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.camera_off = off;
        }
    }

    /// Sets how much video the call sends (the in-call emergency actions).
    pub(crate) fn set_video_quality(&mut self, call_id: CallId, quality: VideoQuality) {
        if let Some(engine) = self.engine() {
            engine.set_video_quality(call_id, quality);
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.video_quality = quality;
        }
    }

    /// Opens the screen-share picker of a call and lists what can be shared, off the UI
    /// thread (the picker shows a spinner until the list comes).
    pub(crate) fn open_screen_picker(&mut self, call_id: CallId) {
        let Some(devices) = self.devices.clone() else {
            return;
        };
        self.screen_picker = Some(ScreenPicker {
            call_id,
            targets: None,
        });
        self.backend.list_screen_targets(devices);
    }

    /// Shares `target` in the call (the picker closes; the call view follows the engine's
    /// answer).
    pub(crate) fn share_screen(&mut self, call_id: CallId, target: calling::ScreenTarget) {
        self.screen_picker = None;
        if let Some(engine) = self.engine() {
            engine.start_screen_share(call_id, target);
        }
    }

    /// Stops our screen share in the call.
    pub(crate) fn stop_screen_share(&mut self, call_id: CallId) {
        if let Some(engine) = self.engine() {
            engine.stop_screen_share(call_id);
        }
    }

    /// Emergency "Audio only": the camera off and no video frames sent at all; undone by
    /// `audio_only(false)`.
    pub(crate) fn audio_only(&mut self, call_id: CallId, on: bool) {
        self.set_camera_off(call_id, on);
        let quality = if on {
            VideoQuality::Off
        } else {
            VideoQuality::Normal
        };
        self.set_video_quality(call_id, quality);
    }

    pub(crate) fn clear_log(&mut self) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.clear() {
                self.error = Some(format!("call log: {e:#}"));
            }
        }
    }

    pub(crate) fn save_settings(&mut self) {
        match self.settings.save(&self.options.config_dir) {
            Ok(()) => self.error = None,
            Err(e) => self.error = Some(format!("settings not saved: {e:#}")),
        }
    }

    /// Reconnects with the current settings (after they changed). Not during a call.
    pub(crate) fn reconnect(&mut self) {
        if self.live_call().is_some() {
            self.error = Some("settings apply after the call".into());
            return;
        }
        let old = std::mem::replace(&mut self.net, Net::Offline);
        if let Net::Online(online) = old {
            let engine = online.engine.clone();
            let transport = online.transport.clone();
            self.backend.handle().spawn(async move {
                engine.shutdown().await;
                transport.shutdown().await;
            });
        }
        self.go_online();
    }

    /// The network of calls: the base plus the user's TURN servers.
    pub(crate) fn network(&self) -> NetworkConfig {
        self.settings.network(&self.options.network)
    }

    // ---- reports ----

    fn handle(&mut self, report: Report, ctx: &egui::Context) {
        match report {
            Report::Identity(Ok(identity)) => {
                self.busy = None;
                let created = matches!(self.stage, Stage::Onboarding(_));
                self.unlocked(identity);
                if created {
                    self.stage = Stage::Welcome;
                }
            }
            Report::Identity(Err(e)) => {
                self.busy = None;
                self.error = Some(e);
            }
            Report::Online(online) => {
                self.busy = None;
                // Contacts added while connecting (the demo contact among them) ring too.
                for contact in &self.contacts.contacts {
                    if let Some(key) = contact.public_key() {
                        online.engine.add_contact_with_mode(key, contact.mode);
                    }
                }
                self.net = Net::Online(online);
                if let Some(auto) = self.options.auto_call.take() {
                    self.demo_call(auto);
                }
            }
            Report::OnlineFailed(e) => {
                self.busy = None;
                self.net = Net::Failed(e);
            }
            Report::Engine(event) => self.engine_event(event, ctx),
            Report::DemoReady { relay, peer } => {
                self.demo_peer = Some(peer);
                self.settings.relays = vec![relay.to_string()];
                self.unlocked(Identity::generate());
                if self.contacts.find(&peer).is_none() {
                    let npub = nostr_signal::encode_npub(&peer);
                    self.add_contact("Demo contact", &npub, PrivacyMode::Fast);
                }
            }
            Report::Nip05 {
                request,
                address,
                result,
            } => {
                self.busy = None;
                self.nip05_lookup = None;
                match result {
                    Ok(profile) => {
                        if self.add_resolved(
                            &request.name,
                            profile.public_key,
                            &profile.relays,
                            Some(address),
                            request.mode,
                        ) {
                            self.forms.contact = Default::default();
                        }
                    }
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
            Report::DemoFailed(e) => {
                self.busy = None;
                self.error = Some(format!("the demo could not start: {e}"));
            }
            Report::ScreenTargets(list) => {
                if let Some(picker) = &mut self.screen_picker {
                    picker.targets = Some(list);
                }
            }
        }
    }

    /// The key is open: load contacts and the log, go online. (The unlock and onboarding
    /// screens end here; tests and embedders may call it with a key they hold.)
    pub fn unlocked(&mut self, identity: Identity) {
        let dir = &self.options.config_dir;
        let store = ContactStore::new(&dir.join("contacts.enc"), &identity);
        self.contacts = store.load().unwrap_or_else(|e| {
            self.error = Some(format!("contacts: {e:#}"));
            ContactBook::default()
        });
        self.contact_store = Some(store);
        self.log = match CallLog::open(&dir.join("calls.enc"), &identity) {
            Ok(log) => Some(log),
            Err(e) => {
                // Not replaced by an empty log: that would overwrite the user's file.
                self.error = Some(format!("call log unavailable: {e:#}"));
                None
            }
        };
        self.identity = Some(identity);
        self.stage = Stage::Ready;
        self.apply_retention_at(unix_now());
        self.go_online();
    }

    fn go_online(&mut self) {
        let Some(identity) = self.identity.clone() else {
            return;
        };
        let (inbox, proxy) = match (self.settings.dm_relay_urls(), self.settings.proxy_addr()) {
            (Ok(inbox), Ok(proxy)) => (inbox, proxy),
            (Err(e), _) | (_, Err(e)) => {
                self.net = Net::Failed(format!("{e:#}"));
                return;
            }
        };
        let relays = match self.settings.all_relay_urls() {
            Ok(r) if r.is_empty() => {
                self.net = Net::Offline;
                return;
            }
            Ok(r) => r,
            Err(e) => {
                self.net = Net::Failed(e.to_string());
                return;
            }
        };
        let inner = self.media_devices();
        let devices = Arc::new(UiDevices::new(inner));
        self.devices = Some(devices.clone());
        self.net = Net::Connecting;
        self.busy = Some(format!("Connecting to {} relay(s)…", relays.len()));
        let contacts = self
            .contacts
            .contacts
            .iter()
            .filter_map(|c| Some((c.public_key()?, c.mode)))
            .collect();
        self.backend.go_online(super::backend::Connection {
            identity,
            relays,
            inbox,
            proxy,
            network: self.network(),
            devices,
            contacts,
        });
    }

    /// Where devices come from: the options' catalog (tests, the demo), else the machine's
    /// or synthetic ones as the settings say.
    pub(crate) fn catalog(&self) -> Arc<dyn DeviceCatalog> {
        self.options.devices.clone().unwrap_or_else(|| {
            let filter = if self.settings.blackout {
                FilterChoice::Blackout(self.settings.blackout_strength.filter_config())
            } else {
                FilterChoice::AllBlack
            };
            if self.settings.synthetic_devices {
                let mut d = SyntheticDevices::new(OWN_TONE_HZ);
                d.filter = filter;
                Arc::new(SyntheticCatalog::new(d))
            } else {
                Arc::new(SystemCatalog { filter })
            }
        })
    }

    /// The devices calls and the lobby use: the catalog's, as picked in the settings.
    fn media_devices(&self) -> Arc<dyn MediaDevices> {
        self.catalog().devices(&self.settings.devices)
    }

    /// The devices picked (saved in the settings).
    pub fn device_choice(&self) -> &DeviceChoice {
        &self.settings.devices
    }

    /// Picks devices: saved in the settings, used by the next call placed or answered (the
    /// running engine's devices are swapped, no reconnect), and the lobby restarts on them.
    pub fn choose_devices(&mut self, choice: DeviceChoice) {
        if self.settings.devices == choice {
            return;
        }
        self.settings.devices = choice;
        self.save_settings();
        if let Some(devices) = &self.devices {
            devices.set_inner(self.media_devices());
        }
        // The lobby's threads hold the old devices: the next frame starts a new lobby.
        self.lobby = None;
        self.lobby_texture = None;
    }

    fn engine_event(&mut self, event: EngineEvent, ctx: &egui::Context) {
        match event {
            EngineEvent::Call(e) => {
                if let Some(devices) = &self.devices {
                    devices.remote.set_repaint(ctx);
                    devices.remote_screen.set_repaint(ctx);
                    devices.preview.set_repaint(ctx);
                }
                let call = self
                    .calls
                    .entry(e.call_id)
                    .or_insert_with(|| CallView::from_event(&e));
                call.apply(&e);
                let rings = e.state == CallState::Ringing && e.direction == Direction::Incoming;
                if !rings && self.ringer.as_ref().is_some_and(|(id, _)| *id == e.call_id) {
                    // Answered, declined, taken elsewhere or ended: stop the ring tone.
                    self.ringer = None;
                }
                if e.state == CallState::Connected && self.demo_presents {
                    self.demo_presents = false;
                    self.backend.demo_share_screen(e.call_id);
                }
                if e.state == CallState::Ended {
                    if self
                        .screen_picker
                        .as_ref()
                        .is_some_and(|p| p.call_id == e.call_id)
                    {
                        self.screen_picker = None;
                    }
                    if let Some(call) = self.calls.remove(&e.call_id) {
                        self.call_ended(call);
                    }
                } else if rings && self.ringer.as_ref().map(|(id, _)| *id) != Some(e.call_id) {
                    ctx.send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(
                        egui::UserAttentionType::Critical,
                    ));
                    if let Some(devices) = &self.devices {
                        // The speaker picked in the lobby (the engine's devices).
                        self.ringer = Some((e.call_id, Ringer::start(devices.clone())));
                    }
                    let name = self.contacts.find(&e.peer).map(|c| c.name.clone());
                    let (title, body) = notification_text(name.as_deref(), e.call_type);
                    self.notifier.notify(self.backend.handle(), title, body);
                }
            }
            EngineEvent::Stats { call_id, stats } => {
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.stats = Some(stats);
                }
            }
            EngineEvent::Media {
                event: MediaEvent::SetupFailed(why),
                ..
            } => {
                // The call ends at once; the reason must outlive its window.
                self.error = Some(format!("The call could not start: {why}"));
            }
            EngineEvent::Media { call_id, event } => {
                if let Some(call) = self.calls.get_mut(&call_id) {
                    match event {
                        MediaEvent::Blackout { state, protected } => {
                            call.blackout = Some((state, protected))
                        }
                        MediaEvent::Reconnecting => call.notice = Some("Reconnecting…".into()),
                        MediaEvent::Reconnected => call.notice = None,
                        MediaEvent::DeviceError(e) => call.notice = Some(format!("Device: {e}")),
                        MediaEvent::PolicyViolation(e) => {
                            call.notice = Some(format!("Refused from the peer: {e}"))
                        }
                        MediaEvent::ScreenShareStarted { what } => call.screen_share = Some(what),
                        MediaEvent::ScreenShareStopped { why } => {
                            call.screen_share = None;
                            if let Some(why) = why {
                                call.notice = Some(format!("Screen share stopped: {why}"));
                            }
                        }
                        MediaEvent::RemoteScreenShare { active } => call.remote_screen = active,
                        MediaEvent::IceRestartSent
                        | MediaEvent::CandidateWithheld(_)
                        | MediaEvent::SetupFailed(_) => {}
                    }
                }
            }
            EngineEvent::SignalingError { call_id, error } => {
                if self.calls.contains_key(&call_id) {
                    self.error = Some(format!("a call message was not delivered: {error}"));
                }
            }
            EngineEvent::Dropped(_) => {}
        }
    }

    fn call_ended(&mut self, call: CallView) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.add(call.log_entry()) {
                self.error = Some(format!("call log: {e:#}"));
            }
        }
        // Missed calls from strangers are logged but do not take over the window.
        if call.direction == Direction::Outgoing || call.connected_at.is_some() {
            self.ended = Some(call);
        }
        self.apply_retention_at(unix_now());
    }

    fn retention_tick(&mut self) {
        let now = unix_now();
        if now >= self.last_retention + RETENTION_EVERY_SECS {
            self.last_retention = now;
            self.apply_retention_at(now);
        }
    }
}

impl eframe::App for PhantomApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        // eframe reports the previous frame's whole time (input, UI, tessellation,
        // painting): counted as in a call if a call was live then.
        if let Some(cpu) = frame.info().cpu_usage {
            if self.last_frame_in_call {
                self.frame_log
                    .record_whole_in_call(std::time::Duration::from_secs_f32(cpu));
            }
        }
        if let Some(probe) = &mut self.perf {
            if probe.frame(&self.frame_log) {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
            // The probe watches the clock, so frames must keep coming.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
        self.show(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}
