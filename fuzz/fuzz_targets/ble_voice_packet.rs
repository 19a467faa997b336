//! What the Bluetooth link hands the voice receiver, as arbitrary bytes
//! (`calling/src/ble_voice/`: the packet parser, the replay window, the AEAD opening, the
//! plaintext's frame list), and the peer's share as an SDP attribute line: never a panic;
//! no packet opens unless it is exactly one that was sealed under the key; a parsed
//! share has one spelling.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Included by path at the top level, where their `super::` paths meet each other.
#[allow(dead_code)]
#[path = "../../calling/src/ble_voice/crypto.rs"]
mod crypto;
#[allow(dead_code)]
#[path = "../../calling/src/ble_voice/keys.rs"]
mod keys;
#[allow(dead_code)]
#[path = "../../calling/src/ble_voice/packet.rs"]
mod packet;
#[allow(dead_code)]
#[path = "../../calling/src/ble_voice/replay.rs"]
mod replay;

use keys::{Role, SessionKeys};

fn session(role: Role) -> SessionKeys {
    // Fixed inputs: a run is reproducible, and the genuine packet below is the same in
    // every iteration.
    SessionKeys::derive(&[7; 32], "fuzz", &[1; 32], &[2; 32], role)
}

fuzz_target!(|data: &[u8]| {
    let mut sender = session(Role::Caller).send;
    let genuine = sender.seal(1920, b"\x03abcxyz").expect("fits");

    // Arbitrary bytes as a packet: only the genuine packet itself could ever open.
    let mut receiver = session(Role::Callee).recv;
    let _ = packet::parse(data);
    if let Ok(opened) = receiver.open(data) {
        assert_eq!(data, &genuine.bytes[..], "an unsealed packet opened");
        assert_eq!(opened.plaintext, b"\x03abcxyz");
    }

    // The genuine packet with the input XORed over it: opens exactly when unchanged, and
    // a refused one leaves the window as it was (the genuine one still opens once).
    let mut bent = genuine.bytes.clone();
    for (byte, flip) in bent.iter_mut().zip(data) {
        *byte ^= flip;
    }
    let mut receiver = session(Role::Callee).recv;
    match receiver.open(&bent) {
        Ok(_) => {
            assert_eq!(bent, genuine.bytes, "a changed packet opened");
            assert_eq!(receiver.open(&bent), Err(packet::Dropped::Replayed));
        }
        Err(_) => {
            assert_ne!(bent, genuine.bytes);
            assert!(receiver.open(&genuine.bytes).is_ok());
        }
    }

    // An authenticated peer's plaintext is still parsed strictly.
    if let Ok(frames) = packet::split_frames(data) {
        assert!(!frames.primary.is_empty());
        if let Some(joined) = packet::join_frames(frames.primary, frames.redundant) {
            assert_eq!(joined, data);
        }
    }

    // The peer's share: parsing and re-encoding gives back the same line.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(share) = keys::parse_sdp_attribute(text) {
            let line = text.strip_suffix('\r').unwrap_or(text);
            assert_eq!(keys::encode_sdp_attribute(&share), line);
        }
        let _ = keys::find_sdp_attribute(text);
    }
});
