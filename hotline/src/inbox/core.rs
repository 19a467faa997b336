//! The sans-IO inbox: conversations keyed by the sender's opaque id, assignment, replies,
//! notes, hand-overs, status and opt-outs. Time comes in as Unix milliseconds; nothing
//! here touches a network or a disk. Every change is recorded for the store
//! ([`InboxCore::take_changes`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::assign::{pick, InboxDispatcher};
use super::command::{parse_command, SenderCommand};
use super::types::*;
use crate::ids::{CallerId, CallerIdKey, CallerKey, Npub};

/// One stored line of a conversation (see [`InboxChanges::messages`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The conversation.
    pub conversation: ConversationId,
    /// The line.
    pub message: Message,
}

/// What changed since the last [`InboxCore::take_changes`], for the store.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InboxChanges {
    /// Conversation headers to write (messages excluded).
    pub conversations: Vec<Conversation>,
    /// New lines, in order.
    pub messages: Vec<MessageRecord>,
    /// Opt-out changes: `true` opted out, `false` opted back in.
    pub opt_outs: Vec<(CallerId, bool)>,
    /// Dispatcher state to write.
    pub dispatchers: Vec<InboxDispatcher>,
    /// Round-robin memory, when it moved.
    pub cursor: Option<usize>,
}

impl InboxChanges {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty()
            && self.messages.is_empty()
            && self.opt_outs.is_empty()
            && self.dispatchers.is_empty()
            && self.cursor.is_none()
    }
}

/// What the store gives back to rebuild a core after a restart.
#[derive(Debug, Default, Clone)]
pub struct InboxSnapshot {
    /// Open and pending conversations, with their lines.
    pub conversations: Vec<Conversation>,
    /// Opted-out senders.
    pub opted_out: Vec<CallerId>,
    /// Stored dispatcher state (enrolment comes from the configuration).
    pub dispatchers: Vec<InboxDispatcher>,
    /// Round-robin memory.
    pub cursor: Option<usize>,
    /// The highest conversation number ever given.
    pub last_conversation: u64,
}

#[derive(Default)]
struct Dirty {
    conversations: BTreeSet<ConversationId>,
    closed: Vec<Conversation>,
    messages: Vec<MessageRecord>,
    opt_outs: Vec<(CallerId, bool)>,
    dispatchers: BTreeSet<usize>,
    cursor: bool,
}

/// The messaging inbox without I/O.
pub struct InboxCore {
    config: InboxConfig,
    key: CallerIdKey,
    roster: Vec<InboxDispatcher>,
    by_npub: HashMap<Npub, usize>,
    cursor: Option<usize>,
    /// Open and pending conversations; closed ones live in the store only.
    active: BTreeMap<ConversationId, Conversation>,
    by_caller: HashMap<CallerId, ConversationId>,
    opted_out: HashSet<CallerId>,
    last_id: u64,
    dirty: Dirty,
}

impl InboxCore {
    /// A fresh inbox for the enrolled `dispatchers` (enrolment order), none available yet.
    pub fn new(config: InboxConfig, dispatchers: &[Npub], key: CallerIdKey) -> Self {
        Self::restore(config, dispatchers, key, InboxSnapshot::default())
    }

    /// An inbox rebuilt from `snapshot`. Enrolment is the configuration's: stored state
    /// of dispatchers no longer enrolled is dropped, their conversations wait for
    /// someone else.
    pub fn restore(
        config: InboxConfig,
        dispatchers: &[Npub],
        key: CallerIdKey,
        snapshot: InboxSnapshot,
    ) -> Self {
        let roster: Vec<InboxDispatcher> = dispatchers
            .iter()
            .map(|npub| {
                let stored = snapshot.dispatchers.iter().find(|d| d.npub == *npub);
                InboxDispatcher {
                    npub: *npub,
                    available: stored.is_some_and(|d| d.available),
                    last_assigned_ms: stored.and_then(|d| d.last_assigned_ms),
                    active: 0,
                }
            })
            .collect();
        let by_npub = roster
            .iter()
            .enumerate()
            .map(|(i, d)| (d.npub, i))
            .collect();
        let mut core = Self {
            config,
            key,
            roster,
            by_npub,
            cursor: snapshot.cursor,
            active: BTreeMap::new(),
            by_caller: HashMap::new(),
            opted_out: snapshot.opted_out.into_iter().collect(),
            last_id: snapshot.last_conversation,
            dirty: Dirty::default(),
        };
        for mut conv in snapshot.conversations {
            if conv.status == Status::Closed {
                continue;
            }
            core.last_id = core.last_id.max(conv.id.0);
            match conv.assigned.and_then(|d| core.by_npub.get(&d).copied()) {
                Some(i) => core.roster[i].active += 1,
                None => conv.assigned = None,
            }
            core.by_caller.insert(conv.caller, conv.id);
            core.active.insert(conv.id, conv);
        }
        core
    }

    /// The opaque id of `sender` on this hotline.
    pub fn caller_id(&self, sender: &Npub) -> CallerId {
        self.key.caller_id(sender)
    }

    /// Whether `sender` asked for no more broadcasts.
    pub fn is_opted_out(&self, sender: &Npub) -> bool {
        self.opted_out.contains(&self.caller_id(sender))
    }

    /// A sender's message (already verified: signature, seal, schema, replay). Opens a
    /// conversation when they have no active one, and assigns it if anyone has room.
    pub fn sender_message(
        &mut self,
        sender: Npub,
        rumor_id: String,
        text: String,
        now_ms: u64,
    ) -> Result<Vec<InboxEvent>, InboxError> {
        let caller = self.caller_id(&sender);
        let mut events = Vec::new();
        match parse_command(&text) {
            Some(SenderCommand::Stop) if self.opted_out.insert(caller) => {
                self.dirty.opt_outs.push((caller, true));
                events.push(InboxEvent::OptedOut { caller });
            }
            Some(SenderCommand::Start) if self.opted_out.remove(&caller) => {
                self.dirty.opt_outs.push((caller, false));
                events.push(InboxEvent::OptedIn { caller });
            }
            _ => {}
        }
        let id = match self.by_caller.get(&caller) {
            Some(id) => *id,
            None => {
                if self.active.len() >= self.config.max_active {
                    // The opt-out above still counts: it must not depend on room.
                    return if events.is_empty() {
                        Err(InboxError::Full)
                    } else {
                        Ok(events)
                    };
                }
                self.last_id += 1;
                let id = ConversationId(self.last_id);
                self.active.insert(
                    id,
                    Conversation {
                        id,
                        caller,
                        caller_key: CallerKey::new(sender),
                        status: Status::Open,
                        assigned: None,
                        opened_ms: now_ms,
                        updated_ms: now_ms,
                        messages: Vec::new(),
                    },
                );
                self.by_caller.insert(caller, id);
                id
            }
        };
        self.push(id, MessageKind::FromSender { rumor_id }, text, now_ms);
        if let Some(conv) = self.active.get_mut(&id) {
            conv.status = Status::Open;
        }
        if self.active.get(&id).is_some_and(|c| c.assigned.is_none()) {
            self.assign(id, now_ms, &mut events);
        }
        let dispatcher = self.active.get(&id).and_then(|c| c.assigned);
        events.insert(
            0,
            InboxEvent::SenderMessage {
                conversation: id,
                dispatcher,
            },
        );
        Ok(events)
    }

    /// The assigned dispatcher answers: the reply is recorded and handed back for the
    /// service to send from the hotline's identity. The conversation becomes pending.
    pub fn reply(
        &mut self,
        dispatcher: &Npub,
        id: ConversationId,
        text: String,
        now_ms: u64,
    ) -> Result<OutgoingReply, InboxError> {
        check_text(&text, MAX_REPLY_CHARS)?;
        let conv = self.assigned_conversation(dispatcher, id)?;
        let out = OutgoingReply {
            conversation: id,
            to: conv.caller_key,
            text: text.clone(),
            reply_to: conv.last_sender_rumor().map(str::to_owned),
        };
        self.push(
            id,
            MessageKind::Reply {
                dispatcher: *dispatcher,
            },
            text,
            now_ms,
        );
        self.set_status_of(id, Status::Pending, now_ms);
        Ok(out)
    }

    /// A reply to `sender` was not delivered (their SMS gateway says so): the active
    /// conversation shows "SMS not delivered: <reason>" to whoever has it. Nothing is
    /// opened for a sender without an active conversation (the report is stale).
    pub fn undelivered(
        &mut self,
        sender: &Npub,
        reason: &str,
        now_ms: u64,
    ) -> Result<Option<InboxEvent>, InboxError> {
        let caller = self.caller_id(sender);
        let Some(&id) = self.by_caller.get(&caller) else {
            return Ok(None);
        };
        let text = format!("SMS not delivered: {reason}");
        check_text(&text, MAX_INBOX_NOTE_CHARS)?;
        self.push(id, MessageKind::Undelivered, text, now_ms);
        let dispatcher = self.active.get(&id).and_then(|c| c.assigned);
        Ok(Some(InboxEvent::Undelivered {
            conversation: id,
            dispatcher,
        }))
    }

    /// An internal note by any enrolled dispatcher: stored, never sent.
    pub fn note(
        &mut self,
        dispatcher: &Npub,
        id: ConversationId,
        text: String,
        now_ms: u64,
    ) -> Result<(), InboxError> {
        self.enrolled(dispatcher)?;
        check_text(&text, MAX_INBOX_NOTE_CHARS)?;
        if !self.active.contains_key(&id) {
            return Err(InboxError::UnknownConversation(id));
        }
        self.push(
            id,
            MessageKind::Note {
                dispatcher: *dispatcher,
            },
            text,
            now_ms,
        );
        Ok(())
    }

    /// The assigned dispatcher hands the conversation to another enrolled one (whether
    /// available or not: a hand-over names a colleague on purpose).
    pub fn hand_over(
        &mut self,
        from: &Npub,
        id: ConversationId,
        to: &Npub,
        comment: String,
        now_ms: u64,
    ) -> Result<InboxEvent, InboxError> {
        let j = self.enrolled(to)?;
        check_text(&comment, MAX_INBOX_NOTE_CHARS).or_else(|e| match e {
            InboxError::Empty => Ok(()),
            e => Err(e),
        })?;
        self.assigned_conversation(from, id)?;
        if from == to {
            return Err(InboxError::SameDispatcher);
        }
        let i = self.enrolled(from)?;
        self.roster[i].active = self.roster[i].active.saturating_sub(1);
        self.roster[j].active += 1;
        self.dirty.dispatchers.extend([i, j]);
        if let Some(conv) = self.active.get_mut(&id) {
            conv.assigned = Some(*to);
        }
        self.push(
            id,
            MessageKind::HandOver {
                from: *from,
                to: *to,
            },
            comment,
            now_ms,
        );
        Ok(InboxEvent::Assigned {
            conversation: id,
            dispatcher: *to,
        })
    }

    /// The assigned dispatcher sets the status. Closing frees their slot: waiting
    /// conversations may be assigned (returned).
    pub fn set_status(
        &mut self,
        dispatcher: &Npub,
        id: ConversationId,
        status: Status,
        now_ms: u64,
    ) -> Result<Vec<InboxEvent>, InboxError> {
        self.assigned_conversation(dispatcher, id)?;
        self.set_status_of(id, status, now_ms);
        let mut events = Vec::new();
        if status == Status::Closed {
            self.assign_waiting(now_ms, &mut events);
        }
        Ok(events)
    }

    /// A dispatcher starts or stops taking new conversations. Becoming available picks
    /// up conversations nobody has yet (returned).
    pub fn set_available(
        &mut self,
        dispatcher: &Npub,
        available: bool,
        now_ms: u64,
    ) -> Result<Vec<InboxEvent>, InboxError> {
        let i = self.enrolled(dispatcher)?;
        self.roster[i].available = available;
        self.dirty.dispatchers.insert(i);
        let mut events = Vec::new();
        if available {
            self.assign_waiting(now_ms, &mut events);
        }
        Ok(events)
    }

    /// The conversation as `dispatcher` sees it (any enrolled dispatcher may look).
    pub fn view(
        &self,
        dispatcher: &Npub,
        id: ConversationId,
    ) -> Result<ConversationView, InboxError> {
        self.enrolled(dispatcher)?;
        let conv = self
            .active
            .get(&id)
            .ok_or(InboxError::UnknownConversation(id))?;
        Ok(self.view_of(conv))
    }

    /// Assigns conversations nobody has yet, while anyone available has room (after a
    /// restore: a dispatcher left the enrolment, or nobody was available before).
    pub fn assign_unassigned(&mut self, now_ms: u64) -> Vec<InboxEvent> {
        let mut events = Vec::new();
        self.assign_waiting(now_ms, &mut events);
        events
    }

    /// The active conversations assigned to `dispatcher`, oldest first.
    pub fn assigned_to(&self, dispatcher: &Npub) -> Result<Vec<ConversationView>, InboxError> {
        self.enrolled(dispatcher)?;
        Ok(self
            .active
            .values()
            .filter(|c| c.assigned.as_ref() == Some(dispatcher))
            .map(|c| self.view_of(c))
            .collect())
    }

    /// Active conversations nobody has yet, oldest first.
    pub fn unassigned(&self) -> Vec<ConversationId> {
        self.active
            .values()
            .filter(|c| c.assigned.is_none())
            .map(|c| c.id)
            .collect()
    }

    /// Number of open and pending conversations.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    /// Everything changed since the last call, for the store.
    pub fn take_changes(&mut self) -> InboxChanges {
        let dirty = std::mem::take(&mut self.dirty);
        let mut conversations = dirty.closed;
        conversations.extend(
            dirty
                .conversations
                .iter()
                .filter_map(|id| self.active.get(id))
                .map(|c| Conversation {
                    messages: Vec::new(),
                    ..c.clone()
                }),
        );
        InboxChanges {
            conversations,
            messages: dirty.messages,
            opt_outs: dirty.opt_outs,
            dispatchers: dirty
                .dispatchers
                .iter()
                .map(|&i| self.roster[i].clone())
                .collect(),
            cursor: if dirty.cursor { self.cursor } else { None },
        }
    }

    fn view_of(&self, conv: &Conversation) -> ConversationView {
        ConversationView {
            id: conv.id,
            caller: conv.caller,
            caller_npub: self.config.show_sender_npub.then(|| conv.caller_key.npub()),
            status: conv.status,
            assigned: conv.assigned,
            messages: conv.messages.clone(),
        }
    }

    fn enrolled(&self, npub: &Npub) -> Result<usize, InboxError> {
        self.by_npub
            .get(npub)
            .copied()
            .ok_or(InboxError::NotEnrolled)
    }

    fn assigned_conversation(
        &self,
        dispatcher: &Npub,
        id: ConversationId,
    ) -> Result<&Conversation, InboxError> {
        self.enrolled(dispatcher)?;
        let conv = self
            .active
            .get(&id)
            .ok_or(InboxError::UnknownConversation(id))?;
        if conv.assigned.as_ref() != Some(dispatcher) {
            return Err(InboxError::NotAssigned);
        }
        Ok(conv)
    }

    fn push(&mut self, id: ConversationId, kind: MessageKind, text: String, now_ms: u64) {
        let Some(conv) = self.active.get_mut(&id) else {
            return;
        };
        let message = Message {
            at_ms: now_ms,
            kind,
            text,
        };
        conv.messages.push(message.clone());
        conv.updated_ms = now_ms;
        self.dirty.conversations.insert(id);
        self.dirty.messages.push(MessageRecord {
            conversation: id,
            message,
        });
    }

    fn set_status_of(&mut self, id: ConversationId, status: Status, now_ms: u64) {
        let Some(conv) = self.active.get_mut(&id) else {
            return;
        };
        conv.status = status;
        conv.updated_ms = now_ms;
        if status != Status::Closed {
            self.dirty.conversations.insert(id);
            return;
        }
        let Some(conv) = self.active.remove(&id) else {
            return;
        };
        self.by_caller.remove(&conv.caller);
        self.dirty.conversations.remove(&id);
        if let Some(i) = conv.assigned.and_then(|d| self.by_npub.get(&d).copied()) {
            self.roster[i].active = self.roster[i].active.saturating_sub(1);
            self.dirty.dispatchers.insert(i);
        }
        self.dirty.closed.push(Conversation {
            messages: Vec::new(),
            ..conv
        });
    }

    fn assign(&mut self, id: ConversationId, now_ms: u64, events: &mut Vec<InboxEvent>) -> bool {
        let Some(i) = pick(
            self.config.strategy,
            &self.roster,
            self.config.max_per_dispatcher,
            self.cursor,
        ) else {
            return false;
        };
        let d = &mut self.roster[i];
        d.active += 1;
        d.last_assigned_ms = Some(now_ms);
        let npub = d.npub;
        self.cursor = Some(i);
        self.dirty.cursor = true;
        self.dirty.dispatchers.insert(i);
        if let Some(conv) = self.active.get_mut(&id) {
            conv.assigned = Some(npub);
            self.dirty.conversations.insert(id);
        }
        events.push(InboxEvent::Assigned {
            conversation: id,
            dispatcher: npub,
        });
        true
    }

    fn assign_waiting(&mut self, now_ms: u64, events: &mut Vec<InboxEvent>) {
        for id in self.unassigned() {
            if !self.assign(id, now_ms, events) {
                break;
            }
        }
    }
}

fn check_text(text: &str, max: usize) -> Result<(), InboxError> {
    if text.trim().is_empty() {
        return Err(InboxError::Empty);
    }
    if text.chars().count() > max {
        return Err(InboxError::TooLong(max));
    }
    Ok(())
}
