//! Dispatcher mode over the relays: the console's actions become this dispatcher's control
//! messages to the hotline (`hotline::voice::DispatcherClient`), and the hotline's console
//! snapshots come back the same way. Sending runs on the background runtime; the UI thread
//! only takes what has arrived.

use std::sync::Arc;
use std::time::Instant;

use hotline::voice::{DispatcherClient, DispatcherEvent};
use nostr_signal::PublicKey;
use tokio::runtime::Handle;
use tokio::sync::broadcast::{self, error::TryRecvError};

use super::{ConsoleAction, ConsoleView, DeskLink, DeskState};

/// The console's link to a hotline through this dispatcher's own client.
pub struct RelayDesk {
    client: Arc<DispatcherClient>,
    handle: Handle,
    events: broadcast::Receiver<DispatcherEvent>,
}

impl RelayDesk {
    /// The link through `client` (started on our engine and transport for the hotline),
    /// sending on `handle`.
    pub fn new(client: Arc<DispatcherClient>, handle: Handle) -> Self {
        let events = client.events();
        let desk = Self {
            client,
            handle,
            events,
        };
        // Say we are here (away until the dispatcher picks a presence): the hotline then
        // sends this console its snapshots.
        desk.spawn(ConsoleAction::SetPresence(hotline::core::Presence::Away));
        desk
    }

    fn spawn(&self, action: ConsoleAction) {
        let client = self.client.clone();
        self.handle.spawn(async move {
            let presence = match &action {
                ConsoleAction::SetPresence(p) => Some(*p),
                ConsoleAction::EndWrapUp => Some(hotline::core::Presence::Available),
                _ => None,
            };
            if let Some(presence) = presence {
                // Sent again until the hotline confirms; the console shows what it says.
                if let Err(e) = client.set_presence(presence).await {
                    tracing::warn!(error = %e, "presence not taken by the hotline");
                }
                return;
            }
            let sent = match action {
                ConsoleAction::SetPresence(_) | ConsoleAction::EndWrapUp => return,
                ConsoleAction::Answer(e) | ConsoleAction::CallBack(e) => client.answer(e).await,
                ConsoleAction::Decline(e) => client.decline(e).await,
                ConsoleAction::Hold(e, on) => client.hold(e, on).await,
                ConsoleAction::SaveNote(e, text) => client.note(e, &text).await,
                ConsoleAction::Transfer(e, to) => match PublicKey::from_slice(to.as_bytes()) {
                    Ok(to) => client.transfer(e, to).await,
                    Err(_) => return,
                },
                ConsoleAction::End(e) => client.end(e).await,
            };
            if let Err(e) = sent {
                tracing::warn!(error = %e, "console action not sent to the hotline");
            }
        });
    }
}

impl DeskLink for RelayDesk {
    fn send(&mut self, action: &ConsoleAction) -> Result<(), String> {
        self.spawn(action.clone());
        Ok(())
    }

    fn poll(&mut self) -> Option<(ConsoleView, DeskState, Instant)> {
        let mut newest = None;
        loop {
            match self.events.try_recv() {
                Ok(DispatcherEvent::Console { view, desk, at }) => {
                    newest = Some((*view, *desk, at))
                }
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => return newest,
            }
        }
    }
}
