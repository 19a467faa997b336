//! The window: one [`PhantomApp::show`] per frame drains the background's reports without
//! waiting, keeps the lobby's threads and the ring tone in step with the state, builds each
//! screen's view from the state, draws the screens, then applies the actions they
//! returned. Dependencies run one way: shell → screens, state, controller.

use std::time::{Duration, Instant};

use calling::{CallEngine, EngineEvent};
use eframe::egui;
use nostr_signal::Identity;
use phantomcall_schemas::PrivacyMode;

use super::action::Action;
use super::backend::{Backend, Report};
use super::calllog::CallLog;
use super::calls::CallView;
use super::console::{short_npub, ConsoleModel, DeskLink, Npub};
use super::contacts::ContactBook;
use super::controller::Controller;
use super::devices::UiDevices;
use super::effects::Effects;
use super::lobby::{Lobby, LobbyStatus};
use super::options::AppOptions;
use super::perf::{FrameLog, PerfProbe};
use super::ring::Notifier;
use super::screens::call::{incoming_window, CallViewModel};
use super::screens::contacts::ContactsView;
use super::screens::group::{incoming_group_window, GroupViewModel};
use super::screens::history::HistoryView;
use super::screens::lobby::LobbyView;
use super::screens::messages::MessagesView;
use super::screens::onboarding::OnboardingView;
use super::screens::settings::SettingsView;
use super::screens::{self, identity, share, Screens, TopBarView};
use super::settings::DeviceChoice;
use super::state::{Net, Stage, Tab};

/// The whole app.
pub struct PhantomApp {
    ctl: Controller,
    screens: Screens,
    effects: Effects,
    frame_log: FrameLog,
    perf: Option<PerfProbe>,
    last_frame_in_call: bool,
    repaint_set: bool,
}

impl PhantomApp {
    /// A new app. It reads the settings and looks for the key; nothing slow happens here.
    pub fn new(options: AppOptions, backend: Backend) -> PhantomApp {
        let perf = options.perf.map(PerfProbe::new);
        let ctl = Controller::new(options, backend);
        PhantomApp {
            screens: Screens::new(&ctl.state.settings),
            ctl,
            effects: Effects::default(),
            frame_log: FrameLog::default(),
            perf,
            last_frame_in_call: false,
            repaint_set: false,
        }
    }

    /// Draws one frame (the eframe `App::ui` and the UI tests both call this).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let started = Instant::now();
        self.frame(ui);
        // Ringing counts as in a call: the window must react at once then too.
        let in_call = self.ctl.state.calls.any();
        self.frame_log.record(started.elapsed(), in_call);
        self.last_frame_in_call = in_call;
    }

    fn frame(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if !self.repaint_set {
            self.ctl.backend.set_repaint(&ctx);
            self.repaint_set = true;
        }
        while let Some(report) = self.ctl.backend.try_recv() {
            if let (Report::Engine(EngineEvent::Call(_)), Some(d)) =
                (&report, &self.ctl.state.devices)
            {
                d.remote.set_repaint(&ctx);
                d.remote_screen.set_repaint(&ctx);
                d.preview.set_repaint(&ctx);
            }
            self.ctl.on_report(report);
        }
        self.ctl.retention_tick();
        self.ctl.hotline_tick();
        self.ctl.conference_tick();
        if self.ctl.conference.active() || self.ctl.hosting.busy() {
            // Figures and video of the room change without input.
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        self.effects
            .sync(&self.ctl.state, &ctx, self.ctl.backend.handle());
        self.sync_lobby(&ctx);
        let mut actions = Vec::new();
        self.draw(ui, &mut actions);
        for action in actions {
            self.ctl.apply(action);
        }
    }

    /// Runs the lobby's threads exactly while the lobby is shown: leaving it, or any call
    /// (ringing included) stops them, since the call opens the devices itself.
    fn sync_lobby(&mut self, ctx: &egui::Context) {
        let open = self.ctl.state.lobby_open();
        if open && self.ctl.lobby.is_none() {
            let lobby = Lobby::start(self.ctl.media_devices(), self.ctl.catalog(), ctx);
            self.ctl.lobby = Some(lobby);
            self.ctl.lobby_starts += 1;
        } else if !open {
            self.ctl.lobby = None;
        }
    }

    /// Builds each view from the state and draws the screens; their actions go to `out`.
    fn draw(&mut self, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        let (ctl, forms) = (&self.ctl, &mut self.screens);
        let s = &ctl.state;
        let top = TopBarView {
            demo: ctl.options.demo,
            signed_in: s.identity.is_some(),
            net: &s.net,
            busy: s.busy.as_deref(),
            error: s.error.as_deref(),
        };
        egui::Panel::top("status").show(ui, |ui| screens::top_bar(&top, ui, out));
        let npub = s.identity.as_ref().map(Identity::npub);
        match s.stage {
            Stage::Onboarding | Stage::Unlock => {
                let view = OnboardingView {
                    stage: s.stage,
                    busy: s.busy.is_some(),
                    key_file: &ctl.options.key_file,
                };
                egui::CentralPanel::default().show(ui, |ui| forms.onboarding.show(&view, ui, out));
            }
            Stage::Welcome => {
                egui::CentralPanel::default().show(ui, |ui| {
                    identity::welcome(npub.as_deref(), &ctl.options.key_file, ui, out)
                });
            }
            Stage::Ready => {
                egui::Panel::left("sections")
                    .resizable(false)
                    .exact_size(150.0)
                    .show(ui, |ui| {
                        screens::side_bar(s.tab, s.dispatcher_mode(), s.messages.unread(), ui, out)
                    });
                let names = |k: &nostr_signal::PublicKey| s.contacts.display_name(k);
                egui::CentralPanel::default().show(ui, |ui| {
                    let shown = s.calls.live().or(s.calls.ended.as_ref());
                    let group = s.groups.live().or(s.groups.ended.as_ref());
                    if let Some(call) = group {
                        let invitable = s
                            .contacts
                            .contacts
                            .iter()
                            .filter_map(|c| c.public_key().map(|k| (k, c.name.clone())))
                            .filter(|(k, _)| !call.members.contains_key(k))
                            .collect();
                        let view = GroupViewModel {
                            call,
                            names: &names,
                            invitable,
                            devices: s.devices.as_deref(),
                        };
                        forms.group.show(&view, ui, out);
                    } else if let Some(call) = shown {
                        let view = call_view(call, s, s.devices.as_deref());
                        forms.call.show(&view, ui, out);
                    } else {
                        section(ctl, forms, npub.as_deref(), ui, out);
                    }
                });
                let ringing = s.calls.ringing().map(|c| call_view(c, s, None));
                incoming_window(ringing.as_ref(), ui.ctx(), out);
                incoming_group_window(s.groups.ringing(), &names, ui.ctx(), out);
                share::picker_window(s.screen_picker.as_ref(), ui.ctx(), out);
            }
        }
    }

    // ---- what tests and embedders read ----

    /// How long frames took on the UI thread so far.
    pub fn frame_log(&self) -> &FrameLog {
        &self.frame_log
    }

    /// Whether the ring tone plays (an incoming call rings).
    pub fn ringing(&self) -> bool {
        self.effects.ringing()
    }

    /// The desktop notifier (tests read whether it tried).
    pub fn notifier(&self) -> &Notifier {
        self.effects.notifier()
    }

    /// Whether the lobby's threads run.
    pub fn lobby_running(&self) -> bool {
        self.ctl.lobby.is_some()
    }

    /// What the lobby's threads found, while it is open.
    pub fn lobby_status(&self) -> Option<LobbyStatus> {
        self.ctl.lobby.as_ref().map(Lobby::status)
    }

    /// The running engine, once online.
    pub fn engine(&self) -> Option<&CallEngine> {
        self.ctl.state.engine()
    }

    /// The identity, once unlocked.
    pub fn identity(&self) -> Option<&Identity> {
        self.ctl.state.identity.as_ref()
    }

    /// The mode chosen in the lobby for the next call only, if any.
    pub fn next_call_mode(&self) -> Option<PrivacyMode> {
        self.ctl.state.next_call_mode
    }

    /// The live call (at most one: the engine refuses a second).
    pub fn live_call(&self) -> Option<&CallView> {
        self.ctl.state.calls.live()
    }

    /// The devices of the calls, once online (preview and remote video slots).
    pub fn devices(&self) -> Option<&std::sync::Arc<UiDevices>> {
        self.ctl.state.devices.as_ref()
    }

    /// The contacts.
    pub fn contacts(&self) -> &ContactBook {
        &self.ctl.state.contacts
    }

    /// The contacts, to change (call [`PhantomApp::apply_retention_at`] after).
    pub fn contacts_mut(&mut self) -> &mut ContactBook {
        &mut self.ctl.state.contacts
    }

    /// The call log, once unlocked.
    pub fn call_log(&self) -> Option<&CallLog> {
        self.ctl.state.log.as_ref()
    }

    /// Waits (at most `timeout`) until the call log is on disk, which is written off the
    /// UI thread; `true` if it is.
    pub fn flush_log(&mut self, timeout: Duration) -> bool {
        self.ctl.flush_log(timeout)
    }

    /// Whether a NIP-05 lookup is under way (its name).
    pub fn nip05_lookup(&self) -> Option<&str> {
        self.ctl.state.nip05_lookup.as_deref()
    }

    /// The devices picked (saved in the settings).
    pub fn device_choice(&self) -> &DeviceChoice {
        &self.ctl.state.settings.devices
    }

    // ---- what tests and embedders do ----

    /// The key is open: load contacts and the log, go online.
    pub fn unlocked(&mut self, identity: Identity) {
        self.ctl.unlocked(identity);
    }

    /// Adds a contact; see [`Controller::add_contact`].
    pub fn add_contact(&mut self, name: &str, key: &str, mode: PrivacyMode) -> bool {
        self.ctl.add_contact(name, key, mode)
    }

    /// Runs auto-delete as if it were `now` (Unix seconds).
    pub fn apply_retention_at(&mut self, now: u64) {
        self.ctl.apply_retention_at(now);
    }

    /// Picks devices; see [`Controller::choose_devices`].
    pub fn choose_devices(&mut self, choice: DeviceChoice) {
        self.ctl.choose_devices(choice);
    }

    /// Dispatcher mode: the hotline link the console reads snapshots from and sends its
    /// actions to, with names for the hotline's dispatchers (shown over contacts' names).
    pub fn attach_hotline(&mut self, link: Box<dyn DeskLink>, names: Vec<(Npub, String)>) {
        self.ctl.attach_hotline(link, names);
    }

    /// Stops calls, the engine and the demo peer (at exit).
    pub fn shutdown(&mut self) {
        self.ctl.shutdown();
    }
}

/// The call view of `call`, named from `contacts`.
fn call_view<'a>(
    call: &'a CallView,
    s: &'a crate::gui::state::AppState,
    devices: Option<&'a UiDevices>,
) -> CallViewModel<'a> {
    CallViewModel {
        call,
        name: s.contacts.display_name(&call.peer),
        devices,
        note: s.hotline_notes.get(&call.peer).map(String::as_str),
    }
}

/// The section of the side bar that is picked.
fn section(
    ctl: &Controller,
    forms: &mut Screens,
    npub: Option<&str>,
    ui: &mut egui::Ui,
    out: &mut Vec<Action>,
) {
    let s = &ctl.state;
    match s.tab {
        Tab::Contacts => {
            let view = ContactsView {
                contacts: &s.contacts.contacts,
                online: matches!(s.net, Net::Online(_)),
                looking_up: s.nip05_lookup.is_some(),
                demo: s.demo_peer.is_some(),
                added: s.contacts_added,
                phone_gateway: s.settings.phone_gateway_key().is_some(),
            };
            forms.contacts.show(&view, ui, out);
        }
        Tab::Messages => {
            let name = |hex: &str| ctl.display_name_hex(hex);
            let view = MessagesView {
                messages: &s.messages,
                name: &name,
                online: matches!(s.net, Net::Online(_)),
                bluetooth: s.settings.signaling.uses_bluetooth(),
            };
            forms.messages.show(&view, ui, out);
        }
        Tab::Recent => {
            let view = HistoryView::new(s.log.as_ref(), &s.contacts);
            screens::history::show(&view, ui, out);
        }
        Tab::Settings => {
            let view = SettingsView {
                settings: &s.settings,
                config_dir: &ctl.options.config_dir,
            };
            forms.settings.show(&view, ui, out);
        }
        Tab::Identity => identity::show(npub, ui),
        Tab::Dispatcher | Tab::HotlineStats => dispatcher_section(s, forms, ui, out),
        Tab::Conferences => {
            let conference = &ctl.conference;
            let view = screens::conference::ConferenceViewModel {
                phase: &conference.phase,
                figures: conference.figures.as_ref(),
                time_left: conference.time_left(),
                notice: conference.notice.as_deref(),
                hosting: &ctl.hosting,
                signed_in: s.identity.is_some(),
            };
            forms.conference.show(&view, ui, out);
        }
        Tab::Lobby => {
            let view = LobbyView {
                running: ctl.lobby.as_ref().map(|l| (l.status(), l.preview())),
                starts: ctl.lobby_starts,
                mode: s.lobby_mode,
                next_call_mode: s.next_call_mode,
                devices: &s.settings.devices,
                conference: ctl.conference.pending.as_ref().map(|p| p.describe()),
            };
            forms.lobby.show(&view, ui, out);
        }
    }
}

/// Dispatcher mode's screens, over the newest snapshot from the hotline.
fn dispatcher_section(
    s: &crate::gui::state::AppState,
    forms: &mut Screens,
    ui: &mut egui::Ui,
    out: &mut Vec<Action>,
) {
    let Some(d) = &s.dispatcher else {
        ui.heading("Dispatcher");
        ui.label(
            "Not connected to the hotline yet: the console shows its queue once the hotline \
             sends its first update.",
        );
        return;
    };
    let me = d.desk.me;
    let names = |k: &Npub| -> String {
        if *k == me {
            return "You".into();
        }
        if let Some((_, name)) = d.names.iter().find(|(n, _)| n == k) {
            return name.clone();
        }
        match nostr_signal::PublicKey::from_slice(k.as_bytes()) {
            Ok(key) if s.contacts.find(&key).is_some() => s.contacts.display_name(&key),
            _ => short_npub(k),
        }
    };
    let model = ConsoleModel {
        view: d.view.as_ref(),
        desk: &d.desk,
        age: d.taken_at.elapsed(),
        names: &names,
        voicemails: &d.voicemails,
        voicemail_note: d.voicemail_note.as_deref(),
    };
    if s.tab == Tab::HotlineStats {
        screens::hotline_stats::show(&model, ui);
        return;
    }
    let mut actions = Vec::new();
    forms.dispatcher.show(&model, ui, &mut actions);
    out.extend(actions.into_iter().map(Action::Console));
}

impl eframe::App for PhantomApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        // eframe reports the previous frame's whole time (input, UI, tessellation,
        // painting): counted as in a call if a call was live then.
        if let Some(cpu) = frame.info().cpu_usage {
            if self.last_frame_in_call {
                self.frame_log
                    .record_whole_in_call(Duration::from_secs_f32(cpu));
            }
        }
        if let Some(probe) = &mut self.perf {
            if probe.frame(&self.frame_log) {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
            // The probe watches the clock, so frames must keep coming.
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
        self.show(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}
