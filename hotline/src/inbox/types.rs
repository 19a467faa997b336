//! The inbox's vocabulary: conversations, their messages and status, settings, errors and
//! the events the service hands to dispatcher consoles.

use std::fmt;

use crate::core::Strategy;
use crate::ids::{CallerId, CallerKey, Npub};

/// Longest internal note, in characters (as long as a chat message may be).
pub const MAX_INBOX_NOTE_CHARS: usize = phantomcall_schemas::MAX_CHAT_LEN;
/// Longest reply, in characters: what a NIP-17 chat message may carry.
pub const MAX_REPLY_CHARS: usize = phantomcall_schemas::MAX_CHAT_LEN;

/// A conversation's number on this hotline: increasing, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConversationId(pub u64);

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conv-{}", self.0)
    }
}

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The sender waits for the hotline (new, or the sender wrote last).
    Open,
    /// The hotline answered and waits for the sender.
    Pending,
    /// Done; the sender's next message opens a new conversation.
    Closed,
}

impl Status {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Closed => "closed",
        }
    }

    /// From the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(Status::Open),
            "pending" => Some(Status::Pending),
            "closed" => Some(Status::Closed),
            _ => None,
        }
    }
}

/// What one line of a conversation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// Written by the sender (the NIP-17 rumor id, hex, keeps a replayed wrap out).
    FromSender {
        /// The rumor's id.
        rumor_id: String,
    },
    /// A reply sent to the sender from the hotline's identity.
    Reply {
        /// Who wrote it.
        dispatcher: Npub,
    },
    /// An internal note: dispatchers only, never sent.
    Note {
        /// Who wrote it.
        dispatcher: Npub,
    },
    /// The conversation moved to another dispatcher (internal, never sent).
    HandOver {
        /// Who had it.
        from: Npub,
        /// Who has it now.
        to: Npub,
    },
    /// A reply did not reach the sender (an SMS the provider or carrier failed to
    /// deliver): the text says why. Internal, never sent.
    Undelivered,
}

impl MessageKind {
    /// True for what only dispatchers ever see (notes, hand-overs).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            MessageKind::Note { .. } | MessageKind::HandOver { .. } | MessageKind::Undelivered
        )
    }
}

/// One line of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// When (Unix milliseconds).
    pub at_ms: u64,
    /// What it is.
    pub kind: MessageKind,
    /// The text (empty for a hand-over without a comment).
    pub text: String,
}

/// A conversation as the core keeps it. The sender's key is kept to address replies and
/// has no revealing `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Its number.
    pub id: ConversationId,
    /// The sender's opaque per-hotline id.
    pub caller: CallerId,
    /// The sender's key, for replies only.
    pub caller_key: CallerKey,
    /// Where it stands.
    pub status: Status,
    /// The dispatcher handling it; `None` while no one is available.
    pub assigned: Option<Npub>,
    /// When it was opened (Unix ms).
    pub opened_ms: u64,
    /// Last change (Unix ms).
    pub updated_ms: u64,
    /// Its lines, oldest first.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// The id of the sender's last message, what a reply's `e` tag names.
    pub fn last_sender_rumor(&self) -> Option<&str> {
        self.messages.iter().rev().find_map(|m| match &m.kind {
            MessageKind::FromSender { rumor_id } => Some(rumor_id.as_str()),
            _ => None,
        })
    }
}

/// Settings of the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxConfig {
    /// How a new conversation picks its dispatcher (ring-all has no meaning for a message
    /// and is treated as fewest-open).
    pub strategy: Strategy,
    /// Most conversations (open or pending) one dispatcher is given at once.
    pub max_per_dispatcher: usize,
    /// Most open or pending conversations in all; past it new senders are refused (a
    /// flood of throwaway keys must not grow memory and disk without limit).
    pub max_active: usize,
    /// Whether dispatchers see senders' npubs (off by default: only the opaque id).
    pub show_sender_npub: bool,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::LongestIdle,
            max_per_dispatcher: 20,
            max_active: 10_000,
            show_sender_npub: false,
        }
    }
}

/// Why the inbox refused an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxError {
    /// The npub is not an enrolled dispatcher.
    #[error("not an enrolled dispatcher")]
    NotEnrolled,
    /// No such active conversation (unknown, or closed).
    #[error("no active conversation {0}")]
    UnknownConversation(ConversationId),
    /// Only the dispatcher the conversation is assigned to may do this.
    #[error("the conversation is not assigned to this dispatcher")]
    NotAssigned,
    /// Hand-over to the dispatcher who already has it.
    #[error("the conversation is already with this dispatcher")]
    SameDispatcher,
    /// Empty text where some is needed.
    #[error("empty text")]
    Empty,
    /// Text over its limit.
    #[error("text longer than {0} characters")]
    TooLong(usize),
    /// Too many active conversations (see [`InboxConfig::max_active`]).
    #[error("inbox full")]
    Full,
}

/// What the inbox tells dispatcher consoles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxEvent {
    /// A sender's message arrived in a conversation (new or not).
    SenderMessage {
        /// Which conversation.
        conversation: ConversationId,
        /// Who has it, if anyone yet.
        dispatcher: Option<Npub>,
    },
    /// A conversation was given to a dispatcher (new, after a hand-over, or once someone
    /// became available).
    Assigned {
        /// Which conversation.
        conversation: ConversationId,
        /// To whom.
        dispatcher: Npub,
    },
    /// A sender asked to receive no more broadcasts.
    OptedOut {
        /// Who (opaque id).
        caller: CallerId,
    },
    /// A sender asked for broadcasts again.
    OptedIn {
        /// Who (opaque id).
        caller: CallerId,
    },
    /// A reply in a conversation was not delivered (the conversation says why).
    Undelivered {
        /// Which conversation.
        conversation: ConversationId,
        /// Who has it, if anyone.
        dispatcher: Option<Npub>,
    },
}

/// A reply the service must send: from the hotline's identity to the sender.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingReply {
    /// The conversation it belongs to.
    pub conversation: ConversationId,
    /// The sender to address.
    pub to: CallerKey,
    /// The text.
    pub text: String,
    /// The sender's message it answers (rumor id, hex).
    pub reply_to: Option<String>,
}

impl fmt::Debug for OutgoingReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingReply")
            .field("conversation", &self.conversation)
            .field("to", &self.to)
            .field("chars", &self.text.chars().count())
            .finish()
    }
}

/// A conversation as a dispatcher sees it: the sender by opaque id, their npub only when
/// the operator allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationView {
    /// Its number.
    pub id: ConversationId,
    /// The sender's opaque id.
    pub caller: CallerId,
    /// The sender's npub, only with [`InboxConfig::show_sender_npub`].
    pub caller_npub: Option<Npub>,
    /// Where it stands.
    pub status: Status,
    /// Who has it.
    pub assigned: Option<Npub>,
    /// Its lines, internal ones included.
    pub messages: Vec<Message>,
}
