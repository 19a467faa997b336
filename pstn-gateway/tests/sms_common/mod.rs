//! Shared by the SMS bridge tests: a bridge on loopback, a real HTTP client, signing as the
//! providers document it (this file's own few lines, not the crate's signing code), and a
//! local HTTP server standing in for the provider's REST API (the real APIs cannot be
//! reached from the test machines).
#![allow(dead_code)]

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
use pstn_gateway::sms::{Intake, SmsConfig, SmsEvent, SmsSender, SmsServer, SmsStore};
use pstn_gateway::GatewayConfig;
use tokio::sync::mpsc;

pub const OUR_NUMBER: &str = "+15550100101";
pub const CALLER: &str = "+15550100199";
pub const PUBLIC: &str = "https://gw.example.org/sms";

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Twilio, as documented: HMAC-SHA1(token, URL + each POST param sorted by name as
/// name+value), base64.
pub fn twilio_sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
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
pub fn plivo_sign(token: &str, url: &str, params: &[(&str, &str)], nonce: &str) -> String {
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

pub fn encode(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A request the stand-in provider received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: String,
    pub content_type: String,
    pub body: String,
}

/// The provider's REST API, standing in on loopback: answers from a script, then 201.
#[derive(Clone, Default)]
pub struct StandIn {
    pub script: Arc<Mutex<VecDeque<(u16, String)>>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    pub async fn start(&self) -> SocketAddr {
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

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub struct Bridge {
    pub addr: SocketAddr,
    pub events: mpsc::Receiver<SmsEvent>,
    pub sender: SmsSender,
    pub provider: StandIn,
    pub config: Arc<SmsConfig>,
    _server: SmsServer,
}

pub async fn bridge(provider: &str, token: &str, extra: &str) -> Bridge {
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
    let intake = Arc::new(Intake::new(config.clone(), store.clone(), tx));
    let server = SmsServer::start(intake).await.unwrap();
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
pub async fn post(
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

pub async fn post_typed(
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

pub async fn next_event(events: &mut mpsc::Receiver<SmsEvent>) -> SmsEvent {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event")
        .expect("channel open")
}

pub fn no_event(events: &mut mpsc::Receiver<SmsEvent>) {
    assert!(events.try_recv().is_err(), "no event expected");
}

pub fn twilio_inbound<'a>(sid: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", "AC0123456789abcdef"),
        ("MessageSid", sid),
        ("From", CALLER),
        ("To", OUR_NUMBER),
        ("Body", body),
        ("NumSegments", "1"),
    ]
}

pub async fn twilio_post(b: &Bridge, params: &[(&str, &str)]) -> (u16, String) {
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

pub fn n(s: &str) -> E164 {
    E164::parse(s).unwrap()
}
