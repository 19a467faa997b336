//! The conference service's signaling messages (`sfu-jitsi-bridge/src/service/protocol.rs`)
//! on arbitrary input: never a panic; a message that parses satisfies the limits the service
//! relies on (a UUIDv4 room id, a trimmed non-empty display name of at most 50 characters,
//! bounded SDP, MLS data that is base64 within its size limit, commits with an epoch,
//! welcomes with a recipient); and a server message carrying the input as text serialises to
//! JSON that parses back with `"v": 1`.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../sfu-jitsi-bridge/src/service/protocol.rs"]
mod protocol;

use protocol::{
    is_uuid_v4, ClientMessage, MlsKind, ServerMessage, MAX_DISPLAY_NAME_CHARS, MAX_MLS_BYTES,
    MAX_SDP_BYTES,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ClientMessage::parse(text) {
        Ok(ClientMessage::Join {
            room,
            display_name,
            offer,
            ..
        }) => {
            assert!(is_uuid_v4(&room));
            let chars = display_name.chars().count();
            assert!(chars > 0 && chars <= MAX_DISPLAY_NAME_CHARS);
            assert_eq!(display_name.trim(), display_name);
            assert!(!display_name.chars().any(char::is_control));
            assert!(offer.len() <= MAX_SDP_BYTES);
        }
        Ok(ClientMessage::Mls(m)) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&m.data)
                .expect("validated base64");
            assert!(!decoded.is_empty() && decoded.len() <= MAX_MLS_BYTES);
            if m.kind == MlsKind::Commit {
                assert!(m.epoch.is_some());
            }
            if m.kind == MlsKind::Welcome {
                assert!(m.to.is_some());
            }
        }
        Ok(_) | Err(_) => {}
    }
    let reply = ServerMessage::error("bad_request", text);
    let json: serde_json::Value = serde_json::from_str(&reply.to_json()).unwrap();
    assert_eq!(json["v"], 1);
    assert_eq!(json["message"], text);
});
