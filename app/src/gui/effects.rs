//! Side effects of the state, kept apart from it: the ring tone, the desktop notification
//! and the window's request for attention follow whether a call rings, checked once per
//! frame against the state ([`Effects::sync`]).

use std::sync::Arc;

use calling::MediaDevices;
use eframe::egui;
use phantomcall_schemas::CallId;

use super::ring::{notification_text, Notifier, Ringer};
use super::state::AppState;

/// The ring tone and the notifier.
#[derive(Default)]
pub struct Effects {
    /// The ring tone of the incoming call that rings now.
    ringer: Option<(CallId, Ringer)>,
    /// The ringing call already announced (notification, attention).
    announced: Option<CallId>,
    notifier: Notifier,
}

impl Effects {
    /// Starts or stops the ring tone and announces a newly ringing call.
    pub fn sync(
        &mut self,
        state: &AppState,
        ctx: &egui::Context,
        runtime: &tokio::runtime::Handle,
    ) {
        let ringing = state
            .calls
            .ringing()
            .map(|c| (c.call_id, c.peer, c.call_type));
        let id = ringing.map(|(id, ..)| id);
        if self.ringer.as_ref().map(|(r, _)| *r) != id {
            // Answered, declined, taken elsewhere or ended: stop the ring tone.
            self.ringer = None;
        }
        let Some((call_id, peer, call_type)) = ringing else {
            self.announced = None;
            return;
        };
        if self.announced == Some(call_id) {
            return;
        }
        self.announced = Some(call_id);
        ctx.send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(
            egui::UserAttentionType::Critical,
        ));
        if let Some(devices) = &state.devices {
            // The speaker picked in the lobby (the engine's devices).
            let devices: Arc<dyn MediaDevices> = devices.clone();
            self.ringer = Some((call_id, Ringer::start(devices)));
        }
        let name = state.contacts.find(&peer).map(|c| c.name.clone());
        let (title, body) = notification_text(name.as_deref(), call_type);
        self.notifier.notify(runtime, title, body);
    }

    /// Whether the ring tone plays.
    pub fn ringing(&self) -> bool {
        self.ringer.is_some()
    }

    /// The desktop notifier (tests read whether it tried).
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }
}
