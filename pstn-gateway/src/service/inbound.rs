//! Phone -> PhantomCall: a carrier's call to a DID rings the DID's target.

use std::sync::Arc;

use calling::CallState;
use tokio::sync::{mpsc, watch};

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
    let Some(call) = shared.engine.dial_for_phone(target, &shown, shared.mode) else {
        phone.hang_up().await;
        return;
    };
    tracing::info!(call = info.id, from = %Redacted(&info.remote_number), "pstn: inbound call rings its user");
    let (media, control) = phone.into_parts();
    // Connected at once: the call's microphone waits for its line only so long.
    shared.lines.connect(call, media.into());
    let bridged = ring_then_answer(&shared, call, &control, &mut events).await;
    if bridged {
        hold_until_either_ends(&shared, call, &control, &mut events).await;
    }
    shared.lines.disconnect(call);
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

/// A bridged call lasts until one side hangs up (or the rules cut it off).
async fn hold_until_either_ends(
    shared: &Shared,
    call: phantomcall_schemas::CallId,
    control: &PhoneControl,
    events: &mut tokio::sync::broadcast::Receiver<calling::EngineEvent>,
) {
    let mut ended = control.ended();
    loop {
        if phone_gone(&ended) {
            shared.engine.hangup(call);
            return;
        }
        tokio::select! {
            event = next_event_of(events, call) => match event.map(|e| e.state) {
                Some(CallState::Ended) | None => {
                    control.hang_up().await;
                    return;
                }
                Some(_) => {}
            },
            changed = ended.changed() => if changed.is_err() {
                shared.engine.hangup(call);
                return;
            },
        }
    }
}
