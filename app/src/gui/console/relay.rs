//! Dispatcher mode over the relays: the console's actions become this dispatcher's control
//! messages to the hotline (`hotline::voice::DispatcherClient`), and the hotline's console
//! snapshots come back the same way. Sending runs on the background runtime; the UI thread
//! only takes what has arrived. A voicemail is fetched, opened with our own key and played
//! through the speaker of our call devices on a thread of its own.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use calling::MediaDevices;
use hotline::voice::{DispatcherClient, DispatcherEvent, VoicemailListing};
use media::audio::FRAME_SAMPLES;
use nostr_signal::{Identity, PublicKey};
use tokio::runtime::Handle;
use tokio::sync::broadcast::{self, error::TryRecvError};

use super::{ConsoleAction, ConsoleView, DeskLink, DeskState};

/// The console's link to a hotline through this dispatcher's own client.
pub struct RelayDesk {
    client: Arc<DispatcherClient>,
    handle: Handle,
    events: broadcast::Receiver<DispatcherEvent>,
    identity: Identity,
    devices: Option<Arc<dyn MediaDevices>>,
    voicemails: Option<Vec<VoicemailListing>>,
    note: Arc<Mutex<Option<String>>>,
}

impl RelayDesk {
    /// The link through `client` (started on our engine and transport for the hotline),
    /// sending on `handle`; voicemails open with `identity` and play through `devices`'
    /// speaker.
    pub fn new(
        client: Arc<DispatcherClient>,
        handle: Handle,
        identity: Identity,
        devices: Option<Arc<dyn MediaDevices>>,
    ) -> Self {
        let events = client.events();
        let desk = Self {
            client,
            handle,
            events,
            identity,
            devices,
            voicemails: None,
            note: Arc::new(Mutex::new(None)),
        };
        // Say we are here (away until the dispatcher picks a presence): the hotline then
        // sends this console its snapshots.
        desk.spawn(ConsoleAction::SetPresence(hotline::core::Presence::Away));
        desk
    }

    fn spawn(&self, action: ConsoleAction) {
        let client = self.client.clone();
        if let ConsoleAction::PlayVoicemail(id) = action {
            self.play(id);
            return;
        }
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
                ConsoleAction::VoicemailHeard(id) => client.mark_voicemail_heard(id).await,
                ConsoleAction::DeleteVoicemail(id) => client.delete_voicemail(id).await,
                ConsoleAction::PlayVoicemail(_) => return,
            };
            if let Err(e) = sent {
                tracing::warn!(error = %e, "console action not sent to the hotline");
            }
        });
    }

    /// Fetches voicemail `id`, opens it, plays it (paced, 20 ms a frame) and marks it heard.
    fn play(&self, id: u64) {
        let (client, identity, devices, note) = (
            self.client.clone(),
            self.identity.clone(),
            self.devices.clone(),
            self.note.clone(),
        );
        let say =
            move |text: String| *note.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
        say(format!("Fetching voicemail {id}…"));
        self.handle.spawn(async move {
            let pcm = match client.fetch_voicemail(id, &identity).await {
                Ok(voicemail) => voicemail.decode().map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let (pcm, devices) = match (pcm, devices) {
                (Ok(pcm), Some(devices)) => (pcm, devices),
                (Err(e), _) => return say(format!("Voicemail {id} not played: {e}")),
                (Ok(_), None) => return say("No speaker to play the voicemail on".into()),
            };
            let seconds = pcm.len() / 48_000;
            say(format!(
                "Playing voicemail {id} ({}:{:02})",
                seconds / 60,
                seconds % 60
            ));
            let played = tokio::task::spawn_blocking(move || -> Result<(), String> {
                let mut speaker = devices.speaker().map_err(|e| e.to_string())?;
                for frame in pcm.chunks(FRAME_SAMPLES) {
                    speaker.write_frame(frame).map_err(|e| e.to_string())?;
                    // The speaker keeps at most 200 ms ahead of the card: real time.
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match played {
                Ok(()) => {
                    say(format!("Voicemail {id} played"));
                    if let Err(e) = client.mark_voicemail_heard(id).await {
                        tracing::warn!(error = %e, "voicemail not marked heard");
                    }
                }
                Err(e) => say(format!("Voicemail {id} not played: {e}")),
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
                Ok(DispatcherEvent::Voicemails(list)) => self.voicemails = Some(list),
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => return newest,
            }
        }
    }

    fn voicemails(&mut self) -> Option<Vec<VoicemailListing>> {
        // Snapshots arrive together with their lists: take what `poll` drained.
        self.voicemails.take()
    }

    fn voicemail_note(&mut self) -> Option<String> {
        self.note
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}
