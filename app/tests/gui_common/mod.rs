//! Shared set-up of the UI tests: the app in an egui_kittest harness on a test runtime,
//! an embedded relay, and a second client (a real engine with synthetic devices).
#![allow(dead_code)] // each test file uses a different part

pub mod hotline;

use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::peer::NetworkConfig;
use calling::{EngineEvent, SyntheticDevices};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use nostr_signal::{EmbeddedRelay, KeyStrength};
use phantomcall::demo::{synthetic_peer, SyntheticPeer};
use phantomcall::gui::backend::Backend;
use phantomcall::gui::devices::{DeviceCatalog, SyntheticCatalog};
use phantomcall::gui::settings::Settings;
use phantomcall::gui::{AppOptions, PhantomApp};
use tokio::runtime::Runtime;
use tokio::sync::broadcast;

/// How long a UI test waits for something that takes a real call set-up.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A test world: runtime, relay, config directory.
pub struct World {
    pub rt: Runtime,
    pub relay: Option<EmbeddedRelay>,
    pub dir: tempfile::TempDir,
}

impl World {
    /// A runtime and a temporary config directory; `with_relay` starts an embedded relay
    /// and writes it into the settings.
    pub fn new(with_relay: bool) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let relay = with_relay.then(|| {
            rt.block_on(EmbeddedRelay::start_on_loopback())
                .expect("relay starts")
        });
        if let Some(relay) = &relay {
            Settings {
                relays: vec![relay.url().to_string()],
                ..Settings::default()
            }
            .save(dir.path())
            .expect("settings saved");
        }
        World { rt, relay, dir }
    }

    /// App options for this world: synthetic devices (`devices`), loopback network, weak
    /// scrypt (tests create many keys).
    pub fn options(&self, devices: SyntheticDevices) -> AppOptions {
        self.options_with(Arc::new(SyntheticCatalog::new(devices)))
    }

    /// App options with a catalog the test keeps (to read its second speaker).
    pub fn options_with(&self, catalog: Arc<dyn DeviceCatalog>) -> AppOptions {
        AppOptions {
            config_dir: self.dir.path().to_owned(),
            key_file: self.dir.path().join("identity.ncryptsec"),
            network: NetworkConfig::loopback(),
            devices: Some(catalog),
            demo: false,
            key_strength: KeyStrength::Weak,
            auto_call: None,
            perf: None,
            nip05_base: None,
            open_link: None,
            radio: None,
        }
    }

    /// The app in a harness.
    pub fn harness(&self, options: AppOptions) -> Harness<'static, PhantomApp> {
        let app = PhantomApp::new(options, Backend::on(self.rt.handle().clone()));
        Harness::builder()
            .with_size([1000.0, 720.0])
            .build_ui_state(|ui, app: &mut PhantomApp| app.show(ui), app)
    }

    /// A second client on the relay, with an event subscription taken at once.
    pub fn peer(&self, tone_hz: f32) -> Peer {
        let relay = self
            .relay
            .as_ref()
            .expect("world has a relay")
            .url()
            .clone();
        let peer = self
            .rt
            .block_on(synthetic_peer(relay, SyntheticDevices::new(tone_hz)))
            .expect("peer starts");
        let events = peer.engine.events();
        Peer { peer, events }
    }
}

/// The other side of the call.
pub struct Peer {
    pub peer: SyntheticPeer,
    pub events: broadcast::Receiver<EngineEvent>,
}

impl std::ops::Deref for Peer {
    type Target = SyntheticPeer;
    fn deref(&self) -> &SyntheticPeer {
        &self.peer
    }
}

impl World {
    /// Signs the app in with a fresh identity, adds `peer` as the Fast contact "Bob", video
    /// calls him from the contact list and has him accept (with his camera); returns once
    /// the app shows the call connected.
    pub fn video_call_to(
        &self,
        harness: &mut Harness<'_, PhantomApp>,
        peer: &mut Peer,
    ) -> phantomcall_schemas::CallId {
        online_with_contact(
            harness,
            nostr_signal::Identity::generate(),
            "Bob",
            peer,
            phantomcall_schemas::PrivacyMode::Fast,
        );
        click(harness, "Video call");
        let call_id = self.ringing_at(peer).call_id;
        peer.engine.accept(call_id, true);
        wait_for_text(harness, "Connected", CALL_TIMEOUT);
        call_id
    }

    /// Waits until a call rings at `peer` and returns that event.
    pub fn ringing_at(&self, peer: &mut Peer) -> calling::CallEvent {
        self.rt.block_on(async {
            loop {
                if let Ok(EngineEvent::Call(e)) = peer.events.recv().await {
                    if e.state == calling::CallState::Ringing
                        && e.direction == calling::Direction::Incoming
                    {
                        return e;
                    }
                }
            }
        })
    }
}

/// Signs the app in as `me`, adds `peer` as the contact `name` with `mode`, and waits
/// until the app is online.
pub fn online_with_contact(
    harness: &mut Harness<'_, PhantomApp>,
    me: nostr_signal::Identity,
    name: &str,
    peer: &Peer,
    mode: phantomcall_schemas::PrivacyMode,
) {
    harness.state_mut().unlocked(me);
    assert!(harness
        .state_mut()
        .add_contact(name, &peer.identity.npub(), mode));
    wait_for_text(harness, "Online", Duration::from_secs(15));
}

/// Steps the UI (with short sleeps, so background work progresses) until `done` holds;
/// panics with `what` after `timeout`. Returns how long it took.
pub fn pump_until(
    harness: &mut Harness<'_, PhantomApp>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Harness<'_, PhantomApp>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        harness.step();
        if done(harness) {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Steps the UI for `d`.
pub fn pump_for(harness: &mut Harness<'_, PhantomApp>, d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        harness.step();
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Whether a node whose label contains `text` is on screen.
pub fn shows(harness: &Harness<'_, PhantomApp>, text: &str) -> bool {
    harness.query_all_by_label_contains(text).next().is_some()
}

/// Waits until a label containing `text` shows.
pub fn wait_for_text(harness: &mut Harness<'_, PhantomApp>, text: &str, timeout: Duration) {
    pump_until(harness, text, timeout, |h| shows(h, text));
}

/// Replaces the text of the field named `label` (plain or password) with `text`.
pub fn type_into(harness: &mut Harness<'_, PhantomApp>, label: &str, text: &str) {
    use eframe::egui::accesskit::Role;
    let role = [Role::PasswordInput, Role::MultilineTextInput]
        .into_iter()
        .find(|role| harness.query_by_role_and_label(*role, label).is_some())
        .unwrap_or(Role::TextInput);
    harness.get_by_role_and_label(role, label).scroll_to_me();
    settle_scroll(harness);
    harness.get_by_role_and_label(role, label).focus();
    harness.step();
    // Select what is there so the typed text replaces it.
    harness.key_press_modifiers(eframe::egui::Modifiers::COMMAND, eframe::egui::Key::A);
    harness.step();
    // Deleted first, so that typing nothing clears the field.
    harness.key_press(eframe::egui::Key::Backspace);
    harness.step();
    harness.get_by_role_and_label(role, label).type_text(text);
    harness.step();
}

/// Clicks the button named `label` (scrolled into view first, as a user would).
/// Lets a scroll to a widget finish: egui animates it over several frames, and a click
/// sent mid-way lands where the widget was, outside the visible area.
fn settle_scroll(harness: &mut Harness<'_, PhantomApp>) {
    for _ in 0..12 {
        harness.step();
    }
}

pub fn click(harness: &mut Harness<'_, PhantomApp>, label: &str) {
    use eframe::egui::accesskit::Role;
    harness
        .get_by_role_and_label(Role::Button, label)
        .scroll_to_me();
    settle_scroll(harness);
    harness.get_by_role_and_label(Role::Button, label).click();
    harness.step();
    harness.step();
}

/// Opens the combo box named `picker` and picks `option`.
pub fn pick(harness: &mut Harness<'_, PhantomApp>, picker: &str, option: &str) {
    harness.get_by_label(picker).scroll_to_me();
    harness.step();
    harness.get_by_label(picker).click();
    harness.step();
    harness.step();
    harness.get_by_label(option).click();
    harness.step();
    harness.step();
}
