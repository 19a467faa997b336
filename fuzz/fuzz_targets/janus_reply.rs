//! Janus's replies as the conference service reads them (`sfu-jitsi-bridge/src/janus/wire.rs`)
//! on arbitrary input: never a panic, and a reply that parses satisfies the bounds the Janus
//! backend relies on (bounded SDP starting `v=0`, non-zero ids, bounded lists and fields
//! without control characters, no plugin but VideoRoom).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../sfu-jitsi-bridge/src/janus/wire.rs"]
mod wire;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(message) = wire::parse(text) else {
        return;
    };
    assert!(text.len() <= wire::MAX_REPLY_BYTES);
    if let Some(jsep) = &message.jsep {
        assert!(jsep.sdp.starts_with("v=0") && jsep.sdp.len() <= wire::MAX_SDP_BYTES);
    }
    assert_ne!(message.id, Some(0));
    assert_ne!(message.sender, Some(0));
    if let Some(t) = &message.transaction {
        assert!(t.len() <= wire::MAX_FIELD && !t.chars().any(char::is_control));
    }
    if let Some(data) = &message.videoroom {
        assert_ne!(data.port, Some(0));
        for p in data.publishers.iter().flatten() {
            assert_ne!(p.id, 0);
            assert!(p.streams.len() <= wire::MAX_LIST);
        }
        assert!(data.streams.as_ref().map_or(0, Vec::len) <= wire::MAX_LIST);
    }
    let _ = message.error_text();
});
