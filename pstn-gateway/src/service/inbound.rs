//! Phone -> PhantomCall: a carrier's call to a DID rings the DID's target.

use std::sync::Arc;

use calling::{CallEvent, CallState, EngineEvent};
use hotline::voice::CallerEvent;
use phantomcall_schemas::CallId;
use tokio::sync::{broadcast, mpsc, watch};

use super::handover::handed_over;
use super::{next_event_of, shown_number, Shared};
use crate::call::{EndReason, PhoneCall, PhoneControl};
use crate::number::Redacted;

/// Takes every inbound phone call the SIP side lets through.
pub(super) async fn serve(shared: Arc<Shared>, mut calls: mpsc::Receiver<PhoneCall>) {
    while let Some(call) = calls.recv().await {
        tokio::spawn(bridge(shared.clone(), call));
    }
}

/// Whether the phone side has ended (or its driver is gone).
fn phone_gone(ended: &watch::Receiver<Option<EndReason>>) -> bool {
    ended.borrow().is_some()
}

async fn bridge(shared: Arc<Shared>, phone: PhoneCall) {
    let info = phone.info().clone();
    let Some(target) = shared.targets.get(&info.trunk, info.did.as_deref()) else {
        // The SIP side checked the DID against the trunk; a target missing here means the
        // two disagree, which `Targets::resolve` rules out at start.
        tracing::warn!(call = info.id, "pstn: inbound call without a target: ended");
        phone.hang_up().await;
        return;
    };
    let shown = shown_number(&info.remote_number, shared.caller_number);
    let mut events = shared.engine.events();
    // Subscribed before the call exists, so no hand-over of it is missed.
    let mut handovers = match &shared.assist {
        Some(assist) if shared.targets.is_hotline(&target) => Some(assist.events()),
        _ => None,
    };
    let Some(call) = shared.engine.dial_for_phone(target, &shown, shared.mode) else {
        phone.hang_up().await;
        return;
    };
    if handovers.is_some() {
        shared.shown.insert(call, &shown);
    }
    tracing::info!(call = info.id, from = %Redacted(&info.remote_number), "pstn: inbound call rings its user");
    let (media, control) = phone.into_parts();
    // Connected at once: the call's microphone waits for its line only so long.
    shared.lines.connect(call, media.into());
    let bridged = ring_then_answer(&shared, call, &control, &mut events).await;
    let last = if bridged {
        hold_until_either_ends(&shared, call, &control, &mut events, handovers.as_mut()).await
    } else {
        call
    };
    shared.lines.disconnect(last);
    shared.shown.remove(&last);
}

/// Waits for the user to answer (then answers the SIP side) or for either side to give
/// up. Returns whether the call is bridged.
async fn ring_then_answer(
    shared: &Shared,
    call: phantomcall_schemas::CallId,
    control: &PhoneControl,
    events: &mut tokio::sync::broadcast::Receiver<calling::EngineEvent>,
) -> bool {
    let mut ended = control.ended();
    loop {
        if phone_gone(&ended) {
            shared.engine.hangup(call);
            return false;
        }
        tokio::select! {
            event = next_event_of(events, call) => match event.map(|e| e.state) {
                Some(CallState::Connected) => break,
                Some(CallState::Ended) | None => {
                    // Declined, missed, refused or failed: the phone caller hears the
                    // call end (a final response or BYE).
                    control.hang_up().await;
                    return false;
                }
                Some(_) => {}
            },
            changed = ended.changed() => if changed.is_err() {
                shared.engine.hangup(call);
                return false;
            },
        }
    }
    if control.answer().await.is_err() {
        shared.engine.hangup(call);
        return false;
    }
    true
}

/// A bridged call lasts until one side hangs up (or the rules cut it off). A hotline
/// may hand the phone caller on (`handovers`): the new call replaces the current one once
/// it is up, the SIP leg staying as it is. Returns the call the line ends on.
async fn hold_until_either_ends(
    shared: &Shared,
    mut call: CallId,
    control: &PhoneControl,
    events: &mut broadcast::Receiver<EngineEvent>,
    mut handovers: Option<&mut broadcast::Receiver<CallerEvent>>,
) -> CallId {
    let mut ended = control.ended();
    // The dispatcher's call being placed, and whether the current call ended meanwhile.
    let mut pending: Option<CallId> = None;
    let mut current_over = false;
    loop {
        if phone_gone(&ended) {
            shared.engine.hangup(call);
            if let Some(new) = pending.take() {
                shared.engine.hangup(new);
                shared.shown.remove(&new);
            }
            return call;
        }
        tokio::select! {
            event = next_event_of_either(events, call, pending) => {
                let Some(event) = event else {
                    control.hang_up().await;
                    return call;
                };
                if Some(event.call_id) == pending {
                    match event.state {
                        CallState::Connected => {
                            // The dispatcher is there: the phone's audio moves to their
                            // call and the waiting line (or the previous dispatcher's
                            // call) closes.
                            shared.lines.move_line(call, event.call_id);
                            shared.engine.hangup(call);
                            shared.shown.remove(&call);
                            tracing::info!("pstn: phone caller handed over to a dispatcher");
                            call = event.call_id;
                            pending = None;
                            current_over = false;
                        }
                        CallState::Ended => {
                            tracing::warn!("pstn: the hand-over's call to the dispatcher failed");
                            shared.shown.remove(&event.call_id);
                            pending = None;
                            if current_over {
                                control.hang_up().await;
                                return call;
                            }
                        }
                        _ => {}
                    }
                } else if event.state == CallState::Ended {
                    if pending.is_some() {
                        // The hotline closed the waiting line first: the caller hears
                        // nothing until the dispatcher's call is up.
                        current_over = true;
                        continue;
                    }
                    control.hang_up().await;
                    return call;
                }
            }
            new = next_handover(&mut handovers, call, pending) => {
                if let Some(old) = pending.replace(new) {
                    // Transferred again before the first dispatcher's call was up.
                    shared.engine.hangup(old);
                    shared.shown.remove(&old);
                }
            }
            changed = ended.changed() => if changed.is_err() {
                shared.engine.hangup(call);
                return call;
            },
        }
    }
}

/// The next event of `call` or of `pending`; `None` when the engine is gone.
async fn next_event_of_either(
    events: &mut broadcast::Receiver<EngineEvent>,
    call: CallId,
    pending: Option<CallId>,
) -> Option<CallEvent> {
    let Some(pending) = pending else {
        return next_event_of(events, call).await;
    };
    loop {
        match events.recv().await {
            Ok(EngineEvent::Call(e)) if e.call_id == call || e.call_id == pending => {
                return Some(e)
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// The call a hotline's next hand-over of `call` (or of `pending`) placed; never
/// resolves for a call that is not to a hotline.
async fn next_handover(
    handovers: &mut Option<&mut broadcast::Receiver<CallerEvent>>,
    call: CallId,
    pending: Option<CallId>,
) -> CallId {
    let Some(handovers) = handovers else {
        return std::future::pending().await;
    };
    loop {
        let event = handovers.recv().await;
        if matches!(event, Err(broadcast::error::RecvError::Closed)) {
            return std::future::pending().await;
        }
        if let Some(new) = handed_over(event, |previous| {
            previous == call || Some(previous) == pending
        }) {
            return new;
        }
    }
}
