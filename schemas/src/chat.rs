//! Chat messages (NIP-17 kind 14): the second family of rumors PhantomCall reads, for the
//! messaging hotline and text next to calls. Validated against their own embedded schema
//! (`messaging/v1/chat.schema.json`), never against the call registry.

use std::sync::LazyLock;

use jsonschema::{Draft, PatternOptions, Validator};
use serde_json::{json, Value};

use crate::validate::invalid;
use crate::SchemaError;

/// The NIP-17 kind of a private direct message.
pub const CHAT_KIND: u16 = 14;
/// Longest chat text, in characters.
pub const MAX_CHAT_LEN: usize = 16_384;
/// Most receivers of one chat message (NIP-17 group chats name each in a `p` tag).
pub const MAX_CHAT_RECEIVERS: usize = 16;

const CHAT_SCHEMA: &str = include_str!("../messaging/v1/chat.schema.json");

static CHAT_VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(CHAT_SCHEMA).expect("embedded chat schema is JSON");
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_pattern_options(PatternOptions::regex())
        .offline()
        .build(&schema)
        .expect("chat schema compiles")
});

/// A NIP-17 direct message (kind 14 rumor), checked against its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// The receivers' public keys as lowercase hex, in tag order (at least one).
    pub receivers: Vec<String>,
    /// The text.
    pub text: String,
    /// The conversation title (`subject` tag), if any.
    pub subject: Option<String>,
    /// The id (hex) of the message this one replies to (`e` tag), if any.
    pub reply_to: Option<String>,
}

impl ChatMessage {
    /// A chat message with `text` to `receivers` (hex public keys).
    pub fn new(receivers: Vec<String>, text: impl Into<String>) -> Self {
        Self {
            receivers,
            text: text.into(),
            subject: None,
            reply_to: None,
        }
    }

    /// `(kind, tags, content)` of the rumor, as NIP-17 lays it out.
    pub fn to_parts(&self) -> (u16, Vec<Vec<String>>, String) {
        let mut tags: Vec<Vec<String>> = self
            .receivers
            .iter()
            .map(|p| vec!["p".to_owned(), p.clone()])
            .collect();
        if let Some(id) = &self.reply_to {
            tags.push(vec!["e".to_owned(), id.clone()]);
        }
        if let Some(subject) = &self.subject {
            tags.push(vec!["subject".to_owned(), subject.clone()]);
        }
        (CHAT_KIND, tags, self.text.clone())
    }

    /// Validate a kind 14 rumor and read it. Errors never contain the rumor's values.
    pub fn from_rumor_json(rumor: &Value) -> Result<ChatMessage, SchemaError> {
        let kind = rumor
            .get("kind")
            .and_then(Value::as_u64)
            .ok_or(SchemaError::MissingKind)?;
        if kind != u64::from(CHAT_KIND) {
            return Err(SchemaError::UnregisteredKind(kind));
        }
        if !CHAT_VALIDATOR.is_valid(rumor) {
            return Err(invalid(CHAT_KIND, CHAT_VALIDATOR.iter_errors(rumor), ""));
        }
        let unparsable = |field| SchemaError::Unparsable {
            kind: CHAT_KIND,
            field,
        };
        let tags = rumor["tags"].as_array().ok_or(unparsable("tags"))?;
        let named = |name: &'static str| {
            tags.iter()
                .filter_map(Value::as_array)
                .filter(move |t| t.first().and_then(Value::as_str) == Some(name))
                .filter_map(|t| t.get(1).and_then(Value::as_str).map(str::to_owned))
        };
        Ok(ChatMessage {
            receivers: named("p").collect(),
            text: rumor["content"]
                .as_str()
                .ok_or(unparsable("content"))?
                .to_owned(),
            subject: named("subject").next(),
            reply_to: named("e").next(),
        })
    }

    /// The rumor JSON for `author` at `created_at` (without id), for tests and tools.
    pub fn to_rumor_json(&self, author_hex: &str, created_at: u64) -> Value {
        let (kind, tags, content) = self.to_parts();
        json!({
            "pubkey": author_hex,
            "created_at": created_at,
            "kind": kind,
            "tags": tags,
            "content": content,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
    const BOB: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";

    /// Laid out by hand as the NIP-17 text shows it, with relay hints and a reply marker.
    fn nip17_example() -> Value {
        json!({
            "pubkey": ALICE,
            "created_at": 1_764_000_000u64,
            "kind": 14,
            "tags": [
                ["p", BOB, "wss://inbox.example"],
                ["e", "c".repeat(64), "wss://inbox.example", "reply"],
                ["subject", "shift handover"]
            ],
            "content": "Are you free to take the 9 pm calls?"
        })
    }

    #[test]
    fn a_nip17_message_as_the_nip_lays_it_out_is_read() {
        let chat = ChatMessage::from_rumor_json(&nip17_example()).unwrap();
        assert_eq!(chat.receivers, vec![BOB.to_owned()]);
        assert_eq!(chat.text, "Are you free to take the 9 pm calls?");
        assert_eq!(chat.subject.as_deref(), Some("shift handover"));
        assert_eq!(chat.reply_to, Some("c".repeat(64)));
    }

    #[test]
    fn built_messages_read_back_the_same() {
        let mut chat = ChatMessage::new(vec![BOB.into(), ALICE.into()], "hi");
        chat.subject = Some("group".into());
        let back = ChatMessage::from_rumor_json(&chat.to_rumor_json(ALICE, 5)).unwrap();
        assert_eq!(back, chat);
    }

    #[test]
    fn bad_chat_messages_are_refused_without_echoing_them() {
        type Breakage = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Breakage)> = vec![
            ("no receiver", Box::new(|r| r["tags"] = json!([]))),
            ("empty text", Box::new(|r| r["content"] = json!(""))),
            (
                "text too long",
                Box::new(|r| r["content"] = json!("x".repeat(MAX_CHAT_LEN + 1))),
            ),
            (
                "receiver not a key",
                Box::new(|r| r["tags"][0] = json!(["p", "secret-not-a-key"])),
            ),
            (
                "two subjects",
                Box::new(|r| {
                    r["tags"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!(["subject", "again"]))
                }),
            ),
            (
                "too many receivers",
                Box::new(|r| r["tags"] = json!(vec![vec!["p", BOB]; MAX_CHAT_RECEIVERS + 1])),
            ),
            ("unknown member", Box::new(|r| r["extra"] = json!(1))),
        ];
        for (what, break_it) in cases {
            let mut rumor = nip17_example();
            break_it(&mut rumor);
            let err = ChatMessage::from_rumor_json(&rumor).expect_err(what);
            assert!(
                !err.to_string().contains("secret-not-a-key"),
                "{what}: {err}"
            );
        }
    }

    #[test]
    fn call_kinds_are_not_chats() {
        let mut rumor = nip17_example();
        rumor["kind"] = json!(25050);
        assert_eq!(
            ChatMessage::from_rumor_json(&rumor),
            Err(SchemaError::UnregisteredKind(25050))
        );
    }
}
