use super::*;
use crate::ble_voice::packet::Dropped;

fn agreed(call_id: &str) -> (SessionKeys, SessionKeys) {
    let (caller, callee) = (BleVoiceKeys::generate(), BleVoiceKeys::generate());
    let (offer, answer) = (caller.public_share(), callee.public_share());
    (
        caller.agree(&answer, call_id, Role::Caller).unwrap(),
        callee.agree(&offer, call_id, Role::Callee).unwrap(),
    )
}

#[test]
fn both_sides_derive_the_same_keys_one_per_direction() {
    let (mut caller, mut callee) = agreed("call-1");
    assert_eq!(caller.send.fingerprint(), callee.recv.fingerprint());
    assert_eq!(callee.send.fingerprint(), caller.recv.fingerprint());
    assert_ne!(
        caller.send.fingerprint(),
        callee.send.fingerprint(),
        "each direction has its own key"
    );
    let to_callee = caller.send.seal(0, b"\x01a").unwrap();
    assert_eq!(
        callee.recv.open(&to_callee.bytes).unwrap().plaintext,
        b"\x01a"
    );
    let to_caller = callee.send.seal(0, b"\x01b").unwrap();
    assert_eq!(
        caller.recv.open(&to_caller.bytes).unwrap().plaintext,
        b"\x01b"
    );
    // Our own packet reflected back to us does not open (the directions differ).
    let own = caller.send.seal(0, b"\x01c").unwrap();
    assert_eq!(caller.recv.open(&own.bytes), Err(Dropped::Forged));
}

#[test]
fn the_call_id_and_the_shares_are_bound_into_the_keys() {
    let shared = [7u8; 32];
    let (a, b) = ([1u8; 32], [2u8; 32]);
    let base = SessionKeys::derive(&shared, "call", &a, &b, Role::Caller);
    let other_call = SessionKeys::derive(&shared, "call2", &a, &b, Role::Caller);
    let swapped = SessionKeys::derive(&shared, "call", &b, &a, Role::Caller);
    assert_ne!(base.send.fingerprint(), other_call.send.fingerprint());
    assert_ne!(base.send.fingerprint(), swapped.send.fingerprint());
    // Same inputs, same keys (deterministic derivation).
    let again = SessionKeys::derive(&shared, "call", &a, &b, Role::Callee);
    assert_eq!(base.send.fingerprint(), again.recv.fingerprint());
}

#[test]
fn keys_from_another_call_do_not_open_packets() {
    let (mut caller, _) = agreed("call-1");
    let (_, mut stranger) = agreed("call-1");
    let packet = caller.send.seal(0, b"\x01a").unwrap();
    assert_eq!(stranger.recv.open(&packet.bytes), Err(Dropped::Forged));
}

#[test]
fn bad_peer_shares_are_refused() {
    let keys = BleVoiceKeys::generate();
    let own = keys.public_share();
    assert_eq!(
        keys.agree(&own, "c", Role::Caller).unwrap_err(),
        KeyError::Reflected
    );
    // Zero and one are low-order points: the secret would be all zeros.
    for low_order in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        let keys = BleVoiceKeys::generate();
        assert_eq!(
            keys.agree(&low_order, "c", Role::Callee).unwrap_err(),
            KeyError::NotContributory
        );
    }
}

#[test]
fn the_sdp_attribute_round_trips_and_is_parsed_strictly() {
    let keys = BleVoiceKeys::generate();
    let line = keys.sdp_line();
    assert!(line.starts_with("a=x-phantomcall-ble-voice:"));
    assert_eq!(line.len(), 26 + 43);
    assert_eq!(parse_sdp_attribute(&line), Ok(keys.public_share()));
    assert_eq!(
        parse_sdp_attribute(&format!("{line}\r")),
        Ok(keys.public_share())
    );
    let share = [0xFBu8; 32];
    let line = encode_sdp_attribute(&share);
    assert_eq!(
        &line[26..],
        "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s",
        "url-safe alphabet"
    );
    let value = &line[26..];
    let bad = [
        String::new(),
        format!("a=x-phantomcall-ble-voice:{value}="),
        format!("a=x-phantomcall-ble-voice:{}", &value[..42]),
        format!("a=x-phantomcall-ble-voice: {value}"),
        format!("a=x-phantomcall-ble-voice:{value} "),
        format!("a=x-phantomcall-ble-voice:{value}\n"),
        format!("a=x-phantomcall-ble-voice:{}", value.replace('-', "+")),
        format!("a=x-phantomcall-ble-voice:{}", value.replace('_', "/")),
        format!("A=x-phantomcall-ble-voice:{value}"),
        format!("a=x-phantomcall-ble-voice2:{value}"),
        format!("x-phantomcall-ble-voice:{value}"),
        // Non-canonical: the last character carries bits beyond the 256th.
        format!("a=x-phantomcall-ble-voice:{}t", &value[..42]),
        format!("a=x-phantomcall-ble-voice:{}", "é".repeat(21)),
    ];
    for line in bad {
        assert_eq!(
            parse_sdp_attribute(&line),
            Err(KeyError::Malformed),
            "{line:?}"
        );
    }
}

#[test]
fn the_attribute_is_found_once_in_a_description() {
    let share = [9u8; 32];
    let line = encode_sdp_attribute(&share);
    let sdp = format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n{line}\r\na=x-phantomcall-ble-voice-v2:zz\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
    assert_eq!(find_sdp_attribute(&sdp), Ok(Some(share)));
    assert_eq!(find_sdp_attribute("v=0\r\nm=audio 9 x 111\r\n"), Ok(None));
    let twice = format!("{sdp}{line}\r\n");
    assert_eq!(find_sdp_attribute(&twice), Err(KeyError::Duplicate));
    let broken = format!("{sdp}a=x-phantomcall-ble-voice:short\r\n");
    assert_eq!(find_sdp_attribute(&broken), Err(KeyError::Malformed));
    let bare = format!("{sdp}a=x-phantomcall-ble-voice\r\n");
    assert_eq!(find_sdp_attribute(&bare), Err(KeyError::Malformed));
    assert!(format!("{:?}", BleVoiceKeys::generate()).starts_with("BleVoiceKeys"));
}
