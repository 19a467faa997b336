//! The identity and connection lifecycle of the [`Controller`]: the key opens, contacts
//! and the call log load, the client goes online, settings change and it reconnects; the
//! devices calls use; the call log's writes and auto-delete.

use std::sync::Arc;
use std::time::Duration;

use calling::peer::NetworkConfig;
use calling::{Direction, FilterChoice, MediaDevices, SyntheticDevices, VoiceProcessing};
use nostr_signal::{Identity, KeyFile};

use super::backend::Connection;
use super::calllog::{unix_now, Persist};
use super::calls::CallView;
use super::contacts::{ContactBook, ContactStore};
use super::controller::Controller;
use super::devices::{DeviceCatalog, SyntheticCatalog, SystemCatalog, UiDevices};
use super::logstore::{self, LogWriter};
use super::options::OWN_TONE_HZ;
use super::settings::{DeviceChoice, Settings};
use super::state::{Net, Stage};

/// How often auto-delete runs (and strangers' calls are saved) while the app is open, s.
const RETENTION_EVERY_SECS: u64 = 60;
/// How long exit waits for the call log to reach the disk.
const LOG_FLUSH_WAIT: Duration = Duration::from_secs(2);

impl Controller {
    /// The key is open: load contacts and the log, go online. (The unlock and onboarding
    /// screens end here; tests and embedders may call it with a key they hold.)
    pub fn unlocked(&mut self, identity: Identity) {
        let dir = self.options.config_dir.clone();
        let store = ContactStore::new(&dir.join("contacts.enc"), &identity);
        self.state.contacts = store.load().unwrap_or_else(|e| {
            self.state.error = Some(format!("contacts: {e:#}"));
            ContactBook::default()
        });
        self.contact_store = Some(store);
        let path = dir.join("calls.enc");
        let opened = logstore::load(&path, &identity).and_then(|log| {
            let writer = LogWriter::start(&path, &identity)?;
            Ok((log, writer))
        });
        (self.state.log, self.log_writer) = match opened {
            Ok((log, writer)) => (Some(log), Some(writer)),
            Err(e) => {
                // Not replaced by an empty log: that would overwrite the user's file.
                self.state.error = Some(format!("call log unavailable: {e:#}"));
                (None, None)
            }
        };
        let path = dir.join("messages.enc");
        let opened = logstore::load_messages(&path, &identity).and_then(|messages| {
            let writer =
                LogWriter::start_sealed(&path, &identity, logstore::MESSAGES_PURPOSE, "messages")?;
            Ok((messages, writer))
        });
        match opened {
            Ok((messages, writer)) => {
                self.state.messages = messages;
                self.message_writer = Some(writer);
            }
            // Not replaced by an empty file: new messages show but are not saved.
            Err(e) => {
                self.state.error = Some(format!(
                    "messages unavailable: {e:#}; new ones are not saved"
                ))
            }
        }
        self.state.identity = Some(identity);
        self.state.stage = Stage::Ready;
        self.apply_retention_at(unix_now());
        self.go_online();
    }

    pub(super) fn go_online(&mut self) {
        let s = &mut self.state;
        let Some(identity) = s.identity.clone() else {
            return;
        };
        let (inbox, proxy) = match (s.settings.dm_relay_urls(), s.settings.proxy_addr()) {
            (Ok(inbox), Ok(proxy)) => (inbox, proxy),
            (Err(e), _) | (_, Err(e)) => {
                s.net = Net::Failed(format!("{e:#}"));
                return;
            }
        };
        let relays = match s.settings.all_relay_urls() {
            Ok(r) if r.is_empty() && s.settings.signaling.uses_relays() => {
                s.net = Net::Offline;
                return;
            }
            Ok(r) => r,
            Err(e) => {
                s.net = Net::Failed(e.to_string());
                return;
            }
        };
        let devices = Arc::new(UiDevices::new(self.media_devices()));
        let network = self.network();
        let s = &mut self.state;
        s.devices = Some(devices.clone());
        s.net = Net::Connecting;
        let signaling = s.settings.signaling;
        s.busy = Some(if signaling.uses_relays() {
            format!("Connecting to {} relay(s)…", relays.len())
        } else {
            "Starting Bluetooth…".to_owned()
        });
        let contacts = s
            .contacts
            .contacts
            .iter()
            .filter_map(|c| Some((c.public_key()?, c.mode)))
            .collect();
        let replay_file = KeyFile::new(&self.options.key_file).seen_ids_path();
        self.backend.go_online(Connection {
            identity,
            relays,
            inbox,
            proxy,
            network,
            devices,
            contacts,
            replay_file: Some(replay_file),
            signaling,
            radio: self.options.radio.clone(),
        });
    }

    /// Saves `settings` (once valid) and reconnects with them.
    pub(super) fn save_settings_and_reconnect(&mut self, settings: Settings) {
        match settings.validate() {
            Ok(()) => {
                self.state.settings = settings;
                self.save_settings();
                // New transport (relays, proxy, 10050 list) and new devices (blackout).
                self.reconnect();
            }
            Err(e) => self.state.error = Some(format!("not saved: {e:#}")),
        }
    }

    fn save_settings(&mut self) {
        match self.state.settings.save(&self.options.config_dir) {
            Ok(()) => self.state.error = None,
            Err(e) => self.state.error = Some(format!("settings not saved: {e:#}")),
        }
    }

    /// Reconnects with the current settings (after they changed). Not during a call.
    fn reconnect(&mut self) {
        if self.state.calls.live().is_some() {
            self.state.error = Some("settings apply after the call".into());
            return;
        }
        if let Net::Online(online) = std::mem::replace(&mut self.state.net, Net::Offline) {
            self.backend.handle().spawn(async move {
                online.engine.shutdown().await;
                online.transport.shutdown().await;
            });
        }
        self.go_online();
    }

    /// The network of calls: the base plus the user's TURN servers.
    pub(super) fn network(&self) -> NetworkConfig {
        self.state.settings.network(&self.options.network)
    }

    /// Where devices come from: the options' catalog (tests, the demo), else the machine's
    /// or synthetic ones as the settings say.
    pub fn catalog(&self) -> Arc<dyn DeviceCatalog> {
        let settings = &self.state.settings;
        self.options.devices.clone().unwrap_or_else(|| {
            let filter = if settings.blackout {
                FilterChoice::Blackout(settings.blackout_strength.filter_config())
            } else {
                FilterChoice::AllBlack
            };
            if settings.synthetic_devices {
                let mut d = SyntheticDevices::new(OWN_TONE_HZ).with_people_clip();
                d.filter = filter;
                Arc::new(SyntheticCatalog::new(d))
            } else {
                let voice_processing = if settings.voice_processing {
                    VoiceProcessing::On
                } else {
                    VoiceProcessing::Off
                };
                Arc::new(SystemCatalog {
                    filter,
                    voice_processing,
                })
            }
        })
    }

    /// The devices calls and the lobby use: the catalog's, as picked in the settings.
    pub fn media_devices(&self) -> Arc<dyn MediaDevices> {
        self.catalog().devices(&self.state.settings.devices)
    }

    /// Picks devices: saved in the settings, used by the next call placed or answered (the
    /// running engine's devices are swapped, no reconnect), and the lobby restarts on them.
    pub fn choose_devices(&mut self, choice: DeviceChoice) {
        if self.state.settings.devices == choice {
            return;
        }
        self.state.settings.devices = choice;
        self.save_settings();
        if let Some(devices) = &self.state.devices {
            devices.set_inner(self.media_devices());
        }
        // The lobby's threads hold the old devices: the next frame starts a new lobby.
        self.lobby = None;
    }

    /// Logs a call that ended, and shows its end unless it was a missed call from a
    /// stranger (those are counted, and do not take over the window).
    pub(super) fn call_ended(&mut self, call: CallView) {
        let answered = call.connected_at.is_some();
        let from_stranger = call.direction == Direction::Incoming
            && !answered
            && self.state.contacts.find(&call.peer).is_none();
        if let Some(log) = &mut self.state.log {
            if log.record(call.log_entry(), from_stranger) == Persist::Now {
                self.save_log();
            }
        }
        if call.direction == Direction::Outgoing || answered {
            self.state.calls.ended = Some(call);
        }
        if !from_stranger {
            self.apply_retention_at(unix_now());
        }
    }

    /// Runs auto-delete as if it were `now` (Unix seconds); saves if anything went.
    pub fn apply_retention_at(&mut self, now: u64) {
        let contacts = &self.state.contacts;
        if let Some(log) = &mut self.state.log {
            if log.apply_retention(contacts, now) > 0 {
                self.save_log();
            }
        }
    }

    /// Once a minute: auto-delete, and the strangers' count saved if it changed.
    pub(super) fn retention_tick(&mut self) {
        let now = unix_now();
        if now >= self.last_retention + RETENTION_EVERY_SECS {
            self.last_retention = now;
            self.apply_retention_at(now);
            if self.state.log.as_ref().is_some_and(|l| l.pending()) {
                self.save_log();
            }
        }
        let writers = [&self.log_writer, &self.message_writer];
        if let Some(e) = writers
            .into_iter()
            .find_map(|w| w.as_ref().and_then(LogWriter::take_error))
        {
            self.state.error = Some(e);
        }
    }

    pub(super) fn clear_log(&mut self) {
        if let Some(log) = &mut self.state.log {
            log.clear();
            self.save_log();
        }
    }

    /// Queues the log for the writer thread.
    fn save_log(&mut self) {
        if let (Some(log), Some(writer)) = (&mut self.state.log, &mut self.log_writer) {
            writer.save(log);
        }
    }

    /// Waits (at most `timeout`) until the call log is on disk; `true` if it is.
    pub fn flush_log(&mut self, timeout: Duration) -> bool {
        if self.state.log.as_ref().is_some_and(|l| l.pending()) {
            self.save_log();
        }
        let messages = self
            .message_writer
            .as_ref()
            .is_none_or(|w| w.flush(timeout));
        self.log_writer.as_ref().is_none_or(|w| w.flush(timeout)) && messages
    }

    /// Stops calls, the engine and the demo peer, and writes the log (at exit).
    pub fn shutdown(&mut self) {
        self.flush_log(LOG_FLUSH_WAIT);
        let online = match std::mem::replace(&mut self.state.net, Net::Offline) {
            Net::Online(o) => Some(o),
            _ => None,
        };
        self.backend.shutdown(online.as_ref());
    }
}
