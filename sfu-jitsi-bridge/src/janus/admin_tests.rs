use super::*;

// Replies Debian's Janus 1.1.2 gave in a three-participant room (SDPs shortened): the fuzz
// target's seeds.
const PUBLISHER: &str =
    include_str!("../../../fuzz/seeds/janus_admin_reply/handle_info_publisher.json");
const SUBSCRIBER: &str =
    include_str!("../../../fuzz/seeds/janus_admin_reply/handle_info_subscriber.json");
const MANAGER: &str = include_str!("../../../fuzz/seeds/janus_admin_reply/handle_info_none.json");
const HANDLES: &str = include_str!("../../../fuzz/seeds/janus_admin_reply/list_handles.json");
const REFUSED: &str = include_str!("../../../fuzz/seeds/janus_admin_reply/error.json");

#[test]
fn real_handle_info_replies_give_the_role_and_the_summed_counters() {
    let p = parse_handle_info(PUBLISHER, "t1").unwrap();
    assert_eq!(p.role, Role::Publisher);
    assert_eq!((p.in_packets, p.in_bytes), (1228, 471_552));
    assert_eq!((p.out_packets, p.out_bytes), (0, 0));
    let s = parse_handle_info(SUBSCRIBER, "t1").unwrap();
    assert_eq!(s.role, Role::Subscriber);
    assert_eq!((s.out_packets, s.out_bytes), (2446, 968_616));
    assert_eq!(s.in_bytes, 0);
    // The room-management handle has no PeerConnection: no counters, no role.
    assert_eq!(
        parse_handle_info(MANAGER, "t1").unwrap(),
        HandleStats::default()
    );
    assert_eq!(parse_handles(HANDLES, "t1").unwrap().len(), 7);
}

#[test]
fn losses_are_summed_and_negative_rtcp_loss_counts_as_none() {
    let text = r#"{"janus":"success","transaction":"x","info":{"plugin":"janus.plugin.videoroom",
        "plugin_specific":{"type":"subscriber"},"webrtc":{"media":{
        "0":{"rtcp":{"main":{"lost":3,"lost-by-remote":7}},"stats":{"out":{"packets":10,"bytes":100,"nacks":2}}},
        "1":{"rtcp":{"main":{"lost":-4,"lost-by-remote":1}}}}}}}"#;
    let s = parse_handle_info(text, "x").unwrap();
    assert_eq!((s.lost, s.lost_by_remote, s.nacks_out), (3, 8, 2));
    assert_eq!((s.out_packets, s.out_bytes), (10, 100));
}

#[test]
fn refusals_wrong_transactions_and_bad_input_are_errors() {
    assert_eq!(
        parse_handle_info(REFUSED, "t1"),
        Err(AdminError::Refused(403))
    );
    assert_eq!(
        parse_handle_info(PUBLISHER, "t2"),
        Err(AdminError::OtherTransaction)
    );
    assert!(matches!(
        parse_handle_info("{\"janus\":", "t1"),
        Err(AdminError::Malformed(_))
    ));
    assert_eq!(
        parse_handles(
            r#"{"janus":"success","transaction":"t","handles":[1,0]}"#,
            "t"
        ),
        Err(AdminError::Invalid("handles"))
    );
    assert!(matches!(
        parse_handles(
            r#"{"janus":"success","transaction":"t","handles":[-1]}"#,
            "t"
        ),
        Err(AdminError::Malformed(_))
    ));
    assert_eq!(
        parse_handle_info(r#"{"janus":"ack","transaction":"t"}"#, "t"),
        Err(AdminError::Invalid("janus"))
    );
    let huge = format!(
        r#"{{"janus":"success","transaction":"t","handles":[{}1]}}"#,
        "1,".repeat(MAX_ADMIN_REPLY_BYTES / 2)
    );
    assert_eq!(parse_handles(&huge, "t"), Err(AdminError::TooLarge));
    let many: Vec<String> = (0..=MAX_MEDIA).map(|i| format!("\"{i}\":{{}}")).collect();
    let text = format!(
        r#"{{"janus":"success","transaction":"t","info":{{"webrtc":{{"media":{{{}}}}}}}}}"#,
        many.join(",")
    );
    assert_eq!(
        parse_handle_info(&text, "t"),
        Err(AdminError::Invalid("webrtc.media"))
    );
    // Deep nesting stops at serde_json's recursion limit, as an error.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse_handle_info(&deep, "t").is_err());
}

#[test]
fn an_error_message_never_quotes_the_reply() {
    let text = r#"{"janus":"success","transaction":"t","handles":["room-secret-123"]}"#;
    let e = parse_handles(text, "t").unwrap_err();
    assert!(!e.to_string().contains("room-secret-123"), "{e}");
}

#[test]
fn mutated_real_replies_never_panic_and_what_parses_stays_bounded() {
    // A quick stand-in for the fuzz target in every test run: byte flips, cuts and
    // duplications of the real replies.
    let mut rng = fastrand::Rng::with_seed(20);
    for _ in 0..4000 {
        let seed = [PUBLISHER, SUBSCRIBER, MANAGER, HANDLES, REFUSED][rng.usize(..5)];
        let mut bytes = seed.as_bytes().to_vec();
        for _ in 0..rng.usize(1..4) {
            let at = rng.usize(..bytes.len());
            match rng.u8(..3) {
                0 => bytes[at] = rng.u8(..),
                1 => bytes.truncate(at.max(1)),
                _ => {
                    let piece = bytes[at..(at + rng.usize(..32)).min(bytes.len())].to_vec();
                    bytes.splice(at..at, piece);
                }
            }
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Ok(handles) = parse_handles(text, "t1") {
            assert!(handles.len() <= MAX_HANDLES && !handles.contains(&0));
        }
        let _ = parse_handle_info(text, "t1");
    }
}
