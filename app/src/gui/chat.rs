//! Messages in the [`Controller`]: a conversation opens, our messages go out (or wait,
//! or fail and can go again), contacts' messages come in, and the conversations are saved
//! sealed after every change (off the UI thread).

use nostr_signal::VerifiedChat;
use phantomcall_schemas::ChatMessage;

use super::calllog::unix_now;
use super::controller::Controller;
use super::messages::{room_of, Arrived, Delivery, MAX_TEXT_BYTES};
use super::state::{Net, Tab};

/// Most people a message goes to: NIP-17 rooms are named by `p` tags, and the schema
/// allows 32 tags, one of them a possible reply.
pub const MAX_RECEIVERS: usize = 30;

impl Controller {
    /// Shows the conversation with `members` (hex keys; us left out), started if new.
    pub(super) fn open_conversation(&mut self, members: Vec<String>) {
        let Some(me) = self
            .state
            .identity
            .as_ref()
            .map(|i| i.public_key().to_hex())
        else {
            return;
        };
        let members = room_of(members.iter().map(String::as_str), &me);
        if members.is_empty() {
            return;
        }
        if members.len() > MAX_RECEIVERS {
            self.state.error = Some(format!(
                "a message goes to at most {MAX_RECEIVERS} people; for more, send a broadcast \
                 from a hotline"
            ));
            return;
        }
        self.state.messages.open_with(members);
        self.state.tab = Tab::Messages;
        self.save_messages();
    }

    /// Sends `text` to `members`; kept in the conversation whatever happens, so nothing
    /// the user wrote is lost (a message that cannot go now says why and can go again).
    pub(super) fn send_message(&mut self, members: Vec<String>, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if text.len() > MAX_TEXT_BYTES {
            self.state.error = Some(format!(
                "this message is too long ({} KB): at most {} KB",
                text.len().div_ceil(1024),
                MAX_TEXT_BYTES / 1024
            ));
            return;
        }
        let local_id = self
            .state
            .messages
            .outgoing(members.clone(), text, unix_now());
        self.send_chat(local_id, members, text.to_owned());
    }

    /// Sends our message `local_id` again.
    pub(super) fn retry_message(&mut self, local_id: u64) {
        if let Some((members, text)) = self.state.messages.retry(local_id) {
            self.send_chat(local_id, members, text);
        }
    }

    fn send_chat(&mut self, local_id: u64, members: Vec<String>, text: String) {
        let Net::Online(online) = &self.state.net else {
            let why = "not sent: not connected (relays or Bluetooth); send it again once online";
            self.state
                .messages
                .sent(local_id, None, Delivery::Failed(why.into()));
            self.save_messages();
            return;
        };
        let names = members
            .iter()
            .map(|hex| self.display_name_hex(hex))
            .collect();
        let chat = ChatMessage::new(members, text);
        self.backend
            .send_chat(online.transport.clone(), local_id, chat, names);
        self.save_messages();
    }

    /// A message that passed the verifier: shown when a contact wrote it (or one of our
    /// own devices), counted otherwise.
    pub(super) fn on_chat(&mut self, chat: VerifiedChat) {
        let Some(me) = self.state.identity.as_ref().map(|i| i.public_key()) else {
            return;
        };
        let contacts = &self.state.contacts;
        let arrived = Arrived {
            sender: chat.sender,
            receivers: &chat.chat.receivers,
            text: &chat.chat.text,
            rumor_id: chat.rumor_id.to_hex(),
            at: chat.created_at.as_secs(),
            via: chat.via,
        };
        let showing = self.state.tab == Tab::Messages;
        let strangers = self.state.messages.from_strangers;
        let added =
            self.state
                .messages
                .received(arrived, &me, |k| contacts.find(k).is_some(), showing);
        if added || self.state.messages.from_strangers != strangers {
            self.save_messages();
        }
    }

    /// What became of sending our message `local_id`.
    pub(super) fn on_chat_sent(
        &mut self,
        local_id: u64,
        rumor_id: Option<String>,
        delivery: Delivery,
    ) {
        self.state.messages.sent(local_id, rumor_id, delivery);
        self.save_messages();
    }

    /// A contact's name, or a short npub, for a hex key.
    pub(super) fn display_name_hex(&self, hex: &str) -> String {
        match nostr_signal::PublicKey::from_hex(hex) {
            Ok(key) => self.state.contacts.display_name(&key),
            Err(_) => hex.chars().take(12).collect(),
        }
    }

    pub(super) fn save_messages(&mut self) {
        if let Some(writer) = &mut self.message_writer {
            writer.save_bytes(self.state.messages.to_bytes());
        }
    }
}
