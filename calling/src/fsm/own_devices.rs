//! Messages from our other devices: a call answered, declined or ended there stops
//! ringing here.

use std::time::Instant;

use phantomcall_schemas::{CallBody, CallMessage, HandledOutcome};

use super::call::{Call, Sink};
use super::types::{CallState, Direction, DropReason, EndReason, InputKind};
use super::wire;

/// How a message from another device of ours ends a call that rings here, if it does.
pub(super) fn handled_elsewhere(body: &CallBody) -> Option<EndReason> {
    match body {
        CallBody::Answer { .. }
        | CallBody::HandledElsewhere {
            outcome: HandledOutcome::Answered,
        } => Some(EndReason::AnsweredElsewhere),
        CallBody::Reject { reason } if reason.as_deref() == Some(wire::REJECT_BUSY) => {
            Some(EndReason::BusyElsewhere)
        }
        CallBody::Reject { .. }
        | CallBody::HandledElsewhere {
            outcome: HandledOutcome::Rejected,
        } => Some(EndReason::DeclinedElsewhere),
        CallBody::Hangup { .. } => Some(EndReason::EndedElsewhere),
        _ => None,
    }
}

/// A message another device of ours sent about a live call of this device.
pub(super) fn on_own_device_message(
    sink: &mut Sink,
    call: &mut Call,
    message: CallMessage,
    input: InputKind,
    now: Instant,
) {
    let id = call.id;
    if call.direction == Direction::Outgoing {
        // This device placed the call; what our other devices say about it changes
        // nothing here.
        sink.drop_input(Some(id), input, DropReason::NoActionNeeded);
        return;
    }
    let Some(reason) = handled_elsewhere(&message.body) else {
        sink.drop_input(Some(id), input, DropReason::NoActionNeeded);
        return;
    };
    // Before our answer is out, the other device was first: stop here, send nothing.
    // After it, both answers are on their way and the caller takes one (the other device
    // gets an `answered-elsewhere:` hangup, and a late decline is dropped there).
    let first_there = match call.state {
        CallState::Ringing => true,
        CallState::Connecting => !call.negotiation.sdp_sent,
        _ => false,
    };
    if first_there {
        sink.end(call, reason, None, now);
    } else if reason == EndReason::AnsweredElsewhere {
        sink.drop_input(Some(id), input, DropReason::ConcurrentAnswer);
    } else {
        sink.drop_input(Some(id), input, DropReason::NoActionNeeded);
    }
}
