//! The control messages between a hotline, its dispatchers and its callers: the JSON
//! content of sealed kind 25070 rumors ([`nostr_signal::CONTROL_KIND`]). The relay sees
//! none of it; the seal's signature says who sent each one.
//!
//! Every field is checked when parsed: keys are 64 hex digits of a valid point, call ids
//! and notes are bounded, presence is one of four words. What does not parse is dropped
//! with its reason, never acted on.

use serde::{Deserialize, Serialize};

use super::console_dto::ConsoleSnapshot;
use super::voicemail_wire;
use crate::core::{Presence, MAX_CALL_ID_CHARS, MAX_NOTE_CHARS};
use crate::ids::Npub;

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Control {
    // Hotline -> caller.
    /// Your place in the queue of the waiting call `call`, and the estimated wait.
    Position {
        /// The waiting call's id (the caller's own call to the hotline).
        call: String,
        /// 1-based place.
        position: u32,
        /// Estimated seconds left; absent when nobody is signed in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_secs: Option<u32>,
    },
    /// A dispatcher takes your call: call `dispatcher` now; the hotline vouches for them.
    TransferTo {
        /// The waiting call being handed over.
        call: String,
        /// The dispatcher's key (hex).
        dispatcher: String,
    },
    /// The queue is full or the wait too long: the line ends, a dispatcher calls back.
    CallbackPromised {
        /// The waiting call that ends.
        call: String,
    },
    /// A dispatcher of this hotline is about to call you back (the callback entry).
    CallingBack {
        /// The dispatcher's key (hex).
        dispatcher: String,
    },
    /// The queue overflowed into voicemail: leave a message after the tone on the line
    /// `call`, at most `max_secs` long.
    VoicemailPrompt {
        /// The waiting call that records.
        call: String,
        /// The longest message kept.
        max_secs: u32,
    },

    // Hotline -> dispatcher.
    /// An entry rings for you; answer before `ring_secs` run out.
    Offer {
        /// The queue entry.
        entry: u64,
        /// The opaque caller id, short form.
        caller: String,
        /// The caller's npub, only when the operator allows dispatchers to see it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller_npub: Option<String>,
        /// A repeat caller.
        repeat: bool,
        /// A callback entry (you will call them) rather than a caller on the line.
        callback: bool,
        /// Seconds the offer rings.
        ring_secs: u32,
    },
    /// The offer of `entry` is withdrawn ("answered-elsewhere", "timeout", "withdrawn").
    OfferCancelled {
        /// The entry.
        entry: u64,
        /// Why.
        reason: String,
    },
    /// The caller of `entry` is calling you now: your client answers that call (and only
    /// that caller's) at once. Their key is for the client, not the screen.
    ExpectCaller {
        /// The entry.
        entry: u64,
        /// The caller's key (hex).
        caller: String,
    },
    /// Call back the caller of the callback entry `entry`.
    CallBack {
        /// The entry.
        entry: u64,
        /// The caller's key (hex).
        caller: String,
    },
    /// Your presence as the hotline sees it.
    PresenceIs {
        /// "available", "busy", "wrap-up" or "away".
        presence: String,
    },
    /// The console: the queue, the roster, the counters and your desk, sent to each
    /// dispatcher whose app said it is there (at once when something changed, else every
    /// few seconds).
    Console(Box<ConsoleSnapshot>),
    /// A voicemail you asked for: its content key sealed to you, and what the chunks
    /// that follow carry.
    VoicemailHeader {
        /// The voicemail.
        id: u64,
        /// The recording's ephemeral public key (hex): with your secret key, the NIP-44
        /// conversation key that opens `sealed_key`.
        ephemeral: String,
        /// The content key, sealed to you (a NIP-44 v2 payload).
        sealed_key: String,
        /// The ChaCha20-Poly1305 nonce of the recording (24 hex digits).
        nonce: String,
        /// Bytes of the encrypted recording (tag included), carried in chunks of
        /// [`super::voicemail_wire::VOICEMAIL_CHUNK_BYTES`].
        bytes: u32,
        /// Its length.
        duration_ms: u32,
        /// The opaque caller id, short form.
        caller: String,
        /// When it was recorded, unix seconds.
        recorded_unix_secs: u64,
    },
    /// There is no voicemail `id` sealed to you (deleted, or recorded before you were
    /// enrolled): your fetch ends.
    VoicemailUnavailable {
        /// The voicemail.
        id: u64,
    },
    /// One chunk of the encrypted recording `id`.
    VoicemailChunk {
        /// The voicemail.
        id: u64,
        /// 0-based chunk index.
        index: u32,
        /// The chunk's bytes, hex.
        data: String,
    },
    /// An action of yours was refused, with the reason.
    Refused {
        /// The reason, in words.
        reason: String,
    },

    // Dispatcher -> hotline.
    /// Sign in, change presence, or sign out ("away").
    SetPresence {
        /// "available", "busy" or "away" (wrap-up is the hotline's to set).
        presence: String,
    },
    /// Take the offered entry.
    Answer {
        /// The entry.
        entry: u64,
    },
    /// Decline the offered entry.
    Decline {
        /// The entry.
        entry: u64,
    },
    /// Hand the caller of `entry` to another dispatcher (blind transfer).
    Transfer {
        /// The entry.
        entry: u64,
        /// The dispatcher taking over (hex).
        to: String,
    },
    /// Hold or resume.
    SetHold {
        /// The entry.
        entry: u64,
        /// On hold.
        on: bool,
    },
    /// The entry's note.
    Note {
        /// The entry.
        entry: u64,
        /// The text.
        text: String,
    },
    /// The call of `entry` ended (wrap-up starts).
    End {
        /// The entry.
        entry: u64,
    },

    /// Send me voicemail `id` (its header, then its chunks; only `chunks` when not empty).
    VoicemailFetch {
        /// The voicemail.
        id: u64,
        /// The chunks wanted again; empty: the header and every chunk.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        chunks: Vec<u32>,
    },
    /// Mark voicemail `id` heard (for every dispatcher: the hotline has one mailbox).
    VoicemailHeard {
        /// The voicemail.
        id: u64,
    },
    /// Delete voicemail `id`.
    VoicemailDelete {
        /// The voicemail.
        id: u64,
    },

    // Phone gateway <-> hotline: the messaging hotline's SMS.
    /// Phone gateway -> hotline: an SMS to the hotline's number from the phone `sender`.
    SmsIn {
        /// The sender, as a token only the gateway can read back (never the number).
        sender: String,
        /// The text, whole.
        text: String,
    },
    /// Hotline -> phone gateway: a reply to the phone `sender` of an earlier `sms-in`.
    SmsOut {
        /// The token the `sms-in` carried.
        sender: String,
        /// The text.
        text: String,
    },
    /// Phone gateway -> hotline: a reply to the phone `sender` was not delivered (the
    /// provider refused it or gave up after retries, or a carrier reported it failed).
    SmsFailed {
        /// The token of the conversation's phone.
        sender: String,
        /// Why, in words for the dispatcher (never the number; at most 200 characters).
        reason: String,
    },
}

/// Longest SMS sender token carried (the gateway's are about 90 hex digits).
pub const MAX_SMS_SENDER_CHARS: usize = 256;
/// Longest SMS text carried: what providers deliver as one message (1600 characters).
pub const MAX_SMS_CHARS: usize = 1600;

/// Why a control message was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not JSON, or not one of the messages above.
    #[error("not a hotline control message: {0}")]
    Malformed(String),
    /// A key is not 64 hex digits.
    #[error("{0} is not a public key")]
    BadKey(&'static str),
    /// A call id is empty or too long.
    #[error("bad call id")]
    BadCallId,
    /// An SMS sender token that is not 1 to 256 hex digits.
    #[error("bad sms sender token")]
    BadSmsSender,
    /// A note or reason is too long.
    #[error("{0} too long")]
    TooLong(&'static str),
    /// Not a presence a dispatcher may set.
    #[error("unknown presence {0:?}")]
    BadPresence(String),
}

/// Longest reason or short caller id carried.
const MAX_SHORT_TEXT: usize = 200;

impl Control {
    /// Parses and checks one message.
    pub fn parse(text: &str) -> Result<Self, WireError> {
        let control: Control =
            serde_json::from_str(text).map_err(|e| WireError::Malformed(e.to_string()))?;
        control.check()?;
        Ok(control)
    }

    /// The JSON content.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("control messages always serialize")
    }

    fn check(&self) -> Result<(), WireError> {
        let call_ok = |call: &str| {
            (!call.is_empty() && call.len() <= MAX_CALL_ID_CHARS)
                .then_some(())
                .ok_or(WireError::BadCallId)
        };
        let short = |text: &str, what| {
            (text.chars().count() <= MAX_SHORT_TEXT)
                .then_some(())
                .ok_or(WireError::TooLong(what))
        };
        match self {
            Control::Position { call, .. } | Control::CallbackPromised { call } => call_ok(call),
            Control::TransferTo { call, dispatcher } => {
                call_ok(call)?;
                key_of(dispatcher, "dispatcher").map(drop)
            }
            Control::CallingBack { dispatcher } => key_of(dispatcher, "dispatcher").map(drop),
            Control::VoicemailPrompt { call, .. } => call_ok(call),
            Control::VoicemailHeader {
                ephemeral,
                sealed_key,
                nonce,
                bytes,
                duration_ms,
                caller,
                ..
            } => voicemail_wire::check_header(
                ephemeral,
                sealed_key,
                nonce,
                *bytes,
                *duration_ms,
                caller,
            ),
            Control::VoicemailChunk { index, data, .. } => {
                voicemail_wire::check_chunk(*index, data)
            }
            Control::VoicemailFetch { chunks, .. } => voicemail_wire::check_wanted(chunks),
            Control::Offer {
                caller,
                caller_npub,
                ..
            } => {
                short(caller, "caller id")?;
                match caller_npub {
                    Some(npub) => Npub::parse(npub)
                        .map(drop)
                        .map_err(|_| WireError::BadKey("caller npub")),
                    None => Ok(()),
                }
            }
            Control::OfferCancelled { reason, .. } | Control::Refused { reason } => {
                short(reason, "reason")
            }
            Control::ExpectCaller { caller, .. } | Control::CallBack { caller, .. } => {
                key_of(caller, "caller").map(drop)
            }
            Control::PresenceIs { presence } => Presence::parse(presence)
                .map(drop)
                .ok_or_else(|| WireError::BadPresence(presence.clone())),
            Control::SetPresence { presence } => match Presence::parse(presence) {
                Some(Presence::WrapUp) | None => Err(WireError::BadPresence(presence.clone())),
                Some(_) => Ok(()),
            },
            Control::Transfer { to, .. } => key_of(to, "transfer target").map(drop),
            Control::Note { text, .. } => (text.chars().count() <= MAX_NOTE_CHARS)
                .then_some(())
                .ok_or(WireError::TooLong("note")),
            Control::Console(snapshot) => snapshot.check(),
            Control::SmsIn { sender, text } | Control::SmsOut { sender, text } => {
                sms_token_ok(sender)?;
                (!text.is_empty() && text.chars().count() <= MAX_SMS_CHARS)
                    .then_some(())
                    .ok_or(WireError::TooLong("sms text"))
            }
            Control::SmsFailed { sender, reason } => {
                sms_token_ok(sender)?;
                if reason.is_empty() {
                    return Err(WireError::Malformed("empty reason".into()));
                }
                short(reason, "reason")
            }
            Control::Answer { .. }
            | Control::Decline { .. }
            | Control::SetHold { .. }
            | Control::End { .. }
            | Control::VoicemailHeard { .. }
            | Control::VoicemailDelete { .. }
            | Control::VoicemailUnavailable { .. } => Ok(()),
        }
    }
}

/// An SMS sender token: 1 to 256 hex digits.
fn sms_token_ok(sender: &str) -> Result<(), WireError> {
    let ok = (1..=MAX_SMS_SENDER_CHARS).contains(&sender.len())
        && sender.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(()).ok_or(WireError::BadSmsSender)
}

/// The key in a checked message's hex field (64 hex digits, a valid point).
pub fn key_of(hex: &str, what: &'static str) -> Result<Npub, WireError> {
    let bytes: [u8; 32] = hex::decode(hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(WireError::BadKey(what))?;
    // nostr-sdk's key type keeps any 32 bytes; the curve check is secp256k1's.
    nostr_sdk::secp256k1::XOnlyPublicKey::from_slice(&bytes)
        .map_err(|_| WireError::BadKey(what))?;
    Ok(Npub::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "82341f882b6eabcd2ba7f1ef90aad961cf074af15b9ef44a09f9d2a8fbfbe6a2";

    #[test]
    fn every_message_round_trips() {
        let all = [
            Control::Position {
                call: "c1".into(),
                position: 3,
                wait_secs: Some(120),
            },
            Control::TransferTo {
                call: "c1".into(),
                dispatcher: KEY.into(),
            },
            Control::Offer {
                entry: 7,
                caller: "c-0123456789ab".into(),
                caller_npub: None,
                repeat: true,
                callback: false,
                ring_secs: 20,
            },
            Control::ExpectCaller {
                entry: 7,
                caller: KEY.into(),
            },
            Control::SetPresence {
                presence: "available".into(),
            },
            Control::Note {
                entry: 7,
                text: "asked for a call back tomorrow".into(),
            },
            Control::SmsIn {
                sender: "0a1b".into(),
                text: "is anyone there?".into(),
            },
            Control::SmsOut {
                sender: "0a1b".into(),
                text: "yes, how can we help?".into(),
            },
            Control::VoicemailPrompt {
                call: "c1".into(),
                max_secs: 120,
            },
            Control::VoicemailHeader {
                id: 4,
                ephemeral: KEY.into(),
                sealed_key: "QUJDRA==".into(),
                nonce: "0a".repeat(12),
                bytes: 4000,
                duration_ms: 3000,
                caller: "c-0123456789ab".into(),
                recorded_unix_secs: 1_700_000_000,
            },
            Control::VoicemailChunk {
                id: 4,
                index: 0,
                data: "00ff".into(),
            },
            Control::VoicemailFetch {
                id: 4,
                chunks: vec![1, 2],
            },
            Control::VoicemailFetch {
                id: 4,
                chunks: Vec::new(),
            },
            Control::VoicemailHeard { id: 4 },
            Control::VoicemailUnavailable { id: 4 },
            Control::VoicemailDelete { id: 4 },
            Control::SmsFailed {
                sender: "0a1b".into(),
                reason: "carrier could not deliver it (error 30003)".into(),
            },
        ];
        assert!(Control::parse(r#"{"type":"sms-failed","sender":"0a","reason":""}"#).is_err());
        let long = format!(
            r#"{{"type":"sms-failed","sender":"0a","reason":"{}"}}"#,
            "x".repeat(201)
        );
        assert_eq!(Control::parse(&long), Err(WireError::TooLong("reason")));
        assert_eq!(
            Control::parse(r#"{"type":"sms-failed","sender":"+1555","reason":"x"}"#),
            Err(WireError::BadSmsSender)
        );
        for message in all {
            assert_eq!(Control::parse(&message.to_json()), Ok(message));
        }
    }

    #[test]
    fn bad_fields_are_refused_with_the_field_named() {
        let cases = [
            (
                r#"{"type":"transfer-to","call":"c","dispatcher":"zz"}"#,
                "dispatcher",
            ),
            (
                r#"{"type":"expect-caller","entry":1,"caller":"00"}"#,
                "caller",
            ),
            (
                r#"{"type":"set-presence","presence":"wrap-up"}"#,
                "presence",
            ),
            (r#"{"type":"set-presence","presence":"asleep"}"#, "presence"),
            (r#"{"type":"position","call":"","position":1}"#, "call id"),
            (
                r#"{"type":"self-destruct"}"#,
                "not a hotline control message",
            ),
            (
                r#"{"type":"answer","entry":-1}"#,
                "not a hotline control message",
            ),
            ("not json", "not a hotline control message"),
            (
                r#"{"type":"sms-in","sender":"+1555","text":"hi"}"#,
                "sms sender",
            ),
            (r#"{"type":"sms-out","sender":"00","text":""}"#, "sms text"),
            (
                r#"{"type":"voicemail-chunk","id":1,"index":0,"data":"0g"}"#,
                "voicemail chunk",
            ),
            (
                r#"{"type":"voicemail-fetch","id":1,"chunks":[999]}"#,
                "wanted voicemail chunks",
            ),
        ];
        for (text, said) in cases {
            let error = Control::parse(text).unwrap_err().to_string();
            assert!(error.contains(said), "{text}: {error}");
        }
        let long = format!(
            r#"{{"type":"note","entry":1,"text":"{}"}}"#,
            "x".repeat(MAX_NOTE_CHARS + 1)
        );
        assert_eq!(Control::parse(&long), Err(WireError::TooLong("note")));
        // An x-only key that is not on the curve is not a key.
        let off_curve = "0".repeat(64);
        assert_eq!(
            key_of(&off_curve, "caller"),
            Err(WireError::BadKey("caller"))
        );
    }
}
