//! Messages: NIP-17 conversations with contacts, one person or a group, over the same
//! paths as calls (relays, Bluetooth LE beside them or alone). Plain data here; the
//! backend sends and receives ([`super::backend`]), the screen draws
//! ([`super::screens::messages`]), and the conversations are sealed at rest like the call
//! log (`messages.enc`, [`super::logstore`]).
//!
//! A conversation is the set of people in it other than us, as NIP-17 defines a chat room
//! (the sender and the `p` tags). Only contacts' messages are shown: a stranger's are
//! counted and said, never silently dropped and never shown (no spam, no unknown links).

use std::collections::BTreeSet;

use anyhow::Result;
use nostr_signal::{Accepted, LinkKind, PublicKey, SignalError, Via};
use serde::{Deserialize, Serialize};

/// Messages kept per conversation; the oldest go first.
pub const MAX_PER_CONVERSATION: usize = 2_000;
/// Longest message the composer sends (NIP-17 has no limit; relays do, around 64 KiB).
pub const MAX_TEXT_BYTES: usize = 8 * 1024;

/// Where one message stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// Being handed to the relays or the radio.
    Sending,
    /// Taken by a relay or a device in range (for every receiver).
    Sent {
        /// The path that took it ("via relays", "via Bluetooth").
        via: String,
    },
    /// No relay took it; it waits in the Bluetooth mesh until a device in range carries it.
    Waiting,
    /// Not sent; the words say why. The user can send it again.
    Failed(String),
    /// Someone else's message.
    Received {
        /// The path it came over ("via Bluetooth, 2 hops").
        via: String,
    },
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatEntry {
    /// The rumor's id (hex) once known; de-duplicates a message that comes twice.
    pub rumor_id: Option<String>,
    /// Our own number for a message we send, until the rumor id is known.
    pub local_id: Option<u64>,
    /// Who wrote it (hex); `None`: we did.
    pub from: Option<String>,
    /// The text.
    pub text: String,
    /// When it was written, Unix seconds.
    pub at: u64,
    /// Where it stands.
    pub delivery: Delivery,
}

/// A conversation: the people in it (other than us) and its messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Hex keys of the others, sorted.
    pub members: Vec<String>,
    /// Oldest first.
    pub messages: Vec<ChatEntry>,
    /// Messages received since the conversation was last open.
    pub unread: usize,
}

impl Conversation {
    /// The others' keys.
    pub fn member_keys(&self) -> Vec<PublicKey> {
        self.members
            .iter()
            .filter_map(|hex| PublicKey::from_hex(hex).ok())
            .collect()
    }

    /// When the newest message was written.
    pub fn last_at(&self) -> u64 {
        self.messages.last().map_or(0, |m| m.at)
    }
}

/// A message that arrived, already verified by the hub.
pub struct Arrived<'a> {
    /// Who wrote it.
    pub sender: PublicKey,
    /// Its receivers (hex, from the `p` tags).
    pub receivers: &'a [String],
    /// The text.
    pub text: &'a str,
    /// The rumor's id (hex).
    pub rumor_id: String,
    /// When it was written.
    pub at: u64,
    /// The path it came over.
    pub via: Via,
}

/// Every conversation of the identity.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Messages {
    conversations: Vec<Conversation>,
    /// Messages from people not in the contacts, not shown.
    #[serde(default)]
    pub from_strangers: u64,
    next_local_id: u64,
    /// The conversation on screen (its members), if any.
    #[serde(skip)]
    pub open: Option<Vec<String>>,
}

/// The members of a conversation: everyone in `people` but `me`, sorted, each once.
pub fn room_of<'a>(people: impl IntoIterator<Item = &'a str>, me: &str) -> Vec<String> {
    people
        .into_iter()
        .filter(|p| *p != me)
        .map(str::to_owned)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl Messages {
    /// Conversations from the decrypted file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Messages> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The bytes to save (before encryption).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Conversations, the newest first.
    pub fn conversations(&self) -> Vec<&Conversation> {
        let mut all: Vec<&Conversation> = self.conversations.iter().collect();
        all.sort_by_key(|c| std::cmp::Reverse(c.last_at()));
        all
    }

    /// The conversation with exactly `members`.
    pub fn find(&self, members: &[String]) -> Option<&Conversation> {
        self.conversations.iter().find(|c| c.members == members)
    }

    /// Messages received and not yet seen, in all conversations.
    pub fn unread(&self) -> usize {
        self.conversations.iter().map(|c| c.unread).sum()
    }

    fn entry(&mut self, members: Vec<String>) -> &mut Conversation {
        let at = match self.conversations.iter().position(|c| c.members == members) {
            Some(at) => at,
            None => {
                self.conversations.push(Conversation {
                    members,
                    messages: Vec::new(),
                    unread: 0,
                });
                self.conversations.len() - 1
            }
        };
        &mut self.conversations[at]
    }

    /// The open conversation is on screen again: its messages are read.
    pub fn seen(&mut self) {
        if let Some(members) = self.open.clone() {
            self.entry(members).unread = 0;
        }
    }

    /// Opens the conversation with `members` (created empty if new) and marks it read.
    pub fn open_with(&mut self, members: Vec<String>) {
        self.entry(members.clone()).unread = 0;
        self.open = Some(members);
    }

    /// Our message to `members`, waiting to be sent; its local id for [`Messages::sent`].
    pub fn outgoing(&mut self, members: Vec<String>, text: &str, at: u64) -> u64 {
        self.next_local_id += 1;
        let local_id = self.next_local_id;
        push_bounded(
            self.entry(members),
            ChatEntry {
                rumor_id: None,
                local_id: Some(local_id),
                from: None,
                text: text.to_owned(),
                at,
                delivery: Delivery::Sending,
            },
        );
        local_id
    }

    /// Our message `local_id` to send again (after it failed): its members and text.
    pub fn retry(&mut self, local_id: u64) -> Option<(Vec<String>, String)> {
        for c in &mut self.conversations {
            if let Some(m) = c.messages.iter_mut().find(|m| m.local_id == Some(local_id)) {
                m.delivery = Delivery::Sending;
                return Some((c.members.clone(), m.text.clone()));
            }
        }
        None
    }

    /// What became of sending `local_id`.
    pub fn sent(&mut self, local_id: u64, rumor_id: Option<String>, delivery: Delivery) {
        for c in &mut self.conversations {
            if let Some(m) = c.messages.iter_mut().find(|m| m.local_id == Some(local_id)) {
                m.delivery = delivery;
                if rumor_id.is_some() {
                    m.rumor_id = rumor_id;
                }
                return;
            }
        }
    }

    /// A verified message that arrived. `is_contact` says whose messages are shown;
    /// `showing`, whether the open conversation is on screen (its messages are read at
    /// once). `true` when it was added (not a stranger's, not one we have).
    pub fn received(
        &mut self,
        arrived: Arrived<'_>,
        me: &PublicKey,
        is_contact: impl Fn(&PublicKey) -> bool,
        showing: bool,
    ) -> bool {
        let me_hex = me.to_hex();
        let sender_hex = arrived.sender.to_hex();
        let ours = arrived.sender == *me;
        if !ours && !is_contact(&arrived.sender) {
            self.from_strangers += 1;
            return false;
        }
        let people = arrived
            .receivers
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(sender_hex.as_str()));
        let members = room_of(people, &me_hex);
        if members.is_empty() {
            // A note to ourselves: not a conversation this app makes.
            return false;
        }
        let open = showing && self.open.as_ref() == Some(&members);
        let conversation = self.entry(members);
        if conversation
            .messages
            .iter()
            .any(|m| m.rumor_id.as_deref() == Some(arrived.rumor_id.as_str()))
        {
            return false;
        }
        let via = arrived.via.to_string();
        push_bounded(
            conversation,
            ChatEntry {
                rumor_id: Some(arrived.rumor_id),
                local_id: None,
                from: (!ours).then_some(sender_hex),
                text: arrived.text.to_owned(),
                at: arrived.at,
                // Our own message from another of our devices was sent by that device.
                delivery: if ours {
                    Delivery::Sent { via }
                } else {
                    Delivery::Received { via }
                },
            },
        );
        if !ours && !open {
            conversation.unread += 1;
        }
        true
    }
}

/// Appends `entry` in time order (a message carried over Bluetooth may arrive late),
/// dropping the oldest past the cap.
fn push_bounded(conversation: &mut Conversation, entry: ChatEntry) {
    let at = conversation
        .messages
        .iter()
        .rposition(|m| m.at <= entry.at)
        .map_or(0, |i| i + 1);
    conversation.messages.insert(at, entry);
    let extra = conversation
        .messages
        .len()
        .saturating_sub(MAX_PER_CONVERSATION);
    conversation.messages.drain(..extra);
}

/// The path that took a message, in the words the conversation shows.
pub fn via_text(accepted: &Accepted) -> String {
    match accepted {
        Accepted::Relay(_) => "via relays".into(),
        Accepted::Link(LinkKind::Ble) => "via Bluetooth".into(),
        Accepted::Link(kind) => format!("via {kind}"),
    }
}

/// What sending to every receiver came to: sent when all took it; waiting in the mesh
/// when some could not be reached and Bluetooth carries messages; failed otherwise.
pub fn delivery_of(
    results: &[Result<String, SignalError>],
    bluetooth: bool,
    names: impl Fn(usize) -> String,
) -> Delivery {
    let failed: Vec<(usize, &SignalError)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
        .collect();
    if failed.is_empty() {
        let mut via: Vec<&str> = results.iter().filter_map(|r| r.as_deref().ok()).collect();
        via.dedup();
        return Delivery::Sent {
            via: via.join(", "),
        };
    }
    // The Bluetooth link keeps what it could not hand over, for whoever comes in range.
    if bluetooth {
        return Delivery::Waiting;
    }
    let (first, error) = failed[0];
    let who = if results.len() == 1 {
        String::new()
    } else {
        format!(" to {}", names(first))
    };
    Delivery::Failed(format!("not sent{who}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_signal::Identity;

    fn key() -> PublicKey {
        Identity::generate().public_key()
    }

    fn arrived<'a>(sender: PublicKey, receivers: &'a [String], id: &str, at: u64) -> Arrived<'a> {
        Arrived {
            sender,
            receivers,
            text: "hello",
            rumor_id: id.into(),
            at,
            via: Via {
                link: LinkKind::Ble,
                hops: Some(2),
            },
        }
    }

    #[test]
    fn a_group_message_lands_in_the_room_of_everyone_but_us_once() {
        let (me, bob, carol) = (key(), key(), key());
        let receivers = vec![me.to_hex(), carol.to_hex()];
        let mut m = Messages::default();
        assert!(m.received(arrived(bob, &receivers, "r1", 10), &me, |_| true, true));
        // The same rumor over another path is not shown twice.
        assert!(!m.received(arrived(bob, &receivers, "r1", 10), &me, |_| true, true));
        let room = room_of([bob.to_hex().as_str(), carol.to_hex().as_str()], "");
        let c = m.find(&room).expect("one room for Bob and Carol");
        assert_eq!(c.messages.len(), 1);
        assert_eq!(c.messages[0].from, Some(bob.to_hex()));
        assert_eq!(
            c.messages[0].delivery,
            Delivery::Received {
                via: "via Bluetooth, 2 hops".into()
            }
        );
        assert_eq!(m.unread(), 1);
        m.open_with(room.clone());
        assert_eq!(m.unread(), 0);
        // While open, new messages are read at once.
        assert!(m.received(
            arrived(carol, &[me.to_hex(), bob.to_hex()], "r2", 11),
            &me,
            |_| true,
            true
        ));
        assert_eq!(m.unread(), 0);
        assert_eq!(m.find(&room).unwrap().messages.len(), 2);
    }

    #[test]
    fn strangers_messages_are_counted_not_shown() {
        let (me, stranger) = (key(), key());
        let mut m = Messages::default();
        let receivers = [me.to_hex()];
        assert!(!m.received(arrived(stranger, &receivers, "r", 1), &me, |_| false, true));
        assert_eq!((m.conversations().len(), m.from_strangers), (0, 1));
    }

    #[test]
    fn a_late_message_is_placed_by_its_time_and_the_oldest_go_past_the_cap() {
        let (me, bob) = (key(), key());
        let mut m = Messages::default();
        let room = vec![bob.to_hex()];
        for at in 0..MAX_PER_CONVERSATION as u64 {
            m.outgoing(room.clone(), "x", 100 + at);
        }
        // Carried over Bluetooth for a while: written before our newest.
        assert!(m.received(
            arrived(bob, &[me.to_hex()], "late", 150),
            &me,
            |_| true,
            true
        ));
        let c = m.find(&room).unwrap();
        assert_eq!(c.messages.len(), MAX_PER_CONVERSATION);
        assert_eq!(c.messages[0].at, 101, "the oldest went");
        let late = c
            .messages
            .iter()
            .position(|e| e.rumor_id.is_some())
            .unwrap();
        assert_eq!((c.messages[late - 1].at, c.messages[late].at), (150, 150));
    }

    #[test]
    fn sending_records_its_outcome_and_a_failed_message_can_go_again() {
        let bob = key();
        let mut m = Messages::default();
        let room = vec![bob.to_hex()];
        let id = m.outgoing(room.clone(), "are you there?", 5);
        m.sent(id, None, Delivery::Failed("not sent: no relay".into()));
        assert_eq!(m.retry(id), Some((room.clone(), "are you there?".into())));
        assert_eq!(
            m.find(&room).unwrap().messages[0].delivery,
            Delivery::Sending
        );
        m.sent(
            id,
            Some("abc".into()),
            Delivery::Sent {
                via: "via relays".into(),
            },
        );
        let saved = Messages::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(
            saved.find(&room).unwrap().messages[0].rumor_id.as_deref(),
            Some("abc")
        );
        // Local ids go on after a restart: a new message never takes an old one's.
        let mut saved = saved;
        assert_ne!(saved.outgoing(room, "again", 6), id);
    }

    #[test]
    fn delivery_says_sent_waiting_or_why_not() {
        let ok = |via: &str| Ok::<_, SignalError>(via.to_owned());
        let unreachable = || {
            Err(SignalError::Unreachable {
                link: LinkKind::Ble,
            })
        };
        assert_eq!(
            delivery_of(&[ok("via relays"), ok("via relays")], false, |_| {
                String::new()
            }),
            Delivery::Sent {
                via: "via relays".into()
            }
        );
        assert_eq!(
            delivery_of(
                &[ok("via Bluetooth"), unreachable()],
                true,
                |_| String::new()
            ),
            Delivery::Waiting
        );
        assert_eq!(
            delivery_of(&[ok("via relays"), Err(SignalError::NoLinks)], false, |i| {
                format!("member {i}")
            }),
            Delivery::Failed(
                "not sent to member 1: no signaling link is up: nothing was sent".into()
            )
        );
    }
}
