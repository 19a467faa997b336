//! What the [`Controller`] does with each report from the background: keys opened,
//! online or not, the engine's events, the demo peer, NIP-05 answers, screen lists.

use calling::EngineEvent;
use nostr_signal::Identity;
use phantomcall_schemas::PrivacyMode;

use super::backend::Report;
use super::controller::Controller;
use super::state::{Net, Stage};

impl Controller {
    /// Applies one report.
    pub fn on_report(&mut self, report: Report) {
        let s = &mut self.state;
        match report {
            Report::Identity(Ok(identity)) => {
                s.busy = None;
                let created = s.stage == Stage::Onboarding;
                self.unlocked(identity);
                if created {
                    self.state.stage = Stage::Welcome;
                }
            }
            Report::Identity(Err(e)) => {
                s.busy = None;
                s.error = Some(e);
            }
            Report::Online(online) => {
                s.busy = None;
                if let Some(notice) = &online.notice {
                    s.error = Some(notice.clone());
                }
                // Contacts added while connecting (the demo contact among them) ring too.
                for contact in &s.contacts.contacts {
                    if let Some(key) = contact.public_key() {
                        online.engine.add_contact_with_mode(key, contact.mode);
                    }
                }
                s.net = Net::Online(online);
                self.join_hotline_desk();
                if let Some(auto) = self.options.auto_call.take() {
                    self.demo_call(auto);
                }
            }
            Report::Hotline(event) => self.on_hotline_event(event),
            Report::Chat(chat) => self.on_chat(chat),
            Report::ChatSent {
                local_id,
                rumor_id,
                delivery,
            } => self.on_chat_sent(local_id, rumor_id, delivery),
            Report::RelaysJoined => {
                if s.error.as_deref() == Some(crate::ble::RELAYS_UNREACHABLE) {
                    s.error = Some(crate::ble::RELAYS_JOINED.to_owned());
                }
            }
            Report::OnlineFailed(e) => {
                s.busy = None;
                s.net = Net::Failed(e);
            }
            Report::Engine(event) => self.on_engine_event(&event),
            Report::CallsNow(calls) => {
                for event in self.state.calls.catch_up(&calls) {
                    self.on_engine_event(&event);
                }
            }
            Report::DemoReady { relay, peer } => {
                s.demo_peer = Some(peer);
                s.settings.relays = vec![relay.to_string()];
                self.unlocked(Identity::generate());
                if self.state.contacts.find(&peer).is_none() {
                    let npub = nostr_signal::encode_npub(&peer);
                    self.add_contact("Demo contact", &npub, PrivacyMode::Fast);
                }
            }
            Report::Nip05 {
                request,
                address,
                result,
            } => {
                s.busy = None;
                s.nip05_lookup = None;
                match result {
                    Ok(profile) => {
                        self.add_resolved(
                            &request.name,
                            profile.public_key,
                            &profile.relays,
                            Some(address),
                            request.mode,
                        );
                    }
                    Err(e) => s.error = Some(e.to_string()),
                }
            }
            Report::DemoFailed(e) => {
                s.busy = None;
                s.error = Some(format!("the demo could not start: {e}"));
            }
            Report::ScreenTargets(list) => {
                if let Some(picker) = &mut s.screen_picker {
                    picker.targets = Some(list);
                }
            }
        }
    }

    /// Applies an engine event to the calls, then what follows from it: the demo's screen
    /// share, the picker of an ended call closed, the call logged.
    fn on_engine_event(&mut self, event: &EngineEvent) {
        if let EngineEvent::Group(group) = event {
            self.state.groups.apply(group);
            return;
        }
        let applied = self.state.calls.apply(event);
        if let Some(error) = applied.error {
            self.state.error = Some(error);
        }
        if let Some(call_id) = applied.connected {
            if self.state.demo_presents {
                self.state.demo_presents = false;
                self.backend.demo_share_screen(call_id);
            }
        }
        if let Some(call) = applied.ended {
            let picker = self.state.screen_picker.as_ref().map(|p| p.call_id);
            if picker == Some(call.call_id) {
                self.state.screen_picker = None;
            }
            self.call_ended(call);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use calling::peer::NetworkConfig;
    use calling::{CallEvent, CallState, Direction, EndReason, Reason};
    use nostr_signal::{KeyStrength, PublicKey};
    use phantomcall_schemas::{CallId, CallType};

    use super::*;
    use crate::gui::backend::Backend;
    use crate::gui::logstore;
    use crate::gui::options::AppOptions;

    /// A missed call from `peer`, as the engine ends it.
    fn missed(peer: PublicKey) -> Report {
        Report::Engine(EngineEvent::Call(CallEvent {
            phone: None,
            call_id: CallId::new_random(),
            peer,
            direction: Direction::Incoming,
            call_type: CallType::Video,
            mode: PrivacyMode::Private,
            state: CallState::Ended,
            reason: Reason::Ended(EndReason::UnknownCaller),
            missed: true,
            peer_without_modes: false,
            signaled_via: None,
        }))
    }

    #[test]
    fn stranger_offer_flood_keeps_contact_history_and_is_not_written_per_offer() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let options = AppOptions {
            config_dir: dir.path().to_owned(),
            key_file: dir.path().join("identity.ncryptsec"),
            network: NetworkConfig::loopback(),
            devices: None,
            demo: false,
            key_strength: KeyStrength::Weak,
            auto_call: None,
            perf: None,
            nip05_base: None,
            open_link: None,
            radio: None,
        };
        let mut ctl = Controller::new(options, Backend::on(rt.handle().clone()));
        let me = Identity::generate();
        ctl.unlocked(me.clone());
        let bob = Identity::generate().public_key();
        assert!(ctl.add_contact("Bob", &bob.to_hex(), PrivacyMode::Fast));
        ctl.on_report(missed(bob));
        assert!(ctl.flush_log(Duration::from_secs(5)));

        for _ in 0..2000 {
            ctl.on_report(missed(Identity::generate().public_key()));
        }
        let log = ctl.state.log.as_ref().unwrap();
        assert_eq!(log.entries().len(), 1);
        assert_eq!(log.entries()[0].peer, bob.to_hex());
        assert_eq!(log.strangers().unwrap().missed, 2000);
        // Strangers' missed calls do not take over the window.
        assert!(ctl.state.calls.ended.is_none());
        // Nothing was written per offer: the file still has no strangers' line ...
        let path = dir.path().join("calls.enc");
        assert!(logstore::load(&path, &me).unwrap().strangers().is_none());
        // ... until the periodic save (here: the one at exit).
        assert!(ctl.flush_log(Duration::from_secs(5)));
        let saved = logstore::load(&path, &me).unwrap();
        assert_eq!(saved.entries().len(), 1);
        assert_eq!(saved.strangers().unwrap().missed, 2000);
    }
}
