//! What goes into the state machine and what comes out of it.

use super::phone::PhoneRefusal;
use nostr_signal::{PublicKey, Route, VerifiedMessage, Via};
use phantomcall_schemas::{
    CallId, CallKind, CallMessage, CallType, DeviceId, IceCandidate, PhoneLeg, PrivacyMode,
};

/// A verified call message from the signaling transport: the part of
/// [`nostr_signal::VerifiedMessage`] the state machine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Who wrote it (verified by the transport).
    pub sender: PublicKey,
    /// True when another device of our own identity wrote it (the multi-device copy), or
    /// when it is this device's own message echoed back by the relays.
    pub from_own_device: bool,
    /// The parsed message.
    pub message: CallMessage,
    /// The path it came over (relays, Bluetooth LE with its hops).
    pub via: Via,
}

impl From<VerifiedMessage> for Incoming {
    fn from(v: VerifiedMessage) -> Self {
        Self {
            sender: v.sender,
            from_own_device: v.from_own_device,
            message: v.message,
            via: v.via,
        }
    }
}

/// One input to [`crate::CallEngineCore::handle`]. The module documentation of
/// [`crate::fsm`] says what each does in each state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The user places a call. The driver draws the call id ([`CallId::new_random`]) so
    /// that the state machine holds no randomness.
    Dial {
        /// Id of the new call.
        call_id: CallId,
        /// Who to call.
        peer: PublicKey,
        /// Voice or video.
        call_type: CallType,
        /// Privacy mode for this call (per-contact default or the user's override).
        mode: PrivacyMode,
    },
    /// The user accepts an incoming call that rings.
    Accept {
        /// The call.
        call_id: CallId,
        /// Send video too (only meaningful for a video call).
        with_video: bool,
    },
    /// This side is (or goes through) a phone gateway: `leg` rides on our offer or answer
    /// of the call from now on (`Dial`: the number a gateway should call; `Phone`: we are
    /// the gateway and this is the telephone on our side). Send it right after `Dial` or
    /// before `Accept`.
    PhoneLeg {
        /// The call.
        call_id: CallId,
        /// The tag to carry.
        leg: PhoneLeg,
    },
    /// The user declines an incoming call that rings.
    Decline {
        /// The call.
        call_id: CallId,
    },
    /// A phone gateway refuses an incoming call that asked it to dial a number, saying
    /// why (reject `phone:<code>`).
    RefusePhone {
        /// The call.
        call_id: CallId,
        /// Why.
        refusal: PhoneRefusal,
    },
    /// The user hangs up (or cancels, or declines: whatever ends the call from here).
    Hangup {
        /// The call.
        call_id: CallId,
    },
    /// The media engine produced our SDP offer (answer to [`Output::CreateOffer`]).
    LocalOffer {
        /// The call.
        call_id: CallId,
        /// SDP offer.
        sdp: String,
    },
    /// The media engine produced our SDP answer (answer to [`Output::CreateAnswer`]).
    LocalAnswer {
        /// The call.
        call_id: CallId,
        /// SDP answer.
        sdp: String,
    },
    /// The media engine gathered local ICE candidates (already filtered by the mode's
    /// policy).
    LocalCandidates {
        /// The call.
        call_id: CallId,
        /// The candidates, in gathering order.
        candidates: Vec<IceCandidate>,
    },
    /// The media engine produced a new offer during the call (ICE restart after the
    /// connection failed or the network changed): sent as a renegotiate (kind 25055).
    LocalRenegotiation {
        /// The call.
        call_id: CallId,
        /// SDP offer with fresh ICE credentials.
        sdp: String,
    },
    /// The media engine answered the peer's renegotiation (answer to
    /// [`Output::ApplyRenegotiation`]): sent as an answer (kind 25051).
    LocalRenegotiationAnswer {
        /// The call.
        call_id: CallId,
        /// SDP answer.
        sdp: String,
    },
    /// The media path is up (ICE connected and DTLS done).
    MediaConnected {
        /// The call.
        call_id: CallId,
    },
    /// The media engine failed for this call.
    MediaFailed {
        /// The call.
        call_id: CallId,
        /// What failed.
        error: MediaError,
    },
    /// The media engine refused a candidate or SDP from the peer that the call's privacy
    /// mode forbids (a host candidate in Private mode, say): the call ends
    /// (`PolicyViolation`, fail closed) and the peer gets hangup `"policy"`.
    PolicyViolation {
        /// The call.
        call_id: CallId,
    },
    /// The user asks the peer to switch the connected call to `mode` (kind 25060). The
    /// mode changes only when the peer's user accepts (kind 25061).
    RequestModeSwitch {
        /// The call.
        call_id: CallId,
        /// The mode asked for.
        mode: PrivacyMode,
    },
    /// The user accepts the peer's pending mode switch request: the call switches.
    AcceptModeSwitch {
        /// The call.
        call_id: CallId,
    },
    /// The user declines the peer's pending mode switch request: nothing changes.
    DeclineModeSwitch {
        /// The call.
        call_id: CallId,
    },
    /// A verified call message arrived.
    Signal(Incoming),
    /// A verified call message arrived whose SDP the media engine could not parse. It is
    /// dropped with [`DropReason::UnparsableSdp`]; the call it names goes on.
    UnparsableSdp(Incoming),
    /// Time passed; fires due timers. Feed it at [`crate::CallEngineCore::next_timeout`].
    Tick,
}

impl Input {
    /// The call this input names, if any.
    pub fn call_id(&self) -> Option<CallId> {
        match self {
            Input::Dial { call_id, .. }
            | Input::Accept { call_id, .. }
            | Input::PhoneLeg { call_id, .. }
            | Input::Decline { call_id }
            | Input::RefusePhone { call_id, .. }
            | Input::Hangup { call_id }
            | Input::LocalOffer { call_id, .. }
            | Input::LocalAnswer { call_id, .. }
            | Input::LocalCandidates { call_id, .. }
            | Input::LocalRenegotiation { call_id, .. }
            | Input::LocalRenegotiationAnswer { call_id, .. }
            | Input::MediaConnected { call_id }
            | Input::MediaFailed { call_id, .. }
            | Input::PolicyViolation { call_id }
            | Input::RequestModeSwitch { call_id, .. }
            | Input::AcceptModeSwitch { call_id }
            | Input::DeclineModeSwitch { call_id } => Some(*call_id),
            Input::Signal(m) | Input::UnparsableSdp(m) => Some(m.message.call_id),
            Input::Tick => None,
        }
    }

    /// Which input this is, without its data (for logs and [`Dropped`]).
    pub fn kind(&self) -> InputKind {
        match self {
            Input::Dial { .. } => InputKind::Dial,
            Input::Accept { .. } => InputKind::Accept,
            Input::PhoneLeg { .. } => InputKind::PhoneLeg,
            Input::Decline { .. } => InputKind::Decline,
            Input::RefusePhone { .. } => InputKind::RefusePhone,
            Input::Hangup { .. } => InputKind::Hangup,
            Input::LocalOffer { .. } => InputKind::LocalOffer,
            Input::LocalAnswer { .. } => InputKind::LocalAnswer,
            Input::LocalCandidates { .. } => InputKind::LocalCandidates,
            Input::LocalRenegotiation { .. } => InputKind::LocalRenegotiation,
            Input::LocalRenegotiationAnswer { .. } => InputKind::LocalRenegotiationAnswer,
            Input::MediaConnected { .. } => InputKind::MediaConnected,
            Input::MediaFailed { .. } => InputKind::MediaFailed,
            Input::PolicyViolation { .. } => InputKind::PolicyViolation,
            Input::RequestModeSwitch { .. } => InputKind::RequestModeSwitch,
            Input::AcceptModeSwitch { .. } => InputKind::AcceptModeSwitch,
            Input::DeclineModeSwitch { .. } => InputKind::DeclineModeSwitch,
            Input::Signal(m) => InputKind::Signal(m.message.kind()),
            Input::UnparsableSdp(m) => InputKind::UnparsableSdp(m.message.kind()),
            Input::Tick => InputKind::Tick,
        }
    }
}

/// An [`Input`] without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // one variant per `Input` variant, documented there
pub enum InputKind {
    Dial,
    Accept,
    PhoneLeg,
    Decline,
    RefusePhone,
    Hangup,
    LocalOffer,
    LocalAnswer,
    LocalCandidates,
    LocalRenegotiation,
    LocalRenegotiationAnswer,
    MediaConnected,
    MediaFailed,
    PolicyViolation,
    RequestModeSwitch,
    AcceptModeSwitch,
    DeclineModeSwitch,
    Signal(CallKind),
    UnparsableSdp(CallKind),
    Tick,
}

/// What the media engine reports as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaError {
    /// Creating our offer failed.
    CreateOffer,
    /// Applying the peer's offer or creating our answer failed.
    CreateAnswer,
    /// Applying the peer's answer failed.
    ApplyAnswer,
    /// ICE or DTLS failed, or the connection was lost for good.
    Connection,
}

/// One effect for the driver to carry out, in order. Poll with
/// [`crate::CallEngineCore::poll_output`].
///
/// Its `Debug` (like [`Input`]'s) prints keys and SDP: for tests, never for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `message` to `to` with `SignalTransport::send`, which also copies it to our
    /// own other devices: that copy is how they stop ringing when this device answers or
    /// declines. `message.peer` is already `to`.
    Send {
        /// The peer.
        to: PublicKey,
        /// The message (carries our `mode` and `device` tags).
        message: CallMessage,
        /// Which relays it may use: a stranger's own relays only once the user accepted or
        /// placed the call.
        route: Route,
    },
    /// The peer's client does not speak privacy modes (a plain NIP-AC client: no `mode`
    /// tag): our side keeps its mode for everything we gather and send, and the peer's
    /// candidates are taken whatever their type (its address is its own choice). Comes
    /// before the remote description is handed over.
    PeerWithoutModes {
        /// The call.
        call_id: CallId,
    },
    /// Create the peer connection for an outgoing call (ICE policy of `mode`) and an SDP
    /// offer; reply with [`Input::LocalOffer`] or [`Input::MediaFailed`].
    CreateOffer {
        /// The call.
        call_id: CallId,
        /// The peer (for the media engine's own bookkeeping; never to be logged in full).
        peer: PublicKey,
        /// Voice or video.
        call_type: CallType,
        /// The call's privacy mode.
        mode: PrivacyMode,
    },
    /// Create the peer connection for an accepted incoming call, apply `remote_sdp` and
    /// create an answer; reply with [`Input::LocalAnswer`] or [`Input::MediaFailed`].
    CreateAnswer {
        /// The call.
        call_id: CallId,
        /// The caller.
        peer: PublicKey,
        /// The caller's SDP offer.
        remote_sdp: String,
        /// What the caller offered.
        call_type: CallType,
        /// Whether to send video (false for a voice call).
        with_video: bool,
        /// The call's privacy mode.
        mode: PrivacyMode,
    },
    /// Apply the peer's SDP answer to the outgoing call's peer connection.
    ApplyAnswer {
        /// The call.
        call_id: CallId,
        /// SDP answer.
        sdp: String,
    },
    /// Apply the peer's new offer (renegotiate, kind 25055: an ICE restart) to the call's
    /// peer connection and create an answer; reply with
    /// [`Input::LocalRenegotiationAnswer`] or [`Input::MediaFailed`].
    ApplyRenegotiation {
        /// The call.
        call_id: CallId,
        /// SDP offer.
        sdp: String,
    },
    /// Both sides agreed to switch the call to `mode`: apply its policy to the call's
    /// media (candidates checked under it from now on).
    ApplyMode {
        /// The call.
        call_id: CallId,
        /// The call's new mode.
        mode: PrivacyMode,
    },
    /// Add the peer's ICE candidates. Always comes after the remote description was handed
    /// over ([`Output::CreateAnswer`] or [`Output::ApplyAnswer`]); candidates that arrived
    /// earlier were buffered until then.
    AddRemoteCandidates {
        /// The call.
        call_id: CallId,
        /// The candidates, in arrival order.
        candidates: Vec<IceCandidate>,
    },
    /// Close the call's peer connection and release its media. Only for calls that had
    /// one ([`Output::CreateOffer`] or [`Output::CreateAnswer`] was emitted).
    StopMedia {
        /// The call.
        call_id: CallId,
    },
    /// A call changed state (for the UI and the call log).
    Event(CallEvent),
    /// An input was ignored; the calls go on unchanged.
    Dropped(Dropped),
}

/// Direction of a call as seen from this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We called.
    Outgoing,
    /// We were called.
    Incoming,
}

/// State of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallState {
    /// Outgoing only: waiting for the media engine's offer.
    Dialing,
    /// Outgoing: offer sent, waiting for an answer. Incoming: ringing here.
    Ringing,
    /// Answer received (outgoing) or call accepted here (incoming); media coming up.
    Connecting,
    /// Media is up.
    Connected,
    /// Over; see [`EndReason`].
    Ended,
}

/// Why a call entered its state (the reason every [`CallEvent`] carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// -> Dialing: the user dialed.
    LocalDial,
    /// -> Ringing (outgoing): our offer was sent.
    OfferSent,
    /// -> Ringing (incoming): an offer arrived.
    OfferReceived,
    /// -> Connecting (incoming): the user accepted here.
    LocalAccept,
    /// -> Connecting (outgoing): the peer answered.
    RemoteAnswer,
    /// -> Connecting (incoming): both sides called each other, the peer's call survived
    /// and was accepted automatically (the user had just dialed this peer).
    GlareWon,
    /// -> Connecting (incoming): the admission policy answered the call at once (a
    /// headless client), without ringing.
    AutoAccepted,
    /// -> Connected: the media engine reported the media path up.
    MediaConnected,
    /// Same state: the peer asks to switch the call to this mode. The UI asks the user,
    /// who answers with [`Input::AcceptModeSwitch`] or [`Input::DeclineModeSwitch`];
    /// nothing changes until then, whatever the mode.
    ModeSwitchRequested(PrivacyMode),
    /// Same state: both users agreed and the call is now in the event's `mode`.
    ModeSwitched,
    /// Same state: the switch to this mode was declined (here or by the peer, or both
    /// sides asked at once); the call keeps its mode.
    ModeSwitchDeclined(PrivacyMode),
    /// -> Ended.
    Ended(EndReason),
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndReason {
    /// The user hung up or cancelled here.
    LocalHangup,
    /// The peer hung up or cancelled.
    RemoteHangup,
    /// The user declined the incoming call here.
    LocalDecline,
    /// The peer declined our call.
    RemoteDecline,
    /// The phone gateway we asked to dial a number did not place the call, or the number
    /// did not answer (reject `phone:<code>`).
    RemotePhoneRefused(PhoneRefusal),
    /// The peer is in another call (reject with reason `"busy"`).
    RemoteBusy,
    /// The call arrived while we were in another call; it was rejected as busy.
    LocalBusy,
    /// Nobody answered in time (caller: no answer; callee: missed).
    RingTimeout,
    /// Another device of ours answered (or the caller took another device's answer).
    AnsweredElsewhere,
    /// Another device of ours declined.
    DeclinedElsewhere,
    /// Another device of ours is in another call and rejected this one as busy.
    BusyElsewhere,
    /// Another device of ours ended the call.
    EndedElsewhere,
    /// Both sides called each other at once and this call lost (the other survived).
    Glare,
    /// The caller is not a contact and strangers are not allowed: missed, unknown caller.
    UnknownCaller,
    /// The answer names another privacy mode than the one offered (fail closed).
    ModeMismatch,
    /// The peer sent a candidate or SDP that the call's privacy mode forbids (fail
    /// closed); hangup `"policy"` sent.
    PolicyViolation,
    /// The peer ended the call because something we sent broke its privacy mode
    /// (hangup `"policy"`).
    RemotePolicyViolation,
    /// The media engine failed.
    MediaFailed(MediaError),
    /// Media did not come up in time.
    ConnectTimeout,
    /// The user dialed while another call was live; nothing was sent.
    AlreadyInCall,
    /// The offer asked for less privacy than we require for this peer (its contact mode,
    /// or Private for strangers); rejected with `mode-required:<mode>`.
    ModeTooLow(PrivacyMode),
    /// The peer requires at least this mode for us and rejected our offer.
    RemoteRequiresMode(PrivacyMode),
    /// The peer cannot carry media in this mode now (no TURN server or proxy on its side)
    /// and rejected our offer.
    RemoteModeUnavailable(PrivacyMode),
    /// The offer needs a mode this device has no media path for (no TURN server, no
    /// proxy); rejected with `mode-unavailable:<mode>` instead of failing after accept.
    ModeUnavailable(PrivacyMode),
    /// A NIP-AC group offer: group calls are not supported yet; rejected with a reason.
    GroupCallUnsupported,
    /// The offer's SDP could not be read; rejected with a reason.
    UnreadableOffer,
}

impl EndReason {
    /// Whether an incoming call that was not accepted here and ended this way counts as
    /// missed (shown as such in the log): it rang, or tried to, and nobody took it.
    pub fn counts_as_missed(&self) -> bool {
        matches!(
            self,
            EndReason::RingTimeout
                | EndReason::RemoteHangup
                | EndReason::UnknownCaller
                | EndReason::LocalBusy
                | EndReason::ModeTooLow(_)
                | EndReason::ModeUnavailable(_)
                | EndReason::GroupCallUnsupported
                | EndReason::UnreadableOffer
        )
    }
}

/// A state change of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// The call.
    pub call_id: CallId,
    /// The other party.
    pub peer: PublicKey,
    /// Who called.
    pub direction: Direction,
    /// Voice or video (as offered).
    pub call_type: CallType,
    /// The call's privacy mode.
    pub mode: PrivacyMode,
    /// The state entered.
    pub state: CallState,
    /// Why.
    pub reason: Reason,
    /// True on the end of an incoming call that nobody answered and nobody here declined
    /// (ring timeout, caller gave up, unknown caller, rejected as busy): the "missed"
    /// entry of the call log.
    pub missed: bool,
    /// The peer's client does not speak privacy modes (a plain NIP-AC client): our side
    /// keeps its mode, the peer's address may be exposed to us and our TURN server. The
    /// UI says so.
    pub peer_without_modes: bool,
    /// The path the peer's last message of this call came over; `None` before any.
    pub signaled_via: Option<Via>,
    /// A telephone at one end, through a phone gateway: the call is not end-to-end
    /// encrypted past the gateway (see [`crate::CallInfo::phone`]).
    pub phone: Option<PhoneLeg>,
}

/// A snapshot of one call, for the UI and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// The call.
    pub call_id: CallId,
    /// The other party.
    pub peer: PublicKey,
    /// Who called.
    pub direction: Direction,
    /// Voice or video (as offered).
    pub call_type: CallType,
    /// The call's privacy mode.
    pub mode: PrivacyMode,
    /// The peer's `mode` tag on its offer or answer, if it sent one.
    pub peer_mode: Option<PrivacyMode>,
    /// The peer's offer or answer came without a `mode` tag (a plain NIP-AC client).
    pub peer_without_modes: bool,
    /// Current state.
    pub state: CallState,
    /// Set once ended.
    pub end_reason: Option<EndReason>,
    /// Outgoing calls, once answered: the `device` tag of the answer that was taken
    /// (`Some(None)` for a peer that sends no device tag).
    pub answered_by: Option<Option<DeviceId>>,
    /// The path the peer's last message of this call came over; `None` before any.
    pub signaled_via: Option<Via>,
    /// A telephone at one end: the gateway's `phone` tag (who is on the phone), or the
    /// number we asked a gateway to dial, or (when we are the gateway) the number the
    /// caller asked us to dial. The call is not end-to-end encrypted past the gateway.
    pub phone: Option<PhoneLeg>,
}

/// An input that changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The call the input named, if any.
    pub call_id: Option<CallId>,
    /// Which input.
    pub input: InputKind,
    /// Why it was dropped.
    pub reason: DropReason,
}

/// Why an input was dropped. Counted per reason
/// ([`crate::CallEngineCore::drop_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// A message (or user action) for a call id this device does not know.
    UnknownCall,
    /// ICE candidates for a call id this device has no offer for.
    CandidatesBeforeOffer,
    /// The call has ended already.
    CallEnded,
    /// The sender is neither the call's peer nor one of our own devices.
    ThirdParty,
    /// A message from a peer whose `p` tag is not our key.
    NotAddressedToUs,
    /// This device's own message, echoed back by the relays.
    OwnEcho,
    /// An offer another device of ours sent: that device placed the call.
    OwnDeviceCall,
    /// A valid message that needs no action here (e.g. the peer's note to its own
    /// devices, or our other device's candidates).
    NoActionNeeded,
    /// A second offer for a call we already have.
    DuplicateOffer,
    /// An answer after the first one was taken (the first answer wins).
    DuplicateAnswer,
    /// Another device of ours answered this call too, after we sent our answer: the
    /// caller takes one of the two and tells the other to hang up.
    ConcurrentAnswer,
    /// ICE candidates from a device of the peer whose answer was not taken.
    CandidatesFromOtherDevice,
    /// A reject after the call was answered (another device of the peer answered first).
    LateReject,
    /// An offer that lost glare: our own outgoing call to the same peer survives.
    GlareLost,
    /// A hangup the caller addressed to another of our devices (one whose answer lost).
    HangupForOtherDevice,
    /// A hangup from a device of the peer whose answer was not taken; the device in the
    /// call is still there.
    HangupFromOtherDevice,
    /// An offer, answer or renegotiation whose SDP does not parse.
    UnparsableSdp,
    /// Too many candidates buffered for a call that is not answered yet.
    CandidateBufferFull,
    /// Local candidates with nothing in them.
    NoCandidates,
    /// A mode switch ack that answers no request of ours (none pending, or another
    /// mode): a switch nobody asked for changes nothing.
    UnapprovedModeSwitch,
    /// A mode switch request for the mode the call already has, or while another
    /// request is pending on this side.
    ModeSwitchNotNeeded,
    /// Both sides restarted ICE at once: the caller's renegotiation wins, the callee's is
    /// dropped on the caller's side.
    RenegotiationGlare,
    /// The input is not allowed in the call's current state (illegal transition).
    NotInThisState(CallState),
    /// A dial with a call id that is already in use.
    DuplicateCallId,
    /// A dial to our own key.
    CannotCallSelf,
    /// Candidates that arrived before their offer, past the early-candidate buffer's
    /// bounds or expired before the offer came.
    EarlyCandidatesDropped,
}
