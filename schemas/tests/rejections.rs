//! Each rejection names its specific cause: the error variant, and for schema violations
//! the offending location and the schema rule that rejected it.

mod common;

use phantomcall_schemas::{validate_rumor, CallMessage, SchemaError, MAX_SDP_LEN};
use serde_json::{json, Value};

use common::{rumor, tags, ALICE, BOB, CALL_ID, SDP};

const OFFER: u16 = 25050;
const ANSWER: u16 = 25051;
const ICE: u16 = 25052;
const MODE_SWITCH_REQUEST: u16 = 25060;
const MODE_SWITCH_ACK: u16 = 25061;

/// `p`, `call-id`, then PhantomCall's `v`, `mode`, `device` (indices 0..=4).
fn base_tags() -> Vec<Vec<String>> {
    tags(&[
        &["p", BOB],
        &["call-id", CALL_ID],
        &["v", "1"],
        &["mode", "private"],
        &["device", "dev-Alice_01"],
    ])
}

fn offer_tags() -> Vec<Vec<String>> {
    let mut t = base_tags();
    t.push(vec!["call-type".into(), "video".into()]);
    t
}

fn candidate_json(i: usize) -> Value {
    json!({"candidate": format!("candidate:{i} 1 udp 2122260223 192.0.2.{} 5000{} typ host", i % 250, i % 10), "sdpMid": "0", "sdpMLineIndex": 0})
}

/// Both entry points reject alike; returns the error.
fn rejected(rumor: &Value) -> SchemaError {
    let validated = validate_rumor(rumor).expect_err("rumor was accepted");
    let parsed = CallMessage::from_rumor_json(rumor).expect_err("rumor was parsed");
    assert_eq!(validated, parsed);
    validated
}

/// Asserts an `Invalid` of `kind` with an error at `path` from the schema rule `rule`.
fn assert_invalid(err: SchemaError, kind: u16, path: &str, rule: &str) {
    match &err {
        SchemaError::Invalid { kind: k, errors } => {
            assert_eq!(*k, kind, "{err}");
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&format!("{path}: ")) && e.contains(rule)),
                "no error at {path} from {rule}: {errors:?}"
            );
        }
        other => panic!("expected Invalid at {path} ({rule}), got {other:?}"),
    }
}

#[test]
fn the_valid_baselines_of_this_file_are_accepted() {
    // Guards every test below: each changes exactly one thing in one of these.
    validate_rumor(&rumor(ALICE, 1, OFFER, &offer_tags(), SDP)).unwrap();
    validate_rumor(&rumor(ALICE, 1, ANSWER, &base_tags(), SDP)).unwrap();
    let one = candidate_json(0).to_string();
    validate_rumor(&rumor(ALICE, 1, ICE, &base_tags(), &one)).unwrap();
    let request = json!({"mode": "paranoid"}).to_string();
    validate_rumor(&rumor(
        ALICE,
        1,
        MODE_SWITCH_REQUEST,
        &base_tags(),
        &request,
    ))
    .unwrap();
}

#[test]
fn missing_call_id_is_invalid() {
    let mut t = base_tags();
    t.remove(1);
    let err = rejected(&rumor(ALICE, 1, ANSWER, &t, SDP));
    assert_invalid(err, ANSWER, "/tags", "exactlyOneCallIdTag/minContains");
}

#[test]
fn malformed_call_ids_are_invalid() {
    for bad in [
        "550E8400-E29B-41D4-A716-446655440000",
        "550e8400e29b41d4a716446655440000",
        "not-a-uuid",
        "",
    ] {
        let mut t = base_tags();
        t[1][1] = bad.into();
        let err = rejected(&rumor(ALICE, 1, ANSWER, &t, SDP));
        assert_invalid(err, ANSWER, "/tags/1/1", "$defs/uuid/pattern");
    }
}

#[test]
fn duplicate_call_id_tag_is_invalid() {
    let mut t = base_tags();
    t.push(vec![
        "call-id".into(),
        "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
    ]);
    let err = rejected(&rumor(ALICE, 1, ANSWER, &t, SDP));
    assert_invalid(err, ANSWER, "/tags", "exactlyOneCallIdTag/maxContains");
}

#[test]
fn p_tag_that_is_not_lowercase_hex_is_invalid() {
    for bad in [
        "npub1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
        &BOB.to_uppercase(),
        &BOB[..63],
        "zz",
    ] {
        let mut t = base_tags();
        t[0][1] = bad.to_string();
        let err = rejected(&rumor(ALICE, 1, ANSWER, &t, SDP));
        assert_invalid(err, ANSWER, "/tags/0/1", "$defs/hex64/pattern");
    }
}

#[test]
fn offer_without_call_type_is_invalid() {
    let err = rejected(&rumor(ALICE, 1, OFFER, &base_tags(), SDP));
    assert_invalid(err, OFFER, "/tags", "exactlyOneCallTypeTag/minContains");
}

#[test]
fn wrong_kind_for_the_body_is_rejected() {
    // An answer relabelled as an offer lacks call-type.
    let err = rejected(&rumor(ALICE, 1, OFFER, &base_tags(), SDP));
    assert_invalid(err, OFFER, "/tags", "exactlyOneCallTypeTag");
    // A mode-switch request relabelled as an ack lacks `accepted`.
    let request = json!({"mode": "fast"}).to_string();
    let err = rejected(&rumor(ALICE, 1, MODE_SWITCH_ACK, &base_tags(), &request));
    assert_invalid(
        err,
        MODE_SWITCH_ACK,
        "/content#",
        "modeSwitchAckContent/required",
    );
    // An SDP relabelled as ICE candidates is not JSON.
    let err = rejected(&rumor(ALICE, 1, ICE, &base_tags(), SDP));
    assert_eq!(err, SchemaError::BadContentJson { kind: ICE });
    // Kinds outside the registry.
    for kind in [1_u64, 4, 1059, 25049, 25056, 25064, 65535, 70_000] {
        let mut r = rumor(ALICE, 1, ANSWER, &base_tags(), SDP);
        r["kind"] = json!(kind);
        assert_eq!(rejected(&r), SchemaError::UnregisteredKind(kind));
    }
}

#[test]
fn missing_or_non_integer_kind_is_missing_kind() {
    let mut r = rumor(ALICE, 1, ANSWER, &base_tags(), SDP);
    r.as_object_mut().unwrap().remove("kind");
    assert_eq!(rejected(&r), SchemaError::MissingKind);
    for bad in [json!("25051"), json!(-1), json!(25051.5), json!(null)] {
        r["kind"] = bad;
        assert_eq!(rejected(&r), SchemaError::MissingKind);
    }
    assert_eq!(rejected(&json!([1, 2])), SchemaError::NotAnObject);
    assert_eq!(rejected(&json!("event")), SchemaError::NotAnObject);
}

#[test]
fn oversize_sdp_is_invalid_and_the_limit_itself_is_accepted() {
    let at_limit = format!("v=0{}", "a".repeat(MAX_SDP_LEN - 3));
    assert_eq!(at_limit.chars().count(), 32_768);
    validate_rumor(&rumor(ALICE, 1, OFFER, &offer_tags(), &at_limit)).unwrap();
    let over = format!("{at_limit}a");
    assert_eq!(over.chars().count(), 32_769);
    for kind in [OFFER, ANSWER, 25055] {
        let err = rejected(&rumor(ALICE, 1, kind, &offer_tags(), &over));
        assert_invalid(err, kind, "/content", "$defs/sdp/maxLength");
    }
}

#[test]
fn unknown_mode_tag_is_invalid() {
    let mut t = base_tags();
    t[3][1] = "turbo".into();
    let err = rejected(&rumor(ALICE, 1, ANSWER, &t, SDP));
    assert_invalid(err, ANSWER, "/tags/3/1", "$defs/privacyMode/enum");
}

#[test]
fn unknown_version_is_rejected() {
    for version in ["2", "0", "1.0", ""] {
        let mut t = base_tags();
        t[2][1] = version.into();
        assert_eq!(
            rejected(&rumor(ALICE, 1, ANSWER, &t, SDP)),
            SchemaError::UnsupportedVersion { kind: ANSWER },
            "v = {version:?}"
        );
    }
    // A version tag without a value is left to the schema.
    let mut t = base_tags();
    t[2] = vec!["v".into()];
    let err = rejected(&rumor(ALICE, 1, ANSWER, &t, SDP));
    assert_invalid(err, ANSWER, "/tags/2", "versionTag/minItems");
}

#[test]
fn candidate_content_that_is_not_json_is_bad_content_json() {
    for content in ["candidate:1 1 udp 1 192.0.2.1 9 typ host", "", "{", "[{}"] {
        assert_eq!(
            rejected(&rumor(ALICE, 1, ICE, &base_tags(), content)),
            SchemaError::BadContentJson { kind: ICE },
            "{content:?}"
        );
    }
}

#[test]
fn candidate_batch_of_65_is_invalid_and_64_is_accepted() {
    let batch = |n: usize| Value::Array((0..n).map(candidate_json).collect()).to_string();
    let parsed = CallMessage::from_rumor_json(&rumor(ALICE, 1, ICE, &base_tags(), &batch(64)));
    assert!(parsed.is_ok(), "{parsed:?}");
    let err = rejected(&rumor(ALICE, 1, ICE, &base_tags(), &batch(65)));
    assert_invalid(err, ICE, "/content#", "iceCandidateBatch/maxItems");
}

#[test]
fn bad_candidates_inside_a_batch_are_located() {
    let mut items: Vec<Value> = (0..3).map(candidate_json).collect();
    items[2]["candidate"] = json!("c".repeat(1025));
    items[1]["sdpMLineIndex"] = json!(65_536);
    let err = rejected(&rumor(
        ALICE,
        1,
        ICE,
        &base_tags(),
        &Value::Array(items).to_string(),
    ));
    assert_invalid(
        err.clone(),
        ICE,
        "/content#/2/candidate",
        "candidate/maxLength",
    );
    assert_invalid(
        err,
        ICE,
        "/content#/1/sdpMLineIndex",
        "sdpMLineIndex/maximum",
    );
}

#[test]
fn mode_switch_content_with_unknown_mode_is_invalid() {
    let content = json!({"mode": "turbo"}).to_string();
    let err = rejected(&rumor(
        ALICE,
        1,
        MODE_SWITCH_REQUEST,
        &base_tags(),
        &content,
    ));
    assert_invalid(
        err,
        MODE_SWITCH_REQUEST,
        "/content#/mode",
        "privacyMode/enum",
    );
    let content = json!({"mode": "turbo", "accepted": true}).to_string();
    let err = rejected(&rumor(ALICE, 1, MODE_SWITCH_ACK, &base_tags(), &content));
    assert_invalid(err, MODE_SWITCH_ACK, "/content#/mode", "privacyMode/enum");
}

#[test]
fn mode_switch_content_that_is_not_json_is_bad_content_json() {
    assert_eq!(
        rejected(&rumor(
            ALICE,
            1,
            MODE_SWITCH_REQUEST,
            &base_tags(),
            "paranoid"
        )),
        SchemaError::BadContentJson {
            kind: MODE_SWITCH_REQUEST
        }
    );
}

#[test]
fn unknown_extra_tags_are_accepted_within_limits() {
    let mut t = offer_tags();
    t.push(vec!["alt".into(), "WebRTC call offer".into()]);
    t.push(vec!["expiration".into(), "1767225620".into()]);
    t.push(vec!["x-future".into(), "a".into(), "b".into(), "c".into()]);
    validate_rumor(&rumor(ALICE, 1, OFFER, &t, SDP)).unwrap();
    // 32 tags pass, 33 do not.
    while t.len() < 32 {
        t.push(vec!["alt".into()]);
    }
    validate_rumor(&rumor(ALICE, 1, OFFER, &t, SDP)).unwrap();
    t.push(vec!["alt".into()]);
    let err = rejected(&rumor(ALICE, 1, OFFER, &t, SDP));
    assert_invalid(err, OFFER, "/tags", "callTags/maxItems");
}

#[test]
fn nip_ac_rumor_without_phantomcall_tags_is_accepted() {
    let t = tags(&[&["p", BOB], &["call-id", CALL_ID], &["call-type", "voice"]]);
    let message = CallMessage::from_rumor_json(&rumor(ALICE, 1, OFFER, &t, SDP)).unwrap();
    assert_eq!((message.mode, message.device), (None, None));
}

fn with_pq(mut tags: Vec<Vec<String>>, scheme: &str, value: &str) -> Vec<Vec<String>> {
    tags.push(vec!["pq".into(), scheme.into(), value.into()]);
    tags
}

/// Standard padded base64 of `n` bytes, as the `pq` tag carries an X-Wing share.
fn b64_of(n: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(vec![0xa5u8; n])
}

#[test]
fn an_x_wing_share_longer_than_other_tag_values_is_taken_on_offers_and_answers() {
    let offer_share = b64_of(1216);
    assert_eq!(
        offer_share.len(),
        1624,
        "longer than the 1024 of other tags"
    );
    let offer = rumor(
        ALICE,
        1,
        OFFER,
        &with_pq(offer_tags(), "xwing", &offer_share),
        SDP,
    );
    validate_rumor(&offer).unwrap();
    assert_eq!(
        CallMessage::from_rumor_json(&offer).unwrap().pq_share,
        Some(vec![0xa5u8; 1216])
    );
    let answer = rumor(
        ALICE,
        1,
        ANSWER,
        &with_pq(base_tags(), "xwing", &b64_of(1120)),
        SDP,
    );
    assert_eq!(
        CallMessage::from_rumor_json(&answer).unwrap().pq_share,
        Some(vec![0xa5u8; 1120])
    );
}

#[test]
fn a_pq_share_of_an_unknown_scheme_is_ignored_not_refused() {
    let offer = rumor(
        ALICE,
        1,
        OFFER,
        &with_pq(offer_tags(), "future-kem", &b64_of(64)),
        SDP,
    );
    assert_eq!(CallMessage::from_rumor_json(&offer).unwrap().pq_share, None);
}

#[test]
fn malformed_pq_tags_are_invalid() {
    for (scheme, value) in [
        ("xwing", "not base64!"),
        ("xwing", ""),
        ("XWING", "AAAA"),
        ("xwing", &*"A".repeat(4100)),
    ] {
        let err = rejected(&rumor(
            ALICE,
            1,
            OFFER,
            &with_pq(offer_tags(), scheme, value),
            SDP,
        ));
        assert!(
            matches!(err, SchemaError::Invalid { .. }),
            "{scheme} {value:.20}: {err:?}"
        );
    }
    let twice = with_pq(with_pq(offer_tags(), "xwing", "AAAA"), "xwing", "AAAA");
    let err = rejected(&rumor(ALICE, 1, OFFER, &twice, SDP));
    assert_invalid(err, OFFER, "/tags", "atMostOnePqTag/maxContains");
}

#[test]
fn a_pq_share_on_other_kinds_is_not_read() {
    let ice = candidate_json(0).to_string();
    let message = rumor(
        ALICE,
        1,
        ICE,
        &with_pq(base_tags(), "xwing", &b64_of(1120)),
        &ice,
    );
    assert_eq!(
        CallMessage::from_rumor_json(&message).unwrap().pq_share,
        None
    );
}
