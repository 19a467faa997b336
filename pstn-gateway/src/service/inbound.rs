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
    // Lets a hotline tell phone callers apart (queue limits, blocking, repeat callers)
    // without their numbers.
    let reference = shared.phone_refs.for_caller(&target, &info.remote_number);
    let Some(call) = shared
        .engine
        .dial_for_phone(target, &shown, reference, shared.mode)
    else {
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
    call: CallId,
    control: &PhoneControl,
    events: &mut broadcast::Receiver<EngineEvent>,
    mut handovers: Option<&mut broadcast::Receiver<CallerEvent>>,
) -> CallId {
    let mut ended = control.ended();
    let mut hand = Hand {
        call,
        pending: None,
        current_over: false,
    };
    loop {
        if phone_gone(&ended) {
            shared.engine.hangup(hand.call);
            if let Some(new) = hand.pending.take() {
                shared.engine.hangup(new);
                shared.shown.remove(&new);
            }
            return hand.call;
        }
        tokio::select! {
            event = next_event_of_either(events, hand.call, hand.pending) => {
                let Some(event) = event else {
                    control.hang_up().await;
                    return hand.call;
                };
                if Some(event.call_id) == hand.pending {
                    if let Done = dispatcher_call(shared, control, &mut hand, event.state).await {
                        return hand.call;
                    }
                } else if event.state == CallState::Ended {
                    if hand.pending.is_some() {
                        // The hotline closed the waiting line first: the caller hears
                        // nothing until the dispatcher's call is up.
                        hand.current_over = true;
                        continue;
                    }
                    control.hang_up().await;
                    return hand.call;
                }
            }
            new = next_handover(&mut handovers, hand.call, hand.pending) => {
                if let Some(old) = hand.pending.replace(new) {
                    // Transferred again before the first dispatcher's call was up.
                    shared.engine.hangup(old);
                    shared.shown.remove(&old);
                }
                // Its events before this point were not ours yet: its state now counts
                // (the engine took the dial before this question, so a call it no
                // longer lists has ended).
                let state = shared
                    .engine
                    .calls()
                    .await
                    .iter()
                    .find(|c| c.call_id == new)
                    .map_or(CallState::Ended, |c| c.state);
                if let Done = dispatcher_call(shared, control, &mut hand, state).await {
                    return hand.call;
                }
            }
            changed = ended.changed() => if changed.is_err() {
                shared.engine.hangup(hand.call);
                return hand.call;
            },
        }
    }
}

/// Where a bridged phone call stands.
struct Hand {
    /// The call the phone's line is on.
    call: CallId,
    /// The dispatcher's call being placed by a hand-over.
    pending: Option<CallId>,
    /// `call` ended while `pending` was being placed.
    current_over: bool,
}

enum Step {
    Go,
    Done,
}
use Step::{Done, Go};

/// The hand-over's call to the dispatcher reached `state`: once connected the phone's
/// line moves to it and the previous call closes; if it failed, the phone stays where it
/// was (or the call ends, when that is gone too).
async fn dispatcher_call(
    shared: &Shared,
    control: &PhoneControl,
    hand: &mut Hand,
    state: CallState,
) -> Step {
    let Some(new) = hand.pending else {
        return Go;
    };
    match state {
        CallState::Connected => {
            // The dispatcher is there: the phone's audio moves to their call and the
            // waiting line (or the previous dispatcher's call) closes.
            shared.lines.move_line(hand.call, new);
            shared.engine.hangup(hand.call);
            shared.shown.remove(&hand.call);
            tracing::info!("pstn: phone caller handed over to a dispatcher");
            *hand = Hand {
                call: new,
                pending: None,
                current_over: false,
            };
            Go
        }
        CallState::Ended => {
            tracing::warn!("pstn: the hand-over's call to the dispatcher failed");
            shared.shown.remove(&new);
            hand.pending = None;
            if hand.current_over {
                control.hang_up().await;
                return Done;
            }
            Go
        }
        _ => Go,
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
