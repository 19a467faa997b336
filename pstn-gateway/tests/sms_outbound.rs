//! Sending SMS through a loopback stand-in for the provider's REST API: segments, retries,
//! refusals, opt-out against later sends, and delivery reports coming back through the
//! webhook.

use pstn_gateway::sms::segments::Encoding;
use pstn_gateway::sms::{DeliveryStatus, SendError, SmsEvent};

mod sms_common;
use sms_common::*;

#[tokio::test]
async fn stop_opts_out_and_a_later_send_is_refused_then_start_opts_back_in() {
    let mut b = bridge("twilio", "twilio-token-123", "").await;
    assert_eq!(
        twilio_post(
            &b,
            &twilio_inbound("SM00000000000000000000000000000004", "Stop")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        next_event(&mut b.events).await,
        SmsEvent::OptedOut {
            number: n(CALLER),
            to: n(OUR_NUMBER)
        }
    );
    let err = b
        .sender
        .send(&n(OUR_NUMBER), &n(CALLER), "are you ok?")
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::OptedOut), "{err}");
    assert!(err.to_string().contains("opted out"));
    assert!(b.provider.seen().is_empty(), "nothing reached the provider");

    assert_eq!(
        twilio_post(
            &b,
            &twilio_inbound("SM00000000000000000000000000000005", "START")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        next_event(&mut b.events).await,
        SmsEvent::OptedIn {
            number: n(CALLER),
            to: n(OUR_NUMBER)
        }
    );
    let sent = b
        .sender
        .send(&n(OUR_NUMBER), &n(CALLER), "welcome back")
        .await
        .unwrap();
    assert_eq!(sent.segments, 1);
    assert_eq!(b.provider.seen().len(), 1);
}

#[tokio::test]
async fn a_300_character_ucs2_message_is_sent_as_5_segments() {
    let b = bridge("twilio", "twilio-token-123", "").await;
    let text = "ж".repeat(300);
    let sent = b
        .sender
        .send(&n(OUR_NUMBER), &n(CALLER), &text)
        .await
        .unwrap();
    assert_eq!(sent.segments, 5);
    assert_eq!(sent.encoding, Encoding::Ucs2);
    let seen = b.provider.seen();
    let form: Vec<(String, String)> = form_urlencoded::parse(seen[0].body.as_bytes())
        .into_owned()
        .collect();
    assert!(form.contains(&("Body".into(), text.clone())));
    assert!(form.contains(&("StatusCallback".into(), format!("{PUBLIC}/status"))));
    // Above max_segments (5 by default) it is refused before any request.
    let err = b
        .sender
        .send(&n(OUR_NUMBER), &n(CALLER), &"ж".repeat(336))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SendError::TooLong {
                segments: 6,
                max: 5
            }
        ),
        "{err}"
    );
    assert_eq!(b.provider.seen().len(), 1);
}

#[tokio::test]
async fn an_outbound_send_is_retried_after_a_503_and_succeeds() {
    let b = bridge("twilio", "twilio-token-123", "").await;
    b.provider
        .script
        .lock()
        .unwrap()
        .push_back((503, "{}".into()));
    let sent = b
        .sender
        .send(&n(OUR_NUMBER), &n(CALLER), "hello")
        .await
        .unwrap();
    let seen = b.provider.seen();
    assert_eq!(seen.len(), 2, "one 503, one success");
    assert_eq!(sent.provider_message_id, format!("SM{:032}", 2));
    assert_eq!(
        seen[1].path,
        "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    );
    assert_eq!(
        seen[1].authorization,
        format!("Basic {}", b64(b"AC0123456789abcdef:twilio-token-123"))
    );
    assert!(seen[1]
        .content_type
        .starts_with("application/x-www-form-urlencoded"));
    assert_eq!(
        b.sender.status(&sent.provider_message_id).unwrap(),
        Some(DeliveryStatus::Queued)
    );
}

#[tokio::test]
async fn a_4xx_from_the_provider_is_a_clear_error_without_retry() {
    let b = bridge("plivo", "plivo-token-123", "").await;
    b.provider
        .script
        .lock()
        .unwrap()
        .push_back((400, r#"{"error":"invalid dst"}"#.into()));
    let err = b
        .sender
        .send(&n(OUR_NUMBER), &n(CALLER), "hello")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SendError::Rejected { status: 400, .. }),
        "{err}"
    );
    let seen = b.provider.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/Account/AC0123456789abcdef/Message/");
    let json: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(json["dst"], CALLER);
    assert_eq!(json["url"], format!("{PUBLIC}/status"));
}

#[tokio::test]
async fn a_status_callback_marks_the_message_delivered() {
    let mut b = bridge("twilio", "twilio-token-123", "").await;
    let sent = b
        .sender
        .send(&n(OUR_NUMBER), &n(CALLER), "hello")
        .await
        .unwrap();
    let id = sent.provider_message_id.clone();
    let params = [
        ("AccountSid", "AC0123456789abcdef"),
        ("MessageSid", id.as_str()),
        ("MessageStatus", "delivered"),
    ];
    let sig = twilio_sign("twilio-token-123", &b.config.status_url(), &params);
    let (status, _) = post(
        b.addr,
        "/sms/status",
        &[("X-Twilio-Signature", sig)],
        encode(&params),
    )
    .await;
    assert_eq!(status, 200);
    match next_event(&mut b.events).await {
        SmsEvent::Delivery(r) => {
            assert_eq!(r.provider_message_id, id);
            assert_eq!(r.status, DeliveryStatus::Delivered);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        b.sender.status(&id).unwrap(),
        Some(DeliveryStatus::Delivered)
    );
}
