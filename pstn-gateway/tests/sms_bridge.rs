//! The SMS bridge over real HTTP on loopback: the webhook server is called by a real HTTP
//! client (ureq) with requests signed the way the providers document it, and the sender
//! talks to a local HTTP server standing in for the provider's REST API (the real APIs
//! cannot be reached from the test machines).
//!
//! The signatures here are computed by this file's own few lines from the providers'
//! documented algorithms (not by the crate's signing code), and one Plivo request carries a
//! signature produced by Plivo's own SDK.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use pstn_gateway::number::E164;
use pstn_gateway::sms::segments::Encoding;
use pstn_gateway::sms::{
    DeliveryStatus, SendError, SmsConfig, SmsEvent, SmsSender, SmsServer, SmsStore,
};
use pstn_gateway::GatewayConfig;
use tokio::sync::mpsc;

const OUR_NUMBER: &str = "+15550100101";
const CALLER: &str = "+15550100199";
const PUBLIC: &str = "https://gw.example.org/sms";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Twilio, as documented: HMAC-SHA1(token, URL + each POST param sorted by name as
/// name+value), base64.
fn twilio_sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    b64(&mac.finalize().into_bytes())
}

/// Plivo V3 for a POST to a URL without query: HMAC-SHA256(token, URL + "?" + params
/// sorted as name+value + "." + nonce), base64.
fn plivo_sign(token: &str, url: &str, params: &[(&str, &str)], nonce: &str) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = format!("{url}?");
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    data.push('.');
    data.push_str(nonce);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    b64(&mac.finalize().into_bytes())
}

fn encode(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A request the stand-in provider received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: String,
    content_type: String,
    body: String,
}

/// The provider's REST API, standing in on loopback: answers from a script, then 201.
#[derive(Clone, Default)]
struct StandIn {
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let me = me.clone();
                            async move {
                                let header = |n: &str| {
                                    req.headers()
                                        .get(n)
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or("")
                                        .to_string()
                                };
                                let (path, authorization, content_type) = (
                                    req.uri().path().to_string(),
                                    header("authorization"),
                                    header("content-type"),
                                );
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let n = {
                                    let mut seen = me.seen.lock().unwrap();
                                    seen.push(Seen {
                                        path,
                                        authorization,
                                        content_type,
                                        body: String::from_utf8_lossy(&body).into_owned(),
                                    });
                                    seen.len()
                                };
                                let (status, text) = me.script.lock().unwrap().pop_front().unwrap_or((
                                201,
                                format!(r#"{{"sid":"SM{n:032}","status":"queued","message_uuid":["uuid-{n}"]}}"#),
                            ));
                                let mut r = hyper::Response::new(Full::new(Bytes::from(text)));
                                *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                Ok::<_, Infallible>(r)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        addr
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

struct Bridge {
    addr: SocketAddr,
    events: mpsc::Receiver<SmsEvent>,
    sender: SmsSender,
    provider: StandIn,
    config: Arc<SmsConfig>,
    _server: SmsServer,
}

async fn bridge(provider: &str, token: &str, extra: &str) -> Bridge {
    let stand_in = StandIn::default();
    let api = stand_in.start().await;
    let toml = format!(
        r#"
[sms]
provider = "{provider}"
account_id = "AC0123456789abcdef"
auth_token = "{token}"
public_url = "{PUBLIC}"
listen = "127.0.0.1:0"
api_base_url = "http://127.0.0.1:{port}"
state_db = "unused-in-tests.sqlite"
{extra}
[sms.numbers]
"{OUR_NUMBER}" = "hotline:community-line"
"#,
        port = api.port()
    );
    let mut config = GatewayConfig::from_toml(&toml).unwrap().sms.unwrap();
    config.retry_base = Duration::from_millis(20);
    let config = Arc::new(config);
    let store = Arc::new(SmsStore::open_in_memory().unwrap());
    let (tx, events) = mpsc::channel(16);
    let server = SmsServer::start(config.clone(), store.clone(), tx)
        .await
        .unwrap();
    Bridge {
        addr: server.local_addr(),
        events,
        sender: SmsSender::new(config.clone(), store),
        provider: stand_in,
        config,
        _server: server,
    }
}

/// POSTs a form with headers to the webhook server; returns status and body.
async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: String,
) -> (u16, String) {
    post_typed(
        addr,
        path,
        headers,
        "application/x-www-form-urlencoded",
        body,
    )
    .await
}

async fn post_typed(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    content_type: &'static str,
    body: String,
) -> (u16, String) {
    let url = format!("http://{addr}{path}");
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent.post(&url).content_type(content_type);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let mut resp = req.send(body).unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap_or_default())
    })
    .await
    .unwrap()
}

async fn next_event(events: &mut mpsc::Receiver<SmsEvent>) -> SmsEvent {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event")
        .expect("channel open")
}

fn no_event(events: &mut mpsc::Receiver<SmsEvent>) {
    assert!(events.try_recv().is_err(), "no event expected");
}

fn twilio_inbound<'a>(sid: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", "AC0123456789abcdef"),
        ("MessageSid", sid),
        ("From", CALLER),
        ("To", OUR_NUMBER),
        ("Body", body),
        ("NumSegments", "1"),
    ]
}

async fn twilio_post(b: &Bridge, params: &[(&str, &str)]) -> (u16, String) {
    let url = format!("{PUBLIC}/inbound");
    let sig = twilio_sign("twilio-token-123", &url, params);
    post(
        b.addr,
        "/sms/inbound",
        &[("X-Twilio-Signature", sig)],
        encode(params),
    )
    .await
}

fn n(s: &str) -> E164 {
    E164::parse(s).unwrap()
}

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
