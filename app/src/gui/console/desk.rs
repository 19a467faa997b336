//! The controller's side of dispatcher mode: it polls the hotline link each frame for the
//! newest snapshot, sends the console's actions through it, and starts the demo hotline.

use std::sync::Arc;

use hotline::voice::DispatcherClient;

use crate::gui::controller::Controller;
use crate::gui::state::{DispatcherState, Net};

use super::demo::DemoHotline;
use super::relay::RelayDesk;
use super::{ConsoleAction, DeskLink, DeskState, Npub};

impl Controller {
    /// Dispatcher mode reads snapshots from `link` and sends actions to it from now on;
    /// `names` name the hotline's dispatchers (over contacts' names).
    pub fn attach_hotline(&mut self, link: Box<dyn DeskLink>, names: Vec<(Npub, String)>) {
        self.desk_link = Some(link);
        let me = self
            .state
            .identity
            .as_ref()
            .map(|i| Npub::from_bytes(i.public_key().to_bytes()));
        self.state.dispatcher = Some(DispatcherState {
            view: None,
            desk: DeskState::signed_out(me.unwrap_or(Npub::from_bytes([0; 32]))),
            taken_at: std::time::Instant::now(),
            names,
            voicemails: Vec::new(),
            voicemail_note: None,
        });
        self.hotline_tick();
    }

    /// Takes the newest snapshot from the hotline link, if one came (never waits).
    pub fn hotline_tick(&mut self) {
        let Some(link) = self.desk_link.as_mut() else {
            return;
        };
        let mut newest = None;
        while let Some(snapshot) = link.poll() {
            newest = Some(snapshot);
        }
        let voicemails = link.voicemails();
        let note = link.voicemail_note();
        if let Some(d) = self.state.dispatcher.as_mut() {
            if let Some(list) = voicemails {
                d.voicemails = list;
            }
            if note.is_some() {
                d.voicemail_note = note;
            }
        }
        if let (Some((view, desk, taken_at)), Some(d)) = (newest, self.state.dispatcher.as_mut()) {
            d.view = Some(view);
            d.desk = desk;
            d.taken_at = taken_at;
        }
    }

    /// Sends one of the console's actions; a refusal goes to the banner.
    pub(crate) fn console(&mut self, action: ConsoleAction) {
        let Some(link) = self.desk_link.as_mut() else {
            self.state.error = Some("Not connected to the hotline".into());
            return;
        };
        if let Err(e) = link.send(&action) {
            self.state.error = Some(e);
        }
        self.hotline_tick();
    }

    /// Dispatcher mode over the relays: with a hotline set in the settings (outside the
    /// demo), the console links to it through our own client once we are online; the
    /// hotline sends this console its snapshots from our first message on.
    pub(crate) fn join_hotline_desk(&mut self) {
        if self.options.demo || self.desk_link.is_some() {
            return;
        }
        let Some(hotline) = self.state.settings.hotline_key() else {
            return;
        };
        let Net::Online(online) = &self.state.net else {
            return;
        };
        let Some(identity) = self.state.identity.clone() else {
            return;
        };
        let devices = self
            .state
            .devices
            .clone()
            .map(|d| d as Arc<dyn calling::MediaDevices>);
        let handle = self.backend.handle().clone();
        let client = {
            // The client's task runs on the background runtime.
            let _runtime = handle.enter();
            Arc::new(DispatcherClient::start(
                online.engine.clone(),
                online.transport.clone(),
                hotline,
                self.state.lobby_mode,
            ))
        };
        self.attach_hotline(
            Box::new(RelayDesk::new(client, handle, identity, devices)),
            Vec::new(),
        );
    }

    /// The demo: our identity as a dispatcher of a demo hotline that has run a morning.
    pub(crate) fn start_demo_hotline(&mut self) {
        let Some(identity) = &self.state.identity else {
            return;
        };
        let me = Npub::from_bytes(identity.public_key().to_bytes());
        let demo = DemoHotline::morning(me, false);
        let names = demo
            .colleagues()
            .iter()
            .filter_map(|c| Some((*c, demo.name(c)?.to_owned())))
            .collect();
        self.attach_hotline(Box::new(demo), names);
    }
}
