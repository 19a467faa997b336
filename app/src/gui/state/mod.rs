//! The app's state as plain data: where the user is, the identity, contacts, the call log,
//! the connection and the calls. No egui and no backend here: the controller changes it
//! ([`super::controller`]), the shell builds the screens' views from it ([`super::shell`]),
//! and its pure parts are unit-tested on their own.

pub mod calls;
pub mod groups;

use std::sync::Arc;

use nostr_signal::{Identity, PublicKey};
use phantomcall_schemas::{CallId, PrivacyMode};

use super::backend::Online;
use super::calllog::CallLog;
use super::contacts::ContactBook;
use super::devices::UiDevices;
use super::settings::Settings;
use calls::CallsModel;

/// Where the user is in the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// No key yet: create or import one.
    Onboarding,
    /// A key exists: its password opens it.
    Unlock,
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
    /// Conversations (NIP-17 messages) with contacts.
    Messages,
    /// Settings.
    Settings,
    /// Your npub and QR code.
    Identity,
    /// The pre-call lobby: camera preview (filtered), microphone, speaker, mode.
    Lobby,
    /// Dispatcher mode: the hotline console (shown once a hotline is enrolled).
    Dispatcher,
    /// Dispatcher mode: the hotline's statistics.
    HotlineStats,
    /// Conference rooms: join by link, the room.
    Conferences,
}

/// Dispatcher mode: the newest snapshot from the hotline and this dispatcher's desk.
pub struct DispatcherState {
    /// The queue, the roster and the counters; `None` until the first snapshot.
    pub view: Option<crate::gui::console::ConsoleView>,
    /// Our presence, offer, call and wrap-up, from the same moment.
    pub desk: crate::gui::console::DeskState,
    /// When the snapshot was taken (the clocks tick on from it).
    pub taken_at: std::time::Instant,
    /// Names the hotline gives its dispatchers (the demo's colleagues), over contacts'.
    pub names: Vec<(crate::gui::console::Npub, String)>,
    /// The hotline's voicemails, newest first.
    pub voicemails: Vec<crate::gui::console::VoicemailListing>,
    /// What became of the last voicemail played.
    pub voicemail_note: Option<String>,
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

/// Everything the screens show.
pub struct AppState {
    /// The saved settings.
    pub settings: Settings,
    /// Where the user is.
    pub stage: Stage,
    /// The section shown.
    pub tab: Tab,
    /// Something slow is running: what to say next to the spinner.
    pub busy: Option<String>,
    /// The last error, shown until dismissed.
    pub error: Option<String>,
    /// The identity, once unlocked.
    pub identity: Option<Identity>,
    /// The contacts.
    pub contacts: ContactBook,
    /// How many contacts were added so far (the add form clears when it changes).
    pub contacts_added: u64,
    /// The call log, once unlocked.
    pub log: Option<CallLog>,
    /// The conversations (empty until unlocked).
    pub messages: super::messages::Messages,
    /// The connection.
    pub net: Net,
    /// The devices of calls, once online (preview and remote video slots).
    pub devices: Option<Arc<UiDevices>>,
    /// The calls.
    pub calls: CallsModel,
    /// The group calls.
    pub groups: groups::GroupsModel,
    /// The demo contact, in the demo.
    pub demo_peer: Option<PublicKey>,
    /// Demo: the demo contact shares its screen when the next call connects.
    pub demo_presents: bool,
    /// The mode whose impact the lobby shows.
    pub lobby_mode: PrivacyMode,
    /// A mode chosen in the lobby for the next call only, over the contact's default.
    pub next_call_mode: Option<PrivacyMode>,
    /// The NIP-05 name being looked up.
    pub nip05_lookup: Option<String>,
    /// The screen-share picker, while open.
    pub screen_picker: Option<ScreenPicker>,
    /// Dispatcher mode, once a hotline link runs.
    pub dispatcher: Option<DispatcherState>,
    /// What a hotline we called says, by the key of the call it is about (the hotline's
    /// waiting line, or the dispatcher it put us through to): shown on that call.
    pub hotline_notes: std::collections::HashMap<PublicKey, String>,
}

impl AppState {
    /// A fresh state at `stage` with `settings`.
    pub fn new(settings: Settings, stage: Stage) -> AppState {
        AppState {
            settings,
            stage,
            tab: Tab::Contacts,
            busy: None,
            error: None,
            identity: None,
            contacts: ContactBook::default(),
            contacts_added: 0,
            log: None,
            messages: Default::default(),
            net: Net::Offline,
            devices: None,
            calls: CallsModel::default(),
            groups: groups::GroupsModel::default(),
            demo_peer: None,
            demo_presents: false,
            lobby_mode: PrivacyMode::Private,
            next_call_mode: None,
            nip05_lookup: None,
            screen_picker: None,
            dispatcher: None,
            hotline_notes: Default::default(),
        }
    }

    /// The running engine, once online.
    pub fn engine(&self) -> Option<&calling::CallEngine> {
        match &self.net {
            Net::Online(o) => Some(&o.engine),
            _ => None,
        }
    }

    /// Whether dispatcher mode shows in the side bar: a hotline is enrolled in the
    /// settings, or a hotline link (the demo's) runs.
    pub fn dispatcher_mode(&self) -> bool {
        self.settings.hotline_key().is_some() || self.dispatcher.is_some()
    }

    /// Whether the lobby should run: it is shown and no call (ringing included) holds the
    /// devices.
    pub fn lobby_open(&self) -> bool {
        self.stage == Stage::Ready
            && self.tab == Tab::Lobby
            && !self.calls.any()
            && self.calls.ended.is_none()
            && self.groups.calls.is_empty()
            && self.groups.ended.is_none()
    }
}
