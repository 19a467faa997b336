//! Arbitrary bytes as a NIP-17 chat rumor: JSON parsing, the chat schema and the typed
//! read. Must never panic, and anything read must build back into a valid rumor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phantomcall_schemas::ChatMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(rumor) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(chat) = ChatMessage::from_rumor_json(&rumor) {
        let author = rumor["pubkey"].as_str().expect("the schema requires a pubkey");
        let again = ChatMessage::from_rumor_json(&chat.to_rumor_json(author, 1));
        assert!(again.is_ok(), "a chat that was read builds back into a valid rumor");
    }
});
