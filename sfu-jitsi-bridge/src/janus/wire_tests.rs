use super::*;

#[test]
fn a_publish_answer_is_read_with_its_streams_and_sdp() {
    let text = r#"{"janus":"event","session_id":5,"transaction":"t7","sender":9,
        "plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"event","room":42,
        "configured":"ok","audio_codec":"opus","streams":[{"type":"audio","mindex":0,"mid":"0",
        "codec":"opus"},{"type":"video","mindex":1,"mid":"1","codec":"vp8"}]}},
        "jsep":{"type":"answer","sdp":"v=0\r\n","e2ee":true}}"#;
    let m = parse(text).unwrap();
    assert_eq!(m.kind, Kind::Event);
    assert_eq!(m.transaction.as_deref(), Some("t7"));
    assert_eq!(m.sender, Some(9));
    let data = m.videoroom.unwrap();
    assert_eq!(data.configured.as_deref(), Some("ok"));
    assert_eq!(data.streams.unwrap().len(), 2);
    let jsep = m.jsep.unwrap();
    assert_eq!(jsep.kind, JsepKind::Answer);
    assert_eq!(jsep.e2ee, Some(true));
}

#[test]
fn errors_of_the_core_and_of_the_plugin_are_both_reported() {
    let core = parse(
        r#"{"janus":"error","transaction":"a","error":{"code":458,"reason":"No such session"}}"#,
    )
    .unwrap();
    assert_eq!(
        core.error_text().unwrap(),
        "Janus error 458: No such session"
    );
    let plugin = parse(
        r#"{"janus":"success","transaction":"b","sender":3,"plugindata":{"plugin":"janus.plugin.videoroom",
        "data":{"videoroom":"event","error_code":426,"error":"No such room"}}}"#,
    )
    .unwrap();
    assert_eq!(
        plugin.error_text().unwrap(),
        "VideoRoom error 426: No such room"
    );
}

#[test]
fn malformed_or_hostile_replies_are_refused_not_trusted() {
    for bad in [
        "",
        "[]",
        r#"{"janus":5}"#,
        r#"{"transaction":"x"}"#,
        r#"{"janus":"success","data":{"id":0}}"#,
        r#"{"janus":"success","data":{"id":-1}}"#,
        r#"{"janus":"event","jsep":{"type":"offer","sdp":"<html>"}}"#,
        r#"{"janus":"event","jsep":{"type":"pranswer","sdp":"v=0"}}"#,
        r#"{"janus":"event","plugindata":{"plugin":"janus.plugin.other","data":{}}}"#,
        r#"{"janus":"event","plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"x","port":0}}}"#,
        r#"{"janus":"event","plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"x","publishers":[{"id":0}]}}}"#,
        r#"{"janus":"ack","transaction":"line\nbreak"}"#,
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad}");
    }
    let huge = format!(
        r#"{{"janus":"event","jsep":{{"type":"offer","sdp":"v=0{}"}}}}"#,
        "a".repeat(MAX_SDP_BYTES)
    );
    assert_eq!(parse(&huge), Err(WireError::Invalid("jsep.sdp")));
    assert_eq!(
        parse(&" ".repeat(MAX_REPLY_BYTES + 1)),
        Err(WireError::TooLarge)
    );
}

#[test]
fn notifications_newer_janus_versions_add_are_read_as_other() {
    let m = parse(r#"{"janus":"something-new","session_id":1}"#).unwrap();
    assert_eq!(m.kind, Kind::Other);
}
