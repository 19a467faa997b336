//! The Sign-In With Solana message parser (`sfu-jitsi-bridge/src/siws/message.rs` and its
//! field rules in `grammar.rs`) on arbitrary bytes: never a panic, and whatever it accepts
//! round-trips exactly: the builder writes the very bytes that were parsed, and those parse
//! to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../sfu-jitsi-bridge/src/siws/message.rs"]
mod message;

use message::SiwsMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = SiwsMessage::parse(data) else {
        return;
    };
    let text = msg.build().expect("an accepted message builds");
    assert_eq!(text.as_bytes(), data, "the round trip changed the bytes");
    assert_eq!(SiwsMessage::parse(text.as_bytes()).as_ref(), Ok(&msg));
    assert!(
        msg.address_key().is_some(),
        "an accepted address is a 32-byte key"
    );
});
