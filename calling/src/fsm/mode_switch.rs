//! Switching a connected call's privacy mode: both users must agree.

use phantomcall_schemas::{CallBody, CallId, PrivacyMode};

use super::call::{Call, PendingSwitch, Sink};
use super::engine::{live, CallEngineCore};
use super::types::{CallState, DropReason, InputKind, Output, Reason};

impl CallEngineCore {
    pub(super) fn on_request_mode_switch(&mut self, call_id: CallId, mode: PrivacyMode) {
        let input = InputKind::RequestModeSwitch;
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        if call.state != CallState::Connected {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        }
        if mode == call.mode || call.pending_switch.is_some() {
            self.sink
                .drop_input(Some(call_id), input, DropReason::ModeSwitchNotNeeded);
            return;
        }
        self.sink.send(call, CallBody::ModeSwitchRequest { mode });
        call.pending_switch = Some(PendingSwitch::Ours(mode));
    }

    /// The user's answer to the peer's pending mode switch request.
    pub(super) fn on_answer_mode_switch(
        &mut self,
        call_id: CallId,
        accepted: bool,
        input: InputKind,
    ) {
        let Some(call) = live(&mut self.calls, &mut self.sink, call_id, input) else {
            return;
        };
        let Some(PendingSwitch::Theirs(mode)) = call.pending_switch else {
            let state = call.state;
            self.sink
                .drop_input(Some(call_id), input, DropReason::NotInThisState(state));
            return;
        };
        call.pending_switch = None;
        self.sink
            .send(call, CallBody::ModeSwitchAck { mode, accepted });
        if accepted {
            switch_mode(&mut self.sink, call, mode);
        } else {
            self.sink.event(call, Reason::ModeSwitchDeclined(mode));
        }
    }
}

/// Both users agreed: the call takes `mode` and the media engine applies its policy.
pub(super) fn switch_mode(sink: &mut Sink, call: &mut Call, mode: PrivacyMode) {
    call.mode = mode;
    sink.push(Output::ApplyMode {
        call_id: call.id,
        mode,
    });
    sink.event(call, Reason::ModeSwitched);
}
