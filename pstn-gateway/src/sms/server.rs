//! The webhook server: where the provider posts inbound messages (`…/inbound`) and delivery
//! reports (`…/status`). HTTP/1 by hyper; TLS is left to a reverse proxy in front (the
//! provider requires a public certificate, which the proxy already manages).
//!
//! Every request is checked in this order, and refused at the first failure: path and
//! method, content type, body size, form syntax, the provider's signature (403), then the
//! fields. Only then is anything remembered or forwarded. Refusals are logged with the
//! reason only: never the text, never a number in full, never a header value.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::number::E164;
use crate::sms::intake::{Intake, Taken};
use crate::sms::signature::{self, Method};
use crate::sms::webhook;
use crate::sms::{Provider, SmsConfig, SmsEvent};

/// Largest request body accepted. A Twilio SMS callback is about 1 KB; 16 KiB leaves room
/// for a 1600-character UCS-2 text percent-encoded (up to 9 bytes a character).
pub const MAX_BODY: usize = 16 * 1024;
/// A connection is closed after this long, whatever it is doing (slow-loris guard).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 128;
/// Plivo nonces remembered, against a replayed signed request.
const NONCE_KEEP: Duration = Duration::from_secs(3600);
const MAX_NONCES: usize = 50_000;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SmsServerError {
    /// The listen address could not be bound.
    #[error("sms webhook: cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Recently seen Plivo nonces.
#[derive(Default)]
struct Nonces {
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl Nonces {
    /// Records `nonce`; `false` if it was seen within the last hour.
    fn fresh(&mut self, nonce: &str, now: Instant) -> bool {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_duration_since(*t) < NONCE_KEEP && self.order.len() < MAX_NONCES {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        if self.seen.contains_key(nonce) {
            return false;
        }
        self.seen.insert(nonce.to_string(), now);
        self.order.push_back((now, nonce.to_string()));
        true
    }

    /// Forgets `nonce` (the request was answered 503, so the provider may resend it as is).
    fn forget(&mut self, nonce: &str) {
        self.seen.remove(nonce);
    }
}

struct Shared {
    config: Arc<SmsConfig>,
    intake: Arc<Intake>,
    nonces: Mutex<Nonces>,
}

/// The running webhook server. Dropping it does not stop it; call [`SmsServer::shutdown`].
pub struct SmsServer {
    local_addr: SocketAddr,
    cancel: CancellationToken,
}

impl SmsServer {
    /// Binds `intake`'s `listen` address and serves until [`SmsServer::shutdown`].
    /// Messages go through `intake` (the same one can serve the SIP MESSAGE path); when the
    /// application does not keep up (channel full), the provider is answered 503 and
    /// retries later.
    pub async fn start(intake: Arc<Intake>) -> Result<Self, SmsServerError> {
        let config = intake.config_arc();
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| SmsServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| SmsServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let shared = Arc::new(Shared {
            nonces: Mutex::new(Nonces::default()),
            config,
            intake,
        });
        let cancel = CancellationToken::new();
        tokio::spawn(accept_loop(listener, shared, cancel.clone()));
        tracing::info!(%local_addr, "sms: webhook server listening");
        Ok(SmsServer { local_addr, cancel })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            () = cancel.cancelled() => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let stream = tokio::select! {
            () = cancel.cancelled() => return,
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "sms: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .max_buf_size(MAX_BODY + 8192)
                .serve_connection(io, svc);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
        });
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn xml(body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    r
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The answer to an inbound message: an empty `<Response/>` (both providers read it as
/// "send nothing back"), or the HELP text as a reply.
fn reply(provider: Provider, help: Option<(&str, &E164, &E164)>) -> Response<Full<Bytes>> {
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    match help {
        None => xml(format!("{head}<Response/>")),
        Some((text, from, to)) => match provider {
            Provider::Twilio => xml(format!(
                "{head}<Response><Message>{}</Message></Response>",
                xml_escape(text)
            )),
            Provider::Plivo => xml(format!(
                "{head}<Response><Message src=\"{}\" dst=\"{}\" type=\"sms\">{}</Message></Response>",
                to.digits(),
                from.digits(),
                xml_escape(text)
            )),
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Inbound,
    Status,
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let endpoint = if path.ends_with("/inbound") {
        Endpoint::Inbound
    } else if path.ends_with("/status") {
        Endpoint::Status
    } else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    if req.method() != hyper::Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "POST only\n");
    }
    let form = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form {
        return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "form body expected\n");
    }
    let config = &shared.config;
    let base = match endpoint {
        Endpoint::Inbound => config.inbound_url(),
        Endpoint::Status => config.status_url(),
    };
    // The provider signs the URL it called: ours as configured, plus its query string.
    let url = match req.uri().query() {
        Some(q) => format!("{base}?{q}"),
        None => base,
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (sig, nonce) = match config.provider {
        Provider::Twilio => (header("x-twilio-signature"), String::new()),
        Provider::Plivo => (
            header("x-plivo-signature-v3"),
            header("x-plivo-signature-v3-nonce"),
        ),
    };
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n"),
    };
    let params = match webhook::parse_form(&body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "sms: webhook refused");
            return plain(StatusCode::BAD_REQUEST, "bad form\n");
        }
    };
    let token = config.auth_token.expose().as_bytes();
    let signed = !sig.is_empty()
        && match config.provider {
            Provider::Twilio => signature::verify_twilio(token, &url, &params, &sig),
            Provider::Plivo => {
                signature::verify_plivo_v3(token, Method::Post, &url, &params, &nonce, &sig)
            }
        };
    if !signed {
        tracing::warn!(
            endpoint = if endpoint == Endpoint::Inbound {
                "inbound"
            } else {
                "status"
            },
            missing = sig.is_empty(),
            "sms: webhook signature refused"
        );
        return plain(StatusCode::FORBIDDEN, "bad signature\n");
    }
    if config.provider == Provider::Plivo {
        let fresh = lock(&shared.nonces).fresh(&nonce, Instant::now());
        if !fresh {
            tracing::warn!("sms: replayed Plivo nonce refused");
            return plain(StatusCode::FORBIDDEN, "replayed\n");
        }
    }
    let response = match endpoint {
        Endpoint::Inbound => inbound(shared, &params),
        Endpoint::Status => status(shared, &params),
    };
    if response.status() == StatusCode::SERVICE_UNAVAILABLE && config.provider == Provider::Plivo {
        lock(&shared.nonces).forget(&nonce);
    }
    response
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn inbound(shared: &Shared, params: &[(String, String)]) -> Response<Full<Bytes>> {
    let config = &shared.config;
    let m = match webhook::parse_inbound(config.provider, &config.account_id, params) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "sms: inbound message refused");
            return plain(StatusCode::BAD_REQUEST, "bad message\n");
        }
    };
    let (from, to) = (m.from.clone(), m.to.clone());
    match shared.intake.take(m) {
        Taken::Forwarded | Taken::OptChanged | Taken::Dropped => reply(config.provider, None),
        Taken::Help(text) => reply(config.provider, Some((&text, &from, &to))),
        Taken::Retry => plain(StatusCode::SERVICE_UNAVAILABLE, "try later\n"),
    }
}

fn status(shared: &Shared, params: &[(String, String)]) -> Response<Full<Bytes>> {
    let config = &shared.config;
    let report = match webhook::parse_status(config.provider, &config.account_id, params) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "sms: delivery report refused");
            return plain(StatusCode::BAD_REQUEST, "bad report\n");
        }
    };
    match shared.intake.store().apply_report(&report) {
        Ok(Some(status)) => {
            tracing::info!(id = %report.provider_message_id, ?status, "sms: delivery state");
            if shared
                .intake
                .events()
                .try_send(SmsEvent::Delivery(report))
                .is_err()
            {
                // The state is in the store; the application can still query it.
                tracing::warn!("sms: delivery event not taken (channel full)");
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "sms: store failed");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try later\n");
        }
    }
    plain(StatusCode::OK, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_fresh_once_within_the_hour() {
        let mut n = Nonces::default();
        let t0 = Instant::now();
        assert!(n.fresh("a", t0));
        assert!(!n.fresh("a", t0 + Duration::from_secs(10)));
        assert!(n.fresh("b", t0));
        assert!(n.fresh("a", t0 + NONCE_KEEP + Duration::from_secs(1)));
        n.forget("b");
        assert!(n.fresh("b", t0), "a forgotten nonce is fresh again");
    }

    #[test]
    fn help_text_is_escaped_in_the_reply() {
        assert_eq!(xml_escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
