//! The conference client's parsers on arbitrary input: invite links
//! (`calling/src/conference/link.rs`) and the service's signaling messages as the client
//! reads them (`calling/src/conference/wire.rs`). Never a panic; a link that parses names a
//! UUIDv4 room and a host that rebuilds into a link that parses to the same; a message that
//! parses keeps the limits the client relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../calling/src/conference/link.rs"]
mod link;
#[allow(dead_code)]
#[path = "../../calling/src/conference/wire.rs"]
mod wire;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = link::ConferenceLink::parse(text) {
        assert_eq!(parsed.room.len(), 36);
        let again = link::ConferenceLink::parse(&parsed.app_link()).expect("our own link parses");
        assert_eq!(again.room, parsed.room);
        assert_eq!(again.host, parsed.host);
        assert!(parsed.signal_url().ends_with("/v1/signal"));
    }
    match wire::ServerMessage::parse(text) {
        Ok(wire::ServerMessage::Mls { data, .. }) => {
            assert!(!data.is_empty() && data.len() <= wire::MAX_MLS_BYTES);
        }
        Ok(wire::ServerMessage::Participants(list)) => {
            assert!(list.len() <= wire::MAX_PARTICIPANTS);
            for p in list {
                assert!(p.display_name.chars().count() <= wire::MAX_NAME_CHARS);
                assert!(!p.display_name.chars().any(char::is_control));
            }
        }
        Ok(wire::ServerMessage::Offer { sdp }) => assert!(sdp.len() <= wire::MAX_SDP_BYTES),
        _ => {}
    }
});
