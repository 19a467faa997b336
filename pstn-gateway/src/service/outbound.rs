//! PhantomCall -> phone: a user's call with a `dial` tag rings here while the trunk
//! dials the number; it is answered when the number answers.

use std::collections::HashMap;
use std::sync::Arc;

use calling::{CallEvent, CallState, Direction, EngineEvent, PhoneRefusal};
use nostr_signal::PublicKey;
use phantomcall_schemas::{CallId, PhoneLeg};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::{shown_number, Shared};
use crate::call::{CallNotice, PhoneControl};
use crate::config::CallerNumber;
use crate::gateway::DialError;
use crate::number::Redacted;
use crate::rules::Refusal;

/// Reads the engine's events: a new incoming call with a `dial` tag starts a dial, any
/// other incoming call is declined (the gateway answers phone calls only), and the later
/// events of calls being bridged go to their task (routed here, so none is missed
/// between the ring and the task's start).
pub(super) async fn serve(shared: Arc<Shared>, mut events: broadcast::Receiver<EngineEvent>) {
    let mut running: HashMap<CallId, mpsc::UnboundedSender<CallEvent>> = HashMap::new();
    loop {
        let event = match events.recv().await {
            Ok(EngineEvent::Call(event)) => event,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        running.retain(|_, task| !task.is_closed());
        if let Some(task) = running.get(&event.call_id) {
            let _ = task.send(event);
            continue;
        }
        if event.direction != Direction::Incoming || event.state != CallState::Ringing {
            continue;
        }
        match &event.phone {
            Some(PhoneLeg::Dial { number }) => {
                let (tx, rx) = mpsc::unbounded_channel();
                running.insert(event.call_id, tx);
                tokio::spawn(bridge(
                    shared.clone(),
                    event.call_id,
                    event.peer,
                    number.clone(),
                    rx,
                ));
            }
            _ => {
                tracing::info!("pstn: a call without a number to dial declined");
                shared.engine.decline(event.call_id);
            }
        }
    }
}

/// What the user is told about a call the gateway did not place. Carrier-side failures
/// (credentials, a rejected INVITE, an unusable answer) are all "could not be placed": the
/// user can do nothing about them, and the operator has the details in the log.
fn refusal_of(error: &DialError) -> PhoneRefusal {
    match error {
        DialError::Refused(Refusal::NotEnrolled) => PhoneRefusal::NotEnrolled,
        DialError::Refused(Refusal::Blocked(_)) => PhoneRefusal::Blocked,
        DialError::Refused(Refusal::NoCredit { .. }) => PhoneRefusal::NoCredit,
        DialError::Refused(Refusal::TooManyConcurrent(_) | Refusal::TooManyPerMinute(_)) => {
            PhoneRefusal::TooManyCalls
        }
        DialError::Busy => PhoneRefusal::Busy,
        DialError::Timeout | DialError::Cancelled => PhoneRefusal::NoAnswer,
        DialError::InvalidNumber(_)
        | DialError::UnknownTrunk(_)
        | DialError::AuthFailed
        | DialError::NoCredit
        | DialError::Rejected { .. }
        | DialError::BadAnswer(_)
        | DialError::Internal(_) => PhoneRefusal::Failed,
    }
}

fn ends(event: Option<&CallEvent>) -> bool {
    event.is_none_or(|e| e.state == CallState::Ended)
}

async fn bridge(
    shared: Arc<Shared>,
    call: CallId,
    user: PublicKey,
    number: String,
    mut events: mpsc::UnboundedReceiver<CallEvent>,
) {
    let cancel = CancellationToken::new();
    let user = user.to_hex();
    let dial = shared
        .gateway
        .dial_until(&user, &shared.outbound_trunk, &number, cancel.clone());
    tokio::pin!(dial);
    let placed = loop {
        tokio::select! {
            placed = &mut dial => break placed,
            event = events.recv() => if ends(event.as_ref()) {
                // The user gave up while the number rang: the INVITE is cancelled.
                cancel.cancel();
                if let Ok(phone) = dial.await {
                    phone.hang_up().await; // answered in the same instant
                }
                return;
            },
        }
    };
    let phone = match placed {
        Ok(phone) => phone,
        Err(error) => {
            tracing::info!(to = %Redacted(&number), %error, "pstn: outbound call not placed");
            shared.engine.refuse_phone(call, refusal_of(&error));
            return;
        }
    };
    let (media, mut control) = phone.into_parts();
    shared.lines.connect(call, media.into());
    // The user sees the number as dialled (it is theirs), never masked.
    let shown = shown_number(&number, CallerNumber::Full);
    if !shared.engine.accept_for_phone(call, &shown) {
        control.hang_up().await;
        shared.lines.disconnect(call);
        return;
    }
    hold_until_either_ends(&shared, call, &mut control, &mut events).await;
    shared.lines.disconnect(call);
}

/// What ends a wait in a bridged call.
enum Next {
    UserGone,
    PhoneGone,
    Notice(CallNotice),
    Nothing,
}

async fn hold_until_either_ends(
    shared: &Shared,
    call: CallId,
    control: &mut PhoneControl,
    events: &mut mpsc::UnboundedReceiver<CallEvent>,
) {
    let mut ended = control.ended();
    let mut notices_open = true;
    loop {
        if ended.borrow().is_some() {
            shared.engine.hangup(call);
            return;
        }
        let next = tokio::select! {
            event = events.recv() => if ends(event.as_ref()) { Next::UserGone } else { Next::Nothing },
            changed = ended.changed() => if changed.is_err() { Next::PhoneGone } else { Next::Nothing },
            notice = control.notices().recv(), if notices_open => match notice {
                Some(notice) => Next::Notice(notice),
                None => {
                    notices_open = false;
                    Next::Nothing
                }
            },
        };
        match next {
            Next::UserGone => {
                control.hang_up().await;
                return;
            }
            Next::PhoneGone => {
                shared.engine.hangup(call);
                return;
            }
            Next::Notice(CallNotice::LowCredit { seconds_left }) => {
                // The user hears it; the phone does not (it is the user's credit).
                tracing::info!(seconds_left, "pstn: low credit warning played to the user");
                shared.lines.announce(call, &low_credit_tone());
            }
            Next::Nothing => {}
        }
    }
}

/// Three short 1 kHz beeps at 8 kHz (0.2 s on, 0.2 s off): the call will be cut when the
/// credit runs out.
pub fn low_credit_tone() -> Vec<i16> {
    let beep = (0..1_600).map(|i| {
        let t = f64::from(i) / 8_000.0;
        (8_000.0 * (2.0 * std::f64::consts::PI * 1_000.0 * t).sin()) as i16
    });
    let gap = std::iter::repeat_n(0i16, 1_600);
    let one: Vec<i16> = beep.chain(gap).collect();
    one.repeat(3)
}
