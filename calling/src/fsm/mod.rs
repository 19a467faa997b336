//! The call state machine: one [`CallEngineCore`] per device, holding every call of that
//! device. Sans-IO: plain synchronous code fed with [`Input`]s and the current time,
//! queuing [`Output`]s (messages to send, media work, UI events, dropped inputs). It
//! never touches a socket, a clock, a random number generator or a thread; a driver does
//! (the relay transport, webrtc-rs, the UI), and tests drive it with virtual time.
//!
//! Every transition emits an [`Output::Event`] with its [`Reason`]; every input that
//! changes nothing emits an [`Output::Dropped`] with its [`DropReason`] (counted, logged
//! without payload). Illegal transitions are dropped this way, never panicked on. Logs
//! show only short prefixes of call ids; keys and SDP never.
//!
//! # Inputs
//!
//! | input | effect |
//! |---|---|
//! | [`Input::Dial`] | new outgoing call -> Dialing, [`Output::CreateOffer`]; with another call live it ends at once (`AlreadyInCall`); reused id or our own key: dropped |
//! | [`Input::LocalOffer`] | Dialing -> Ringing: offer sent, buffered local candidates sent, ring timer started |
//! | [`Input::Accept`] | incoming Ringing -> Connecting: [`Output::CreateAnswer`], then buffered remote candidates |
//! | [`Input::LocalAnswer`] | incoming Connecting: answer sent (its copy stops our other devices), buffered local candidates sent |
//! | [`Input::Decline`] | incoming Ringing -> Ended(`LocalDecline`): reject `"declined"` sent |
//! | [`Input::RefusePhone`] | as Decline, for a phone gateway: reject `phone:<code>`; the caller ends with `RemotePhoneRefused` |
//! | [`Input::Hangup`] | any live state -> Ended(`LocalHangup`), hangup sent when the peer knows the call; on an incoming call that rings it is a decline |
//! | [`Input::LocalCandidates`] | sent once our offer/answer is out, buffered before |
//! | [`Input::MediaConnected`] | Connecting -> Connected |
//! | [`Input::MediaFailed`] | any state with media -> Ended(`MediaFailed`), hangup `"media-failed"` sent when the peer knows the call |
//! | [`Input::Signal`] offer | see *Offers* below |
//! | [`Input::Signal`] answer | outgoing Ringing -> Connecting ([`Output::ApplyAnswer`]); any later answer is dropped (`DuplicateAnswer`) |
//! | [`Input::Signal`] candidates | buffered while ringing (per sending device), handed over after the remote description; unknown call: `CandidatesBeforeOffer` |
//! | [`Input::Signal`] hangup | any live state -> Ended(`RemoteHangup`; `RingTimeout` or `Glare` by its reason) |
//! | [`Input::Signal`] reject | outgoing Ringing -> Ended(`RemoteBusy` / `RemoteDecline`); after an answer: `LateReject` |
//! | [`Input::Signal`] from our other device | answer / reject / handled-elsewhere / hangup stop a call that rings here (`AnsweredElsewhere`, `DeclinedElsewhere`, `BusyElsewhere`, `EndedElsewhere`) |
//! | [`Input::LocalRenegotiation`] | Connecting/Connected once both descriptions are out: renegotiate (25055) sent (ICE restart) |
//! | [`Input::Signal`] renegotiate | Connecting/Connected: [`Output::ApplyRenegotiation`]; the caller drops the callee's when its own is pending (`RenegotiationGlare`) |
//! | [`Input::LocalRenegotiationAnswer`] | sent as an answer (25051) |
//! | [`Input::Signal`] answer to our renegotiation | [`Output::ApplyAnswer`] |
//! | [`Input::PolicyViolation`] | any state with media -> Ended(`PolicyViolation`), hangup `"policy"` sent when the peer knows the call; a hangup `"policy"` from the peer ends it as `RemotePolicyViolation` |
//! | [`Input::RequestModeSwitch`] | Connected: mode switch request (25060) sent; the mode changes only on the peer's accepting ack. Same mode or a request already pending: dropped (`ModeSwitchNotNeeded`) |
//! | [`Input::Signal`] mode switch request | Connected: event `ModeSwitchRequested(mode)`, nothing changes until [`Input::AcceptModeSwitch`] (ack sent, mode switched, [`Output::ApplyMode`], event `ModeSwitched`) or [`Input::DeclineModeSwitch`] (ack `accepted: false`, event `ModeSwitchDeclined`). Never accepted automatically, whatever the mode. Crossing requests: each side declines the other's |
//! | [`Input::Signal`] mode switch ack | switches (`ModeSwitched`) only when it accepts the mode our pending request asked for; declines clear the request (`ModeSwitchDeclined`); any other ack changes nothing (`UnapprovedModeSwitch`) |
//! | [`Input::UnparsableSdp`] | dropped (`UnparsableSdp`); the call goes on |
//! | [`Input::Tick`] | fires due timers (every input does so first) |
//!
//! Before any of this, a message is dropped when it is this device's own echo
//! (`OwnEcho`: same `device` tag), not addressed to us (`NotAddressedToUs`), from
//! someone who is neither the call's peer nor our own identity (`ThirdParty`), for a call
//! that ended (`CallEnded`) or does not exist (`UnknownCall`), or carries an SDP that is
//! structurally not one ([`wire::sdp_looks_valid`]; `UnparsableSdp`).
//!
//! # States
//!
//! **Dialing** (outgoing). Entered on [`Input::Dial`]. Left for Ringing when the media
//! engine delivers our offer; for Ended on local hangup (nothing sent), media failure, or
//! the connect timeout (`ConnectTimeout`).
//!
//! **Ringing** (outgoing). Entered when our offer is sent. Left for Connecting on the
//! first answer from any device of the peer; for Ended on reject (busy / declined), remote
//! or local hangup, glare lost, an answer in another privacy mode (`ModeMismatch`, hangup
//! sent), media failure, or the ring timeout (`RingTimeout`, hangup `"timeout"` sent).
//!
//! **Ringing** (incoming). Entered when an offer from a contact (or any caller when
//! strangers are allowed) arrives while no other call is live. Left for Connecting on
//! [`Input::Accept`]; for Ended on decline, the caller's hangup (missed), the ring timeout
//! (missed, nothing sent), or a message of our other device that handled the call.
//!
//! **Connecting**. Entered on the answer (outgoing) or on accept (incoming). Left for
//! Connected on [`Input::MediaConnected`]; for Ended on hangup from either side, media
//! failure, or the connect timeout (hangup `"connect-timeout"` sent). An incoming call
//! here whose answer is not out yet also ends when another of our devices answered or
//! declined first.
//!
//! **Connected**. Entered on [`Input::MediaConnected`]. Left for Ended on hangup from
//! either side or media failure.
//!
//! **Ended**. Final. The record stays [`config::ENDED_CALL_MEMORY`] so late messages are
//! dropped as `CallEnded`; an answer arriving for an ended outgoing call is answered with
//! a hangup so the answering device stops.
//!
//! # Offers
//!
//! In this order:
//! 1. Glare: if our own outgoing call to the same peer is live, the call with the smaller
//!    call id survives (both sides compute the same). If ours is smaller, the offer is
//!    dropped (`GlareLost`). If theirs is smaller and ours is still Dialing or Ringing, ours
//!    ends (`Glare`, hangup `"glare"` sent) and theirs is accepted at once (`GlareWon`):
//!    the user had just dialed this peer. If the peer asks for another privacy mode than
//!    ours, it rings instead and the user decides.
//! 2. Strangers: a caller outside the contacts, when strangers are not allowed, gives a
//!    call that ends at once as missed (`UnknownCaller`); nothing is sent back.
//! 3. Busy: with any other call live (ringing in or out, connecting, connected), the
//!    offer is rejected with reason `"busy"` (kind 25054) and logged as missed
//!    (`LocalBusy`). One call at a time per device; a busy device makes the whole
//!    identity busy, since the reject's copy stops our other devices (`BusyElsewhere`).
//! 4. Otherwise it rings for [`EngineConfig::ring_timeout`].
//!
//! # Multi-device
//!
//! The peer's offer reaches every device of ours; every message we send reaches our
//! other devices too (the transport's copy). The first device that answers or declines
//! wins: its message's copy stops the others (`AnsweredElsewhere` / `DeclinedElsewhere`).
//! On the caller's side the first answer is taken and later ones are dropped
//! (`DuplicateAnswer`); when both carry device ids, the device whose answer lost gets a
//! hangup `"answered-elsewhere:<its device id>"`, which only it acts on (a device of the
//! callee still ringing stops too). Candidates and hangups from devices whose answer was
//! not taken are dropped (`CandidatesFromOtherDevice`, `HangupFromOtherDevice`).

mod admission;
pub mod admit;
mod call;
pub mod config;
mod early;
mod engine;
mod local;
mod mode_switch;
mod negotiation;
mod own_devices;
mod phone;
mod remote;
mod types;
pub mod wire;

pub use admit::{
    Admission, AdmissionPolicy, AnswerEverything, AnswerUpTo, OfferFacts, PersonalPolicy, Refusal,
    RingUpTo,
};
pub use config::EngineConfig;
pub use engine::CallEngineCore;
pub use phone::{PhoneRefusal, REJECT_PHONE_PREFIX};
pub use types::{
    CallEvent, CallInfo, CallState, Direction, DropReason, Dropped, EndReason, Incoming, Input,
    InputKind, MediaError, Output, Reason,
};
