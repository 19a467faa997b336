//! The service's loops: call events and control messages in, the core's outputs out as
//! control messages, hang-ups and re-rings.

use std::time::{Duration, Instant};

use calling::{CallState, Direction, EngineEvent};
use nostr_signal::{IncomingControls, PublicKey, VerifiedControl};
use phantomcall_schemas::CallId;
use phantomcall_schemas::CallType;
use tokio::sync::broadcast;

use super::service::{Shared, State, VoiceEvent, HANDOVER_GRACE};
use super::wire::{key_of, Control};
use crate::core::{CancelReason, EntryKind, Input, Output, Presence, RestoreAction};
use crate::ids::{self, EntryId, Npub};

/// A caller's line to the service: the waiting call (if one is open) and who is on it.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) call: Option<CallId>,
    pub(super) caller: PublicKey,
    /// How many times the service rang the caller back (after a restart); 0 for the
    /// caller's own call.
    pub(super) rerings: u8,
    /// Whether this line's call ever connected.
    pub(super) connected: bool,
}

/// A ring-back that ends before it connects (the caller's client still held the line of
/// the service that went down, and answered busy) is tried again this much later...
const RERING_RETRY: Duration = Duration::from_secs(5);
/// ...this many times in all, before the caller counts as gone.
const MAX_RERINGS: u8 = 8;
/// A waiting caller's client answers a ring-back at once; one not connected after this
/// was lost on the way and is hung up, so the retry above takes over.
const RERING_ANSWER_TIMEOUT: Duration = Duration::from_secs(12);

/// One thing to do once the state lock is released.
enum Action {
    Send(PublicKey, Control),
    Hangup(CallId),
    HangupLater(CallId),
    ReRing(EntryId, PublicKey),
    Announce(CallId, u32),
    Event(VoiceEvent),
    Voicemail {
        entry: EntryId,
        call: CallId,
        caller: Option<PublicKey>,
        caller_id: crate::ids::CallerId,
    },
}

pub(super) fn npub_of(key: &PublicKey) -> Npub {
    Npub::from_bytes(key.to_bytes())
}

fn key_of_npub(npub: &Npub) -> Option<PublicKey> {
    PublicKey::from_slice(npub.as_bytes()).ok()
}

/// Incoming calls join the queue; a waiting caller who hangs up leaves it.
pub(super) async fn serve_calls(
    shared: std::sync::Arc<Shared>,
    mut events: broadcast::Receiver<EngineEvent>,
) {
    loop {
        let event = match events.recv().await {
            Ok(EngineEvent::Call(event)) => event,
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "hotline fell behind on call events");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let now = Instant::now();
        let call = ids::CallId(event.call_id.to_string());
        {
            let mut state = shared.state();
            let known = line_of_call(&state, &event.call_id).is_some()
                || state.core.entry_for_call(&call).is_some();
            match event.state {
                // The engine answers every caller at once: Connecting is the first state.
                CallState::Connecting if event.direction == Direction::Incoming && !known => {
                    let caller = npub_of(&event.peer);
                    let input = match event.phone.as_ref().and_then(|leg| leg.reference()) {
                        Some(phone) => Input::IncomingFromPhone {
                            call: call.clone(),
                            gateway: caller,
                            phone,
                            priority: 0,
                        },
                        None => Input::Incoming {
                            call: call.clone(),
                            caller,
                            priority: 0,
                        },
                    };
                    match state.core.handle_input(input, now) {
                        Ok(()) => {
                            if let Some(entry) = state.core.entry_for_call(&call) {
                                state.lines.insert(
                                    entry,
                                    Line {
                                        call: Some(event.call_id),
                                        caller: event.peer,
                                        rerings: 0,
                                        connected: false,
                                    },
                                );
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "incoming call not queued"),
                    }
                }
                CallState::Connected => {
                    if let Some(entry) = line_of_call(&state, &event.call_id) {
                        if let Some(line) = state.lines.get_mut(&entry) {
                            line.connected = true;
                        }
                    }
                    continue;
                }
                CallState::Ended => {
                    shared.line.forget(&event.call_id);
                    if let Some(entry) = line_of_call(&state, &event.call_id) {
                        let line = state.lines.remove(&entry);
                        if let Some(line) = line
                            .filter(|l| l.rerings > 0 && !l.connected && l.rerings < MAX_RERINGS)
                        {
                            // Keep the caller's place: ring again shortly.
                            tokio::spawn(ring_back_again(shared.clone(), entry, line));
                            continue;
                        }
                        // Still in the queue (not handed over): the caller left.
                        match state.core.handle_input(Input::CallerLeft(entry), now) {
                            Ok(()) => {
                                let _ = shared.events.send(VoiceEvent::Left { entry });
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "ended line was no longer queued")
                            }
                        }
                    }
                }
                _ => continue,
            }
        }
        flush(&shared, now).await;
    }
}

/// Rings `line`'s caller back once more after [`RERING_RETRY`], if they still wait.
async fn ring_back_again(shared: std::sync::Arc<Shared>, entry: EntryId, line: Line) {
    tokio::time::sleep(RERING_RETRY).await;
    let waiting = {
        let state = shared.state();
        state.core.waiting().contains(&entry) && !state.lines.contains_key(&entry)
    };
    if !waiting {
        return;
    }
    let call = shared
        .engine
        .dial(line.caller, CallType::Voice, shared.mode);
    give_up_if_unanswered(shared.engine.clone(), call);
    shared.state().lines.insert(
        entry,
        Line {
            call: Some(call),
            caller: line.caller,
            rerings: line.rerings + 1,
            connected: false,
        },
    );
    let _ = shared.events.send(VoiceEvent::ReRinging { entry });
}

/// Hangs up the ring-back `call` if it has not connected after [`RERING_ANSWER_TIMEOUT`].
fn give_up_if_unanswered(engine: calling::CallEngine, call: CallId) {
    tokio::spawn(async move {
        tokio::time::sleep(RERING_ANSWER_TIMEOUT).await;
        let pending = engine.calls().await.into_iter().any(|c| {
            c.call_id == call && !matches!(c.state, CallState::Connected | CallState::Ended)
        });
        if pending {
            engine.hangup(call);
        }
    });
}

fn line_of_call(state: &State, call: &CallId) -> Option<EntryId> {
    state
        .lines
        .iter()
        .find(|(_, line)| line.call.as_ref() == Some(call))
        .map(|(entry, _)| *entry)
}

/// Dispatchers' actions become the core's inputs; anything else is dropped.
pub(super) async fn serve_controls(shared: std::sync::Arc<Shared>, mut controls: IncomingControls) {
    while let Some(message) = controls.recv().await {
        let now = Instant::now();
        if super::voicemail_service::take_request(&shared, &message) {
            continue;
        }
        match take_control(&shared, &message, now) {
            Ok(Some(reply)) => send(&shared, message.sender, reply).await,
            Ok(None) => {}
            Err(reason) => {
                let _ = shared.events.send(VoiceEvent::Refused {
                    reason: reason.clone(),
                });
                send(&shared, message.sender, Control::Refused { reason }).await;
            }
        }
        flush(&shared, now).await;
    }
}

/// Applies one control message: the reply to send back (a presence confirmation), or
/// why it is refused.
fn take_control(
    shared: &Shared,
    message: &VerifiedControl,
    now: Instant,
) -> Result<Option<Control>, String> {
    let from = npub_of(&message.sender);
    let mut state = shared.state();
    if state.core.presence(&from).is_none() {
        // Not a dispatcher: callers send the hotline nothing, strangers get no answer.
        tracing::debug!("control message from someone not enrolled dropped");
        return Ok(None);
    }
    // An enrolled dispatcher's app is there: it gets console snapshots from now on.
    state.consoles.insert(message.sender);
    let control = Control::parse(&message.content).map_err(|e| e.to_string())?;
    let entry = ids::EntryId;
    let input = match control {
        Control::SetPresence { presence } => {
            Input::SetPresence(from, Presence::parse(&presence).unwrap_or(Presence::Away))
        }
        Control::Answer { entry: e } => Input::Answer(entry(e), from),
        Control::Decline { entry: e } => Input::Decline(entry(e), from),
        Control::Transfer { entry: e, to } => match key_of(&to, "transfer target") {
            Ok(to) => Input::TransferTo {
                entry: entry(e),
                from,
                to,
            },
            Err(e) => return Err(e.to_string()),
        },
        Control::SetHold { entry: e, on } => Input::Hold(entry(e), from, on),
        Control::Note { entry: e, text } => Input::Note(entry(e), from, text),
        Control::End { entry: e } => Input::End(entry(e), from),
        other => {
            return Err(format!(
                "{} is not something a dispatcher sends",
                other.to_json()
            ))
        }
    };
    let presence_change = matches!(input, Input::SetPresence(..));
    state
        .core
        .handle_input(input, now)
        .map_err(|e| e.to_string())?;
    // A dispatcher's own change is confirmed with the presence now in force.
    Ok(presence_change
        .then(|| state.core.presence(&from))
        .flatten()
        .map(|presence| Control::PresenceIs {
            presence: presence.as_str().into(),
        }))
}

/// Fires the core's timers when they fall due.
pub(super) async fn serve_timers(shared: std::sync::Arc<Shared>) {
    loop {
        let next = shared.state().core.next_deadline();
        let sleep = match next {
            Some(at) => tokio::time::sleep_until(at.into()),
            None => tokio::time::sleep(Duration::from_secs(3600)),
        };
        tokio::select! {
            () = sleep => {
                let now = Instant::now();
                shared.state().core.handle_timeout(now);
                flush(&shared, now).await;
            }
            () = shared.wake.notified() => {}
        }
    }
}

/// Takes the core's outputs, writes the queue through to the store, then acts.
pub(super) async fn flush(shared: &std::sync::Arc<Shared>, now: Instant) {
    let actions = {
        let mut state = shared.state();
        let mut actions = Vec::new();
        while let Some(output) = state.core.poll_output() {
            plan(&mut state, output, now, &mut actions);
        }
        let State { core, store, .. } = &mut *state;
        if let Err(e) = store.write_through(core) {
            tracing::error!(error = %e, "hotline queue not written to its store");
        }
        actions
    };
    shared.wake.notify_one();
    for action in actions {
        act(shared, action).await;
    }
}

fn plan(state: &mut State, output: Output, now: Instant, actions: &mut Vec<Action>) {
    let caller_of = |state: &State, entry: EntryId| {
        state.lines.get(&entry).map(|line| line.caller).or_else(|| {
            state
                .core
                .caller_of(entry)
                .and_then(|c| key_of_npub(&c.npub()))
        })
    };
    match output {
        Output::Queued {
            entry, position, ..
        } => actions.push(Action::Event(VoiceEvent::Queued { entry, position })),
        Output::Refuse { call, reason } => {
            tracing::info!(?reason, "caller refused by the queue's abuse limits");
            if let Some(call) = call.and_then(|c| c.0.parse().ok()) {
                actions.push(Action::Hangup(call));
            }
        }
        Output::Position {
            entry,
            position,
            estimate,
        } => {
            if let Some(Line {
                call: Some(call),
                caller,
                ..
            }) = state.lines.get(&entry).cloned()
            {
                let position = u32::try_from(position).unwrap_or(u32::MAX);
                actions.push(Action::Send(
                    caller,
                    Control::Position {
                        call: call.to_string(),
                        position,
                        wait_secs: estimate.map(|e| e.as_secs().min(u64::from(u32::MAX)) as u32),
                    },
                ));
                actions.push(Action::Announce(call, position));
            }
        }
        Output::Offer {
            entry,
            kind,
            dispatchers,
            until,
        } => {
            let view = state.core.view(now);
            let Some(shown) = view.entries.iter().find(|e| e.entry == entry) else {
                return;
            };
            let ring_secs = until.saturating_duration_since(now).as_secs().max(1) as u32;
            for dispatcher in dispatchers.iter().filter_map(key_of_npub) {
                actions.push(Action::Send(
                    dispatcher,
                    Control::Offer {
                        entry: entry.0,
                        caller: shown.caller.clone(),
                        caller_npub: shown.caller_npub.clone(),
                        repeat: shown.repeat,
                        callback: kind == EntryKind::Callback,
                        ring_secs,
                    },
                ));
            }
        }
        Output::CancelOffer {
            entry,
            dispatcher,
            reason,
        } => {
            if let Some(dispatcher) = key_of_npub(&dispatcher) {
                let reason = match reason {
                    CancelReason::AnsweredElsewhere => "answered-elsewhere",
                    CancelReason::Timeout => "timeout",
                    CancelReason::Withdrawn => "withdrawn",
                };
                actions.push(Action::Send(
                    dispatcher,
                    Control::OfferCancelled {
                        entry: entry.0,
                        reason: reason.into(),
                    },
                ));
            }
        }
        Output::Transfer {
            entry,
            call,
            caller,
            dispatcher,
        } => {
            let (Some(caller_key), Some(dispatcher)) =
                (key_of_npub(&caller.npub()), key_of_npub(&dispatcher))
            else {
                return;
            };
            let line = state.lines.remove(&entry);
            let call = line
                .as_ref()
                .and_then(|l| l.call.as_ref().map(ToString::to_string))
                .or(call.map(|c| c.0))
                .unwrap_or_else(|| CallId::new_random().to_string());
            // The dispatcher's client learns whom to expect before the caller calls.
            actions.push(Action::Send(
                dispatcher,
                Control::ExpectCaller {
                    entry: entry.0,
                    caller: caller_key.to_hex(),
                },
            ));
            actions.push(Action::Send(
                caller_key,
                Control::TransferTo {
                    call,
                    dispatcher: dispatcher.to_hex(),
                },
            ));
            if let Some(open) = line.and_then(|l| l.call) {
                actions.push(Action::HangupLater(open));
            }
            actions.push(Action::Event(VoiceEvent::HandedOver { entry }));
        }
        Output::PlaceCallback {
            entry,
            caller,
            dispatcher,
        } => {
            let (Some(caller_key), Some(dispatcher)) =
                (key_of_npub(&caller.npub()), key_of_npub(&dispatcher))
            else {
                return;
            };
            actions.push(Action::Send(
                dispatcher,
                Control::CallBack {
                    entry: entry.0,
                    caller: caller_key.to_hex(),
                },
            ));
            actions.push(Action::Send(
                caller_key,
                Control::CallingBack {
                    dispatcher: dispatcher.to_hex(),
                },
            ));
        }
        // Hold is the dispatcher's client's (it stops sending); the queue only records it.
        Output::Hold { .. } => {}
        Output::ConvertedToCallback { entry, .. } => {
            if let Some(Line {
                call: Some(call),
                caller,
                ..
            }) = state.lines.remove(&entry)
            {
                actions.push(Action::Send(
                    caller,
                    Control::CallbackPromised {
                        call: call.to_string(),
                    },
                ));
                actions.push(Action::Hangup(call));
            }
        }
        Output::TakeVoicemail {
            entry,
            call,
            caller_id,
        } => {
            // The line stays open to record (voicemail_service.rs); a caller who overflowed
            // on arrival has no line here yet, only the call the core names.
            let line = state.lines.remove(&entry);
            let open = line
                .as_ref()
                .and_then(|l| l.call)
                .or_else(|| call.and_then(|c| c.0.parse().ok()));
            if let Some(open) = open {
                actions.push(Action::Voicemail {
                    entry,
                    call: open,
                    caller: line.map(|l| l.caller),
                    caller_id,
                });
            }
        }
        Output::PresenceChanged {
            dispatcher,
            presence,
        } => {
            if let Some(dispatcher) = key_of_npub(&dispatcher) {
                actions.push(Action::Send(
                    dispatcher,
                    Control::PresenceIs {
                        presence: presence.as_str().into(),
                    },
                ));
            }
        }
        Output::Ended { entry, .. } => {
            if let Some(call) = state.lines.remove(&entry).and_then(|l| l.call) {
                actions.push(Action::Hangup(call));
            }
        }
        Output::Restored { entry, action } => {
            if action == RestoreAction::ReRingCaller {
                if let Some(caller) = caller_of(state, entry) {
                    actions.push(Action::ReRing(entry, caller));
                }
            }
        }
    }
}

async fn act(shared: &std::sync::Arc<Shared>, action: Action) {
    match action {
        Action::Send(to, control) => send(shared, to, control).await,
        Action::Hangup(call) => shared.engine.hangup(call),
        Action::HangupLater(call) => {
            let engine = shared.engine.clone();
            tokio::spawn(async move {
                tokio::time::sleep(HANDOVER_GRACE).await;
                engine.hangup(call);
            });
        }
        Action::ReRing(entry, caller) => {
            let call = shared.engine.dial(caller, CallType::Voice, shared.mode);
            give_up_if_unanswered(shared.engine.clone(), call);
            shared.state().lines.insert(
                entry,
                Line {
                    call: Some(call),
                    caller,
                    rerings: 1,
                    connected: false,
                },
            );
            let _ = shared.events.send(VoiceEvent::ReRinging { entry });
        }
        Action::Announce(call, position) => shared.line.announce_position(&call, position),
        Action::Voicemail {
            entry,
            call,
            caller,
            caller_id,
        } => {
            tokio::spawn(super::voicemail_service::record(
                shared.clone(),
                entry,
                call,
                caller,
                caller_id,
            ));
        }
        Action::Event(event) => {
            let _ = shared.events.send(event);
        }
    }
}

pub(super) async fn send(shared: &Shared, to: PublicKey, control: Control) {
    if let Err(e) = shared
        .transport
        .hub()
        .send_control(to, &control.to_json())
        .await
    {
        tracing::warn!(error = %e, "hotline control message not sent");
    }
}
