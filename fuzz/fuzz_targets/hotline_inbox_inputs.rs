//! The messaging hotline's parsers on untrusted input: a broadcast's recipient list (an
//! operator's file, often assembled from elsewhere) and a sender's message read as a
//! "stop"/"start" keyword. Never a panic; every recipient taken is distinct and parses
//! back from both its npub and its hex form; every reported line exists.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../hotline/src/inbox/command.rs"]
mod command;
#[allow(dead_code)]
#[path = "../../hotline/src/ids.rs"]
mod ids;
#[allow(dead_code)]
#[path = "../../hotline/src/broadcast/list.rs"]
mod list;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if command::parse_command(text).is_some() {
        assert!(text.len() <= 32, "only short texts are keywords");
    }
    let parsed = list::parse_recipients(text);
    let lines = text.lines().count();
    assert!(parsed.recipients.len() + parsed.invalid.len() + parsed.duplicates <= lines);
    let distinct: std::collections::HashSet<_> = parsed.recipients.iter().collect();
    assert_eq!(distinct.len(), parsed.recipients.len());
    for bad in &parsed.invalid {
        assert!(bad.line >= 1 && bad.line <= lines);
    }
    for key in &parsed.recipients {
        assert_eq!(list::parse_key(&key.to_bech32()).ok(), Some(*key));
        assert_eq!(list::parse_key(&key.to_hex()).ok(), Some(*key));
    }
});
