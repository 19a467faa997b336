//! The reader of a peer's Opus wishes (`useinbandfec`, `usedtx`) on any description
//! webrtc-rs's SDP parser accepts: never a panic, and an answer that does not depend on
//! anything but the Opus format's own `fmtp` (checked by reading it twice).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtc::sdp::SessionDescription;

#[allow(dead_code)]
#[path = "../../calling/src/peer/opus_params.rs"]
mod opus_params;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(desc) = SessionDescription::unmarshal(&mut std::io::Cursor::new(text)) else {
        return;
    };
    let wishes = opus_params::peer_opus_wishes(&desc);
    assert_eq!(wishes, opus_params::peer_opus_wishes(&desc));
});
