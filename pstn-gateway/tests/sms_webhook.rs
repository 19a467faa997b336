//! The SMS webhook server over real HTTP on loopback: provider-signed inbound messages
//! (Twilio signed as documented, Plivo with a signature made by Plivo's own SDK), refused
//! signatures, replays, HELP, floods and malformed requests.

use std::time::Duration;

use pstn_gateway::sms::SmsEvent;

mod sms_common;
use sms_common::*;

#[tokio::test]
async fn twilio_signed_inbound_is_forwarded_and_answered_with_empty_twiml() {
    let mut b = bridge("twilio", "twilio-token-123", "").await;
    let (status, body) = twilio_post(
        &b,
        &twilio_inbound("SM00000000000000000000000000000001", "Hi, is anyone there?"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.ends_with("<Response/>"), "{body}");
    match next_event(&mut b.events).await {
        SmsEvent::Message(m) => {
            assert_eq!(m.from, n(CALLER));
            assert_eq!(m.to, n(OUR_NUMBER));
            assert_eq!(m.target, "hotline:community-line");
            assert_eq!(m.text, "Hi, is anyone there?");
            assert_eq!(m.provider_message_id, "SM00000000000000000000000000000001");
            assert_eq!(m.segments, 1);
        }
        other => panic!("{other:?}"),
    }
}

/// The request Plivo's own SDK signed (see `signature.rs`): the same URL, token, nonce
/// and parameters, now over HTTP.
#[tokio::test]
async fn plivo_sdk_signed_inbound_is_accepted_over_http() {
    let mut b = bridge("plivo", "my_auth_token", "").await;
    let params = [
        ("From", "4930901820"),
        ("To", "15550100101"),
        ("Text", "Hello from Plivo"),
        ("Type", "sms"),
        ("MessageUUID", "3a2e1c9e-1111-4c5e-9a1b-0123456789ab"),
    ];
    let headers = [
        (
            "X-Plivo-Signature-V3",
            "QutVNy8YttTWSMKcsqrbX/5et7+SEFv3eCNtEnmbt88=".to_string(),
        ),
        ("X-Plivo-Signature-V3-Nonce", "87654321".to_string()),
    ];
    let (status, body) = post(b.addr, "/sms/inbound", &headers, encode(&params)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("<Response/>"));
    match next_event(&mut b.events).await {
        SmsEvent::Message(m) => {
            assert_eq!(m.from, n("+4930901820"));
            assert_eq!(m.text, "Hello from Plivo");
        }
        other => panic!("{other:?}"),
    }
    // The same signed request again: the nonce was used, so it is a replay.
    let (status, _) = post(b.addr, "/sms/inbound", &headers, encode(&params)).await;
    assert_eq!(status, 403);
    no_event(&mut b.events);
}

#[tokio::test]
async fn spoofed_missing_and_stale_signatures_are_refused_with_403() {
    let mut b = bridge("twilio", "twilio-token-123", "").await;
    let params = twilio_inbound("SM00000000000000000000000000000002", "transfer the money");
    let url = format!("{PUBLIC}/inbound");
    // Missing.
    let (status, _) = post(b.addr, "/sms/inbound", &[], encode(&params)).await;
    assert_eq!(status, 403);
    // Spoofed: signed with a guessed token.
    let spoofed = twilio_sign("guessed-token", &url, &params);
    let (status, _) = post(
        b.addr,
        "/sms/inbound",
        &[("X-Twilio-Signature", spoofed)],
        encode(&params),
    )
    .await;
    assert_eq!(status, 403);
    // Stale: a genuine signature of an earlier message, replayed with another text.
    let genuine = twilio_sign("twilio-token-123", &url, &params);
    let edited = twilio_inbound("SM00000000000000000000000000000002", "send me your code");
    let (status, _) = post(
        b.addr,
        "/sms/inbound",
        &[("X-Twilio-Signature", genuine.clone())],
        encode(&edited),
    )
    .await;
    assert_eq!(status, 403);
    // Signed for the inbound URL, posted to the status endpoint.
    let (status, _) = post(
        b.addr,
        "/sms/status",
        &[("X-Twilio-Signature", genuine)],
        encode(&params),
    )
    .await;
    assert_eq!(status, 403);
    // Plivo: V3 signature with another nonce than the header says.
    let p = bridge("plivo", "plivo-token-123", "").await;
    let pp = [
        ("From", "15550100199"),
        ("To", "15550100101"),
        ("Text", "x"),
        ("MessageUUID", "u-1"),
    ];
    let sig = plivo_sign("plivo-token-123", &url, &pp, "1111");
    let (status, _) = post(
        p.addr,
        "/sms/inbound",
        &[
            ("X-Plivo-Signature-V3", sig),
            ("X-Plivo-Signature-V3-Nonce", "2222".into()),
        ],
        encode(&pp),
    )
    .await;
    assert_eq!(status, 403);
    no_event(&mut b.events);
}

#[tokio::test]
async fn a_replayed_delivery_of_the_same_message_id_is_dropped() {
    let mut b = bridge("twilio", "twilio-token-123", "").await;
    let params = twilio_inbound("SM00000000000000000000000000000003", "once");
    assert_eq!(twilio_post(&b, &params).await.0, 200);
    assert!(matches!(
        next_event(&mut b.events).await,
        SmsEvent::Message(_)
    ));
    // The provider retries (or someone replays the signed request): 200, nothing forwarded.
    let (status, body) = twilio_post(&b, &params).await;
    assert_eq!(status, 200);
    assert!(body.ends_with("<Response/>"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    no_event(&mut b.events);
}

#[tokio::test]
async fn help_is_answered_with_the_configured_text() {
    let mut b = bridge(
        "twilio",
        "twilio-token-123",
        "help_text = \"Line help: reply STOP to end <3\"",
    )
    .await;
    let (status, body) = twilio_post(
        &b,
        &twilio_inbound("SM00000000000000000000000000000006", "help"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<Message>Line help: reply STOP to end &lt;3</Message>"),
        "{body}"
    );
    no_event(&mut b.events);
}

#[tokio::test]
async fn malformed_requests_are_refused_before_any_work() {
    let mut b = bridge("twilio", "twilio-token-123", "").await;
    let big = format!("Body={}", "a".repeat(20 * 1024));
    assert_eq!(post(b.addr, "/sms/inbound", &[], big).await.0, 413);
    assert_eq!(
        post_typed(b.addr, "/sms/inbound", &[], "application/json", "{}".into())
            .await
            .0,
        415
    );
    assert_eq!(post(b.addr, "/elsewhere", &[], String::new()).await.0, 404);
    // Signed but the From field is not a phone number.
    let mut params = twilio_inbound("SM00000000000000000000000000000007", "x");
    params[2].1 = "client:alice";
    assert_eq!(twilio_post(&b, &params).await.0, 400);
    no_event(&mut b.events);
}

#[tokio::test]
async fn an_inbound_flood_from_one_number_is_cut_at_the_limit() {
    let mut b = bridge(
        "twilio",
        "twilio-token-123",
        "inbound_per_minute_per_number = 2",
    )
    .await;
    for i in 0..4 {
        let sid = format!("SM{:032}", 100 + i);
        assert_eq!(twilio_post(&b, &twilio_inbound(&sid, "spam")).await.0, 200);
    }
    assert!(matches!(
        next_event(&mut b.events).await,
        SmsEvent::Message(_)
    ));
    assert!(matches!(
        next_event(&mut b.events).await,
        SmsEvent::Message(_)
    ));
    tokio::time::sleep(Duration::from_millis(50)).await;
    no_event(&mut b.events);
}
