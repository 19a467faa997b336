use super::*;

const ROOM: &str = "6f1c2a4e-93d1-4c2b-9e0f-1a2b3c4d5e6f";
const PID: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn a_join_is_parsed_with_its_display_name_trimmed_and_cut_to_fifty_characters() {
    let long = format!("  {}  ", "é".repeat(80));
    let text = serde_json::json!({
        "v": 1, "type": "join", "room": ROOM, "display_name": long, "offer": "v=0\r\n"
    })
    .to_string();
    let ClientMessage::Join {
        display_name,
        token,
        ..
    } = ClientMessage::parse(&text).unwrap()
    else {
        panic!("not a join")
    };
    assert_eq!(display_name.chars().count(), MAX_DISPLAY_NAME_CHARS);
    assert_eq!(token, None);
}

#[test]
fn version_unknown_fields_and_bad_ids_are_refused() {
    let cases = [
        (r#"{"type":"lock"}"#, ProtocolError::Version),
        (r#"{"v":2,"type":"lock"}"#, ProtocolError::Version),
        (r#"[1]"#, ProtocolError::NotAnObject),
    ];
    for (text, want) in cases {
        assert_eq!(ClientMessage::parse(text), Err(want), "{text}");
    }
    assert!(matches!(
        ClientMessage::parse(r#"{"v":1,"type":"lock","extra":1}"#),
        Err(ProtocolError::Malformed(_))
    ));
    assert!(matches!(
        ClientMessage::parse(r#"{"v":1,"type":"shutdown"}"#),
        Err(ProtocolError::Malformed(_))
    ));
    // A version 1 (time-based) UUID is not a room id.
    let v1 = r#"{"v":1,"type":"join","room":"c232ab00-9414-11ec-b3c8-9f6bdeced846","display_name":"a","offer":"v=0"}"#;
    assert_eq!(
        ClientMessage::parse(v1),
        Err(invalid("room", "a room id is a UUIDv4"))
    );
    let mute = r#"{"v":1,"type":"mute","participant":"../etc"}"#;
    assert!(ClientMessage::parse(mute).is_err());
    let name = format!(
        r#"{{"v":1,"type":"join","room":"{ROOM}","display_name":"a\u0007b","offer":"v=0"}}"#
    );
    assert!(ClientMessage::parse(&name).is_err());
    let big = format!(
        r#"{{"v":1,"type":"answer","sdp":"v=0{}"}}"#,
        "a".repeat(MAX_MESSAGE_BYTES)
    );
    assert_eq!(ClientMessage::parse(&big), Err(ProtocolError::TooLarge));
}

#[test]
fn mls_messages_need_an_epoch_for_commits_a_recipient_for_welcomes_and_base64() {
    let commit = r#"{"v":1,"type":"mls","kind":"commit","data":"AAEC"}"#;
    assert!(ClientMessage::parse(commit).is_err());
    let commit = r#"{"v":1,"type":"mls","kind":"commit","epoch":3,"data":"AAEC"}"#;
    assert!(matches!(
        ClientMessage::parse(commit),
        Ok(ClientMessage::Mls(MlsMessage {
            kind: MlsKind::Commit,
            epoch: Some(3),
            ..
        }))
    ));
    let welcome = r#"{"v":1,"type":"mls","kind":"welcome","data":"AAEC"}"#;
    assert!(ClientMessage::parse(welcome).is_err());
    let welcome = format!(r#"{{"v":1,"type":"mls","kind":"welcome","to":"{PID}","data":"AAEC"}}"#);
    assert!(ClientMessage::parse(&welcome).is_ok());
    let bad = r#"{"v":1,"type":"mls","kind":"proposal","data":"not base64!"}"#;
    assert!(ClientMessage::parse(bad).is_err());
}

#[test]
fn server_messages_carry_the_version() {
    let text = ServerMessage::RoomState { locked: true }.to_json();
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["v"], 1);
    assert_eq!(value["type"], "room_state");
    assert_eq!(value["locked"], true);
}

#[test]
fn uuid_v4_check() {
    assert!(is_uuid_v4(ROOM));
    assert!(is_uuid_v4(&ROOM.to_uppercase()));
    assert!(!is_uuid_v4(&ROOM.replace('-', "")));
    assert!(!is_uuid_v4("6f1c2a4e-93d1-4c2b-7e0f-1a2b3c4d5e6f")); // variant
}

#[test]
fn legs_regions_and_rejoin_are_parsed_and_bad_ones_refused() {
    let answer =
        ClientMessage::parse(r#"{"v":1,"type":"answer","sdp":"v=0\r\n","leg":"subscriber"}"#);
    assert_eq!(
        answer,
        Ok(ClientMessage::Answer {
            sdp: "v=0\r\n".into(),
            leg: MediaLeg::Subscriber
        })
    );
    // No leg: the main connection, as every embedded-SFU client sends it.
    let plain = ClientMessage::parse(r#"{"v":1,"type":"candidate","candidate":"candidate:1"}"#);
    assert!(matches!(
        plain,
        Ok(ClientMessage::Candidate {
            leg: MediaLeg::Main,
            ..
        })
    ));
    assert!(ClientMessage::parse(r#"{"v":1,"type":"answer","sdp":"v=0","leg":"both"}"#).is_err());
    let rejoin = ClientMessage::parse(r#"{"v":1,"type":"rejoin","offer":"v=0\r\n"}"#);
    assert!(matches!(rejoin, Ok(ClientMessage::Rejoin { .. })));
    assert!(ClientMessage::parse(r#"{"v":1,"type":"rejoin","offer":"<html>"}"#).is_err());
    let join = |region: &str| {
        serde_json::json!({
            "v": 1, "type": "join", "room": ROOM, "display_name": "a", "offer": "v=0\r\n",
            "region": region,
        })
        .to_string()
    };
    let Ok(ClientMessage::Join { region, .. }) = ClientMessage::parse(&join("eu-west-1")) else {
        panic!("not a join")
    };
    assert_eq!(region.as_deref(), Some("eu-west-1"));
    for bad in [
        "",
        "EU",
        "eu west",
        "a\nb",
        &"a".repeat(MAX_REGION_BYTES + 1),
    ] {
        assert_eq!(
            ClientMessage::parse(&join(bad)),
            Err(ProtocolError::Invalid {
                field: "region",
                reason: "lowercase letters, digits and -, 32 at most"
            }),
            "{bad:?}"
        );
    }
}

#[test]
fn a_subscriber_offer_names_its_leg_and_a_main_one_does_not() {
    let sub = ServerMessage::Offer {
        sdp: "v=0".into(),
        leg: MediaLeg::Subscriber,
    };
    assert!(sub.to_json().contains(r#""leg":"subscriber""#));
    let main = ServerMessage::Offer {
        sdp: "v=0".into(),
        leg: MediaLeg::Main,
    };
    assert!(!main.to_json().contains("leg"));
    assert!(ServerMessage::Reconnect
        .to_json()
        .contains(r#""type":"reconnect""#));
}
