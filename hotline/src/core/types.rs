//! The core's configuration, inputs, outputs and errors.

use std::time::{Duration, Instant};

use crate::ids::{CallId, CallerId, CallerKey, EntryId, Npub};

/// How a waiting entry picks the dispatcher(s) to offer it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Every free dispatcher rings at once; the first to answer takes it.
    RingAll,
    /// Enrolment order, resuming after the dispatcher offered the previous entry.
    RoundRobin,
    /// The free dispatcher whose last call ended longest ago (never = longest).
    #[default]
    LongestIdle,
    /// The free dispatcher with the fewest calls taken today; ties: longest idle.
    FewestCalls,
}

/// What happens to a caller when the queue is full or the wait is too long. Never "busy".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowAction {
    /// The entry becomes a callback entry (keeps its place; a dispatcher calls back).
    #[default]
    Callback,
    /// The caller is sent to voicemail ([`Output::TakeVoicemail`]).
    Voicemail,
}

/// Limits that stop one caller identity from filling the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// Entries one caller id may have in the queue at once (live or callback).
    pub max_concurrent_per_caller: u32,
    /// New entries one caller id may create per [`AbuseLimits::rate_window`].
    pub max_new_per_window: u32,
    /// The rate-limit window.
    pub rate_window: Duration,
}

impl Default for AbuseLimits {
    fn default() -> Self {
        Self {
            max_concurrent_per_caller: 1,
            // Enough to redial after a dropped call a few times, too few to spam.
            max_new_per_window: 5,
            rate_window: Duration::from_secs(600),
        }
    }
}

/// The queue rules (see `config.rs` for their `hotline.toml` names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// Dispatcher selection.
    pub strategy: Strategy,
    /// How long one offer rings before the next dispatcher is tried.
    pub ring_timeout: Duration,
    /// Default wrap-up after a call (per dispatcher overridable).
    pub wrap_up: Duration,
    /// Longest a live caller waits before the overflow action; `None`: no limit.
    pub max_wait: Option<Duration>,
    /// Most live callers waiting at once; `None`: no limit. Callback entries do not count
    /// (they hold no line), so overflow into a callback always succeeds.
    pub max_queue_len: Option<usize>,
    /// What overflow does.
    pub overflow: OverflowAction,
    /// "Answered within" threshold for the service level.
    pub service_level: Duration,
    /// How often each waiting live caller gets a position / estimate update.
    pub position_interval: Duration,
    /// A caller id seen again within this window is flagged as a repeat caller.
    pub repeat_window: Duration,
    /// Unanswered offers in a row after which a dispatcher is set away; `None`: never.
    pub away_after_misses: Option<u32>,
    /// Abuse limits.
    pub abuse: AbuseLimits,
    /// Whether the console view may show callers' npubs (operator's choice, default no).
    pub show_caller_npub: bool,
    /// Handle times averaged for the wait estimate.
    pub handle_time_samples: usize,
    /// The handle time assumed before any call has been handled.
    pub handle_time_prior: Duration,
    /// Phone gateways: identities that carry many people (every phone caller through a
    /// gateway calls from its key). Their calls are not held to the per-caller limits
    /// (the gateway has its own), never flagged as repeat callers, and never take over a
    /// callback entry: one gateway is not one person. On overflow their call ends the
    /// voicemail way ([`Output::TakeVoicemail`]): the hotline cannot call a phone back.
    pub phone_gateways: Vec<Npub>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::LongestIdle,
            // Asterisk's default member timeout is 15 s; 20 s gives a desktop user time to
            // switch windows.
            ring_timeout: Duration::from_secs(20),
            wrap_up: Duration::from_secs(30),
            max_wait: Some(Duration::from_secs(600)),
            max_queue_len: Some(50),
            overflow: OverflowAction::Callback,
            service_level: Duration::from_secs(20),
            // Frequent enough to reassure, rare enough not to nag (app_queue: 30-90 s).
            position_interval: Duration::from_secs(30),
            repeat_window: Duration::from_secs(24 * 3600),
            away_after_misses: Some(3),
            abuse: AbuseLimits::default(),
            show_caller_npub: false,
            handle_time_samples: 20,
            handle_time_prior: Duration::from_secs(180),
            phone_gateways: Vec::new(),
        }
    }
}

/// A dispatcher's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Can be offered calls.
    Available,
    /// On a call, or busy by choice.
    Busy,
    /// After a call, until the wrap-up time ends.
    WrapUp,
    /// Signed out or on a break.
    Away,
}

impl Presence {
    /// Stable name (store, console).
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Available => "available",
            Presence::Busy => "busy",
            Presence::WrapUp => "wrap-up",
            Presence::Away => "away",
        }
    }

    /// Parses [`Presence::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "available" => Presence::Available,
            "busy" => Presence::Busy,
            "wrap-up" => Presence::WrapUp,
            "away" => Presence::Away,
            _ => return None,
        })
    }
}

/// A live call waiting on the line, or a callback a dispatcher places later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The caller is on the line (hearing the waiting tone).
    Live,
    /// A dispatcher calls the caller back; same ordering rules as live calls.
    Callback,
}

/// Where an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryState {
    /// In the queue.
    Waiting,
    /// Offered to these dispatchers until the deadline.
    Ringing {
        /// Who rings.
        dispatchers: Vec<Npub>,
        /// The ring timeout.
        until: Instant,
    },
    /// Taken by a dispatcher.
    Assigned {
        /// Who has it.
        dispatcher: Npub,
        /// When it was answered.
        since: Instant,
        /// On hold.
        on_hold: bool,
    },
}

/// Everything the core accepts from outside.
#[derive(Debug, Clone)]
pub enum Input {
    /// A caller called the hotline.
    Incoming {
        /// The caller's call id.
        call: CallId,
        /// The caller's key (kept only in the entry).
        caller: Npub,
        /// Higher is served first.
        priority: i32,
    },
    /// A phone caller called the hotline through a phone gateway that names each
    /// telephone opaquely (the `phone` tag's reference). From a configured gateway the
    /// reference is the caller (limits, blocking, repeat callers count per phone); from
    /// anyone else it is ignored and this is an ordinary [`Input::Incoming`].
    IncomingFromPhone {
        /// The call id.
        call: CallId,
        /// The key the call came from (the gateway's, kept to address the line).
        gateway: Npub,
        /// The telephone, as the gateway names it to this hotline.
        phone: phantomcall_schemas::PhoneRef,
        /// Higher is served first.
        priority: i32,
    },
    /// A callback entry requested outside a call (chat, operator).
    RequestCallback {
        /// Who to call back.
        caller: Npub,
        /// Higher is served first.
        priority: i32,
    },
    /// The caller left: hung up while waiting, or ended the call with the dispatcher.
    CallerLeft(EntryId),
    /// A dispatcher changed presence (available, busy or away; wrap-up is the core's).
    SetPresence(Npub, Presence),
    /// A dispatcher's own wrap-up time.
    SetWrapUp(Npub, std::time::Duration),
    /// A ringing dispatcher took the entry.
    Answer(EntryId, Npub),
    /// A ringing dispatcher refused the offer (next one is tried, no miss counted).
    Decline(EntryId, Npub),
    /// The assigned dispatcher hands the call to another, available one.
    TransferTo {
        /// The entry.
        entry: EntryId,
        /// Its dispatcher now.
        from: Npub,
        /// The new one.
        to: Npub,
    },
    /// Hold on or off.
    Hold(EntryId, Npub, bool),
    /// A note on the entry (replaces the previous one).
    Note(EntryId, Npub, String),
    /// The dispatcher ended the call (or the callback); wrap-up starts.
    End(EntryId, Npub),
    /// The operator blocks a caller id (its waiting entries are removed).
    Block(CallerId),
    /// The operator unblocks a caller id.
    Unblock(CallerId),
}

/// Why a new call was not queued. None of these is "busy": they are abuse limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// The caller id is blocked.
    Blocked,
    /// The caller id already has its allowed number of entries in the queue.
    TooManyConcurrent,
    /// The caller id created too many entries in the rate window.
    RateLimited,
}

/// Why an entry left the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller hung up while waiting.
    Abandoned,
    /// The call (or callback) was handled and ended.
    Completed,
    /// Sent to voicemail by overflow.
    Voicemail,
    /// Removed because the operator blocked the caller.
    Blocked,
}

/// Why an offer stopped ringing at a dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Another dispatcher answered (ring-all).
    AnsweredElsewhere,
    /// The ring timeout passed.
    Timeout,
    /// The caller left, the entry overflowed, or the dispatcher changed presence.
    Withdrawn,
}

/// What the driver does for an entry restored after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreAction {
    /// The waiting line went down with the service: call the caller again; their place
    /// is kept.
    ReRingCaller,
    /// A callback entry: nothing to do now, a dispatcher calls back in turn.
    CallBackLater,
}

/// Everything the core asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A new entry is in the queue (answer the call with the waiting tone when live).
    Queued {
        /// The entry.
        entry: EntryId,
        /// The caller's call, for live entries.
        call: Option<CallId>,
        /// The opaque caller id.
        caller_id: CallerId,
        /// Live or callback.
        kind: EntryKind,
        /// 1-based place in the queue.
        position: usize,
        /// Seen within the repeat window.
        repeat: bool,
    },
    /// A call that was not queued (abuse limits).
    Refuse {
        /// The call to reject (`None` for a callback request).
        call: Option<CallId>,
        /// Why.
        reason: RefuseReason,
    },
    /// Tell a waiting live caller where they are.
    Position {
        /// The entry.
        entry: EntryId,
        /// 1-based place among all waiting entries.
        position: usize,
        /// Estimated wait; `None` when no dispatcher is signed in.
        estimate: Option<Duration>,
    },
    /// Ring these dispatchers with the entry until `until`.
    Offer {
        /// The entry.
        entry: EntryId,
        /// Live or callback.
        kind: EntryKind,
        /// Who to ring.
        dispatchers: Vec<Npub>,
        /// Ring timeout.
        until: Instant,
    },
    /// Stop ringing one dispatcher.
    CancelOffer {
        /// The entry.
        entry: EntryId,
        /// The dispatcher.
        dispatcher: Npub,
        /// Why.
        reason: CancelReason,
    },
    /// Hand the live call to the dispatcher: the caller's client re-offers to the
    /// dispatcher's npub, so media stays end-to-end encrypted and never passes the service.
    Transfer {
        /// The entry.
        entry: EntryId,
        /// The caller's call (`None` for a placed callback handed on by a transfer).
        call: Option<CallId>,
        /// The caller (to address the control message).
        caller: CallerKey,
        /// The dispatcher taking over.
        dispatcher: Npub,
    },
    /// The dispatcher calls the caller back (a callback entry was assigned).
    PlaceCallback {
        /// The entry.
        entry: EntryId,
        /// Who to call.
        caller: CallerKey,
        /// Who calls.
        dispatcher: Npub,
    },
    /// Put the call on hold or take it off.
    Hold {
        /// The entry.
        entry: EntryId,
        /// On or off.
        on: bool,
    },
    /// Overflow: end the live call, telling the caller they will be called back; the
    /// entry stays in the queue as a callback entry, in its place.
    ConvertedToCallback {
        /// The entry.
        entry: EntryId,
        /// The live call to end.
        call: CallId,
    },
    /// Overflow: send the caller to voicemail (recording is the driver's job).
    TakeVoicemail {
        /// The entry (already out of the queue).
        entry: EntryId,
        /// The live call.
        call: Option<CallId>,
        /// The opaque caller id the message is filed under.
        caller_id: CallerId,
    },
    /// The core changed a dispatcher's presence (wrap-up began or ended, auto-away).
    PresenceChanged {
        /// The dispatcher.
        dispatcher: Npub,
        /// The new presence.
        presence: Presence,
    },
    /// The entry left the queue.
    Ended {
        /// The entry.
        entry: EntryId,
        /// Why.
        reason: EndReason,
    },
    /// An entry survived a restart (see [`RestoreAction`]).
    Restored {
        /// The entry.
        entry: EntryId,
        /// What to do.
        action: RestoreAction,
    },
}

/// An input that does not fit the core's state. The state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HotlineError {
    /// The npub is not an enrolled dispatcher.
    #[error("not an enrolled dispatcher")]
    UnknownDispatcher,
    /// No such entry (ended or never existed).
    #[error("unknown queue entry {0}")]
    UnknownEntry(EntryId),
    /// A live call with this id is already queued.
    #[error("this call is already queued")]
    DuplicateCall,
    /// The entry is not ringing at this dispatcher.
    #[error("the entry is not offered to this dispatcher")]
    NotOffered,
    /// The entry is not assigned to this dispatcher.
    #[error("the entry is not assigned to this dispatcher")]
    NotAssigned,
    /// The target dispatcher cannot take a call now.
    #[error("the dispatcher is not available")]
    NotAvailable,
    /// The dispatcher is on a call and cannot change presence that way.
    #[error("the dispatcher is on a call")]
    OnCall,
    /// Wrap-up is entered by ending a call, not set by hand.
    #[error("wrap-up cannot be set directly")]
    WrapUpIsAutomatic,
    /// A note longer than [`MAX_NOTE_CHARS`].
    #[error("note too long")]
    NoteTooLong,
    /// A call id that is empty or longer than [`MAX_CALL_ID_CHARS`].
    #[error("malformed call id")]
    BadCallId,
    /// A wrap-up time beyond [`MAX_WRAP_UP`].
    #[error("wrap-up time too long")]
    WrapUpTooLong,
}

/// Notes are short operator text, not a document store.
pub const MAX_NOTE_CHARS: usize = 2000;
/// Call ids are UUIDs or similar; the bound keeps a hostile caller from storing a blob.
pub const MAX_CALL_ID_CHARS: usize = 128;
/// The longest wrap-up a dispatcher may set (as `hotline.toml` allows).
pub const MAX_WRAP_UP: Duration = Duration::from_secs(3600);
