//! The calls as the UI knows them, updated from the engine's events by a pure function
//! ([`CallsModel::apply`]): no egui, no engine, no clock beyond the call timer.

use std::collections::HashMap;

use calling::{CallEvent, CallInfo, CallState, Direction, EngineEvent, MediaEvent, Reason};
use phantomcall_schemas::CallId;

use crate::gui::calls::CallView;

/// Every call that is not over, and the one whose end is shown.
#[derive(Default)]
pub struct CallsModel {
    /// Calls not over yet (ringing, connecting, connected), by id.
    pub calls: HashMap<CallId, CallView>,
    /// The call whose end is shown until the user closes it.
    pub ended: Option<CallView>,
}

/// What an engine event changed that the controller acts on beyond the model.
#[derive(Debug, Default)]
pub struct Applied {
    /// The call that just connected.
    pub connected: Option<CallId>,
    /// The call that just ended, removed from [`CallsModel::calls`] (the controller logs
    /// it and decides whether its end is shown).
    pub ended: Option<CallView>,
    /// A problem for the error banner.
    pub error: Option<String>,
}

impl CallsModel {
    /// The live call (at most one: the engine refuses a second).
    pub fn live(&self) -> Option<&CallView> {
        self.calls.values().find(|c| c.is_live())
    }

    /// The incoming call that rings here, if any.
    pub fn ringing(&self) -> Option<&CallView> {
        self.calls
            .values()
            .find(|c| c.direction == Direction::Incoming && c.state == CallState::Ringing)
    }

    /// Whether any call rings, connects or is connected (ringing counts: the window must
    /// react at once then too).
    pub fn any(&self) -> bool {
        !self.calls.is_empty()
    }

    /// Records a call we just dialed (the engine's events follow).
    pub fn dialed(&mut self, call: CallView) {
        self.ended = None;
        self.calls.insert(call.call_id, call);
    }

    /// The events that bring the calls shown up to the engine's own list `now` (after the
    /// UI missed events): a call whose state differs gets an event for the state it is
    /// in. Calls the UI never showed are left out (their end is already logged, or they
    /// were never announced here).
    pub fn catch_up(&self, now: &[CallInfo]) -> Vec<EngineEvent> {
        now.iter()
            .filter_map(|info| {
                let shown = self.calls.get(&info.call_id)?;
                if shown.state == info.state {
                    return None;
                }
                let reason = match (info.state, info.end_reason) {
                    (CallState::Ended, Some(end)) => Reason::Ended(end),
                    (CallState::Ended, None) => return None,
                    (CallState::Connected, _) => Reason::MediaConnected,
                    (CallState::Connecting, _) if info.direction == Direction::Incoming => {
                        Reason::LocalAccept
                    }
                    (CallState::Connecting, _) => Reason::RemoteAnswer,
                    _ => return None,
                };
                // Not accepted here: it was still ringing when the UI last heard of it.
                let never_taken =
                    info.direction == Direction::Incoming && shown.state == CallState::Ringing;
                let missed =
                    never_taken && matches!(reason, Reason::Ended(end) if end.counts_as_missed());
                Some(EngineEvent::Call(CallEvent {
                    phone: info.phone.clone(),
                    call_id: info.call_id,
                    peer: info.peer,
                    direction: info.direction,
                    call_type: info.call_type,
                    mode: info.mode,
                    state: info.state,
                    reason,
                    missed,
                    peer_without_modes: info.peer_without_modes,
                    signaled_via: info.signaled_via,
                }))
            })
            .collect()
    }

    /// Applies one engine event.
    pub fn apply(&mut self, event: &EngineEvent) -> Applied {
        let mut applied = Applied::default();
        match event {
            EngineEvent::Call(e) => {
                let call = self
                    .calls
                    .entry(e.call_id)
                    .or_insert_with(|| CallView::from_event(e));
                call.apply(e);
                if e.state == CallState::Connected {
                    applied.connected = Some(e.call_id);
                }
                if e.state == CallState::Ended {
                    applied.ended = self.calls.remove(&e.call_id);
                }
            }
            EngineEvent::Stats { call_id, stats } => {
                if let Some(call) = self.calls.get_mut(call_id) {
                    call.quality.update(stats);
                    call.stats = Some(stats.clone());
                }
            }
            EngineEvent::Media {
                event: MediaEvent::SetupFailed(why),
                ..
            } => {
                // The call ends at once; the reason must outlive its window.
                applied.error = Some(format!("The call could not start: {why}"));
            }
            EngineEvent::Media { call_id, event } => {
                if let Some(call) = self.calls.get_mut(call_id) {
                    apply_media(call, event);
                }
            }
            EngineEvent::SignalingError { call_id, error } => {
                if self.calls.contains_key(call_id) {
                    applied.error = Some(format!("a call message was not delivered: {error}"));
                }
            }
            // Group calls have their own state (`GroupViews`); nothing here.
            EngineEvent::Dropped(_) | EngineEvent::Group(_) => {}
        }
        applied
    }
}

/// What the call screen says once a call's voice runs over Bluetooth (no IP path).
pub const VOICE_OVER_BLUETOOTH: &str =
    "No network path to the peer: voice now goes over Bluetooth, end-to-end encrypted (no video)";

/// What the call screen says when the microphone's processing failed: the call goes on,
/// unprocessed.
pub fn voice_processing_notice(fault: &str, gave_up: bool) -> String {
    if gave_up {
        format!("Echo cancellation failed ({fault}) and is off for this call: your microphone is sent unprocessed")
    } else {
        format!("Echo cancellation hiccup ({fault}): restarted")
    }
}

fn apply_media(call: &mut CallView, event: &MediaEvent) {
    match event {
        MediaEvent::Blackout { state, protected } => {
            call.blackout = Some((state.clone(), *protected))
        }
        MediaEvent::Reconnecting => call.notice = Some("Reconnecting…".into()),
        MediaEvent::Reconnected => call.notice = None,
        MediaEvent::DeviceError(e) => call.notice = Some(format!("Device: {e}")),
        MediaEvent::PolicyViolation(e) => call.notice = Some(format!("Refused from the peer: {e}")),
        MediaEvent::ScreenShareStarted { what } => call.screen_share = Some(what.clone()),
        MediaEvent::ScreenShareStopped { why } => {
            call.screen_share = None;
            if let Some(why) = why {
                call.notice = Some(format!("Screen share stopped: {why}"));
            }
        }
        MediaEvent::RemoteScreenShare { active } => call.remote_screen = *active,
        MediaEvent::MediaKeys(keys) => call.media_keys = *keys,
        MediaEvent::RemoteVoice(voice) => call.peer_voice = *voice,
        MediaEvent::VoiceProcessingFault { fault, gave_up } => {
            call.notice = Some(voice_processing_notice(fault, *gave_up))
        }
        MediaEvent::VoiceOverBluetooth => call.notice = Some(VOICE_OVER_BLUETOOTH.into()),
        MediaEvent::IceRestartSent
        | MediaEvent::CandidateWithheld(_)
        | MediaEvent::SetupFailed(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use calling::peer::SetupFailure;
    use calling::EndReason;
    use nostr_signal::Identity;
    use phantomcall_schemas::{CallType, PrivacyMode};

    use super::*;

    fn event(call_id: CallId, state: CallState, reason: Reason) -> EngineEvent {
        EngineEvent::Call(CallEvent {
            phone: None,
            call_id,
            peer: Identity::generate().public_key(),
            direction: Direction::Incoming,
            call_type: CallType::Voice,
            mode: PrivacyMode::Fast,
            state,
            reason,
            missed: false,
            peer_without_modes: false,
            signaled_via: None,
        })
    }

    fn info(call: &CallView, state: CallState, end: Option<EndReason>) -> CallInfo {
        CallInfo {
            phone: None,
            call_id: call.call_id,
            peer: call.peer,
            direction: call.direction,
            call_type: call.call_type,
            mode: call.mode,
            peer_mode: Some(call.mode),
            peer_without_modes: false,
            state,
            end_reason: end,
            answered_by: None,
            signaled_via: None,
        }
    }

    #[test]
    fn calls_whose_events_were_missed_catch_up_with_the_engine() {
        let mut model = CallsModel::default();
        let ringing = CallId::new_random();
        model.apply(&event(ringing, CallState::Ringing, Reason::OfferReceived));
        let live = CallId::new_random();
        model.apply(&event(live, CallState::Connected, Reason::MediaConnected));
        let ringing_view = model.calls[&ringing].clone();
        let live_view = model.calls[&live].clone();
        let unknown = CallView {
            call_id: CallId::new_random(),
            ..live_view.clone()
        };
        let now = [
            info(
                &ringing_view,
                CallState::Ended,
                Some(EndReason::RingTimeout),
            ),
            info(&live_view, CallState::Ended, Some(EndReason::RemoteHangup)),
            // Never shown here: not announced now either.
            info(&unknown, CallState::Ended, Some(EndReason::RemoteHangup)),
        ];
        let events = model.catch_up(&now);
        assert_eq!(events.len(), 2, "{events:?}");
        let mut ended = Vec::new();
        for e in &events {
            if let EngineEvent::Call(c) = e {
                assert_eq!(c.state, CallState::Ended);
                // Only the call that was still ringing here counts as missed.
                assert_eq!(c.missed, c.call_id == ringing, "{c:?}");
            }
            ended.extend(model.apply(e).ended.map(|v| v.call_id));
        }
        ended.sort();
        let mut expected = vec![ringing, live];
        expected.sort();
        assert_eq!(ended, expected);
        assert!(!model.any(), "no call is left on screen");
        // Nothing changed: nothing to catch up.
        assert!(model.catch_up(&now).is_empty());
    }

    #[test]
    fn a_call_rings_connects_and_ends() {
        let mut model = CallsModel::default();
        let id = CallId::new_random();
        let applied = model.apply(&event(id, CallState::Ringing, Reason::OfferReceived));
        assert!(applied.ended.is_none() && applied.connected.is_none());
        assert_eq!(model.ringing().map(|c| c.call_id), Some(id));
        assert!(model.any());

        let applied = model.apply(&event(id, CallState::Connected, Reason::MediaConnected));
        assert_eq!(applied.connected, Some(id));
        assert!(model.ringing().is_none());
        assert!(model.live().unwrap().connected_at.is_some());

        let ended = Reason::Ended(EndReason::RemoteHangup);
        let applied = model.apply(&event(id, CallState::Ended, ended));
        let call = applied.ended.expect("the ended call is handed over");
        assert_eq!(call.end_reason, Some(EndReason::RemoteHangup));
        assert!(!model.any());
    }

    #[test]
    fn media_events_change_the_call_and_setup_failures_reach_the_banner() {
        let mut model = CallsModel::default();
        let id = CallId::new_random();
        model.apply(&event(id, CallState::Connected, Reason::MediaConnected));
        model.apply(&EngineEvent::Media {
            call_id: id,
            event: MediaEvent::Reconnecting,
        });
        assert_eq!(
            model.live().unwrap().notice.as_deref(),
            Some("Reconnecting…")
        );
        model.apply(&EngineEvent::Media {
            call_id: id,
            event: MediaEvent::Reconnected,
        });
        assert_eq!(model.live().unwrap().notice, None);
        model.apply(&EngineEvent::Media {
            call_id: id,
            event: MediaEvent::VoiceOverBluetooth,
        });
        let notice = model.live().unwrap().notice.clone().unwrap_or_default();
        assert!(
            notice.contains("Bluetooth") && notice.contains("end-to-end encrypted"),
            "{notice}"
        );
        let applied = model.apply(&EngineEvent::Media {
            call_id: id,
            event: MediaEvent::SetupFailed(SetupFailure::NoTurnServer(PrivacyMode::Private)),
        });
        assert_eq!(
            applied.error.as_deref(),
            Some("The call could not start: Private mode needs a TURN server: add your own in the settings")
        );
        // A failed delivery matters only for a call we know.
        let other = EngineEvent::SignalingError {
            call_id: CallId::new_random(),
            error: std::sync::Arc::new(nostr_signal::SignalError::NoLinks),
        };
        assert!(model.apply(&other).error.is_none());
    }
}
