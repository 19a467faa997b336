//! The hotline's control messages (the content of sealed kind 25070 rumors from
//! dispatchers, callers' hotlines and anyone who knows a key), voicemail headers and chunks
//! among them, and the packet framing inside a decrypted voicemail. Never a panic;
//! whatever parses re-serializes and parses back to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../hotline/src/voice/console_dto.rs"]
mod console_dto;
#[allow(dead_code)]
#[path = "../../hotline/src/core/types.rs"]
mod core;
#[allow(dead_code)]
#[path = "../../hotline/src/ids.rs"]
mod ids;
#[allow(dead_code)]
#[path = "../../hotline/src/voice/voicemail_fetch.rs"]
mod voicemail_fetch;
#[allow(dead_code)]
#[path = "../../hotline/src/voice/voicemail_wire.rs"]
mod voicemail_wire;
#[allow(dead_code)]
#[path = "../../hotline/src/voice/wire.rs"]
mod wire;

fuzz_target!(|data: &[u8]| {
    // A decrypted voicemail's packets: what unpacks packs back to the same bytes.
    if let Ok(packets) = voicemail_wire::unpack(data) {
        assert_eq!(voicemail_wire::pack(&packets), data);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(control) = wire::Control::parse(text) {
        assert_eq!(
            wire::Control::parse(&control.to_json()),
            Ok(control.clone())
        );
        // A voicemail header or chunk into a fetch being assembled: never a panic, and
        // what assembles is as long as its header says.
        if let wire::Control::VoicemailHeader { id, .. }
        | wire::Control::VoicemailChunk { id, .. } = control
        {
            let fetches = voicemail_fetch::Fetches::default();
            fetches.begin(id);
            fetches.take(control);
            if let Ok((header, audio)) = fetches.poll(id) {
                assert_eq!(header.bytes, audio.len());
            }
        }
    }
});
